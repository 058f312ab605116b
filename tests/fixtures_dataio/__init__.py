"""Helpers and sample files for the data import/export tests."""
