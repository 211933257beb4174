"""The `recado` command-line interface: run, serve, workers, database, tenants, operations."""
