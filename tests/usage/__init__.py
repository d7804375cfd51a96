"""Tests for usage/ (see tests/conftest.py for the shared fixtures)."""
