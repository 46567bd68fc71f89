"""Benchmarks: NumPy (scratch) against PyTorch CPU, measured in the same run."""
