"""Password hashing (Argon2id, argon2-cffi's recommended parameters) and the length rule."""

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 10
MAX_LENGTH = 256
_hasher = PasswordHasher()
# Verified against when the account does not exist, so a wrong email costs the same time as a
# wrong password and the answer's timing does not say which accounts exist.
_DUMMY_HASH = _hasher.hash("recado-no-such-account")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def password_problem(password: str, confirmation: str) -> str | None:
    """Why the new password cannot be used (English text for `_()`), or None."""
    if password != confirmation:
        return "The two passwords differ."
    if len(password) < MIN_LENGTH:
        return "Use at least 10 characters."
    if len(password) > MAX_LENGTH:
        return "Use at most 256 characters."
    return None
