"""Tests for deploy/ (see tests/conftest.py for the shared fixtures)."""
