"""A tenant's channel credentials as an operator types or pastes them."""

# Far above Meta's tokens (a few hundred characters): only a paste gone wrong is longer.
MAX_SECRET_CHARS = 4096


def check_secret(what: str, value: str) -> str:
    """The secret without the line break a paste or a pipe adds; ValueError when it cannot be
    one (empty, spaces or control characters inside, too long). The message never quotes it."""
    secret = value.strip()
    if not secret:
        raise ValueError(f"the new {what} is empty")
    if len(secret) > MAX_SECRET_CHARS:
        raise ValueError(f"the new {what} is longer than {MAX_SECRET_CHARS} characters")
    if not secret.isprintable() or any(ch.isspace() for ch in secret):
        raise ValueError(f"the new {what} contains spaces or control characters")
    return secret
