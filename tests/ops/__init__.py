"""Tests for ops/ (see tests/conftest.py for the shared fixtures)."""
