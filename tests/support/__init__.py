"""Helpers that tests in several folders share (servers a test starts for itself)."""
