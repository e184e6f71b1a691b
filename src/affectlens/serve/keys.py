"""API keys: ``al_<id>_<secret>``, shown once at creation; only SHA-256 of the secret is stored.

The secret is 256 random bits, so a fast hash is enough (no password stretching needed), and the
comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from affectlens.errors import AffectlensError
from affectlens.serve.db import ApiKey

HEADER = "X-API-Key"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(db: sessionmaker, name: str = "") -> str:
    """Store a new key and return it in full (the only time it is visible)."""
    key_id, secret = secrets.token_hex(4), secrets.token_urlsafe(32)
    with db.begin() as s:
        s.add(ApiKey(id=key_id, name=name, secret_sha256=_digest(secret)))
    return f"al_{key_id}_{secret}"


def key_id_of(key: str | None) -> str:
    """The public id part of a key (``al_<id>_<secret>``); empty when it is not one."""
    return key[3:].split("_", 1)[0] if key and key.startswith("al_") and key.count("_") >= 2 else ""


def _active(db: sessionmaker, key_id: str) -> ApiKey | None:
    """The stored key with this id, unless there is none or it is revoked."""
    if not key_id:
        return None
    with db() as s:
        row = s.get(ApiKey, key_id)
    return row if row is not None and not row.revoked else None


def verify_key(db: sessionmaker, key: str | None) -> bool:
    row = _active(db, key_id_of(key))
    return row is not None and hmac.compare_digest(row.secret_sha256, _digest(key.split("_", 2)[2]))


def key_active(db: sessionmaker, key_id: str) -> bool:
    """Whether the key with this id exists and is not revoked (its tickets die with it)."""
    return _active(db, key_id) is not None


def list_keys(db: sessionmaker) -> list[ApiKey]:
    with db() as s:
        return list(s.scalars(select(ApiKey).order_by(ApiKey.created_at)))


def revoke_key(db: sessionmaker, key_id: str) -> None:
    key_id = key_id.removeprefix("al_").split("_", 1)[0]
    with db.begin() as s:
        row = s.get(ApiKey, key_id)
        if row is None:
            raise AffectlensError(f"no API key with id {key_id} (see `affectlens keys list`)")
        row.revoked = True
