"""Benchmarks: `make bench` (full, ~5 min) and `make bench-smoke` (seconds, run by `make test`)."""
