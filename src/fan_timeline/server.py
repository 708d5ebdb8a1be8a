"""The HTTP API and the web page: `fan-timeline serve --model models/export`.

    POST /v1/timeline          a game (raw files in any format ingest reads, or canonical rows) -> timeline
    POST /v1/timeline/upload   the same from multipart files (curl -F pbp=@pbp.json -F comments=@thread.ndjson)
    POST /v1/windows           the game read, aligned and windowed, without generating (fast)
    GET  /v1/samples[/{id}]    the sample games the page offers
    GET  /health, /version     liveness and queue; model, adapter hash, schema, provenance
    GET  /docs, /openapi.json  API docs (offline)
    GET  /                     the timeline page (static files from fan_timeline/web, no CDN)

`create_app(service)` builds the app around one loaded `service.TimelineService`: the routes here,
the request and response models in `api.py`, the error answers and the admission, body-limit and API-key
middleware in `middleware.py`.

A request that reads a game is admitted (`Admission`) when its headers arrive, before a byte of
its body is read: at most --max-queue + 1 of them at once (one generating, the rest waiting,
sending or being parsed) and --max-inflight-mb of their bodies; beyond that a 503 + Retry-After
at once. An admitted JSON body is parsed and validated on a thread of its own, one body at a
time and in steps that leave the event loop its turns, so a bad one is a 422 at once and
/health and /version are answered meanwhile; reading a game and generating run on the
service's one worker thread behind the bounded queue. Bad input gets a 4xx whose `detail` says
what and where, in FastAPI's shape:
`{"detail": [{"loc": ["body", "comment_files", 1], "msg": "...", "type": "..."}]}`.
"""

from __future__ import annotations

import asyncio
import email.message
import gc
import json
import logging
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.security import APIKeyHeader
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.json_schema import models_json_schema
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from fan_timeline import __version__, schema
from fan_timeline.api import (
    MAX_COMMENT_FILES,
    CommentFormat,
    CommentIn,
    GameIn,
    GameRequest,
    PbpFormat,
    PlayIn,
    TimelineRequest,
    TimelineResponse,
    WindowsRequest,
    WindowsResponse,
)
from fan_timeline.jobs import JobQueue, QueueFull
from fan_timeline.middleware import (
    BODY_LATE,
    JSON,
    Admission,
    AdmitBeforeReading,
    ApiKeyGate,
    BodyLimit,
    error,
    input_error,
)
from fan_timeline.samples import encode_for_json, find_samples
from fan_timeline.service import GameInput, InputError, RawFile, TimelineService, raw_file_from_text

log = logging.getLogger("fan_timeline.server")

WEB_DIR = Path(__file__).with_name("web")
API_KEY_ENV = "FAN_TIMELINE_API_KEY"
DEFAULT_MAX_BODY_BYTES = 50 * 2**20   # a big game thread dump (20k Pushshift comments) is ~30 MB
DEFAULT_MAX_INFLIGHT_BYTES = 128 * 2**20   # bodies admitted at once: what bounds the memory requests take
BODY_TIMEOUT_S = 120.0   # an admitted request must have sent its whole body by then (408), not hold its place
CLIENT_CHECK_S = 0.5                  # how often a waiting request looks whether its client is still there
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


M = TypeVar("M", bound=BaseModel)
ROWS = {"plays": TypeAdapter(list[PlayIn]), "comments": TypeAdapter(list[CommentIn])}   # up to 100,000 of them
ROWS_PER_CALL = 500


def _let_others_run(obj: dict) -> dict:
    """json.loads' object_hook: a Python call per JSON object lets the event loop's thread take
    the GIL, which the C parser would otherwise hold for the whole body."""
    return obj


def _rows_validated(model: type[BaseModel], data: Any) -> Any:
    """`data` with its long lists of canonical rows validated `ROWS_PER_CALL` at a time (the GIL
    free between calls), so that validating the model itself, which takes them as they are, is
    quick: one pydantic call over 100,000 comments would hold the GIL throughout. Invalid rows:
    `data` as it was, for the model's own validation to report every error in its order."""
    if not isinstance(data, dict):
        return data
    out = data
    for key, rows_type in ROWS.items():
        rows = data.get(key)
        if key not in model.model_fields or not isinstance(rows, list) or len(rows) <= ROWS_PER_CALL:
            continue
        try:
            valid = [row for i in range(0, len(rows), ROWS_PER_CALL)
                     for row in rows_type.validate_python(rows[i:i + ROWS_PER_CALL], from_attributes=True)]
        except ValidationError:
            return data
        out = {**out, key: valid}
    return out


def parse_body(model: type[M], body: bytes, content_type: str | None) -> M:
    """A JSON body read as FastAPI reads a body parameter (the same 400s and 422s, `loc` from
    "body"), as a plain function the server runs off the event loop, in steps that let the
    loop's thread run between them: a 43 MB game is a lot of CPU to parse and validate."""
    if not body:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}])
    data: Any = body                       # not declared JSON: validated as bytes, which no model takes (422)
    if content_type:
        header = email.message.Message()
        header["content-type"] = content_type
        subtype = header.get_content_subtype()
        if header.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json")):
            try:
                data = json.loads(body, object_hook=_let_others_run)
            except json.JSONDecodeError as exc:
                raise RequestValidationError([{"type": "json_invalid", "loc": ("body", exc.pos),
                                               "msg": "JSON decode error", "input": {},
                                               "ctx": {"error": exc.msg}}]) from None
            except Exception as exc:       # not UTF-8, nested too deep, a 5,000-digit number: on_http_error says which
                raise HTTPException(400, detail="There was an error parsing the body") from exc
    try:
        return model.model_validate(_rows_validated(model, data), from_attributes=True)   # as FastAPI does
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])}
                                      for e in exc.errors(include_url=False)]) from None


def _json_body_doc(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI requestBody of a route that reads `model` itself (see `parse_body`)."""
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


# --------------------------------------------------------------------------------------------
# The app


def _prepare(service: TimelineService, req: GameRequest) -> GameInput:
    """Read the request's game (raw or canonical) into windows; InputError says where it failed."""
    meta = req.game.model_dump(exclude_none=True)
    if req.plays is not None:
        return service.read_canonical(meta, [p.model_dump() for p in req.plays], [c.model_dump() for c in req.comments])
    assert req.pbp is not None
    try:
        pbp = raw_file_from_text(req.pbp.name, req.pbp.content, req.pbp.encoding, req.pbp.format)
    except ValueError as exc:
        raise InputError(("pbp", "content"), str(exc)) from None
    files = []
    for i, f in enumerate(req.comment_files):
        try:
            files.append(raw_file_from_text(f.name, f.content, f.encoding, f.format))
        except ValueError as exc:
            raise InputError(("comment_files", i, "content"), str(exc)) from None
    return service.read_raw(pbp, files, meta)


def create_app(service: TimelineService, *, max_queue: int = 8, api_key: str | None = None,
               max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, max_inflight_bytes: int = DEFAULT_MAX_INFLIGHT_BYTES,
               body_timeout_s: float = BODY_TIMEOUT_S, samples_dir: str | Path | None = None) -> FastAPI:
    """The app around one loaded service.

    `max_queue`: requests that may wait while one generates (more get 503 + Retry-After).
    `max_inflight_bytes`: request bodies admitted at once (at least `max_body_bytes`): what bounds
    the memory requests take. `body_timeout_s`: how long an admitted request has to send its
    body (else 408). `api_key`: when set, every /v1 route needs it in the `X-API-Key` header (else
    401); the CLI takes it from $FAN_TIMELINE_API_KEY. `samples_dir`: game directories the page
    offers.
    """
    queue = JobQueue(max_queue)
    admission = Admission(queue, max_bytes=max_inflight_bytes, max_body_bytes=max_body_bytes)
    # One body parsed at a time, off the event loop: what parsing holds in memory is one body's tree.
    parser = ThreadPoolExecutor(1, thread_name_prefix="fan-timeline-parse")
    samples = {s.id: s for s in find_samples(samples_dir)}
    body_late = (f"the request body did not all arrive within {body_timeout_s:g} s of its headers: the server "
                 "cannot keep a place for it longer")

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        queue.start()
        yield
        parser.shutdown(wait=False, cancel_futures=True)
        queue.stop(timeout=5)

    app = FastAPI(title="fan-timeline", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  default_response_class=JSON,
                  description="Play-by-play + live fan comments -> a short JSON timeline of the moments that "
                              "mattered. Output is always valid against timeline schema "
                              f"{schema.SCHEMA_VERSION} (grammar-constrained decoding).")
    app.state.service = service
    app.state.queue = queue
    app.state.admission = admission
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(AdmitBeforeReading, admission=admission, max_body_bytes=max_body_bytes,
                       body_timeout_s=body_timeout_s)
    if api_key:
        app.add_middleware(ApiKeyGate, api_key=api_key)   # added last = runs first

    key_header = APIKeyHeader(name="X-API-Key", auto_error=False,
                              description=f"needed when the server was started with ${API_KEY_ENV} set")

    async def require_key(key: str | None = Depends(key_header)) -> None:
        """Documents the key in the OpenAPI schema; ApiKeyGate enforces it before the body is read."""

    @app.exception_handler(InputError)
    async def on_input_error(request: Request, exc: InputError) -> JSONResponse:
        return input_error(exc)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        """A 4xx raised by FastAPI/Starlette themselves (a body that is not UTF-8 or nests too deep
        for the JSON parser, a broken multipart body, an unknown route) in the API's error shape,
        with the parser's reason; the 503 of a full queue keeps its plain text detail."""
        if not (400 <= exc.status_code < 500 and isinstance(exc.detail, str)):
            return await http_exception_handler(request, exc)
        if request.scope.get(BODY_LATE):   # the body was cut off at its deadline: what failed is its lateness
            return error(408, ["body"], body_late, "http_408")
        msg, cause = exc.detail, exc.__cause__
        if isinstance(cause, UnicodeDecodeError):
            msg += f": not UTF-8 (byte {cause.object[cause.start:cause.start + 1]!r} at position {cause.start})"
        elif isinstance(cause, RecursionError):
            msg += ": nested too deeply"
        elif isinstance(cause, ValueError) and "integer string conversion" in str(cause):
            msg += f": a number has more than {sys.get_int_max_str_digits()} digits"
        elif isinstance(cause, StarletteHTTPException):   # multipart parser: "Part exceeded maximum size", ...
            msg += f": {cause.detail}"
        elif cause is not None:
            msg += f": {type(cause).__name__}: {cause}"
        loc = {400: ["body"], 404: ["path"], 405: ["method"]}.get(exc.status_code, ["request"])
        return JSON(status_code=exc.status_code, headers=exc.headers,
                    content={"detail": [{"loc": loc, "msg": msg, "type": f"http_{exc.status_code}"}]})

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for e in exc.errors():
            msg = e.get("msg", "")
            if e.get("type") == "json_invalid" and (e.get("ctx") or {}).get("error"):
                msg += f": {e['ctx']['error']} at character {e['loc'][-1]}"   # where the JSON breaks
            errors.append({"loc": list(e.get("loc", ())), "msg": msg, "type": e.get("type", "")})
        return JSON(status_code=422, content={"detail": jsonable_encoder(errors)})

    async def run_queued(request: Request, work: Callable[[threading.Event], Any]) -> Any:
        """Run `work` (reading a game, generating) on the queue's one worker: a full queue is a 503
        with Retry-After, and a client that leaves stops its job (before it starts, or between
        batches of windows) instead of leaving it to burn a core."""
        stop = threading.Event()
        try:
            future = queue.submit(lambda: work(stop))
        except QueueFull as exc:
            raise HTTPException(503, detail=f"busy: {exc}", headers={"Retry-After": str(exc.retry_after_s)}) from None
        waiting = asyncio.wrap_future(future)
        while not (await asyncio.wait({waiting}, timeout=CLIENT_CHECK_S))[0]:
            if await request.is_disconnected():
                stop.set()
                future.cancel()
                raise HTTPException(499, detail="the client closed the connection")
        return waiting.result()

    async def checked_body(request: Request, model: type[BaseModel]) -> tuple[bytes, str | None]:
        """The request's body, parsed and validated as `model` on the parse thread (a 400/422 now,
        not after the queue); returned as bytes, which the job parses again when its turn comes:
        a waiting request holds its body, not the parsed tree, several times larger."""
        try:
            body = await request.body()
        except ClientDisconnect:
            if request.scope.get(BODY_LATE):
                raise HTTPException(408, detail=body_late) from None
            raise HTTPException(499, detail="the client closed the connection before sending its body") from None
        if request.scope.get(BODY_LATE):   # a chunked body: BodyLimit passes on what came in time
            raise HTTPException(408, detail=body_late)
        content_type = request.headers.get("content-type")
        await asyncio.wrap_future(parser.submit(parse_body, model, body, content_type))
        return body, content_type

    def generation(game: GameInput, windows: list[int] | None, audience: str | None,
                   stop: threading.Event) -> dict[str, Any]:
        audience = game.audience(audience)                # a bad audience or index: 422
        indexes = service.select(game, windows, audience)
        return service.timeline(game, indexes, audience, should_stop=stop.is_set).as_dict()

    # ---- API ------------------------------------------------------------------------------------

    @app.post("/v1/timeline", response_model=TimelineResponse, dependencies=[Depends(require_key)],
              openapi_extra=_json_body_doc(TimelineRequest),
              responses={401: {"description": "API key missing or wrong"}, 413: {"description": "body too large"},
                         422: {"description": "bad input: detail[].loc says where"},
                         503: {"description": "queue full: retry after Retry-After seconds"}})
    async def timeline(request: Request) -> dict[str, Any]:
        """The timeline of a game (or of the chosen windows): raw files in any format ingest reads
        (detected, or named by `format`) or canonical rows. Windowed exactly as build_sft windows
        training games; each window decoded with the schema as a grammar."""
        body, content_type = await checked_body(request, TimelineRequest)

        def work(stop: threading.Event) -> dict[str, Any]:
            req = parse_body(TimelineRequest, body, content_type)
            return generation(_prepare(service, req), req.windows, req.audience, stop)

        return await run_queued(request, work)

    @app.post("/v1/timeline/upload", response_model=TimelineResponse, dependencies=[Depends(require_key)],
              responses={401: {"description": "API key missing or wrong"}, 413: {"description": "body too large"},
                         422: {"description": "bad input"}, 503: {"description": "queue full"}})
    async def timeline_upload(
        pbp: Annotated[UploadFile, File(description="play-by-play file")],
        comments: Annotated[list[UploadFile], File(description="comment files (repeat the field)")] = [],  # noqa: B006
        game: Annotated[str | None, Form(description="game.json content (JSON object)", max_length=20_000)] = None,
        pbp_format: Annotated[PbpFormat | None, Form()] = None,
        comment_format: Annotated[CommentFormat | None, Form(description="for every comment file")] = None,
        windows: Annotated[str | None, Form(description="comma-separated window indexes, e.g. 0,3")] = None,
        audience: Annotated[str | None, Form(max_length=120, description='whose comments, e.g. "r/nba"')] = None,
        *, request: Request,
    ) -> dict[str, Any]:
        """The same as /v1/timeline from multipart form files, for curl."""
        if len(comments) > MAX_COMMENT_FILES:
            return error(422, ["body", "comments"], f"at most {MAX_COMMENT_FILES} comment files, not {len(comments)}",
                          "too_long")
        try:
            meta = GameIn.model_validate_json(game) if game else GameIn()
        except ValidationError as exc:
            return JSON(status_code=422, content={"detail": [
                {"loc": ["body", "game", *e["loc"]], "msg": e["msg"], "type": e["type"]} for e in exc.errors()]})
        chosen = None
        if windows:
            try:
                chosen = [int(x) for x in windows.split(",") if x.strip()]
            except ValueError:
                return error(422, ["body", "windows"], f"windows must be comma-separated integers, not {windows!r}",
                              "int_parsing")
        pbp_file = RawFile(pbp.filename or "pbp", await pbp.read(), pbp_format)
        files = [RawFile(f.filename or f"comments{i}", await f.read(), comment_format) for i, f in enumerate(comments)]

        def work(stop: threading.Event) -> dict[str, Any]:
            try:
                prepared = service.read_raw(pbp_file, files, meta.model_dump(exclude_none=True))
            except InputError as exc:   # the form names the comment files' field `comments`
                loc = ("comments", *exc.loc[1:]) if exc.loc[:1] == ("comment_files",) else exc.loc
                raise type(exc)(loc, exc.message) from None
            return generation(prepared, chosen, audience, stop)

        return await run_queued(request, work)

    @app.post("/v1/windows", response_model=WindowsResponse, dependencies=[Depends(require_key)],
              openapi_extra=_json_body_doc(WindowsRequest))
    async def windows(request: Request) -> dict[str, Any]:
        """The game read, aligned and cut into windows with their prompts' sizes, for one audience
        (and the list of them); no generation."""
        body, content_type = await checked_body(request, WindowsRequest)

        def work(stop: threading.Event) -> dict[str, Any]:
            req = parse_body(WindowsRequest, body, content_type)
            return _prepare(service, req).as_dict(service.params, req.audience)

        return await run_queued(request, work)

    @app.get("/v1/samples", dependencies=[Depends(require_key)])
    async def sample_list() -> list[dict[str, Any]]:
        """The sample games the server was started with (`--samples`)."""
        return [s.summary() for s in samples.values()]

    @app.get("/v1/samples/{sample_id}", dependencies=[Depends(require_key)])
    async def sample(sample_id: str) -> dict[str, Any]:
        """A sample game as a /v1/timeline request body (raw files; zstd ones base64)."""
        s = samples.get(sample_id)
        if s is None:
            return error(404, ["path", "sample_id"], f"no sample game {sample_id!r}; see /v1/samples", "not_found")
        pbp, files = await run_in_threadpool(s.raw_files)
        return {"game": s.meta, "pbp": encode_for_json(pbp), "comment_files": [encode_for_json(f) for f in files]}

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "model": service.info.get("model"), "queue": queue.stats(),
                "admitted": admission.stats(), "windows_generated": service.windows_generated}

    @app.get("/version")
    async def version() -> dict[str, Any]:
        """The model, its adapter hash, the schema, and what it was built from (model card)."""
        return {**service.info, "auth": bool(api_key)}

    # ---- page and docs --------------------------------------------------------------------------

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(WEB_DIR / "index.html", headers={"Content-Security-Policy": CSP})

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return _docs_page()

    fastapi_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        """FastAPI's schema, plus the request models of the routes that parse their own body."""
        if app.openapi_schema is None:
            _, defs = models_json_schema([(m, "validation") for m in (TimelineRequest, WindowsRequest)],
                                         ref_template="#/components/schemas/{model}")
            fastapi_openapi().setdefault("components", {}).setdefault("schemas", {}).update(defs["$defs"])
        return app.openapi_schema

    app.openapi = openapi   # type: ignore[method-assign]
    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")
    _mount_swagger_assets(app)
    return app


def _swagger_dir() -> Path | None:
    """Swagger UI's files from the `swagger-ui-bundle` package when installed (offline docs)."""
    try:
        import swagger_ui_bundle  # type: ignore[import-not-found]
    except ImportError:
        return None
    path = Path(getattr(swagger_ui_bundle, "swagger_ui_path", ""))
    return path if (path / "swagger-ui-bundle.js").is_file() else None


def _mount_swagger_assets(app: FastAPI) -> None:
    path = _swagger_dir()
    if path is not None:
        app.mount("/docs-assets", StaticFiles(directory=path), name="docs-assets")


def _docs_page() -> HTMLResponse:
    """Swagger UI from local files when `swagger-ui-bundle` is installed; else the package's own
    small offline reader of /openapi.json. Never a CDN."""
    if _swagger_dir() is not None:
        from fastapi.openapi.docs import get_swagger_ui_html

        return get_swagger_ui_html(openapi_url="/openapi.json", title="fan-timeline API",
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css",
                                   swagger_favicon_url="/static/icon.svg")
    return HTMLResponse((WEB_DIR / "docs.html").read_text(encoding="utf-8"), headers={"Content-Security-Policy": CSP})


def run(service: TimelineService, *, host: str = "127.0.0.1", port: int = 8000, **app_options: Any) -> None:
    """Serve until interrupted (what `fan-timeline serve` calls)."""
    import uvicorn

    app = create_app(service, **app_options)
    # The model and the libraries live as long as the server: a full garbage collection (which a
    # big request's many new objects set off, GIL held) need not walk their hundreds of thousands.
    gc.freeze()
    uvicorn.run(app, host=host, port=port, log_level="info")


