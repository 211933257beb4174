"""How a model call failed, importable without the openai SDK (which loads slowly): the
steps catch these, and only the process that calls the model pays for the SDK."""

from domain.errors import PermanentError, RetryableError


class LLMRetryable(RetryableError):
    """The model call failed transiently (timeout, connection, rate limit, server error)."""


class LLMPermanent(PermanentError):
    """The model call cannot succeed as configured (key, model, quota, request)."""


class LLMMalformedOutput(LLMRetryable):
    """The model answered without a usable result; asking again may give one."""
