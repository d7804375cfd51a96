"""The test suite: tiers in tests/tiers.py, shared fixtures in tests/conftest.py."""
