"""The `recado` CLI against the suite's real PostgreSQL (DATABASE_URL from tests/conftest.py)."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import psycopg
import pytest
from click.testing import CliRunner, Result
from psycopg import sql

from db.queue import enqueue
from domain.channels import whatsapp
from ops.cli import main
from ops.embedded_pg import running_pid

ROOT = Path(__file__).resolve().parents[2]
SECRET_OPTIONS = [
    "--app-secret", "app-secret-xyz",
    "--verify-token", "verify-token-xyz",
    "--access-token", "access-token-xyz",
]  # fmt: skip


def recado(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- db migrate ---------------------------------------------------------------------------


@pytest.fixture
def fresh_database_url() -> Iterator[str]:
    """An empty database on the suite's server, dropped afterwards."""
    name = f"recado_ops_{uuid.uuid4().hex[:12]}"
    admin = os.environ["DATABASE_URL"]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield psycopg.conninfo.make_conninfo(admin, dbname=name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def test_db_migrate_applies_everything_once(fresh_database_url: str) -> None:
    first = recado("db", "migrate", env={"DATABASE_URL": fresh_database_url})
    second = recado("db", "migrate", env={"DATABASE_URL": fresh_database_url})

    assert first.exit_code == 0
    assert "applied 0001_dramatiq_queue.sql" in first.output
    assert "applied 0002_core.sql" in first.output
    assert second.exit_code == 0
    assert second.output.strip() == "database is up to date"
    with psycopg.connect(fresh_database_url) as conn:
        assert conn.execute("SELECT to_regclass('dramatiq.queue') IS NOT NULL").fetchone()[0]


def test_commands_on_an_unmigrated_database_say_so(fresh_database_url: str) -> None:
    result = CliRunner().invoke(main, ["tenants", "list"], env={"DATABASE_URL": fresh_database_url})

    assert result.exit_code == 1
    assert "not migrated" in result.output
    assert "recado db migrate" in result.output


def test_db_migrate_without_database_url_uses_the_embedded_server(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}

    done = subprocess.run(
        [sys.executable, "-m", "ops", "db", "migrate"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )

    assert done.returncode == 0, done.stderr
    assert "embedded PostgreSQL" in done.stderr
    assert "applied 0002_core.sql" in done.stdout
    # The command started the server, so it stopped it again.
    assert running_pid(tmp_path / "var") is None
    assert (tmp_path / "var" / "pg" / "PG_VERSION").exists()


# --- unreachable database -----------------------------------------------------------------


def test_closed_port_gives_a_readable_error_and_exit_1() -> None:
    url = f"postgresql://postgres:hunter2@127.0.0.1:{closed_port()}/recado"

    done = subprocess.run(
        [sys.executable, "-m", "ops", "tenants", "list"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )

    assert done.returncode == 1
    assert done.stderr.startswith("Error: PostgreSQL at postgresql://postgres@127.0.0.1:")
    assert "Connection refused" in done.stderr
    assert "Traceback" not in done.stderr
    assert "hunter2" not in done.stderr


# --- tenants ------------------------------------------------------------------------------


def test_tenants_add_then_list_never_prints_secrets(db: psycopg.Connection) -> None:
    added = recado(
        "tenants", "add", "clinic", "--name", "Clinic", "--phone-number-id", "111", *SECRET_OPTIONS
    )
    listed = recado("tenants", "list")

    assert added.exit_code == 0
    assert "/webhooks/whatsapp/clinic" in added.output
    assert listed.exit_code == 0
    assert "clinic" in listed.output
    assert "111" in listed.output
    for secret in ("app-secret-xyz", "verify-token-xyz", "access-token-xyz"):
        assert secret not in added.output
        assert secret not in listed.output
    row = db.execute("SELECT wa_app_secret FROM tenants WHERE slug = 'clinic'").fetchone()
    assert row[0] == "app-secret-xyz"


@pytest.mark.parametrize(
    ("slug", "phone_number_id", "message"),
    [
        ("clinic", "222", "a tenant with slug 'clinic' already exists"),
        ("other", "111", "phone number id 111 already belongs to another tenant"),
        ("Not_A_Slug", "333", "invalid slug 'Not_A_Slug'"),
    ],
)
def test_tenants_add_refuses_duplicates_and_bad_slugs(
    db: psycopg.Connection, slug: str, phone_number_id: str, message: str
) -> None:
    recado("tenants", "add", "clinic", "--phone-number-id", "111", *SECRET_OPTIONS)

    result = CliRunner().invoke(
        main, ["tenants", "add", slug, "--phone-number-id", phone_number_id, *SECRET_OPTIONS]
    )

    assert result.exit_code == 1
    assert message in result.output
    assert db.execute("SELECT count(*) FROM tenants").fetchone()[0] == 1


# --- queue stats --------------------------------------------------------------------------


def test_queue_stats_counts_what_waits_and_what_failed(db: psycopg.Connection, tenant) -> None:
    enqueue(
        db,
        [
            {"queue_name": "ingest", "message_id": str(uuid.uuid4()), "actor_name": "x"}
            for _ in range(3)
        ],
    )
    db.execute(
        "INSERT INTO inbound_events (tenant_id, channel, kind, provider_event_id, payload)"
        " VALUES (%s, 'whatsapp', 'message', 'wamid.1', '{}'), (%s, 'whatsapp', 'message',"
        " 'wamid.2', '{}')",
        (tenant.id, tenant.id),
    )
    db.execute(
        "INSERT INTO quarantine (tenant_id, channel, reason, body)"
        " VALUES (%s, 'whatsapp', 'x', 'y')",
        (tenant.id,),
    )
    insert_dead_letter(db, state="dead")
    insert_dead_letter(db, state="discarded")

    result = recado("queue", "stats")

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.split()[:3] == ["ingest", "queued", "3"] for line in lines), result.output
    assert "advisory locks held:" in result.output
    assert "  dead: 1" in lines
    assert "  discarded: 1" in lines
    assert any(line.startswith("inbound events not yet processed: 2") for line in lines)
    assert any(line.startswith("quarantined bodies not replayed: 1") for line in lines)


# --- dead letters -------------------------------------------------------------------------


def insert_dead_letter(
    db: psycopg.Connection, *, state: str = "dead", actor: str = "ingest_event"
) -> int:
    row = db.execute(
        "INSERT INTO dead_letters (message_id, queue_name, actor, args, attempts, exception_type,"
        " exception_text, traceback, state)"
        " VALUES (%s, 'ingest', %s, '[42]', 21, 'RuntimeError', 'boom',"
        " 'Traceback (most recent call last):\n  RuntimeError: boom', %s) RETURNING id",
        (uuid.uuid4(), actor, state),
    ).fetchone()
    return row[0]


def test_dead_letters_list_show_and_discard(db: psycopg.Connection) -> None:
    dead = insert_dead_letter(db)
    other = insert_dead_letter(db, actor="apply_status")

    listed = recado("dead-letters", "list", "--actor", "ingest_event")
    shown = recado("dead-letters", "show", str(dead))
    discarded = recado("dead-letters", "discard", str(dead))
    again = CliRunner().invoke(main, ["dead-letters", "discard", str(dead)])
    after = recado("dead-letters", "list")

    assert listed.exit_code == 0
    assert "RuntimeError: boom" in listed.output
    assert "apply_status" not in listed.output
    assert shown.exit_code == 0
    assert "args          [42]" in shown.output
    assert "Traceback (most recent call last)" in shown.output
    assert discarded.output.strip() == "discarded 1 of 1 dead letters"
    assert again.exit_code == 1
    assert str(dead) not in [line.split()[0] for line in after.output.splitlines()[1:]]
    assert str(other) in after.output


def test_dead_letters_show_unknown_id_exits_1(db: psycopg.Connection) -> None:
    result = CliRunner().invoke(main, ["dead-letters", "show", "999"])

    assert result.exit_code == 1
    assert "no dead letter with id 999" in result.output


def test_dead_letters_requeue_needs_ids_or_actor(db: psycopg.Connection) -> None:
    neither = CliRunner().invoke(main, ["dead-letters", "requeue"])
    both = CliRunner().invoke(main, ["dead-letters", "requeue", "1", "--actor", "x"])

    assert neither.exit_code == 2
    assert both.exit_code == 2
    assert "not both and not neither" in both.output


def test_requeueing_twice_queues_the_step_once(db: psycopg.Connection) -> None:
    dead = insert_dead_letter(db)

    first = recado("dead-letters", "requeue", str(dead))
    second = recado("dead-letters", "requeue", str(dead))

    assert first.exit_code == 0, first.output
    assert f"{dead}: requeued as message" in first.output
    assert f"{dead}: already requeued" in second.output
    assert db.execute("SELECT count(*) FROM dramatiq.queue").fetchone()[0] == 1
    assert db.execute("SELECT count(*) FROM dead_letter_requeues").fetchone()[0] == 1


def test_requeue_by_actor_takes_only_that_actors_dead_letters(db: psycopg.Connection) -> None:
    ingest = insert_dead_letter(db)
    insert_dead_letter(db, actor="apply_status")
    insert_dead_letter(db, state="discarded")

    result = recado("dead-letters", "requeue", "--actor", "ingest_event", "--since", "1h")

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        line for line in result.output.splitlines() if line.startswith(f"{ingest}: requeued")
    ]
    assert len(result.output.splitlines()) == 1


# --- simulate whatsapp --------------------------------------------------------------------


class Receiver:
    """A tiny webhook endpoint recording every POST; answers `status` (or per-path overrides)."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.posts: list[tuple[str, dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.posts.append((self.path, dict(self.headers), body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


def test_simulate_posts_signed_envelopes_with_duplicates(receiver: Receiver, tenant) -> None:
    result = recado(
        "simulate", "whatsapp", "--url", receiver.url, "--tenant", tenant.slug,
        "--messages", "12", "--contacts", "4", "--duplicates", "3", "--concurrency", "4",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "2xx: 15  4xx: 0  5xx: 0  no answer: 0" in result.output
    assert len(receiver.posts) == 15
    wamids, senders = [], set()
    for path, headers, body in receiver.posts:
        assert path == f"/webhooks/whatsapp/{tenant.slug}"
        assert headers["Content-Type"] == "application/json"
        signature = headers["X-Hub-Signature-256"]
        assert whatsapp.verify_signature(tenant.wa_app_secret, body, signature)
        (event,) = whatsapp.split_envelope(body)
        assert event.phone_number_id == tenant.wa_phone_number_id
        message = whatsapp.parse_message(event.item)
        wamids.append(message.provider_message_id)
        senders.add(message.wa_id)
    assert len(set(wamids)) == 12
    assert len(senders) == 4


def test_simulate_with_explicit_credentials_needs_no_database(receiver: Receiver) -> None:
    result = recado(
        "simulate", "whatsapp", "--url", receiver.url, "--tenant", "anyone",
        "--app-secret", "s3", "--phone-number-id", "999", "--messages", "2",
        env={"DATABASE_URL": f"postgresql://postgres@127.0.0.1:{closed_port()}/x"},
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    for _, headers, body in receiver.posts:
        assert whatsapp.verify_signature("s3", body, headers["X-Hub-Signature-256"])
        assert json.loads(body)["entry"][0]["changes"][0]["value"]["metadata"] == {
            "display_phone_number": "15550100000",
            "phone_number_id": "999",
        }


def test_simulate_exits_1_when_the_server_rejects(receiver: Receiver, tenant) -> None:
    receiver.status = 503

    result = CliRunner().invoke(
        main, ["simulate", "whatsapp", "--url", receiver.url, "--tenant", "acme", "--messages", "3"]
    )

    assert result.exit_code == 1
    assert "5xx: 3" in result.output
    assert "first failure: HTTP 503" in result.output


def test_simulate_exits_1_when_nothing_listens(tenant) -> None:
    url = f"http://127.0.0.1:{closed_port()}"

    result = CliRunner().invoke(
        main, ["simulate", "whatsapp", "--url", url, "--tenant", "acme", "--messages", "2"]
    )

    assert result.exit_code == 1
    assert "no answer: 2" in result.output
    assert "ConnectError" in result.output


def test_simulate_unknown_tenant_exits_1(db: psycopg.Connection) -> None:
    result = CliRunner().invoke(main, ["simulate", "whatsapp", "--tenant", "nobody"])

    assert result.exit_code == 1
    assert "no tenant 'nobody'" in result.output


# --- run ----------------------------------------------------------------------------------


def test_run_serves_webhooks_and_stops_cleanly_on_sigterm(db: psycopg.Connection) -> None:
    port = closed_port()
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "ops", "run", "--port", str(port), "--threads", "2"),
            *("--simulator-port", str(closed_port()), "--llm-simulator-port", str(closed_port())),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    output: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line)
            if line.startswith("Ctrl-C stops everything"):
                break
        banner = "".join(output)
        assert f"http://127.0.0.1:{port}/webhooks/whatsapp/demo" in banner
        assert "simulate whatsapp" in banner
        (secret, token) = db.execute(
            "SELECT wa_app_secret, wa_verify_token FROM tenants WHERE slug = 'demo'"
        ).fetchone()
        assert secret not in banner
        assert token not in banner
        # How to sign in: the demo owner's one-time link, which the server answers.
        assert f"http://127.0.0.1:{port}/login" in banner
        link = re.search(r"http://127\.0\.0\.1:\d+/set-password/[\w-]+", banner)
        assert link is not None and "owner@demo.recado.local" in banner
        assert httpx.get(link.group(0), timeout=10).status_code == 200

        simulated = recado(
            "simulate", "whatsapp", "--url", f"http://127.0.0.1:{port}", "--messages", "5"
        )
        assert simulated.exit_code == 0, simulated.output
        children = _descendants(proc.pid)
        assert children, "run started no processes"
    finally:
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, "".join(output) + rest
    assert not [pid for pid in children if _alive(pid)], "processes left behind"
    assert db.execute("SELECT count(*) FROM inbound_events").fetchone()[0] == 5


def _descendants(pid: int) -> list[int]:
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children_file = Path(f"/proc/{parent}/task/{parent}/children")
        if children_file.exists():
            kids = [int(p) for p in children_file.read_text().split()]
            found.extend(kids)
            frontier.extend(kids)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"
