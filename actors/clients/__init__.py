"""Channel API clients: each turns every outcome of a call into a result or one typed exception."""
