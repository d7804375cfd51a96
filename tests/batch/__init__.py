"""Tests for batch/ (see tests/conftest.py for the shared fixtures)."""
