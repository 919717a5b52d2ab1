"""The bearer token and the request-body cap.

The token is ``EDITOR_RL_TOKEN`` when set, else read from ``<data>/token``, which the first start
creates (mode 0600) and announces once. :class:`BodyLimit` is ASGI middleware that answers 413 as
soon as a body is declared or streamed past the cap, without reading the rest.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
from pathlib import Path

TOKEN_ENV = "EDITOR_RL_TOKEN"
LIMITS = {"max_body_bytes": 32 * 1024 * 1024}  # the ingress sets it from its settings


def resolve_token(data_dir: str | Path, *, announce=print) -> str:
    """The service's token (see the module docstring)."""
    env = os.environ.get(TOKEN_ENV)
    if env:
        return env
    path = Path(data_dir) / "token"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    token = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    announce(f"editor-rl: generated an API token in {path} (mode 0600): {token}")
    return token


def token_ok(header: str | None, token: str) -> bool:
    """True when ``header`` is ``Bearer <token>`` (constant-time comparison)."""
    if not header or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[7:].strip().encode(), token.encode())


class BodyLimit:
    """ASGI middleware: 413 for a body over ``LIMITS["max_body_bytes"]`` (declared or streamed)."""

    def __init__(self, app) -> None:
        self.app = app

    @property
    def max_bytes(self) -> int:
        return int(LIMITS["max_body_bytes"])

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await _too_large(send, int(declared), self.max_bytes)
        seen = 0
        sent = False

        async def limited_receive():
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge(seen)
            return msg

        async def tracking_send(msg):
            nonlocal sent
            if msg["type"] == "http.response.start":
                sent = True
            await send(msg)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge as e:
            if not sent:
                await _too_large(send, e.seen, self.max_bytes)


class _TooLarge(Exception):
    def __init__(self, seen: int) -> None:
        super().__init__(seen)
        self.seen = seen


async def _too_large(send, size: int, cap: int) -> None:
    body = json.dumps({"detail": f"request body of {size} bytes (at least) is over the limit of {cap} bytes"}).encode()
    await send({"type": "http.response.start", "status": 413, "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
