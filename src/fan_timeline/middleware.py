"""The server's error answers and its ASGI middleware (body limit, API key), before any route runs.

Every error is FastAPI's shape: `{"detail": [{"loc": [...], "msg": "...", "type": "..."}]}`.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from fastapi.responses import JSONResponse

from fan_timeline.game import InputError, InputTooLarge

# --------------------------------------------------------------------------------------------
# Errors


class JSON(JSONResponse):
    """JSON as UTF-8, any lone surrogate (text from a file's bad \\u escape) sent as "?": input text
    that cannot be encoded must not turn an answer into a 500."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, allow_nan=False,
                          separators=(",", ":")).encode("utf-8", "replace")


def error(status: int, loc: list[Any], msg: str, type_: str) -> JSONResponse:
    return JSON(status_code=status, content={"detail": [{"loc": loc, "msg": msg, "type": type_}]})


def input_error(exc: InputError, prefix: tuple[str, ...] = ("body",)) -> JSONResponse:
    """422, or 413 for a file over the read limits (`InputTooLarge`), naming where."""
    if isinstance(exc, InputTooLarge):
        return error(413, [*prefix, *exc.loc], exc.message, "too_large")
    return error(422, [*prefix, *exc.loc], exc.message, "input_error")


class BodyLimit:
    """ASGI middleware: a request body over `max_bytes` gets 413 before any route reads it (by
    Content-Length when sent, else counted while it streams in)."""

    def __init__(self, app: Any, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        too_big = JSON(status_code=413, content={"detail": [{
            "loc": ["body"], "type": "body_too_large",
            "msg": f"request body is over the server's limit of {self.max_bytes} bytes "
                   f"({self.max_bytes / 2**20:.1f} MiB); send fewer or smaller comment files"}]})
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await error(400, ["header", "content-length"], "Content-Length is not a number", "bad_header")(
                    scope, receive, send)
                return
            if declared > self.max_bytes:
                await too_big(scope, receive, send)
                return
        if scope.get("method") in ("POST", "PUT", "PATCH") and length is None:
            # chunked: buffer up to the limit, then replay to the app
            chunks, size, more = [], 0, True
            while more:
                message = await receive()
                if message["type"] != "http.request":
                    break
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > self.max_bytes:
                    await too_big(scope, receive, send)
                    return
                chunks.append(chunk)
                more = message.get("more_body", False)
            body = b"".join(chunks)
            sent = False

            async def replay() -> dict:
                nonlocal sent
                if not sent:
                    sent = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            await self.app(scope, replay, send)
            return
        await self.app(scope, receive, send)


class ApiKeyGate:
    """ASGI middleware: with a key set, a /v1 request without it gets 401 before its body is read
    (an unauthenticated client cannot make the server parse anything)."""

    def __init__(self, app: Any, api_key: str):
        self.app = app
        self.key = api_key.encode()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("path", "").startswith("/v1/"):
            sent = dict(scope.get("headers") or []).get(b"x-api-key", b"")
            if not secrets.compare_digest(sent, self.key):
                response = JSON(status_code=401, headers={"WWW-Authenticate": "X-API-Key"}, content={"detail": [{
                    "loc": ["header", "X-API-Key"], "type": "unauthorized",
                    "msg": "missing or wrong API key: send it in the X-API-Key header"}]})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
