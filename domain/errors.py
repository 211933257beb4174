"""Domain errors. Each class's docstring is its default message."""


class RecadoError(Exception):
    """recado failed."""

    def __init__(self, message: str | None = None) -> None:
        # One positional arg keeps the exception picklable (dramatiq, dead letters).
        super().__init__(message or (type(self).__doc__ or type(self).__name__).strip())


class UnparseableEnvelope(RecadoError):
    """The webhook body is not an envelope this channel can split into events."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnknownMessageShape(RecadoError):
    """A stored event does not have the shape its parser expects."""


class PermanentError(RecadoError):
    """The step failed in a way retrying cannot fix; it goes straight to a dead letter."""


class RetryableError(RecadoError):
    """The step failed transiently; retry it with backoff."""
