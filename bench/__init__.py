"""Benchmarks: every figure is measured next to its baseline in the same run."""
