"""WhatsApp Cloud API client: one POST per call, no hidden retries, every outcome typed.

Retrying is the caller's decision (Dramatiq backoff, the outbox's evidence check), so the
transport never retries and redirects are never followed. Every failure becomes exactly one of
the exceptions in actors.clients.errors; when unsure whether Meta got the request, the answer is
SendOutcomeUnknown, because a wrong "not sent" risks a double send.
"""

import json
import logging
from types import TracebackType
from typing import Any, Self

import httpx

from actors.clients.errors import SendNotAttempted, SendOutcomeUnknown, SendRejected
from domain.channels.whatsapp_send import (
    classify,
    mark_read_request,
    parse_error_body,
    parse_send_response,
)
from domain.errors import UnknownMessageShape
from domain.phones import mask_phone

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = httpx.Timeout(connect=3.0, read=10.0, write=10.0, pool=3.0)

# Failures where the request bytes cannot have reached the provider.
_NOT_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ProxyError,
    httpx.UnsupportedProtocol,
)


class WhatsAppClient:
    """Sends for one business phone number. Thread-safe; keep one per tenant and reuse it."""

    def __init__(
        self,
        base_url: str,
        phone_number_id: str,
        access_token: str,
        *,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    ) -> None:
        if httpx.URL(base_url).scheme not in ("http", "https"):
            raise ValueError("base_url must be an http(s) URL")
        if not phone_number_id or not access_token:
            raise ValueError("phone_number_id and access_token are required")
        if None in (timeout.connect, timeout.read, timeout.write, timeout.pool):
            raise ValueError("every timeout (connect, read, write, pool) must be finite")
        self.phone_number_id = phone_number_id
        self._url = f"{base_url.rstrip('/')}/{phone_number_id}/messages"
        # The token lives only in the httpx client's headers: never an attribute we could repr,
        # never a query parameter that would show up in URLs and logs.
        self._http = httpx.Client(
            transport=httpx.HTTPTransport(retries=0),
            timeout=timeout,
            follow_redirects=False,
            headers={"Authorization": f"Bearer {access_token}"},
        )

    def __repr__(self) -> str:
        return f"WhatsAppClient(phone_number_id={self.phone_number_id!r})"

    def send(self, request: dict[str, Any]) -> str:
        """POST a message built by domain.channels.whatsapp_send; the wamid Meta assigned."""
        to = mask_phone(request.get("to"))
        response = self._post(request, what=f"send to {to}")
        try:
            wamid = parse_send_response(response.json())
        except (ValueError, UnknownMessageShape):
            # A 2xx means Meta took the message; only its id is missing.
            logger.warning(
                "whatsapp send to %s: HTTP %s without a message id", to, response.status_code
            )
            raise SendOutcomeUnknown(
                "accepted without a readable message id", response.status_code
            ) from None
        # Not the wamid: Meta's encode the recipient's number.
        logger.debug("whatsapp send to %s accepted", to)
        return wamid

    def mark_read(self, message_id: str, *, typing: bool) -> None:
        """Mark an inbound message read, optionally showing the typing indicator."""
        # Any 2xx will do: marking read twice is harmless, so its body does not matter.
        self._post(mark_read_request(message_id, typing=typing), what="mark read")

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _post(self, payload: dict[str, Any], *, what: str) -> httpx.Response:
        """The 2xx response, or the one exception that says how the call failed."""
        # Serialised here so a payload that is not JSON fails before any byte is sent.
        content = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        try:
            response = self._http.post(
                self._url, content=content, headers={"Content-Type": "application/json"}
            )
        except _NOT_SENT as exc:
            logger.warning("whatsapp %s not attempted: %s", what, type(exc).__name__)
            raise SendNotAttempted(type(exc).__name__) from exc
        except httpx.HTTPError as exc:
            # Read/write timeouts, resets and protocol errors: the request may have arrived.
            logger.warning("whatsapp %s outcome unknown: %s", what, type(exc).__name__)
            raise SendOutcomeUnknown(type(exc).__name__) from exc
        if response.is_success:
            return response
        error = parse_error_body(response.content)
        if error is None and response.status_code >= 500:
            # A gateway's 5xx (502, 504...) without a Graph API error: the request may have
            # reached Meta before the gateway gave up on the answer.
            logger.warning("whatsapp %s outcome unknown: HTTP %s", what, response.status_code)
            raise SendOutcomeUnknown("server error without a Graph API error", response.status_code)
        kind = classify(response.status_code, error.code if error else None)
        logger.warning(
            "whatsapp %s rejected: HTTP %s, code %s, %s",
            what,
            response.status_code,
            error.code if error else None,
            kind,
        )
        raise SendRejected(error, kind, response.status_code)
