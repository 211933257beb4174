"""The statements that write the admin benchmark's data (bench/admin_data.py runs them).

All but the first read the plan table (one row per conversation: its tenant, contact, status,
length, last message's time and the gap between the customer's messages) or the rows the
statements before them wrote.
"""

PLAN_TABLE = """
CREATE TEMP TABLE bench_plan (
    tenant_id bigint NOT NULL, no integer NOT NULL, wa_id text NOT NULL, name text NOT NULL,
    status text NOT NULL, assigned_user_id bigint, agent_id bigint NOT NULL,
    messages integer NOT NULL,
    ends_at timestamptz NOT NULL, gap_seconds integer NOT NULL, agent_from integer,
    contact_id bigint, conversation_id bigint, PRIMARY KEY (tenant_id, no)
)
"""

CONTACTS = """
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

LEADS = """
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

SERVICES = """
INSERT INTO lead_service_interest (tenant_id, lead_id, service, mentions, first_at, last_at)
SELECT l.tenant_id, l.id,
    (ARRAY['Fisioterapia', 'Masaje terapéutico', 'Rehabilitación postoperatoria',
           'Consulta de valoración'])[1 + l.id %% 4],
    1 + l.id %% 3, l.created_at, l.updated_at
FROM leads l WHERE l.id %% 5 = 0
"""

CONVERSATIONS = """
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
STAGED = """
CREATE UNLOGGED TABLE bench_staged AS
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

EVENTS = """
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
        'contact', jsonb_build_object('wa_id', s.wa_id,
                                      'profile', jsonb_build_object('name', s.name)),
        'metadata', jsonb_build_object('display_phone_number', '15550000000',
                                       'phone_number_id', t.wa_phone_number_id)),
    s.received_at, s.received_at + interval '0.3 s', 'stored'
FROM bench_staged s JOIN tenants t ON t.id = s.tenant_id
WHERE s.inbound ORDER BY s.seq
"""

MESSAGES = """
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
WHERE s.seq > %(first)s AND s.seq <= %(last)s AND s.conversation_id %% %(loaders)s = %(loader)s
ORDER BY s.seq
"""

# A planning record for every assistant message: the inbound message before it is what it
# answered. The request is what a prompt of that size looks like to TOAST.
REPLIES = """
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

CONVERSATION_TOTALS = """
UPDATE conversations v SET
    last_inbound_at = t.last_inbound_at,
    replied_through = COALESCE(t.replied_through, 0)
FROM (
    SELECT m.conversation_id, max(m.ordered_at) AS last_inbound_at,
        max(r.through) AS replied_through
    FROM messages m
    LEFT JOIN (SELECT conversation_id, max(through_message_id) AS through FROM replies
               GROUP BY conversation_id) r ON r.conversation_id = m.conversation_id
    WHERE m.direction = 'in'
    GROUP BY m.conversation_id
) t
WHERE t.conversation_id = v.id
"""

# The owner has read half of the conversations up to the message the assistant last answered.
READS = """
INSERT INTO conversation_reads (user_id, conversation_id, tenant_id, read_through_message_id,
                                read_at)
SELECT t.owner_id, v.id, v.tenant_id, v.replied_through, v.updated_at
FROM conversations v JOIN (SELECT unnest(%(tenants)s::bigint[]) AS id,
                                  unnest(%(owners)s::bigint[]) AS owner_id) t ON t.id = v.tenant_id
WHERE v.replied_through > 0 AND v.id %% 2 = 0
"""

NOTES = """
INSERT INTO conversation_notes (tenant_id, conversation_id, user_id, body, created_at)
SELECT v.tenant_id, v.id, v.assigned_user_id,
    'Paciente prefiere horario de tarde; confirmar seguro antes de la cita.', v.updated_at
FROM conversations v WHERE v.status = 'handoff' AND v.assigned_user_id IS NOT NULL
"""

NOTIFICATIONS = """
INSERT INTO agent_notifications (tenant_id, conversation_id, kind, reason, created_at,
                                 acknowledged_at)
SELECT v.tenant_id, v.id, 'handoff', 'customer_request', v.handoff_at,
    CASE WHEN v.assigned_user_id IS NOT NULL THEN v.assigned_at END
FROM conversations v WHERE v.handoff_at IS NOT NULL
"""

# Failed ingests leave their event unprocessed and no message; these events are theirs.
FAILED_EVENTS = """
INSERT INTO inbound_events (tenant_id, channel, kind, provider_event_id, payload, received_at)
SELECT p.tenant_id, 'whatsapp', 'message', f.wamid,
    jsonb_build_object('message', jsonb_build_object('from', p.wa_id, 'id', f.wamid,
        'timestamp', extract(epoch FROM p.ends_at)::bigint::text, 'type', 'text',
        'text', jsonb_build_object('body', 'Hola, ¿siguen abiertos?')),
        'contact', jsonb_build_object('wa_id', p.wa_id,
                                      'profile', jsonb_build_object('name', p.name))),
    p.ends_at - make_interval(secs => i)
FROM generate_series(1, %(count)s) AS i
CROSS JOIN LATERAL (SELECT 'wamid.HBgMFAILED' || upper(md5(%(tenant)s || ':' || i)) AS wamid) f
JOIN bench_plan p ON p.tenant_id = %(tenant)s AND p.no = i %% %(conversations)s
"""

TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/app/actors/middleware.py", line 63, in after_process_message\n'
    '  File "/app/actors/{actor}.py", line 88, in {actor}\n'
    '  File "/app/db/pool.py", line 141, in connection\n'
    "{error}\n"
)

# Each dead letter names what its step annotated: the inbound event for an ingest, the message
# for a send, a plan or a read receipt; the conversation when the step knew it.
DEAD_LETTERS = """
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

REQUEUES = """
INSERT INTO dead_letter_requeues (dead_letter_id, message_id, requeued_by, requeued_at)
SELECT id, gen_random_uuid(), 'owner@' || %(slug)s || '.example', last_failed_at + interval '1 h'
FROM dead_letters WHERE tenant_id = %(tenant)s AND state IN ('requeued', 'resolved')
"""


SYSTEM_PROMPT = (
    "Eres el asistente de Clínica Demo Fisioterapia en Ciudad de México. Responde en español, "
    "de usted, solo con lo que dice el perfil: servicios (Fisioterapia $650 MXN, Masaje "
    "terapéutico $700 MXN, Rehabilitación postoperatoria precio a consultar, Consulta de "
    "valoración $500 MXN), horario (lunes a viernes 8:00-20:00, sábado 9:00-14:00), dirección "
    "(Av. Insurgentes Sur 1234, Col. Del Valle) y preguntas frecuentes. Si piden una cita o "
    "algo que el perfil no cubre, di que una persona dará seguimiento. Nunca inventes precios."
)
