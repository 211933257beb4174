"""Each test starts from an empty database: every table is emptied, found in the catalog."""

import psycopg

from tests.conftest import count, empty_database


def test_every_table_is_emptied_even_one_no_list_names(db: psycopg.Connection) -> None:
    db.execute("CREATE TABLE isolation_probe (id bigserial PRIMARY KEY, note text)")
    try:
        db.execute("INSERT INTO isolation_probe (note) VALUES ('left by a test')")
        db.execute(
            "INSERT INTO dramatiq.queue (queue_name, message_id, message) VALUES"
            " ('default', gen_random_uuid(), '{}')"
        )
        migrations = count(db, "recado_migrations")

        empty_database(db)

        assert count(db, "isolation_probe") == 0
        assert count(db, "dramatiq.queue") == 0
        # The migrations' own record stays: the schema is still migrated.
        assert count(db, "recado_migrations") == migrations > 0
        # Sequences restart too: ids in a test do not depend on the tests before it.
        db.execute("INSERT INTO isolation_probe (note) VALUES ('next')")
        assert db.execute("SELECT id FROM isolation_probe").fetchone()[0] == 1
    finally:
        db.execute("DROP TABLE isolation_probe")
