"""Steps that follow a planned reply, each on its own so one failing blocks or repeats nothing
else: what the lead told us, and the answer worth caching."""

from dramatiq.middleware import CurrentMessage

from actors.clients.llm_errors import LLMPermanent, LLMRetryable
from actors.middleware import annotate
from actors.runtime import installed
from actors.steps import step
from db import leads, planning
from db.clock import database_now
from db.replies import reply_by_id
from domain.answer_cache import TtlClass
from domain.conversation import Intent, extraction_from_json
from domain.errors import PermanentError, RetryableError
from domain.leads import merge_lead, score_delta, stage_for

REMEMBER_RETRIES = 5
# Only our own database: back off like the ingest steps.
_DB_RETRY = {"max_retries": 20, "min_backoff": 500, "max_backoff": 300_000, "time_limit": 30_000}


@step(queue_name="assistant", throws=(PermanentError,), **_DB_RETRY)
def record_lead(reply_id: int) -> None:
    """Fill or improve the lead's fields, record service interest, move its score; once."""
    runtime = installed()
    with runtime.pool().connection() as conn:
        reply = reply_by_id(conn, reply_id)
        if reply is None:
            raise PermanentError(f"reply {reply_id} does not exist")
        annotate(
            tenant_id=reply.tenant_id,
            conversation_id=reply.conversation_id,
            message_id=reply.through_message_id,
        )
        lead_id = leads.lock_lead_of_conversation(conn, reply.tenant_id, reply.conversation_id)
        if lead_id is None:
            raise PermanentError(f"conversation {reply.conversation_id} has no lead")
        if leads.already_applied(conn, reply_id):
            return
        state = planning.planning_state(conn, reply.conversation_id)
        assert state is not None
        found = planning.lead_facts(conn, reply.tenant_id, state.contact_id)
        assert found is not None
        current = found[1]
        extraction = extraction_from_json(reply.extraction)
        changes = merge_lead(current, extraction)
        new_services = [s for s in extraction.services if s not in current.services]
        intent = Intent(reply.intent) if reply.intent else None
        delta = score_delta(current, changes, new_services, extraction, intent)
        score = current.score + delta
        leads.apply_update(
            conn,
            tenant_id=reply.tenant_id,
            lead_id=lead_id,
            reply_id=reply_id,
            changes=changes,
            score=score,
            stage=stage_for(score, current.stage),
            score_delta=delta,
            services=extraction.services,
        )


@step(
    queue_name="assistant",
    throws=(PermanentError,),
    max_retries=REMEMBER_RETRIES,
    min_backoff=2_000,
    max_backoff=60_000,
    time_limit=60_000,
)
def remember_answer(reply_id: int) -> None:
    """Keep the model's answer to a self-contained question for the next customer who asks."""
    runtime = installed()
    with runtime.pool().connection() as conn:
        reply = reply_by_id(conn, reply_id)
        if reply is None:
            raise PermanentError(f"reply {reply_id} does not exist")
        annotate(
            tenant_id=reply.tenant_id,
            conversation_id=reply.conversation_id,
            message_id=reply.through_message_id,
        )
        now = database_now(conn)
    if reply.cache_question is None or reply.cache_scope is None or reply.cache_class is None:
        return
    client = runtime.llm_client()
    embedding = None
    if client is not None:
        try:
            embedding = client.embed([reply.cache_question])[0]
        except LLMRetryable as error:
            current = CurrentMessage.get_current_message()
            if current is None or current.options.get("retries", 0) < REMEMBER_RETRIES:
                raise RetryableError(f"embedding failed: {type(error).__name__}") from None
            # Out of retries: kept for exact repeats of the question rather than lost.
            embedding = None
        except LLMPermanent:
            # The endpoint has no embeddings (some local servers): exact matches still work.
            embedding = None
    runtime.answer_cache().store(
        reply.tenant_id,
        reply.cache_scope,
        reply.cache_question,
        reply.reply_text or "",
        TtlClass(reply.cache_class),
        embedding,
        now,
    )
