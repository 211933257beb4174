"""`recado simulate`: signed provider traffic against a running recado, for demos and checks."""

import random
import secrets
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import click
import httpx

from db.tenants import tenant_by_slug
from domain.channels.whatsapp import sign
from domain.channels.whatsapp_envelopes import TextMessage, encode, text_envelope
from ops.database import cli_connection

SAMPLE_TEXTS = (
    "Hi! Do you have a slot on Friday afternoon?",
    "How much is a cleaning?",
    "Can I move my appointment to next week?",
    "Are you open on Saturdays?",
    "Thanks, see you tomorrow",
    "Do you accept my insurance?",
)


@click.group()
def simulate() -> None:
    """Post simulated provider webhooks to a running recado."""


@simulate.command()
@click.option("--url", default="http://127.0.0.1:8000", show_default=True, help="Server base URL.")
@click.option("--tenant", default="demo", show_default=True, help="Tenant slug.")
@click.option("--app-secret", help="Sign with this secret instead of the tenant's (no database).")
@click.option("--phone-number-id", help="Use this id instead of the tenant's (no database).")
@click.option("--messages", default=10, show_default=True, type=click.IntRange(min=0))
@click.option("--contacts", default=3, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--duplicates",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Re-post this many already posted bodies, as Meta's redeliveries do.",
)
@click.option("--concurrency", default=4, show_default=True, type=click.IntRange(min=1))
@click.option("--timeout", default=10.0, show_default=True, help="Seconds per request.")
def whatsapp(
    url: str,
    tenant: str,
    app_secret: str | None,
    phone_number_id: str | None,
    messages: int,
    contacts: int,
    duplicates: int,
    concurrency: int,
    timeout: float,
) -> None:
    """N text messages from M contacts, one signed Meta-format envelope per POST.

    Exits with 1 if any POST got no 2xx answer.
    """
    if duplicates and not messages:
        raise click.UsageError("--duplicates needs at least one message to duplicate")
    if not (app_secret and phone_number_id):
        app_secret, phone_number_id = _tenant_credentials(tenant, app_secret, phone_number_id)
    bodies = build_bodies(phone_number_id, messages=messages, contacts=contacts)
    posts = bodies + [bodies[i % len(bodies)] for i in range(duplicates)]
    # Redeliveries arrive interleaved with (and sometimes concurrently to) the originals.
    random.shuffle(posts)

    endpoint = f"{url.rstrip('/')}/webhooks/whatsapp/{tenant}"
    results: Counter[str] = Counter()
    failures: list[str] = []
    started = time.monotonic()
    with httpx.Client(timeout=timeout) as client:

        def post(body: bytes) -> None:
            try:
                response = client.post(
                    endpoint,
                    content=body,
                    headers={
                        "Content-Type": "application/json",
                        "X-Hub-Signature-256": sign(app_secret, body),
                    },
                )
            except httpx.HTTPError as exc:
                results["no answer"] += 1
                failures.append(f"{type(exc).__name__}: {exc}")
                return
            results[f"{response.status_code // 100}xx"] += 1
            if not response.is_success:
                failures.append(f"HTTP {response.status_code}: {response.text[:200].strip()}")

        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            list(pool.map(post, posts))
    elapsed = time.monotonic() - started

    click.echo(
        f"posted {len(posts)} webhooks to {endpoint} in {elapsed:.2f} s"
        f" ({messages} messages from {min(contacts, messages)} contacts, {duplicates} duplicates)"
    )
    click.echo(
        "  " + "  ".join(f"{kind}: {results[kind]}" for kind in ("2xx", "4xx", "5xx", "no answer"))
    )
    if failures:
        click.echo(f"first failure: {failures[0]}", err=True)
        raise click.exceptions.Exit(1)


def build_bodies(phone_number_id: str, *, messages: int, contacts: int) -> list[bytes]:
    """One single-message envelope per message, senders taken round-robin from `contacts`."""
    now = int(time.time())
    bodies = []
    for i in range(messages):
        contact = i % contacts
        message = TextMessage(
            # 555-01xx numbers are reserved for fiction; the index keeps them distinct.
            wa_id=f"1555010{contact:04d}",
            profile_name=f"Simulated Contact {contact + 1}",
            wamid=f"wamid.SIM{secrets.token_hex(16).upper()}",
            text=SAMPLE_TEXTS[i % len(SAMPLE_TEXTS)],
            timestamp=now,
        )
        bodies.append(encode(text_envelope(phone_number_id, [message])))
    return bodies


def _tenant_credentials(
    slug: str, app_secret: str | None, phone_number_id: str | None
) -> tuple[str, str]:
    with cli_connection() as conn:
        tenant = tenant_by_slug(conn, slug)
    if tenant is None:
        raise click.ClickException(
            f"no tenant {slug!r} in the database: see `recado tenants list`,"
            " or pass --app-secret and --phone-number-id"
        )
    secret = app_secret or tenant.wa_app_secret
    number = phone_number_id or tenant.wa_phone_number_id
    if not secret or not number:
        raise click.ClickException(f"tenant {slug!r} has no WhatsApp app secret or phone number id")
    return secret, number
