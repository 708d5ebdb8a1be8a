"""The server's error answers and its ASGI middleware (admission, body limit, API key), before any route runs.

Every error is FastAPI's shape: `{"detail": [{"loc": [...], "msg": "...", "type": "..."}]}`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import secrets
from typing import Any

from fastapi.responses import JSONResponse

from fan_timeline.game import InputError, InputTooLarge
from fan_timeline.jobs import JobQueue

log = logging.getLogger("fan_timeline.server")

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


GAME_ROUTES = frozenset({"/v1/timeline", "/v1/timeline/upload", "/v1/windows"})   # the POSTs that are admitted
BODY_LATE = "fan_timeline.body_late"   # scope key: the body missed its deadline


# --------------------------------------------------------------------------------------------
# Admission: who may send a body


class Admission:
    """How many requests that read a game are in the server, and how many bytes of body they
    declared: what --max-queue and --max-inflight-mb bound, whatever arrives.

    Counted on the event loop only (no lock): `admit` when a request's headers arrive, `release`
    when its answer has been sent. A request with no Content-Length (chunked) counts as the body
    limit, the most it may send. A waiting request holds its body as bytes, and one body at a
    time is parsed, so the bytes admitted bound what requests hold in memory.
    """

    def __init__(self, queue: JobQueue, *, max_bytes: int, max_body_bytes: int):
        if max_bytes < max_body_bytes:
            raise ValueError(f"the in-flight budget ({max_bytes} bytes) must hold one body at the limit "
                             f"({max_body_bytes} bytes)")
        self.queue = queue
        self.max_requests = queue.max_waiting + 1      # the one generating and the ones waiting behind it
        self.max_bytes = max_bytes
        self.requests = 0
        self.bytes = 0

    def admit(self, size: int) -> str | None:
        """Let a request of `size` body bytes in (None), or say why it cannot come in now."""
        if self.requests >= self.max_requests:
            return (f"the queue is full ({self.requests} requests in: one running, the others waiting, sending "
                    f"or being parsed)")
        if self.bytes + size > self.max_bytes:
            return (f"{self.bytes / 2**20:.1f} MiB of request bodies are in flight and this one declares "
                    f"{size / 2**20:.1f} MiB (at most {self.max_bytes / 2**20:.0f} MiB at once)")
        self.requests += 1
        self.bytes += size
        return None

    def release(self, size: int) -> None:
        self.requests -= 1
        self.bytes -= size

    def retry_after_s(self) -> int:
        """The mean job time so far (30 s before the first) times the requests ahead."""
        mean = self.queue.stats()["mean_job_seconds"] or 30.0
        return max(1, math.ceil(mean * max(1, self.requests)))

    def stats(self) -> dict[str, Any]:
        return {"requests": self.requests, "max_requests": self.max_requests,
                "body_bytes": self.bytes, "max_body_bytes": self.max_bytes}


class AdmitBeforeReading:
    """ASGI middleware: a POST to a route that reads a game is admitted or refused (503 +
    Retry-After) as soon as its headers arrive, before any of its body is read; an admitted one
    holds its place until its answer is sent, a refused one costs nothing but the answer. A body
    declared over the body limit passes on to `BodyLimit`'s 413, holding nothing.

    The refused request's connection stays open: uvicorn discards the rest of its body, and a
    client that sends the whole body before reading (most do) still reads the 503 instead of a
    reset. An admitted body that has not all come within `body_timeout_s` is cut off (the app
    sees a disconnect and answers 408), so a client trickling bytes cannot keep a place."""

    def __init__(self, app: Any, admission: Admission, max_body_bytes: int, body_timeout_s: float):
        self.app = app
        self.admission = admission
        self.max_body_bytes = max_body_bytes
        self.body_timeout_s = body_timeout_s

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST" or scope.get("path") not in GAME_ROUTES:
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and not (length.isdigit() and int(length) <= self.max_body_bytes):
            await self.app(scope, receive, send)     # BodyLimit's 413 (or 400 for a bad header), at once
            return
        size = int(length) if length is not None else self.max_body_bytes
        refusal = self.admission.admit(size)
        if refusal is not None:
            retry = self.admission.retry_after_s()
            log.info("503: %s", refusal)
            await JSON(status_code=503, headers={"Retry-After": str(retry)},
                       content={"detail": f"busy: {refusal}; retry in {retry} s"})(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.body_timeout_s
        more_body = True

        async def receive_in_time() -> dict:
            nonlocal more_body
            if not more_body:                # the body is in: what follows is a disconnect, whenever
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                scope[BODY_LATE] = True
                return {"type": "http.disconnect"}
            more_body = message["type"] == "http.request" and message.get("more_body", False)
            return message

        try:
            await self.app(scope, receive_in_time, send)
        finally:
            self.admission.release(size)
