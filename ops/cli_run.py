"""`recado run`, `serve`, `worker`: the long-running processes."""

import json
import os
import secrets
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

import click
from psycopg import Connection

from db.migrate import migrate
from db.pool import connect
from db.profiles import profile_of, set_profile, set_setting_default
from db.tenants import Tenant, create_tenant, tenant_by_slug
from db.users import create_user, user_by_email
from domain.profile import parse_profile
from domain.tenant_settings import validate_setting
from ops.cli_users import password_link
from ops.database import VAR_DIR, database_url, describe
from ops.options import PORT, PROCESSES, THREADS
from ops.output import echo
from ops.processes import Child, supervise_children, wait_for_port, web_server_argv, worker_argv

DEMO_SLUG = "demo"
DEMO_NAME = "Demo Clinic"
DEMO_PHONE_NUMBER_ID = "100000000000001"
DEMO_PROFILE = Path(__file__).with_name("demo_profile.json")
DEMO_OWNER_EMAIL = "owner@demo.recado.local"
# A short debounce, so the demo's replies come quickly after the last simulated message.
DEMO_QUIET_WINDOW_SECONDS = 2
LLM_SIMULATOR_MODEL = "recado-sim"
WEB_WORKERS = 2

host_option = click.option("--host", default="127.0.0.1", show_default=True, help="Bind address.")
port_option = click.option("--port", default=8000, show_default=True, type=PORT)
processes_option = click.option(
    "--processes", default=1, show_default=True, type=PROCESSES,
    help="Worker processes.",
)  # fmt: skip
threads_option = click.option(
    "--threads", default=8, show_default=True, type=THREADS,
    help="Threads per worker process.",
)  # fmt: skip


@click.command()
@host_option
@port_option
@processes_option
@threads_option
@click.option(
    "--simulator-port", default=8081, show_default=True, type=PORT,
    help="Graph API simulator port, used when WHATSAPP_API_BASE_URL is unset.",
)  # fmt: skip
@click.option(
    "--llm-simulator-port", default=8082, show_default=True, type=PORT,
    help="LLM simulator port, used when OPENAI_API_KEY is unset.",
)  # fmt: skip
def run(
    host: str, port: int, processes: int, threads: int, simulator_port: int, llm_simulator_port: int
) -> None:
    """Everything on one machine: database, migrations, demo tenant, web server and workers.

    Runs in the foreground; Ctrl-C stops it all (and the embedded PostgreSQL if it started it).
    """
    _check_port_free(host, port)
    embedded = not os.environ.get("DATABASE_URL", "").strip()
    with database_url() as url:
        with connect(url, application_name="recado-cli", autocommit=True) as conn:
            for name in migrate(conn):
                echo(f"applied migration {name}")
            demo = _ensure_demo_tenant(conn)
            _ensure_demo_assistant(conn, demo)
            owner = demo_owner_sign_in(conn, demo, f"http://{host}:{port}")
        children = [
            Child("web server", web_server_argv(host=host, port=port, workers=WEB_WORKERS)),
            Child("workers", worker_argv(processes=processes, threads=threads)),
        ]  # fmt: skip
        env = {**os.environ, "DATABASE_URL": url, "RECADO_SECRET_KEY": _local_secret_key()}
        simulated = not env.get("WHATSAPP_API_BASE_URL", "").strip()
        if simulated:
            # No Graph API configured: replies go to the local simulator, which answers like
            # Meta and posts the delivery statuses back to this server.
            _check_port_free(host, simulator_port, "--simulator-port")
            children.append(Child("Graph API simulator", [
                sys.executable, "-m", "ops", "simulate", "graph-api", "--host", host,
                "--port", str(simulator_port), "--tenant", DEMO_SLUG,
                "--webhook-base", f"http://{host}:{port}",
            ]))  # fmt: skip
            env["WHATSAPP_API_BASE_URL"] = f"http://{host}:{simulator_port}/v24.0"
        llm_simulated = not env.get("OPENAI_API_KEY", "").strip()
        if llm_simulated:
            # No model configured: the assistant talks to the local OpenAI-compatible simulator,
            # whose deterministic replies show the whole flow without a key or any cost.
            _check_port_free(host, llm_simulator_port, "--llm-simulator-port")
            children.append(Child("LLM simulator", [
                sys.executable, "-m", "ops", "simulate", "llm", "--host", host,
                "--port", str(llm_simulator_port),
            ]))  # fmt: skip
            env["OPENAI_BASE_URL"] = f"http://{host}:{llm_simulator_port}/v1"
            env["OPENAI_API_KEY"] = "simulated"
            env["OPENAI_MODEL"] = LLM_SIMULATOR_MODEL

        def banner() -> None:
            if wait_for_port(host, port, timeout=15):
                _print_banner(host, port, url, demo, owner, embedded=embedded)
                if simulated:
                    echo(
                        f"WhatsApp sends go to the Graph API simulator at"
                        f" {env['WHATSAPP_API_BASE_URL']} (set WHATSAPP_API_BASE_URL for Meta)."
                    )
                if llm_simulated:
                    echo(
                        f"The assistant's model is the LLM simulator at {env['OPENAI_BASE_URL']}"
                        " (set OPENAI_API_KEY, and OPENAI_BASE_URL/OPENAI_MODEL if needed, for a"
                        " real one)."
                    )

        code = supervise_children(children, env, on_ready=banner)
    sys.exit(code)


@click.command()
@host_option
@port_option
@click.option("--workers", default=WEB_WORKERS, show_default=True, type=PROCESSES)
def serve(host: str, port: int, workers: int) -> None:
    """The web server only (hypercorn, webapp.asgi:app): webhooks, health, metrics."""
    _check_port_free(host, port)
    if not os.environ.get("RECADO_SECRET_KEY", "").strip():
        raise click.ClickException(
            "RECADO_SECRET_KEY is not set: the admin pages sign session cookies with it"
            " (the same value for every web server process; e.g. `openssl rand -hex 32`)"
        )
    with database_url() as url:
        children = [Child("web server", web_server_argv(host=host, port=port, workers=workers))]
        code = supervise_children(children, {**os.environ, "DATABASE_URL": url})
    sys.exit(code)


@click.command()
@processes_option
@threads_option
def worker(processes: int, threads: int) -> None:
    """The step workers, supervised: a dead worker process is restarted; SIGTERM drains them."""
    with database_url() as url:
        from actors.supervisor import supervise

        code = supervise(
            processes=processes, threads=threads, env={**os.environ, "DATABASE_URL": url}
        )
    sys.exit(code)


def _local_secret_key() -> str:
    """RECADO_SECRET_KEY, else one made on first run and kept in ./var/ so sign-ins survive a
    restart (readable by this user only)."""
    given = os.environ.get("RECADO_SECRET_KEY", "").strip()
    if given:
        return given
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_hex(32))
    return path.read_text().strip()


def _check_port_free(host: str, port: int, option: str = "--port") -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise click.ClickException(
                f"cannot listen on {host}:{port} ({exc.strerror}); choose another with {option}"
            ) from exc


def _ensure_demo_tenant(conn: Connection[object]) -> Tenant:
    existing = tenant_by_slug(conn, DEMO_SLUG)
    if existing is not None:
        return existing
    return create_tenant(
        conn,
        slug=DEMO_SLUG,
        name=DEMO_NAME,
        wa_phone_number_id=DEMO_PHONE_NUMBER_ID,
        wa_app_secret=secrets.token_hex(16),
        wa_verify_token=secrets.token_urlsafe(16),
        # Sending is not wired to a real WhatsApp account in the demo.
        wa_access_token=secrets.token_urlsafe(24),
    )


def _ensure_demo_assistant(conn: Connection[object], demo: Tenant) -> None:
    """Give the demo tenant the demo clinic's profile, unless it has one; keep its settings."""
    if profile_of(conn, demo.id) is None:
        profile = json.loads(DEMO_PROFILE.read_text(encoding="utf-8"))
        parse_profile(profile, default_name=demo.name)  # refuses a broken file before saving
        set_profile(conn, demo.id, profile)
    quiet = validate_setting("quiet_window_seconds", str(DEMO_QUIET_WINDOW_SECONDS))
    set_setting_default(conn, demo.id, "quiet_window_seconds", quiet)


@dataclass(frozen=True)
class DemoSignIn:
    email: str
    # A fresh one-time link while the demo owner has no password; None once one is chosen.
    link: str | None


def demo_owner_sign_in(conn: Connection[object], demo: Tenant, base_url: str) -> DemoSignIn:
    """The demo tenant's owner, created on first run; a new link (the last one void) each run
    until its password is chosen, so the banner always shows one that works."""
    owner = user_by_email(conn, DEMO_OWNER_EMAIL) or create_user(
        conn, email=DEMO_OWNER_EMAIL, role="owner", tenant_id=demo.id, display_name="Demo owner"
    )
    if owner.has_password or owner.disabled_at is not None:
        return DemoSignIn(owner.email, None)
    return DemoSignIn(owner.email, password_link(conn, owner, base_url))


def sign_in_help(base_url: str, owner: DemoSignIn, recado: str) -> str:
    """The banner's lines on signing in to the admin pages."""
    if owner.link is not None:
        return (
            f"  admin pages   {base_url}/login\n"
            f"                first choose the password of {owner.email} (owner of the demo"
            " tenant)\n"
            f"                with this one-time link: {owner.link}"
        )
    return (
        f"  admin pages   {base_url}/login  as {owner.email}\n"
        f"                (forgot the password? {recado} users reset-password {owner.email})"
    )


def _recado_command() -> str:
    """How to call `recado` from this shell: the venv's script when it is not on PATH."""
    script = Path(sys.executable).parent / "recado"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def _print_banner(
    host: str, port: int, url: str, demo: Tenant, owner: DemoSignIn, *, embedded: bool
) -> None:
    base = f"http://{host}:{port}"
    where = f" (embedded, data in ./{VAR_DIR}/)" if embedded else ""
    recado = _recado_command()
    echo(
        f"""
recado is running.
{sign_in_help(base, owner, recado)}
  webhook       {base}/webhooks/whatsapp/{demo.slug}
  health        {base}/healthz  {base}/readyz
  database      {describe(url)}{where}
  demo tenant   {demo.slug} ({demo.name}), phone number id {demo.wa_phone_number_id}
                (its generated secrets stay in the database; `simulate` reads them there)

Send 20 simulated WhatsApp messages from 5 contacts (in another terminal, same directory):
  {recado} simulate whatsapp --url {base} --tenant {demo.slug} --messages 20 --contacts 5
See what happened:
  {recado} queue stats

Ctrl-C stops everything.
"""
    )
