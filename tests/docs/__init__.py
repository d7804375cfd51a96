"""Tests for docs/ and its generators (tools/docs/)."""
