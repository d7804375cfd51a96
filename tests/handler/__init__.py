"""Tests for handler/ (see tests/conftest.py for the shared fixtures)."""
