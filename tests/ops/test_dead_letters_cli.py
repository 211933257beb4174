"""`recado dead-letters requeue` run twice at once, and one letter failing among others."""

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from ops.cli import main
from tests.conftest import TEST_DATABASE_URL, count

ROOT = Path(__file__).resolve().parents[2]
LETTERS = 20
# Only a fail-safe against a hang: the test waits for a condition, not for a time.
BLOCKED_DEADLINE_SECONDS = 120


def insert_dead_letter(db: psycopg.Connection) -> int:
    return db.execute(
        "INSERT INTO dead_letters (message_id, queue_name, actor, args, attempts, exception_type,"
        " exception_text, traceback) VALUES (%s, 'ingest', 'ingest_event', '[42]', 21,"
        " 'RuntimeError', 'boom', 'Traceback: boom') RETURNING id",
        (uuid.uuid4(),),
    ).fetchone()[0]


def start_requeue(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "ops", "dead-letters", "requeue", *args],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def wait_for_blocked_commands(db: psycopg.Connection, how_many: int) -> None:
    """Until `how_many` CLI sessions wait for a row lock (both are then past their reads)."""
    deadline = time.monotonic() + BLOCKED_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        (blocked,) = db.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name = 'recado-cli' AND wait_event_type = 'Lock'"
        ).fetchone()
        if blocked >= how_many:
            return
        time.sleep(0.05)
    pytest.fail(f"{how_many} requeue commands never reached the held row lock")


@pytest.mark.parametrize("by", ["actor", "ids"])
def test_concurrent_requeues_queue_each_letter_once_and_both_finish(
    db: psycopg.Connection, by: str
) -> None:
    ids = [insert_dead_letter(db) for _ in range(LETTERS)]
    # The letter both commands reach first: --actor goes newest first.
    first = max(ids) if by == "actor" else ids[0]
    args = ["--actor", "ingest_event"] if by == "actor" else [str(i) for i in ids]
    # Holding its row lock lines both commands up on it, so they really overlap.
    with psycopg.connect(TEST_DATABASE_URL) as holder:
        holder.execute("SELECT 1 FROM dead_letters WHERE id = %s FOR UPDATE", (first,))
        commands = [start_requeue(*args), start_requeue(*args)]
        wait_for_blocked_commands(db, 2)
        holder.rollback()
    results = [command.communicate(timeout=BLOCKED_DEADLINE_SECONDS) for command in commands]

    for command, (out, err) in zip(commands, results, strict=True):
        assert command.returncode == 0, out + err
        assert "Traceback" not in err
    lines = [line for out, _ in results for line in out.splitlines()]
    for letter in ids:
        assert sum(line.startswith(f"{letter}: requeued as message") for line in lines) == 1
        assert sum(line.startswith(f"{letter}: already requeued") for line in lines) == 1
    options = db.execute(
        "SELECT message->'options'->>'recado_dead_letter_id' FROM dramatiq.queue"
    ).fetchall()
    assert sorted(int(option) for (option,) in options) == sorted(ids)
    assert count(db, "dead_letter_requeues") == LETTERS
    assert count(db, "dead_letters", "state = 'requeued'") == LETTERS


@pytest.fixture
def failing_requeue_record(db: psycopg.Connection):
    """A trigger that makes recording the requeue of one chosen letter fail, as a real error."""
    db.execute(
        """
        CREATE FUNCTION test_refuse_requeue() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.dead_letter_id = current_setting('recado.test_refused')::bigint THEN
                RAISE EXCEPTION 'refused for the test';
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER test_refuse_requeue BEFORE INSERT ON dead_letter_requeues
            FOR EACH ROW EXECUTE FUNCTION test_refuse_requeue();
        """
    )
    try:
        yield lambda letter: db.execute(
            f"ALTER DATABASE {db.info.dbname} SET recado.test_refused = '{int(letter)}'"
        )
    finally:
        db.execute("DROP TRIGGER test_refuse_requeue ON dead_letter_requeues")
        db.execute("DROP FUNCTION test_refuse_requeue()")
        db.execute(f"ALTER DATABASE {db.info.dbname} RESET recado.test_refused")


def test_one_letter_failing_does_not_undo_the_others(db, failing_requeue_record) -> None:
    before, refused, after = (insert_dead_letter(db) for _ in range(3))
    failing_requeue_record(refused)

    result = CliRunner().invoke(
        main, ["dead-letters", "requeue", str(before), str(refused), str(after)]
    )

    assert result.exit_code == 1, result.output
    assert f"{before}: requeued as message" in result.output
    assert f"{refused}: failed: refused for the test" in result.output
    assert f"{after}: requeued as message" in result.output
    assert count(db, "dead_letters", "state = 'requeued'") == 2
    assert count(db, "dead_letters", f"state = 'dead' AND id = {refused}") == 1
    assert count(db, "dramatiq.queue") == 2
