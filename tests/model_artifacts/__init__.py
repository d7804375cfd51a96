"""Tests for model_artifacts/ (see tests/conftest.py for the shared fixtures)."""
