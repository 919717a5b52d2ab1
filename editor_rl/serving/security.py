"""The bearer token and the request-body cap.

The admin token is ``EDITOR_RL_TOKEN`` when set, else read from ``<data>/token``, which the first
start creates (mode 0600, written whole before it appears) and announces by its path — the token
itself is never printed, logged or read from a URL. A token that is empty or shorter than
:data:`MIN_TOKEN_CHARS` makes the service refuse to start: it fails closed. :class:`BodyLimit` is
ASGI middleware that answers 413 as soon as a body is declared or streamed past the cap, without
reading the rest.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
from pathlib import Path

from editor_rl.errors import EditorRLError

TOKEN_ENV = "EDITOR_RL_TOKEN"
MIN_TOKEN_CHARS = 16
"""Shortest token accepted (a generated one has 43 characters)."""
LIMITS = {"max_body_bytes": 32 * 1024 * 1024}  # the ingress sets it from its settings


def _checked(token: str, where: str) -> str:
    if len(token) < MIN_TOKEN_CHARS:
        raise EditorRLError(f"{where}: the API token is empty or shorter than {MIN_TOKEN_CHARS} characters; refusing to start "
                            f"(set a longer {TOKEN_ENV}, or delete the file to have a new token made)")
    return token


def new_token_file(path: Path) -> str | None:
    """Create ``path`` holding a new token (mode 0600), atomically: written whole, then linked into
    place only if no file is there yet. Returns the token, or None if another process made the file first."""
    token = secrets.token_urlsafe(32)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp, path)
    except FileExistsError:
        return None
    finally:
        tmp.unlink(missing_ok=True)
    return token


def resolve_token(data_dir: str | Path, *, announce=print) -> str:
    """The service's admin token (see the module docstring).

    Raises
    ------
    EditorRLError
        The token set or stored is empty or too short.
    """
    env = os.environ.get(TOKEN_ENV)
    if env is not None:
        return _checked(env.strip(), f"${TOKEN_ENV}")
    path = Path(data_dir) / "token"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() and new_token_file(path) is not None:
        announce(f"editor-rl: generated an API token in {path} (mode 0600; read it from there)")
    return _checked(path.read_text().strip(), str(path))


def bearer(header: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header ("" for anything else)."""
    return header[7:].strip() if header and header.startswith("Bearer ") else ""


def token_ok(header: str | None, token: str) -> bool:
    """True when ``header`` is ``Bearer <token>`` (constant-time comparison)."""
    sent = bearer(header)
    return bool(sent) and hmac.compare_digest(sent.encode(), token.encode())


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
