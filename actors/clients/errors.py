"""What a channel send can end in, besides success.

Three different situations, and the caller must treat them differently:
- SendRejected: the provider answered with an error, so the message was NOT accepted. Its kind
  says whether to retry, give up, or give up and pause the tenant (a bad token).
- SendNotAttempted: nothing reached the provider; retrying cannot send twice.
- SendOutcomeUnknown: the request may have been accepted; look for evidence (a status webhook
  carrying our callback data) before resending.

Each subclasses RetryableError or PermanentError so an actor's `throws=(PermanentError, ...)` stops
retries exactly for the permanent ones. Messages carry codes and statuses, never chat text,
phone numbers or tokens.
"""

from typing import Any

from domain.channels.whatsapp_send import SendErrorKind
from domain.errors import PermanentError, RecadoError, RetryableError
from domain.models import ProviderError

__all__ = [
    "SendNotAttempted",
    "SendOutcomeUnknown",
    "SendRejected",
    "SendRejectedPermanent",
    "SendRejectedRetryable",
    "SendRejectedToken",
]

# Provider titles are short ("(#131026) Message undeliverable"); cap what reaches logs anyway.
_MAX_TITLE = 200


class SendRejected(RecadoError):
    """The provider answered with an error: the message was not accepted.

    `SendRejected(error, kind, http_status)` builds the subclass for `kind` (as OSError picks
    FileNotFoundError from its errno), so `isinstance(exc, PermanentError)` is always right.
    """

    def __new__(
        cls, error: ProviderError | None, kind: SendErrorKind, http_status: int
    ) -> "SendRejected":
        if cls is SendRejected:
            cls = _BY_KIND[SendErrorKind(kind)]
        elif _BY_KIND[SendErrorKind(kind)] is not cls:
            raise ValueError(f"{cls.__name__} cannot carry kind {kind!r}")
        return super().__new__(cls)

    def __init__(self, error: ProviderError | None, kind: SendErrorKind, http_status: int) -> None:
        code = error.code if error else None
        title = f": {error.title[:_MAX_TITLE]}" if error and error.title else ""
        super().__init__(
            f"WhatsApp rejected the send ({kind}): HTTP {http_status}, code {code}{title}"
        )
        self.error = error
        self.kind = SendErrorKind(kind)
        self.http_status = http_status

    @property
    def retryable(self) -> bool:
        return self.kind is SendErrorKind.RETRYABLE

    @property
    def code(self) -> int | None:
        return self.error.code if self.error else None

    def __reduce__(self) -> tuple[Any, ...]:
        return (SendRejected, (self.error, self.kind, self.http_status))


class SendRejectedRetryable(SendRejected, RetryableError):
    """Rejected for now (rate limit, provider trouble): retry with backoff."""


class SendRejectedPermanent(SendRejected, PermanentError):
    """Rejected for good: this message will never be accepted as it is."""


class SendRejectedToken(SendRejectedPermanent):
    """Rejected because the access token is invalid or expired: pause the tenant's sending."""


_BY_KIND: dict[SendErrorKind, type[SendRejected]] = {
    SendErrorKind.RETRYABLE: SendRejectedRetryable,
    SendErrorKind.PERMANENT: SendRejectedPermanent,
    SendErrorKind.TOKEN: SendRejectedToken,
}


class SendNotAttempted(RetryableError):
    """Nothing reached the provider (DNS, refused or timed-out connect, no free connection)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"WhatsApp send not attempted: {reason}")
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.reason,))


class SendOutcomeUnknown(RetryableError):
    """The request may have been accepted (timeout or drop after sending, unreadable 2xx).

    Retryable, but a retry must first look for evidence of acceptance before sending again.
    """

    def __init__(self, reason: str, http_status: int | None = None) -> None:
        status = f", HTTP {http_status}" if http_status is not None else ""
        super().__init__(f"WhatsApp send outcome unknown: {reason}{status}")
        self.reason = reason
        self.http_status = http_status

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.reason, self.http_status))
