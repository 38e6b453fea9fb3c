"""The self-improving harness, run: evals on workspace copies, the improvement cycle, and
applying or rolling back what a person accepted (docs/improving.md).

`cairn.core.harness` holds the pure rules (checks, mining, critic, gate); this package
wires them to the real runtime, files and models. Nothing here changes the user's
workspace except `changes.accept` and `changes.rollback`, each on a person's command.
"""
