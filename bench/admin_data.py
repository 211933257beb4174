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
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg import Connection
from psycopg.rows import TupleRow

from db.pool import connect_kwargs
from db.tenants import create_tenant
from db.users import create_user, set_password_hash
from webapp.admin.passwords import hash_password

PASSWORD = "bench admin password"
MAIN_SLUG = "bench"
OTHER_SLUG = "bench-other"
MAIN_PHONE_NUMBER_ID = "100000000000095"
OTHER_PHONE_NUMBER_ID = "100000000000096"
AGENTS = 4
# Messages written per INSERT (and transaction): progress is printed after each.
BATCH_ROWS = 50_000
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


def _one(conn: Connection[TupleRow], query: str, params: object = None) -> TupleRow:
    row = conn.execute(query, params).fetchone()  # type: ignore[arg-type]
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
        planned.append(
            _Planned(
                no, wa_id, name, status, assigned, assigned or rng.choice(tenant.agent_ids),
                size, now - age, round(gap), agent_from,
            )
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


_PLAN_TABLE = """
CREATE TEMP TABLE bench_plan (
    tenant_id bigint NOT NULL, no integer NOT NULL, wa_id text NOT NULL, name text NOT NULL,
    status text NOT NULL, assigned_user_id bigint, agent_id bigint NOT NULL,
    messages integer NOT NULL,
    ends_at timestamptz NOT NULL, gap_seconds integer NOT NULL, agent_from integer,
    contact_id bigint, conversation_id bigint, PRIMARY KEY (tenant_id, no)
)
"""

_CONTACTS = """
WITH made AS (
    INSERT INTO contacts (tenant_id, channel, channel_user_id, phone_e164, profile_name,
                          created_at, updated_at)
    SELECT tenant_id, 'whatsapp', wa_id, '+' || wa_id, name,
        ends_at - make_interval(secs => gap_seconds * ((messages + 1) / 2)), ends_at
    FROM bench_plan ORDER BY ends_at - make_interval(secs => gap_seconds * ((messages + 1) / 2))
    RETURNING id, tenant_id, channel_user_id
)
UPDATE bench_plan p SET contact_id = made.id
FROM made WHERE made.tenant_id = p.tenant_id AND made.channel_user_id = p.wa_id
"""

_LEADS = """
INSERT INTO leads (tenant_id, contact_id, name, phone_e164, email, stage, score, facts,
                   created_at, updated_at)
SELECT p.tenant_id, p.contact_id, p.name, '+' || p.wa_id,
    CASE WHEN p.no %% 3 = 0 THEN lower(split_part(p.name, ' ', 1)) || p.no || '@example.com' END,
    (ARRAY['new', 'engaged', 'qualified', 'customer', 'lost'])[1 + p.no %% 5],
    (p.no * 37) %% 100,
    CASE WHEN p.no %% 2 = 0 THEN '{"name_source": "stated"}'::jsonb ELSE '{}'::jsonb END,
    c.created_at, p.ends_at
FROM bench_plan p JOIN contacts c ON c.id = p.contact_id
"""

_SERVICES = """
INSERT INTO lead_service_interest (tenant_id, lead_id, service, mentions, first_at, last_at)
SELECT l.tenant_id, l.id,
    (ARRAY['Fisioterapia', 'Masaje terapéutico', 'Rehabilitación postoperatoria',
           'Consulta de valoración'])[1 + l.id %% 4],
    1 + l.id %% 3, l.created_at, l.updated_at
FROM leads l WHERE l.id %% 5 = 0
"""

_CONVERSATIONS = """
WITH made AS (
    INSERT INTO conversations (tenant_id, contact_id, channel, status, assigned_user_id,
        assigned_at, closed_at, handoff_at, needs_human_reason, created_at, updated_at)
    SELECT p.tenant_id, p.contact_id, 'whatsapp', p.status, p.assigned_user_id,
        CASE WHEN p.assigned_user_id IS NOT NULL THEN p.ends_at - interval '1 hour' END,
        CASE WHEN p.status = 'closed' THEN p.ends_at + interval '1 hour' END,
        CASE WHEN p.agent_from IS NOT NULL
             THEN p.ends_at - make_interval(secs => p.gap_seconds
                                                     * ((p.messages - p.agent_from) / 2 + 1)) END,
        CASE WHEN p.status = 'handoff' THEN 'the customer asked for a person' END,
        c.created_at, p.ends_at
    FROM bench_plan p JOIN contacts c ON c.id = p.contact_id
    ORDER BY c.created_at
    RETURNING id, contact_id
)
UPDATE bench_plan p SET conversation_id = made.id FROM made WHERE made.contact_id = p.contact_id
"""

# One row per message, with everything computed: time, direction, text, status, provider id.
# Messages alternate in/out, the customer first; a pair every gap_seconds, the answer 5-60 s
# after the question; the conversation's last message at ends_at.
_STAGED = """
CREATE TEMP TABLE bench_staged AS
SELECT s.*, row_number() OVER (ORDER BY s.ordered_at, s.conversation_id, s.k) AS seq
FROM (
    SELECT x.tenant_id, x.conversation_id, x.wa_id, x.name, x.k, x.inbound, x.h,
        CASE WHEN x.inbound THEN date_trunc('second', x.at) ELSE x.at END AS ordered_at,
        CASE WHEN x.inbound THEN date_trunc('second', x.at) + interval '0.8 s' ELSE x.at END
            AS received_at,
        CASE WHEN x.inbound AND x.h %% 20 = 0 THEN 'image' ELSE 'text' END AS type,
        CASE
            WHEN x.inbound AND x.h %% 20 = 0 THEN NULL
            WHEN x.inbound THEN (%(inbound)s::text[])[1 + x.h %% %(n_inbound)s]
            WHEN x.agent THEN (%(agent)s::text[])[1 + x.h %% %(n_agent)s]
            ELSE (%(assistant)s::text[])[1 + x.h %% %(n_assistant)s]
        END AS text,
        CASE WHEN x.inbound THEN NULL
             WHEN x.h / 7 %% 100 < 2 THEN 'failed'
             WHEN x.h / 7 %% 100 < 8 THEN 'delivered'
             WHEN x.h / 7 %% 100 < 10 THEN 'sent'
             ELSE 'read' END AS delivery_status,
        CASE WHEN x.agent THEN x.assigned END AS sent_by_user_id,
        CASE WHEN x.inbound OR x.h / 7 %% 100 >= 2
             THEN 'wamid.HBgM' || upper(md5(x.tenant_id || ':' || x.conversation_id || ':' || x.k))
        END AS wamid
    FROM (
        SELECT p.tenant_id, p.conversation_id, p.wa_id, p.name, k, k %% 2 = 1 AS inbound,
            NOT k %% 2 = 1 AND p.agent_from IS NOT NULL AND k >= p.agent_from AS agent,
            p.agent_id AS assigned,
            hashint8(p.conversation_id * 8192 + k) & 2147483647 AS h,
            p.ends_at - interval '60 s'
                - make_interval(secs => p.gap_seconds * ((p.messages + 1) / 2 - 1 - (k - 1) / 2))
                + make_interval(secs => (hashint8(p.conversation_id * 8192 + (k + 1) / 2) & 31)
                                        + CASE WHEN k %% 2 = 0
                                               THEN 5 + (hashint8(p.conversation_id * 8192 + k)
                                                         & 2147483647) %% 55
                                               ELSE 0 END)
                AS at
        FROM bench_plan p CROSS JOIN LATERAL generate_series(1, p.messages) AS k
    ) x
) s
"""

_EVENTS = """
INSERT INTO inbound_events (tenant_id, channel, kind, provider_event_id, payload, received_at,
                            processed_at, outcome)
SELECT s.tenant_id, 'whatsapp', 'message', s.wamid,
    jsonb_build_object(
        'message', jsonb_build_object('from', s.wa_id, 'id', s.wamid,
            'timestamp', extract(epoch FROM s.ordered_at)::bigint::text, 'type', s.type)
            || CASE WHEN s.type = 'image'
                    THEN jsonb_build_object('image', jsonb_build_object(
                        'id', 'media' || s.h, 'mime_type', 'image/jpeg', 'sha256', md5(s.wamid)))
                    ELSE jsonb_build_object('text', jsonb_build_object('body', s.text)) END,
        'contact', jsonb_build_object('wa_id', s.wa_id, 'profile', jsonb_build_object('name', s.name)),
        'metadata', jsonb_build_object('display_phone_number', '15550000000',
                                       'phone_number_id', t.wa_phone_number_id)),
    s.received_at, s.received_at + interval '0.3 s', 'stored'
FROM bench_staged s JOIN tenants t ON t.id = s.tenant_id
WHERE s.inbound ORDER BY s.seq
"""

_MESSAGES = """
INSERT INTO messages (tenant_id, conversation_id, channel, direction, type, text, media,
    provider_message_id, inbound_event_id, provider_timestamp, ordered_at, received_at,
    delivery_status, sent_at, delivered_at, read_at, failed_at, error, send_attempts,
    sent_by_user_id, created_at, updated_at)
SELECT s.tenant_id, s.conversation_id, 'whatsapp', CASE WHEN s.inbound THEN 'in' ELSE 'out' END,
    s.type, s.text,
    CASE WHEN s.type = 'image' THEN jsonb_build_object('media_id', 'media' || s.h,
        'mime_type', 'image/jpeg', 'sha256', md5(s.wamid), 'caption', NULL, 'filename', NULL) END,
    s.wamid, e.id, CASE WHEN s.inbound THEN s.ordered_at END, s.ordered_at, s.received_at,
    s.delivery_status,
    CASE WHEN s.delivery_status <> 'failed' THEN s.ordered_at + interval '1 s' END,
    CASE WHEN s.delivery_status IN ('delivered', 'read') THEN s.ordered_at + interval '3 s' END,
    CASE WHEN s.delivery_status = 'read' THEN s.ordered_at + interval '90 s' END,
    CASE WHEN s.delivery_status = 'failed' THEN s.ordered_at + interval '1 s' END,
    CASE WHEN s.delivery_status = 'failed' THEN jsonb_build_array(jsonb_build_object(
        'code', 131026, 'title', 'Message undeliverable',
        'message', 'Message undeliverable', 'details', 'The recipient is not on WhatsApp')) END,
    CASE WHEN s.inbound THEN 0 ELSE 1 END,
    s.sent_by_user_id, s.received_at, s.received_at
FROM bench_staged s
LEFT JOIN inbound_events e ON s.inbound AND e.tenant_id = s.tenant_id
    AND e.channel = 'whatsapp' AND e.provider_event_id = s.wamid
WHERE s.seq > %(first)s AND s.seq <= %(last)s
ORDER BY s.seq
"""

# A planning record for every assistant message: the inbound message before it is what it
# answered. The request is what a prompt of that size looks like to TOAST.
_REPLIES = """
INSERT INTO replies (tenant_id, conversation_id, through_message_id, outcome, source,
    cache_result, prompt_version, model, request, response, reply_text, intent, confidence,
    extraction, prompt_tokens, completion_tokens, latency_ms, cost_usd, outbound_message_id,
    created_at)
SELECT m.tenant_id, m.conversation_id, m.prev_id, 'queued',
    CASE WHEN m.id %% 10 = 0 THEN 'cache' ELSE 'llm' END,
    CASE WHEN m.id %% 10 = 0 THEN 'hit_exact' ELSE 'miss' END,
    'reply-v3', 'gpt-4o-mini',
    jsonb_build_object('model', 'gpt-4o-mini', 'messages', jsonb_build_array(
        jsonb_build_object('role', 'system', 'content', %(system)s::text),
        jsonb_build_object('role', 'user', 'content', m.prev_text))),
    jsonb_build_object('reply', m.text, 'intent', 'pricing', 'confidence', 0.9),
    m.text,
    (ARRAY['pricing', 'booking', 'hours', 'location', 'payment', 'other'])[1 + m.id %% 6],
    0.55 + (m.id %% 45) / 100.0,
    CASE WHEN m.id %% 4 = 0 THEN '{"name": "stated"}'::jsonb ELSE '{}'::jsonb END,
    900 + m.id %% 700, 40 + m.id %% 120, 400 + m.id %% 1600,
    ((900 + m.id %% 700) * 0.15 + (40 + m.id %% 120) * 0.6) / 1000000.0, m.id, m.created_at
FROM (
    SELECT id, tenant_id, conversation_id, direction, text, created_at, sent_by_user_id,
        lag(id) OVER w AS prev_id, lag(direction) OVER w AS prev_direction,
        lag(text) OVER w AS prev_text
    FROM messages
    WINDOW w AS (PARTITION BY conversation_id
                 ORDER BY ordered_at, received_at, envelope_position, id)
) m
WHERE m.direction = 'out' AND m.sent_by_user_id IS NULL AND m.prev_direction = 'in'
"""

_CONVERSATION_TOTALS = """
UPDATE conversations v SET
    last_inbound_at = t.last_inbound_at,
    replied_through = COALESCE(t.replied_through, 0)
FROM (
    SELECT m.conversation_id, max(m.ordered_at) AS last_inbound_at, max(r.through) AS replied_through
    FROM messages m
    LEFT JOIN (SELECT conversation_id, max(through_message_id) AS through FROM replies
               GROUP BY conversation_id) r ON r.conversation_id = m.conversation_id
    WHERE m.direction = 'in'
    GROUP BY m.conversation_id
) t
WHERE t.conversation_id = v.id
"""

# The owner has read half of the conversations up to the message the assistant last answered.
_READS = """
INSERT INTO conversation_reads (user_id, conversation_id, tenant_id, read_through_message_id,
                                read_at)
SELECT t.owner_id, v.id, v.tenant_id, v.replied_through, v.updated_at
FROM conversations v JOIN (SELECT unnest(%(tenants)s::bigint[]) AS id,
                                  unnest(%(owners)s::bigint[]) AS owner_id) t ON t.id = v.tenant_id
WHERE v.replied_through > 0 AND v.id %% 2 = 0
"""

_NOTES = """
INSERT INTO conversation_notes (tenant_id, conversation_id, user_id, body, created_at)
SELECT v.tenant_id, v.id, v.assigned_user_id,
    'Paciente prefiere horario de tarde; confirmar seguro antes de la cita.', v.updated_at
FROM conversations v WHERE v.status = 'handoff' AND v.assigned_user_id IS NOT NULL
"""

_NOTIFICATIONS = """
INSERT INTO agent_notifications (tenant_id, conversation_id, kind, reason, created_at,
                                 acknowledged_at)
SELECT v.tenant_id, v.id, 'handoff', 'customer_request', v.handoff_at,
    CASE WHEN v.assigned_user_id IS NOT NULL THEN v.assigned_at END
FROM conversations v WHERE v.handoff_at IS NOT NULL
"""

# Failed ingests leave their event unprocessed and no message; these events are theirs.
_FAILED_EVENTS = """
INSERT INTO inbound_events (tenant_id, channel, kind, provider_event_id, payload, received_at)
SELECT p.tenant_id, 'whatsapp', 'message', 'wamid.HBgMFAILED' || upper(md5(p.tenant_id || ':' || i)),
    jsonb_build_object('message', jsonb_build_object('from', p.wa_id,
        'id', 'wamid.HBgMFAILED' || upper(md5(p.tenant_id || ':' || i)),
        'timestamp', extract(epoch FROM p.ends_at)::bigint::text, 'type', 'text',
        'text', jsonb_build_object('body', 'Hola, ¿siguen abiertos?')),
        'contact', jsonb_build_object('wa_id', p.wa_id, 'profile', jsonb_build_object('name', p.name))),
    p.ends_at - make_interval(secs => i)
FROM generate_series(1, %(count)s) AS i
JOIN bench_plan p ON p.tenant_id = %(tenant)s AND p.no = i %% %(conversations)s
"""

_TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/app/actors/middleware.py", line 63, in after_process_message\n'
    '  File "/app/actors/{actor}.py", line 88, in {actor}\n'
    '  File "/app/db/pool.py", line 141, in connection\n'
    "{error}\n"
)

# Each dead letter names what its step annotated: the inbound event for an ingest, the message
# for a send, a plan or a read receipt; the conversation when the step knew it.
_DEAD_LETTERS = """
INSERT INTO dead_letters (message_id, queue_name, actor, args, attempts, exception_type,
    exception_text, traceback, tenant_id, conversation_id, related, state, first_failed_at,
    last_failed_at, failures)
SELECT gen_random_uuid(), d.queue, d.actor, d.args, d.attempts, d.error_type, d.error_text,
    replace(replace(%(traceback)s, '{actor}', d.actor), '{error}', d.error_type || ': '
        || d.error_text),
    %(tenant)s, d.conversation_id, d.related,
    (ARRAY['dead', 'dead', 'dead', 'dead', 'dead', 'dead', 'dead', 'requeued', 'resolved',
           'discarded'])[1 + d.n %% 10],
    d.at - interval '40 min', d.at, 1 + d.n %% 3
FROM (
    SELECT e.n, 'ingest' AS queue, 'ingest_event' AS actor, jsonb_build_array(e.id) AS args,
        21 AS attempts, 'psycopg.errors.QueryCanceled' AS error_type,
        'canceling statement due to statement timeout' AS error_text,
        CASE WHEN e.n %% 2 = 0 THEN v.id END AS conversation_id,
        jsonb_build_object('inbound_event_id', e.id) AS related, e.received_at AS at
    FROM (SELECT id, received_at, payload -> 'message' ->> 'from' AS wa_id,
                 row_number() OVER (ORDER BY id) AS n
          FROM inbound_events
          WHERE tenant_id = %(tenant)s AND processed_at IS NULL) e
    JOIN contacts c ON c.tenant_id = %(tenant)s AND c.channel = 'whatsapp'
        AND c.channel_user_id = e.wa_id
    JOIN conversations v ON v.contact_id = c.id
    UNION ALL
    SELECT m.n, 'send', 'send_message', jsonb_build_array(m.id), 13,
        'domain.errors.PermanentError', 'Graph API error 131026: Message undeliverable',
        m.conversation_id, jsonb_build_object('message_id', m.id), m.ordered_at
    FROM (SELECT id, conversation_id, ordered_at, row_number() OVER (ORDER BY id) AS n
          FROM messages
          WHERE tenant_id = %(tenant)s AND delivery_status = 'failed') m
    WHERE m.n <= %(sends)s
    UNION ALL
    SELECT m.n, CASE WHEN m.plan THEN 'assistant' ELSE 'send' END,
        CASE WHEN m.plan THEN 'plan_reply' ELSE 'mark_read' END,
        CASE WHEN m.plan THEN jsonb_build_array(m.conversation_id, m.id)
             ELSE jsonb_build_array(m.id) END,
        CASE WHEN m.plan THEN 4 ELSE 4 END,
        CASE WHEN m.plan THEN 'openai.APITimeoutError' ELSE 'httpx.ReadTimeout' END,
        CASE WHEN m.plan THEN 'Request timed out.' ELSE 'timed out' END,
        m.conversation_id, jsonb_build_object('message_id', m.id), m.ordered_at
    FROM (SELECT id, conversation_id, ordered_at, id %% 3 <> 0 AS plan,
                 row_number() OVER (ORDER BY id) AS n
          FROM messages
          WHERE tenant_id = %(tenant)s AND direction = 'in' AND id %% %(stride)s = 0) m
    WHERE m.n <= %(others)s
) d
"""

_REQUEUES = """
INSERT INTO dead_letter_requeues (dead_letter_id, message_id, requeued_by, requeued_at)
SELECT id, gen_random_uuid(), 'owner@' || %(slug)s || '.example', last_failed_at + interval '1 h'
FROM dead_letters WHERE tenant_id = %(tenant)s AND state IN ('requeued', 'resolved')
"""


def _dead_letters(conn: Connection[TupleRow], tenant: _Tenant, count: int, conversations: int):
    share = dict(DEAD_LETTER_ACTORS)
    ingests = count * share["ingest_event"] // 10
    sends = count * share["send_message"] // 10
    conn.execute(
        _FAILED_EVENTS, {"count": ingests, "tenant": tenant.id, "conversations": conversations}
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
        _DEAD_LETTERS,
        {"tenant": tenant.id, "sends": sends, "others": others, "stride": stride,
         "traceback": _TRACEBACK},
    )  # fmt: skip
    conn.execute(_REQUEUES, {"tenant": tenant.id, "slug": tenant.slug})


_SYSTEM_PROMPT = (
    "Eres el asistente de Clínica Demo Fisioterapia en Ciudad de México. Responde en español, "
    "de usted, solo con lo que dice el perfil: servicios (Fisioterapia $650 MXN, Masaje "
    "terapéutico $700 MXN, Rehabilitación postoperatoria precio a consultar, Consulta de "
    "valoración $500 MXN), horario (lunes a viernes 8:00-20:00, sábado 9:00-14:00), dirección "
    "(Av. Insurgentes Sur 1234, Col. Del Valle) y preguntas frecuentes. Si piden una cita o "
    "algo que el perfil no cubre, di que una persona dará seguimiento. Nunca inventes precios."
)


def _messages(conn: Connection[TupleRow]) -> int:
    conn.execute(
        _STAGED,
        {
            "inbound": list(INBOUND_TEXTS), "n_inbound": len(INBOUND_TEXTS),
            "assistant": list(ASSISTANT_TEXTS), "n_assistant": len(ASSISTANT_TEXTS),
            "agent": list(AGENT_TEXTS), "n_agent": len(AGENT_TEXTS),
        },
    )  # fmt: skip
    conn.execute("CREATE INDEX ON bench_staged (seq)")
    conn.execute("ANALYZE bench_staged")
    conn.execute(_EVENTS, {})
    conn.commit()
    progress("inbound events written")
    (total,) = _one(conn, "SELECT count(*) FROM bench_staged")
    started = time.perf_counter()
    for first in range(0, total, BATCH_ROWS):
        last = min(total, first + BATCH_ROWS)
        conn.execute(_MESSAGES, {"first": first, "last": last})
        conn.commit()
        rate = last / (time.perf_counter() - started)
        progress(f"messages: {last:,} of {total:,} ({rate:,.0f}/s)")
    return int(total)


def generate(url: str, scale: Scale) -> Dataset:
    """Write the data; returns what the benchmark needs to ask for it."""
    started = time.perf_counter()
    rng = random.Random(scale.seed)
    with psycopg.connect(url, **connect_kwargs("recado-bench")) as conn:
        main = _make_tenant(conn, MAIN_SLUG, MAIN_PHONE_NUMBER_ID)
        other = _make_tenant(conn, OTHER_SLUG, OTHER_PHONE_NUMBER_ID)
        conn.execute(_PLAN_TABLE)
        _copy_plan(conn, main.id, _plan(rng, main, scale.messages, scale.conversations, True))
        _copy_plan(
            conn,
            other.id,
            _plan(rng, other, scale.other_messages, scale.other_conversations, False),
        )
        conn.execute("ANALYZE bench_plan")
        for statement in (_CONTACTS, _LEADS, _SERVICES, _CONVERSATIONS):
            # Parameters, even none, so `%%` reads as `%` in every statement.
            conn.execute(statement, {})
        conn.commit()
        progress("contacts, leads and conversations written")
        _messages(conn)
        conn.execute(_REPLIES, {"system": _SYSTEM_PROMPT})
        conn.execute(_CONVERSATION_TOTALS, {})
        conn.execute(_READS, {"tenants": [main.id, other.id], "owners": [main.owner_id, other.owner_id]})
        conn.execute(_NOTES)
        conn.execute(_NOTIFICATIONS)
        conn.commit()
        progress("replies, reads, notes and notifications written")
        _dead_letters(conn, main, scale.dead_letters - scale.dead_letters // 10, scale.conversations)
        _dead_letters(conn, other, scale.dead_letters // 10, scale.other_conversations)
        conn.commit()
        progress("dead letters written")
        dataset = _probes(conn, url, main, scale)
        conn.execute("DROP TABLE bench_staged")
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

