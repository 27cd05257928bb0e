"""Console accounts: argon2 password hashes and API tokens for hotline nodes.

An engineer's user name is their roster name; that is how the console knows which
calls are theirs.
"""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from models.store import ROLES, Store, User

_hasher = PasswordHasher()
# Verifying against this keeps a wrong user name as slow as a wrong password.
_DUMMY_HASH = _hasher.hash("not a password")


def add_user(store: Store, name: str, role: str, password: str) -> None:
    """Create the user, or replace their role and password."""
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
    if user is None:
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
