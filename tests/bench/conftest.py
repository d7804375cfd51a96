"""Bench tests: the pure pieces (unit) and one smoke run of the whole bench (integration)."""
