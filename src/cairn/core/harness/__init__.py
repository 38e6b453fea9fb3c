"""The self-improving harness, pure parts: eval cases and their checks, weakness mining
from traces, proposed edits, the critic and the regression gate (docs/improving.md).

Nothing here runs a model or touches a disk: `cairn.improve` runs evals on workspace
copies, asks the `improve` model for proposals and applies what a person accepts.
"""
