"""Console accounts: argon2 password hashes and API tokens for hotline nodes.

An engineer's user name is their roster name; that is how the console knows which
calls are theirs.
"""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

from models.store import ROLES, Store, User

_hasher = PasswordHasher()
# Verifying against this keeps a wrong user name as slow as a wrong password.
_DUMMY_HASH = _hasher.hash("not a password")


MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024  # the sign-in form's cap
# zxcvbn's scale: 3 = "safely unguessable: moderate protection from offline slow-hash attacks".
MIN_PASSWORD_SCORE = 3


class WeakPassword(ValueError):
    """The password fails the policy; the message says why and how to do better."""


def check_password(name: str, password: str) -> None:
    """The password policy for console accounts: at least 10 characters, at most 1024, and
    hard to guess by zxcvbn's estimate (no common passwords, repeats, keyboard walks,
    dates, or the user's own name)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"the password may have at most {MAX_PASSWORD_LENGTH} characters")
    if not password.strip():
        raise WeakPassword("the password cannot be only spaces")
    verdict = zxcvbn(password[:100], user_inputs=[name, "deskline"])
    if verdict["score"] < MIN_PASSWORD_SCORE:
        feedback = verdict["feedback"]
        why = feedback.get("warning") or "it is easy to guess"
        hint = " ".join(feedback.get("suggestions") or ["Use a longer phrase of uncommon words."])
        raise WeakPassword(f"the password is too weak ({why.rstrip('.')}). {hint}")


def create_user(store: Store, name: str, role: str, password: str) -> None:
    """Create a new account (the password checked against the policy); Conflict if it exists."""
    check_password(name, password)
    store.create_user(name.strip(), role, _hasher.hash(password))


def change_password(store: Store, name: str, password: str) -> None:
    """A new password (checked against the policy); the user's open sessions end."""
    check_password(name, password)
    store.set_password_hash(name, _hasher.hash(password), end_sessions=True)


def add_user(store: Store, name: str, role: str, password: str) -> None:
    """Create the user, or replace their role and password, without the password policy
    (demo and test fixtures; people's accounts go through ``create_user``)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if not password:
        raise ValueError("a password is required")
    store.add_user(name.strip(), role, _hasher.hash(password))


def authenticate(store: Store, name: str, password: str) -> User | None:
    """The user if the password is right, else None (never says which part was wrong)."""
    user = store.get_user(name.strip())
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or user.disabled:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        store.set_password_hash(user.name, _hasher.hash(password))
    return user


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_token(store: Store, name: str) -> str:
    """A new bearer token for a hotline node; only its digest is stored, so show it once."""
    token = secrets.token_urlsafe(32)
    store.add_api_token(name, token_digest(token))
    return token


def api_token_owner(store: Store, token: str) -> str | None:
    return store.api_token_name(token_digest(token))
