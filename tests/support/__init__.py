"""Helpers shared by tests: a private PostgreSQL cluster, test-only actors."""
