"""`recado simulate`: signed provider traffic against a running recado, for demos and checks."""

import random
import secrets
import signal
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import click
import httpx

from db.tenants import tenant_by_slug
from domain.channels.whatsapp import sign
from domain.channels.whatsapp_envelopes import (
    MediaMessage,
    TextMessage,
    encode,
    media_envelope,
    text_envelope,
)
from domain.settings import GRAPH_API_BASE_URL
from ops.database import cli_connection
from ops.options import (
    ANY_PORT,
    CONCURRENCY,
    CONTACTS,
    LATENCY_MS,
    MESSAGES,
    REQUEST_TIMEOUT,
    SECONDS,
    SEED,
)
from ops.output import echo
from ops.simulators.graph_api import FAULTS, GraphApiSimulator, SimulatorConfig, TenantRoute
from ops.simulators.llm import FAULTS as LLM_FAULTS
from ops.simulators.llm import RANDOM_FAULTS, LlmSimulator, LlmSimulatorConfig

# What the demo clinic's patients write (ops/demo_profile.json: a physiotherapy clinic).
SAMPLE_TEXTS = (
    "Hola, ¿tienen cita el viernes por la tarde?",
    "¿Cuánto cuesta una sesión de fisioterapia?",
    "¿Puedo cambiar mi cita a la próxima semana?",
    "¿Abren los sábados?",
    "Gracias, nos vemos mañana",
    "¿Dónde están ubicados?",
)


@click.group()
def simulate() -> None:
    """Post simulated provider webhooks to a running recado."""


@simulate.command()
@click.option("--url", default="http://127.0.0.1:8000", show_default=True, help="Server base URL.")
@click.option("--tenant", default="demo", show_default=True, help="Tenant slug.")
@click.option("--app-secret", help="Sign with this secret instead of the tenant's (no database).")
@click.option("--phone-number-id", help="Use this id instead of the tenant's (no database).")
@click.option("--messages", default=10, show_default=True, type=MESSAGES)
@click.option("--contacts", default=3, show_default=True, type=CONTACTS)
@click.option(
    "--duplicates",
    default=0,
    show_default=True,
    type=MESSAGES,
    help="Re-post this many already posted bodies, as Meta's redeliveries do.",
)
@click.option(
    "--media-every",
    default=0,
    show_default=True,
    type=MESSAGES,
    help="Make every Nth message a photo or a voice note (0: text only); the Graph API"
    " simulator serves their media.",
)
@click.option("--concurrency", default=4, show_default=True, type=CONCURRENCY)
@click.option(
    "--timeout", default=10.0, show_default=True, type=REQUEST_TIMEOUT, help="Seconds per request."
)
def whatsapp(
    url: str,
    tenant: str,
    app_secret: str | None,
    phone_number_id: str | None,
    messages: int,
    contacts: int,
    duplicates: int,
    media_every: int,
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
    bodies = build_bodies(
        phone_number_id, messages=messages, contacts=contacts, media_every=media_every
    )
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

    echo(
        f"posted {len(posts)} webhooks to {endpoint} in {elapsed:.2f} s"
        f" ({messages} messages from {min(contacts, messages)} contacts, {duplicates} duplicates)"
    )
    echo(
        "  " + "  ".join(f"{kind}: {results[kind]}" for kind in ("2xx", "4xx", "5xx", "no answer"))
    )
    if messages:
        # Fictional numbers: safe to print, and what `recado messages send --to` needs.
        last = min(contacts, messages) - 1
        echo(f"  senders: {simulated_wa_id(0)} … {simulated_wa_id(last)}")
    if failures:
        echo(f"first failure: {failures[0]}", err=True)
        raise click.exceptions.Exit(1)


def simulated_wa_id(contact: int) -> str:
    # 555-01xx numbers are reserved for fiction; the index keeps them distinct.
    return f"1555010{contact:04d}"


def build_bodies(
    phone_number_id: str, *, messages: int, contacts: int, media_every: int = 0
) -> list[bytes]:
    """One single-message envelope per message, senders taken round-robin from `contacts`, each
    written a second after the one before: posted concurrently, they still read in that order.
    With `media_every` N, every Nth message is a captioned photo or a voice note, in turn."""
    first = int(time.time()) - messages
    bodies = []
    for i in range(messages):
        contact = i % contacts
        wa_id, name = simulated_wa_id(contact), f"Simulated Contact {contact + 1}"
        wamid = f"wamid.SIM{secrets.token_hex(16).upper()}"
        text = SAMPLE_TEXTS[i % len(SAMPLE_TEXTS)]
        if media_every and i % media_every == media_every - 1:
            # Ids the Graph API simulator answers: 'audio...' a tone, anything else a picture.
            if (i // media_every) % 2:
                media = MediaMessage(wa_id, name, wamid, "audio", f"audio-sim-{i}", "audio/wav",
                                     None, first + i)  # fmt: skip
            else:
                media = MediaMessage(wa_id, name, wamid, "image", f"photo-sim-{i}", "image/png",
                                     text, first + i)  # fmt: skip
            bodies.append(encode(media_envelope(phone_number_id, [media])))
            continue
        message = TextMessage(wa_id, name, wamid, text, first + i)
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


@simulate.command("graph-api")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8081, show_default=True, type=ANY_PORT, help="0: any free.")
@click.option(
    "--tenant",
    "slugs",
    multiple=True,
    default=("demo",),
    show_default=True,
    help="Tenant slug; repeat for several.",
)
@click.option(
    "--webhook-base",
    default="http://127.0.0.1:8000",
    show_default=True,
    help="Statuses go to {base}/webhooks/whatsapp/{slug}.",
)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    metavar="KIND=RATE",
    help=f"Probability per send of a fault; KIND is one of {', '.join(FAULTS)}. Repeatable.",
)
@click.option(
    "--fail-recipient",
    "fail_recipients",
    multiple=True,
    metavar="NUMBER=CODE",
    help="Sends to NUMBER get a failed status with this error code. Repeatable.",
)
@click.option(
    "--status-delays",
    default="50,100,150",
    show_default=True,
    metavar="MS,MS,MS",
    help="Delays of the sent, delivered and read statuses after a send.",
)
@click.option("--shuffle", is_flag=True, help="Post each send's statuses in random order.")
@click.option("--no-statuses", is_flag=True, help="Post no status webhooks at all.")
@click.option("--latency-ms", default=0, show_default=True, type=LATENCY_MS)
@click.option(
    "--hold-seconds",
    default=30.0,
    show_default=True,
    type=SECONDS,
    help="How long a 'timeout' fault holds its answer.",
)
@click.option("--seed", type=SEED, help="Seed for faults and shuffling, to repeat a run.")
def graph_api(
    host: str,
    port: int,
    slugs: tuple[str, ...],
    webhook_base: str,
    faults: tuple[str, ...],
    fail_recipients: tuple[str, ...],
    status_delays: str,
    shuffle: bool,
    no_statuses: bool,
    latency_ms: int,
    hold_seconds: float,
    seed: int | None,
) -> None:
    """A local WhatsApp Cloud API in the foreground, until Ctrl-C.

    Accepts sends with each tenant's access token, answers like Meta, posts signed status
    webhooks back to recado and injects the requested faults.
    """
    # Options are checked before the database is read, so a typo costs no PostgreSQL start.
    try:
        delays = [int(ms) for ms in status_delays.split(",")]
        if len(delays) != 3:
            raise ValueError("--status-delays takes three delays in ms: sent,delivered,read")
        options = SimulatorConfig(
            routes={},
            host=host,
            port=port,
            status_delays_ms=(delays[0], delays[1], delays[2]),
            send_statuses=not no_statuses,
            shuffle_statuses=shuffle,
            fail_recipients={
                n: int(code) for n, code in _pairs(fail_recipients, "--fail-recipient")
            },
            faults={kind: float(rate) for kind, rate in _pairs(faults, "--fault")},
            seed=seed,
            latency_ms=latency_ms,
            timeout_hold_s=hold_seconds,
            echo=lambda line: echo(f"{time.strftime('%H:%M:%S')} {line}"),
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    config = replace(options, routes=_graph_api_routes(slugs, webhook_base.rstrip("/")))
    simulator = GraphApiSimulator(config)
    try:
        simulator.start()
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    version = GRAPH_API_BASE_URL.rsplit("/", 1)[-1]
    echo(f"Graph API simulator on {simulator.url}")
    for number, route in config.routes.items():
        echo(f"  phone number id {number}: statuses to {route.webhook_url}")
    echo(f"Set WHATSAPP_API_BASE_URL={simulator.url}/{version} for recado's server and workers")
    echo(f"Send log: {simulator.url}/_simulator/log")
    echo("Ctrl-C stops it.")
    # SIGTERM (a supervisor, `kill`) stops it as cleanly as Ctrl-C.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        while True:
            signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        simulator.stop()
    counts = simulator.counts()
    echo(
        f"stopped: {counts.accepted} sends accepted, {counts.rejected} rejected,"
        f" faults {sum(counts.faults.values())}, statuses posted {counts.webhooks_delivered},"
        f" undelivered {counts.webhooks_undelivered}"
    )


@simulate.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8082, show_default=True, type=ANY_PORT, help="0: any free.")
@click.option("--latency-ms", default=0, show_default=True, type=LATENCY_MS)
@click.option(
    "--fault-rate",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Probability per call of a fault drawn from --faults.",
)
@click.option(
    "--faults",
    default=",".join(RANDOM_FAULTS),
    show_default=True,
    help=f"Comma-separated faults to draw from; known: {', '.join(LLM_FAULTS)}.",
)
@click.option(
    "--hang-seconds",
    default=30.0,
    show_default=True,
    type=SECONDS,
    help="How long a 'timeout' fault holds the connection.",
)
@click.option("--seed", type=SEED, help="Seed for the fault draws, to repeat a run.")
def llm(
    host: str,
    port: int,
    latency_ms: int,
    fault_rate: float,
    faults: str,
    hang_seconds: float,
    seed: int | None,
) -> None:
    """A local OpenAI-compatible API in the foreground, until Ctrl-C.

    Deterministic replies and embeddings for the assistant, with the requested latency and
    faults; steer it while it runs through POST /_simulator/config.
    """
    try:
        config = LlmSimulatorConfig(
            host=host,
            port=port,
            latency_ms=latency_ms,
            fault_rate=fault_rate,
            faults=tuple(kind.strip() for kind in faults.split(",") if kind.strip()),
            seed=seed,
            hang_seconds=hang_seconds,
            echo=lambda line: echo(f"{time.strftime('%H:%M:%S')} {line}"),
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    simulator = LlmSimulator(config)
    try:
        simulator.start()
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    echo(f"LLM simulator on {simulator.url}")
    echo(
        f"Set OPENAI_BASE_URL={simulator.url} and OPENAI_API_KEY to any value"
        " for recado's server and workers"
    )
    base = simulator.url.removesuffix("/v1")
    echo(f"Call log: {base}/_simulator/log  configuration: {base}/_simulator/config")
    echo("Ctrl-C stops it.")
    # SIGTERM (a supervisor, `kill`) stops it as cleanly as Ctrl-C.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        while True:
            signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        simulator.stop()
    calls = simulator.calls
    failed = sum(1 for call in calls if call.status != 200)
    echo(f"stopped: {len(calls)} calls, {failed} without a 200 answer")


def _graph_api_routes(slugs: tuple[str, ...], webhook_base: str) -> dict[str, TenantRoute]:
    routes = {}
    with cli_connection() as conn:
        for slug in slugs:
            tenant = tenant_by_slug(conn, slug)
            if tenant is None:
                raise click.ClickException(f"no tenant {slug!r}: see `recado tenants list`")
            number, secret, token = (
                tenant.wa_phone_number_id,
                tenant.wa_app_secret,
                tenant.wa_access_token,
            )
            if not (number and secret and token):
                raise click.ClickException(
                    f"tenant {slug!r} lacks a WhatsApp phone number id, app secret or access token"
                )
            routes[number] = TenantRoute(f"{webhook_base}/webhooks/whatsapp/{slug}", secret, token)
    return routes


def _pairs(values: tuple[str, ...], option: str) -> list[tuple[str, str]]:
    pairs = [value.partition("=") for value in values]
    if any(not key or not sep or not rest for key, sep, rest in pairs):
        raise click.BadParameter("expected KEY=VALUE", param_hint=option)
    return [(key.strip(), rest.strip()) for key, _, rest in pairs]
