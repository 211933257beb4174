"""Dramatiq steps and their services. Importing any module here has no side effects: the
broker, the pool, Sentry and the clients are built by `actors.bootstrap.bootstrap`."""
