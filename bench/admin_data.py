"""The admin benchmark's data: two tenants' contacts, conversations, messages, replies, leads,
reads, notes and dead letters, written set-wise (COPY of a per-conversation plan, then
INSERT ... SELECT generate_series) into a scratch database.

Every row goes through the schema as it is: its constraints and its triggers (the live events
and the inbox's denormalised columns fire for each message, as in production). Messages are
inserted in time order across conversations, so ids and the heap follow time as they would
after months of traffic, not one conversation after another. The live events the load made
are pruned afterwards, as the workers' housekeeping prunes rows older than an hour.
"""

import random
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg import Connection
from psycopg.rows import TupleRow

from bench import admin_sql as statements
from db.pool import connect_kwargs
from db.tenants import create_tenant
from db.users import create_user, set_password_hash
from webapp.admin.passwords import hash_password

PASSWORD = "bench admin password"  # noqa: S105  (the scratch database's users)
MAIN_SLUG = "bench"
OTHER_SLUG = "bench-other"
MAIN_PHONE_NUMBER_ID = "100000000000095"
OTHER_PHONE_NUMBER_ID = "100000000000096"
AGENTS = 4
# Messages written per INSERT (and transaction) by all loaders: progress is printed after each.
BATCH_ROWS = 50_000
# Connections inserting messages at once: the machine's two cores both run triggers.
LOADERS = 2
LONG_CONVERSATION = 2000
SHORT_CONVERSATION = 20
FIRST_NAMES = (
    "Ana", "Luis", "María", "Jorge", "Lucía", "Carlos", "Sofía", "Diego", "Elena", "Miguel",
    "Paula", "Andrés", "Valeria", "Raúl", "Camila", "Héctor", "Daniela", "Tomás", "Renata",
    "Emilio", "Fernanda", "Iván", "Regina", "Óscar", "Julia", "Pablo", "Ximena", "Adrián",
)  # fmt: skip
SURNAMES = (
    "Torres", "Gómez", "Ruiz", "Navarro", "Castro", "Méndez", "Ortega", "Quiroga", "Salinas",
    "Herrera", "Vargas", "Aguilar", "Domínguez", "Fuentes", "Ibarra", "Lozano", "Montes",
    "Pacheco", "Robles", "Serrano", "Trejo", "Valdez", "Zamora", "Cortés", "Bravo",
)  # fmt: skip
# What the inbox search looks for: a surname about one contact in len(SURNAMES) carries.
SEARCH_TERM = "Quiroga"
INBOUND_TEXTS = (
    "Hola, ¿cuánto cuesta una sesión de fisioterapia?",
    "Buenas tardes, ¿tienen cita disponible el viernes?",
    "¿Aceptan tarjeta de crédito?",
    "Me duele la espalda baja desde hace una semana",
    "¿A qué hora abren los sábados?",
    "Gracias, ahí nos vemos",
    "¿Dónde están ubicados?",
    "Quisiera reagendar mi cita del martes",
    "¿Cuánto dura la rehabilitación postoperatoria?",
    "¿El masaje terapéutico incluye valoración?",
    "Perfecto, muchas gracias",
    "¿Puedo ir con mi hija? Ella también necesita consulta",
    "Tengo una lesión en la rodilla jugando fútbol",
    "¿Tienen estacionamiento?",
    "¿Me pueden mandar la factura por correo?",
    "Llego 10 minutos tarde, disculpe",
    "¿Cuántas sesiones necesito para el hombro?",
    "Ok",
    "Quiero hablar con una persona por favor",
    "¿Trabajan con seguro de gastos médicos?",
)
ASSISTANT_TEXTS = (
    "¡Hola! La sesión de fisioterapia cuesta $650 MXN y dura 50 minutos.",
    "Con gusto. El viernes tenemos espacio a las 10:00 y a las 17:00. ¿Cuál le acomoda?",
    "Sí, aceptamos tarjetas de crédito y débito, y transferencia.",
    "Lamento la molestia. Le sugiero una consulta de valoración ($500 MXN) para revisarlo.",
    "Los sábados abrimos de 9:00 a 14:00.",
    "Estamos en Av. Insurgentes Sur 1234, Col. Del Valle, Ciudad de México.",
    "Claro, una persona del equipo le confirmará el cambio en breve.",
    "La rehabilitación postoperatoria suele durar de 6 a 12 semanas, según la valoración.",
    "¡A usted! Que tenga buen día.",
    "Sí, contamos con estacionamiento para pacientes.",
)
AGENT_TEXTS = (
    "Hola, soy Mariana de recepción. Ya quedó su cita, la esperamos.",
    "Le envío la factura hoy mismo a su correo.",
    "Sí trabajamos con aseguradoras; traiga su póliza a la consulta.",
    "Listo, la cambié al jueves a las 11:00.",
    "Con gusto le atiendo, ¿me confirma su nombre completo?",
)
# (actor, share in tenths): what the dead letters failed at.
DEAD_LETTER_ACTORS = (("ingest_event", 4), ("send_message", 3), ("plan_reply", 2), ("mark_read", 1))


@dataclass(frozen=True)
class Scale:
    messages: int
    conversations: int
    dead_letters: int
    seed: int = 11

    @property
    def other_conversations(self) -> int:
        return max(1, self.conversations // 10)

    @property
    def other_messages(self) -> int:
        return max(2 * self.other_conversations, self.messages // 10)

    @property
    def long_messages(self) -> int:
        """The long conversation's length: LONG_CONVERSATION, less at small scales."""
        spare = self.messages - SHORT_CONVERSATION - 2 * (self.conversations - 2)
        return max(2, min(LONG_CONVERSATION, spare // 2))


@dataclass(frozen=True)
class Dataset:
    """What the benchmark asks for, found in the data it wrote."""

    url: str
    tenant_id: int
    slug: str
    app_secret: str
    phone_number_id: str
    owner_email: str
    short_conversation_id: int
    short_messages: int
    long_conversation_id: int
    long_messages: int
    search_term: str
    dead_letter_phone: str
    dead_letter_provider_id: str
    # Senders of open conversations: the live phase writes as them.
    live_senders: list[tuple[str, str]]
    rows: dict[str, int]
    load_seconds: float


@dataclass(frozen=True)
class _Tenant:
    id: int
    slug: str
    secret: str
    owner_id: int
    agent_ids: list[int]


def progress(text: str) -> None:
    print(f"  {text}", file=sys.stderr, flush=True)


def _one(conn: Connection[TupleRow], query: str, params: Sequence[object] = ()) -> TupleRow:
    row = conn.execute(query, params).fetchone()
    if row is None:
        raise LookupError(f"no row for: {query.split()[0:6]}")
    return row


def _make_tenant(conn: Connection[TupleRow], slug: str, phone_number_id: str) -> _Tenant:
    secret = random.Random(slug).getrandbits(128).to_bytes(16, "big").hex()
    tenant = create_tenant(
        conn, slug=slug, name=f"Clínica {slug}", wa_phone_number_id=phone_number_id,
        wa_app_secret=secret, wa_verify_token=f"verify-{slug}", wa_access_token=f"token-{slug}",
    )  # fmt: skip
    password_hash = hash_password(PASSWORD)
    owner = create_user(
        conn, email=f"owner@{slug}.example", role="owner", tenant_id=tenant.id,
        display_name="Dueña",
    )  # fmt: skip
    set_password_hash(conn, owner.id, password_hash)
    agents = []
    for n in range(AGENTS):
        agent = create_user(
            conn, email=f"agent{n + 1}@{slug}.example", role="agent", tenant_id=tenant.id,
            display_name=f"Agente {n + 1}",
        )  # fmt: skip
        set_password_hash(conn, agent.id, password_hash)
        agents.append(agent.id)
    return _Tenant(tenant.id, slug, secret, owner.id, agents)


# --- the plan: one row per conversation --------------------------------------------------------


@dataclass(frozen=True)
class _Planned:
    no: int
    wa_id: str
    name: str
    status: str
    assigned_user_id: int | None
    # Who answers once a person has the conversation: the assignee, or another agent.
    agent_id: int
    messages: int
    ends_at: datetime
    gap_seconds: int
    # From this message on (1-based), outbound messages are a person's (hand-off), if set.
    agent_from: int | None


def _sizes(rng: random.Random, total: int, count: int, fixed: list[int]) -> list[int]:
    """`count` conversation lengths summing to `total`, the first ones `fixed`, each >= 1."""
    rest = count - len(fixed)
    left = total - sum(fixed)
    if rest <= 0:
        return fixed[:count]
    mean = left / rest
    sizes = [max(1, round(rng.uniform(1, 2 * mean - 1))) for _ in range(rest)]
    diff = left - sum(sizes)
    step = 1 if diff > 0 else -1
    while diff:
        i = rng.randrange(rest)
        if sizes[i] + step >= 1:
            sizes[i] += step
            diff -= step
    return fixed + sizes


def _status(roll: float) -> str:
    return "closed" if roll < 0.25 else "handoff" if roll < 0.35 else "open"


def _match_parity(rng: random.Random, sizes: list[int], statuses: list[str], fixed: int) -> None:
    """Who wrote last, by length (the customer writes first): a closed conversation ends with
    our answer, an open one mostly does, a handed-off one more often waits for a person. Lengths
    change in pairs, +1 and -1, so their sum stays."""
    odd_share = {"closed": 0.0, "open": 0.15, "handoff": 0.6}
    wrong = [
        i
        for i in range(fixed, len(sizes))
        if (sizes[i] % 2 == 1) != (rng.random() < odd_share[statuses[i]])
    ]
    for i, j in zip(wrong[0::2], wrong[1::2], strict=False):
        if sizes[j] < 2:
            i, j = j, i
        if sizes[j] >= 2:
            sizes[i] += 1
            sizes[j] -= 1


def _plan(rng: random.Random, tenant: _Tenant, messages: int, conversations: int, main: bool):
    now = datetime.now(UTC)
    fixed = []
    if main:
        spare = messages - SHORT_CONVERSATION - 2 * (conversations - 2)
        fixed = [max(2, min(LONG_CONVERSATION, spare // 2)), SHORT_CONVERSATION]
    sizes = _sizes(rng, messages, conversations, fixed)
    statuses = [_status(rng.random()) for _ in sizes]
    if main:
        statuses[:2] = ["handoff", "open"]
    _match_parity(rng, sizes, statuses, len(fixed))
    planned = []
    for no, (size, status) in enumerate(zip(sizes, statuses, strict=True)):
        wa_id = f"52155{10_000_000 + no:08d}"
        name = f"{FIRST_NAMES[no % len(FIRST_NAMES)]} {SURNAMES[no // 7 % len(SURNAMES)]}"
        if status == "closed":
            age = timedelta(days=rng.uniform(1, 120))
        else:
            age = timedelta(days=30 * rng.random() ** 3, minutes=5)
        pairs = (size + 1) // 2
        gap = rng.uniform(120, 6 * 3600)
        if main and no == 0:
            age, gap = timedelta(minutes=10), 100 * 86400 / pairs
        # Nothing older than about half a year.
        gap = max(120, min(gap, (180 * 86400 - age.total_seconds()) / pairs))
        agent_from = None
        if status == "handoff" or (status == "closed" and rng.random() < 0.3):
            agent_from = max(2, size - 2 * rng.randint(1, 4))
        assigned = None
        if (status == "handoff" and rng.random() < 0.7) or rng.random() < 0.04:
            assigned = rng.choice(tenant.agent_ids)
        agent = assigned or rng.choice(tenant.agent_ids)
        ends = now - age
        planned.append(
            _Planned(no, wa_id, name, status, assigned, agent, size, ends, round(gap), agent_from)
        )
    return planned


def _copy_plan(conn: Connection[TupleRow], tenant_id: int, planned: list[_Planned]) -> None:
    with conn.cursor().copy(
        "COPY bench_plan (tenant_id, no, wa_id, name, status, assigned_user_id, agent_id,"
        " messages, ends_at, gap_seconds, agent_from) FROM STDIN"
    ) as copy:
        for p in planned:
            copy.write_row(
                (tenant_id, p.no, p.wa_id, p.name, p.status, p.assigned_user_id, p.agent_id,
                 p.messages, p.ends_at, p.gap_seconds, p.agent_from)
            )  # fmt: skip


def _dead_letters(conn: Connection[TupleRow], tenant: _Tenant, count: int, conversations: int):
    share = dict(DEAD_LETTER_ACTORS)
    ingests = count * share["ingest_event"] // 10
    sends = count * share["send_message"] // 10
    conn.execute(
        statements.FAILED_EVENTS,
        {"count": ingests, "tenant": tenant.id, "conversations": conversations},
    )
    (failed_sends,) = _one(
        conn,
        "SELECT count(*) FROM messages WHERE tenant_id = %s AND delivery_status = 'failed'",
        (tenant.id,),
    )
    sends = min(sends, failed_sends)
    others = count - ingests - sends
    (inbound,) = _one(
        conn, "SELECT count(*) FROM messages WHERE tenant_id = %s AND direction = 'in'",
        (tenant.id,),
    )  # fmt: skip
    stride = max(1, inbound // max(1, others) // 2)
    conn.execute(
        statements.DEAD_LETTERS,
        {"tenant": tenant.id, "sends": sends, "others": others, "stride": stride,
         "traceback": statements.TRACEBACK},
    )  # fmt: skip
    conn.execute(statements.REQUEUES, {"tenant": tenant.id, "slug": tenant.slug})


def _messages(conn: Connection[TupleRow], url: str) -> int:
    conn.execute(
        statements.STAGED,
        {
            "inbound": list(INBOUND_TEXTS), "n_inbound": len(INBOUND_TEXTS),
            "assistant": list(ASSISTANT_TEXTS), "n_assistant": len(ASSISTANT_TEXTS),
            "agent": list(AGENT_TEXTS), "n_agent": len(AGENT_TEXTS),
        },
    )  # fmt: skip
    conn.execute("CREATE INDEX ON bench_staged (seq)")
    conn.execute("ANALYZE bench_staged")
    conn.execute(statements.EVENTS, {})
    conn.commit()
    progress("inbound events written")
    (total,) = _one(conn, "SELECT count(*) FROM bench_staged")
    _insert_messages(url, int(total))
    conn.execute("DROP TABLE bench_staged")
    conn.commit()
    # The statements that follow join these tables: planned without statistics, they would
    # take a 50,000-row side for one row.
    conn.execute("ANALYZE contacts, conversations, inbound_events, messages")
    return int(total)


def _insert_messages(url: str, total: int) -> None:
    """The staged messages in time order, by LOADERS connections at once, each with its own
    share of the conversations: the per-row triggers are most of the work, and they take no
    lock another share waits on."""
    started = time.perf_counter()
    done = [0]
    failures: list[BaseException] = []
    lock = threading.Lock()

    def load(loader: int) -> None:
        try:
            with psycopg.connect(url, **connect_kwargs("recado-bench")) as conn:
                for first in range(0, total, BATCH_ROWS):
                    if failures:
                        return
                    params = {"first": first, "last": min(total, first + BATCH_ROWS),
                              "loaders": LOADERS, "loader": loader}  # fmt: skip
                    rows = conn.execute(statements.MESSAGES, params).rowcount
                    conn.commit()
                    with lock:
                        done[0] += rows
                        rate = done[0] / (time.perf_counter() - started)
                        progress(f"messages: {done[0]:,} of {total:,} ({rate:,.0f}/s)")
        except BaseException as exc:  # re-raised by the caller's thread
            failures.append(exc)

    threads = [threading.Thread(target=load, args=(n,), daemon=True) for n in range(LOADERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]


def generate(url: str, scale: Scale) -> Dataset:
    """Write the data; returns what the benchmark needs to ask for it."""
    started = time.perf_counter()
    rng = random.Random(scale.seed)
    with psycopg.connect(url, **connect_kwargs("recado-bench")) as conn:
        main = _make_tenant(conn, MAIN_SLUG, MAIN_PHONE_NUMBER_ID)
        other = _make_tenant(conn, OTHER_SLUG, OTHER_PHONE_NUMBER_ID)
        conn.execute(statements.PLAN_TABLE)
        _copy_plan(conn, main.id, _plan(rng, main, scale.messages, scale.conversations, True))
        _copy_plan(
            conn,
            other.id,
            _plan(rng, other, scale.other_messages, scale.other_conversations, False),
        )
        conn.execute("ANALYZE bench_plan")
        for statement in (
            statements.CONTACTS, statements.LEADS, statements.SERVICES, statements.CONVERSATIONS
        ):  # fmt: skip
            # Parameters, even none, so `%%` reads as `%` in every statement.
            conn.execute(statement, {})
        conn.commit()
        progress("contacts, leads and conversations written")
        _messages(conn, url)
        conn.execute(statements.REPLIES, {"system": statements.SYSTEM_PROMPT})
        conn.execute("ANALYZE replies")
        conn.execute(statements.CONVERSATION_TOTALS, {})
        owners = {"tenants": [main.id, other.id], "owners": [main.owner_id, other.owner_id]}
        conn.execute(statements.READS, owners)
        conn.execute(statements.NOTES)
        conn.execute(statements.NOTIFICATIONS)
        conn.commit()
        progress("replies, reads, notes and notifications written")
        main_letters = scale.dead_letters - scale.dead_letters // 10
        _dead_letters(conn, main, main_letters, scale.conversations)
        _dead_letters(conn, other, scale.dead_letters // 10, scale.other_conversations)
        conn.commit()
        progress("dead letters written")
        dataset = _probes(conn, url, main, scale)
        conn.execute("DROP TABLE bench_plan")
        _prune_live_events(conn)
        conn.commit()
    # As autovacuum would have by then: the planner sees the tables as they are.
    with psycopg.connect(url, autocommit=True, **connect_kwargs("recado-bench")) as conn:
        conn.execute("VACUUM ANALYZE")
        rows = {
            table: int(_one(conn, f"SELECT count(*) FROM {table}")[0])
            for table in ("contacts", "conversations", "messages", "replies", "inbound_events",
                          "dead_letters", "leads")
        }  # fmt: skip
    progress(f"vacuumed and analysed in {time.perf_counter() - started:.0f} s in all")
    return replace(dataset, rows=rows, load_seconds=time.perf_counter() - started)


def _prune_live_events(conn: Connection[TupleRow]) -> None:
    (exists,) = _one(conn, "SELECT to_regclass('live_events') IS NOT NULL")
    if exists:
        conn.execute("DELETE FROM live_events")


def _probes(conn: Connection[TupleRow], url: str, main: _Tenant, scale: Scale) -> Dataset:
    long_id, long_n = _one(
        conn,
        "SELECT p.conversation_id, p.messages FROM bench_plan p"
        " WHERE p.tenant_id = %s AND p.no = 0",
        (main.id,),
    )
    short_id, short_n = _one(
        conn,
        "SELECT p.conversation_id, p.messages FROM bench_plan p"
        " WHERE p.tenant_id = %s AND p.no = 1",
        (main.id,),
    )
    (phone,) = _one(
        conn,
        "SELECT c.phone_e164 FROM dead_letters d JOIN conversations v ON v.id = d.conversation_id"
        " JOIN contacts c ON c.id = v.contact_id"
        " WHERE d.tenant_id = %s AND d.state = 'dead' AND d.actor = 'send_message'"
        " ORDER BY d.id LIMIT 1",
        (main.id,),
    )
    (provider_id,) = _one(
        conn,
        "SELECT e.provider_event_id FROM dead_letters d"
        " JOIN inbound_events e ON e.id = (d.related ->> 'inbound_event_id')::bigint"
        " WHERE d.tenant_id = %s AND d.state = 'dead' AND d.actor = 'ingest_event'"
        " ORDER BY d.id LIMIT 1",
        (main.id,),
    )
    senders = conn.execute(
        "SELECT wa_id, name FROM bench_plan WHERE tenant_id = %s AND status = 'open' AND no > 1"
        " ORDER BY no LIMIT 500",
        (main.id,),
    ).fetchall()
    return Dataset(
        url=url, tenant_id=main.id, slug=main.slug, app_secret=main.secret,
        phone_number_id=MAIN_PHONE_NUMBER_ID, owner_email=f"owner@{main.slug}.example",
        short_conversation_id=short_id, short_messages=short_n,
        long_conversation_id=long_id, long_messages=long_n, search_term=SEARCH_TERM,
        dead_letter_phone=phone, dead_letter_provider_id=provider_id,
        live_senders=[(wa_id, name) for wa_id, name in senders], rows={}, load_seconds=0.0,
    )  # fmt: skip
