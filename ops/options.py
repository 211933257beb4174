"""Ranges for the CLI's numeric options: a value out of range is refused by click with one line
naming the option, before anything reaches the database (where a negative LIMIT or an id past
bigint would be a driver error)."""

import click

# Row ids are PostgreSQL bigints.
ROW_ID = click.IntRange(1, 2**63 - 1)
# Profile versions are numbered from 1 per tenant (PostgreSQL integer).
VERSION = click.IntRange(1, 2**31 - 1)
# Rows one listing prints.
LIMIT = click.IntRange(1, 10_000)
PORT = click.IntRange(1, 65535)
# 0: the operating system picks a free port.
ANY_PORT = click.IntRange(0, 65535)
PROCESSES = click.IntRange(1, 64)
THREADS = click.IntRange(1, 256)
# Simulated traffic.
MESSAGES = click.IntRange(0, 1_000_000)
CONTACTS = click.IntRange(1, 1_000_000)
CONCURRENCY = click.IntRange(1, 256)
LATENCY_MS = click.IntRange(0, 600_000)
SECONDS = click.FloatRange(0, 3600)
REQUEST_TIMEOUT = click.FloatRange(0.1, 3600)
SEED = click.IntRange(0, 2**32 - 1)
