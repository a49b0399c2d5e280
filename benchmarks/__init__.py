"""Benchmarks and measurements, beside the library (run from the repository
root: ``python -m scripts.bench``)."""
