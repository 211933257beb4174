"""Creating a database once, as the embedded server's first start does."""

import psycopg
from psycopg import sql

from db.databases import create_database_if_missing
from tests.conftest import SERVER_URL

NAME = "recado_create_once"


def test_a_database_is_created_once_then_found() -> None:
    with psycopg.connect(SERVER_URL, autocommit=True) as admin:
        drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(NAME))
        admin.execute(drop)
        try:
            assert create_database_if_missing(admin, NAME) is True
            assert create_database_if_missing(admin, NAME) is False
        finally:
            admin.execute(drop)
