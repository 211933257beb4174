"""SQL and connections: one module per table group; the caller owns the transaction."""
