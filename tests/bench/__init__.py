"""Tests for bench/ (see tests/conftest.py for the shared fixtures)."""
