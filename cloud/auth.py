"""Bearer tokens: operator tokens (configured), per-gateway credentials (from enrolment).

Tokens are random (32 bytes or more), so they are stored as their SHA-256 only: a leaked database
gives no usable credential.  A gateway token on an operator operation, or the other way round,
is 403; no token or an unknown one is 401.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets

from aiohttp import web
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select

from cloud.db import Gateway
from cloud.problems import Problem
from cloud.state import cloud

GATEWAY_PREFIX = "pgwg_"
ENROLMENT_PREFIX = "pgwe_"
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="printgw"'}


def new_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _bearer(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem("unauthenticated", "Send Authorization: Bearer <token>.", headers=_CHALLENGE)
    return token.strip()


def _is_operator(request: web.Request, token: str) -> bool:
    digest = token_hash(token)
    return any(hmac.compare_digest(digest, token_hash(known))
               for known in cloud(request).settings.operator_tokens)


async def require_gateway(request: web.Request) -> Gateway:
    """The gateway whose bearer token the request carries (401/403 otherwise)."""
    token = _bearer(request)
    async with cloud(request).db.read() as session:
        gateway = (await session.execute(
            select(Gateway).where(Gateway.token_hash == token_hash(token)))).scalar_one_or_none()
    if gateway is not None:
        return gateway
    if _is_operator(request, token):
        raise Problem("forbidden", "An operator token cannot be used on gateway operations.")
    raise Problem("unauthenticated", "Unknown or revoked token.", headers=_CHALLENGE)


async def require_operator(request: web.Request) -> None:
    """401/403 unless the request carries an operator token."""
    token = _bearer(request)
    if _is_operator(request, token):
        return
    async with cloud(request).db.read() as session:
        known = (await session.execute(
            select(Gateway.id).where(Gateway.token_hash == token_hash(token)))).first()
    if known is not None:
        raise Problem("forbidden", "A gateway token cannot be used on operator operations.")
    raise Problem("unauthenticated", "Unknown or revoked token.", headers=_CHALLENGE)


# -- enrolment replay --------------------------------------------------------------------------

def _replay_key(enrolment_token: str, idempotency_key: str) -> bytes:
    material = f"printgw enrolment replay\0{enrolment_token}\0{idempotency_key}"
    return hashlib.sha256(material.encode("utf-8", "surrogatepass")).digest()


def seal_credential(credential: bytes, enrolment_token: str, idempotency_key: str) -> bytes:
    """The credential encrypted so that only a caller holding both the (spent) enrolment token
    and the Idempotency-Key of the first call can read it back."""
    nonce = os.urandom(12)
    return nonce + AESGCM(_replay_key(enrolment_token, idempotency_key)).encrypt(
        nonce, credential, None)


def open_credential(sealed: bytes, enrolment_token: str, idempotency_key: str) -> bytes | None:
    try:
        return AESGCM(_replay_key(enrolment_token, idempotency_key)).decrypt(
            sealed[:12], sealed[12:], None)
    except InvalidTag:
        return None
