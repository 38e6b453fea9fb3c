"""Utilities for tests and benchmarks, shipped so users can reproduce them."""
