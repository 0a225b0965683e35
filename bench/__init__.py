"""Benchmarks run by `make bench`: each bench_*.py module prints what it measured."""
