"""The HTTP API and the web page: `fan-timeline serve --model models/export`.

    POST /v1/timeline          a game (raw files in any format ingest reads, or canonical rows) -> timeline
    POST /v1/timeline/upload   the same from multipart files (curl -F pbp=@pbp.json -F comments=@thread.ndjson)
    POST /v1/windows           the game read, aligned and windowed, without generating (fast)
    GET  /v1/samples[/{id}]    the sample games the page offers
    GET  /health, /version     liveness and queue; model, adapter hash, schema, provenance
    GET  /docs, /openapi.json  API docs (offline)
    GET  /                     the timeline page (static files from fan_timeline/web, no CDN)

`create_app(service)` builds the app around one loaded `service.TimelineService`. Generation runs
on the service's one worker thread behind a bounded queue (503 + Retry-After beyond it), never on
the event loop. Bad input gets a 4xx whose `detail` says what and where, in FastAPI's shape:
`{"detail": [{"loc": ["body", "comment_files", 1], "msg": "...", "type": "..."}]}`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import sys
import threading
from collections.abc import Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.security import APIKeyHeader
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_serializer, model_validator
from starlette.exceptions import HTTPException as StarletteHTTPException

from fan_timeline import __version__, schema, sport, tables
from fan_timeline.service import (
    GameInput,
    GenerationQueue,
    InputError,
    InputTooLarge,
    QueueFull,
    RawFile,
    TimelineService,
    encode_for_json,
    find_samples,
    raw_file_from_text,
)

log = logging.getLogger("fan_timeline.server")

WEB_DIR = Path(__file__).with_name("web")
API_KEY_ENV = "FAN_TIMELINE_API_KEY"
DEFAULT_MAX_BODY_BYTES = 50 * 2**20   # a big game thread dump (20k Pushshift comments) is ~30 MB
MAX_FILE_CHARS = 200 * 2**20          # per file; the body limit is the real bound
MAX_WINDOWS = 64
MAX_COMMENT_FILES = 20                # threads of one game: the league's (or its halves) and the teams'
CLIENT_CHECK_S = 0.5                  # how often a waiting request looks whether its client is still there
CLOCK_PATTERN = r"^(Q[1-4]|OT[1-9]) \d{1,2}:[0-5]\d$"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'")

PbpFormat = Literal[tables.PBP_FORMATS]            # type: ignore[valid-type]
CommentFormat = Literal[tables.COMMENT_FORMATS]    # type: ignore[valid-type]


# --------------------------------------------------------------------------------------------
# Request models


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TeamIn(_Strict):
    team: str = Field(pattern=r"^[A-Za-z0-9]{1,6}$", description="Tricode, e.g. HAR")
    name: str | None = Field(None, max_length=80, description="e.g. Harbor Herons")
    aliases: list[Annotated[str, Field(max_length=80)]] = Field(default_factory=list, max_length=20)
    subreddit: str | None = Field(None, max_length=80, description="the team's own subreddit, e.g. clevelandcavs")


class GameIn(_Strict):
    """A game's facts: the keys of a raw game directory's game.json (all optional for raw input
    whose play-by-play names the teams; V2/V3 alignment needs `date` and `tz`)."""

    game_id: str | None = Field(None, max_length=64)
    date: str | None = Field(None, pattern=r"^\d{4}-\d{2}-\d{2}$", description="local date YYYY-MM-DD")
    tz: str | None = Field(None, max_length=64, description="IANA time zone, e.g. America/New_York")
    tipoff_utc: str | None = Field(None, max_length=40, description="ISO-8601 UTC tip-off")
    home: TeamIn | None = None
    away: TeamIn | None = None
    source: str | None = Field(None, max_length=300)
    league: str | None = Field(None, max_length=40)


class RawFileIn(_Strict):
    """One raw file's content: UTF-8 text as is, binary (zstd) files base64-encoded."""

    name: str = Field("upload", min_length=1, max_length=200, description="shown in messages")
    content: str = Field(max_length=MAX_FILE_CHARS)
    encoding: Literal["text", "base64"] = "text"


class PbpFileIn(RawFileIn):
    format: PbpFormat | None = Field(None, description="leave out to detect it from the content")


class CommentFileIn(RawFileIn):
    format: CommentFormat | None = Field(None, description="leave out to detect it from the content")


class PlayIn(_Strict):
    """A canonical play (tables.PLAY_COLUMNS, the game clock as one label)."""

    clock: str = Field(pattern=CLOCK_PATTERN, description='period and time remaining, e.g. "Q4 01:50"')
    event_type: Literal[sport.EVENT_TYPES]  # type: ignore[valid-type]
    team: str | None = Field(None, max_length=6)
    player: str | None = Field(None, max_length=80)
    player2: str | None = Field(None, max_length=80, description="assister, blocker, stealer, ...")
    points: int = Field(0, ge=0, le=3)
    score_home: int = Field(ge=0, le=999, description="running score after the play")
    score_away: int = Field(ge=0, le=999)
    text: str | None = Field(None, max_length=500)


class CommentIn(_Strict):
    """A canonical comment, already on the game clock: `clock` is the moment it reacts to."""

    body: str = Field(min_length=1, max_length=10_000)
    clock: str = Field(pattern=CLOCK_PATTERN)
    flair_team: str | None = Field(None, max_length=6, description="tricode of the team the fan supports")
    score: int | None = Field(None, ge=-1_000_000, le=1_000_000, description="upvotes")
    comment_id: str | None = Field(None, max_length=64)
    created_utc: str | None = Field(None, max_length=40)
    parent_id: str | None = Field(None, max_length=64)


class GameRequest(_Strict):
    """A game, either raw (`pbp` + `comment_files`) or canonical (`plays` + `comments`)."""

    game: GameIn = Field(default_factory=GameIn)
    pbp: PbpFileIn | None = Field(None, description="raw play-by-play file")
    comment_files: list[CommentFileIn] = Field(default_factory=list, max_length=MAX_COMMENT_FILES)
    plays: list[PlayIn] | None = Field(None, min_length=1, max_length=5000, description="canonical plays, game order")
    comments: list[CommentIn] = Field(default_factory=list, max_length=100_000)

    @model_validator(mode="after")
    def _one_form(self) -> GameRequest:
        if (self.pbp is None) == (self.plays is None):
            raise ValueError("give either `pbp` (+ `comment_files`): raw files, or `plays` (+ `comments`): "
                             "canonical rows")
        if self.pbp is not None and self.comments:
            raise ValueError("`comments` are canonical rows: with a raw `pbp`, send comment files as `comment_files`")
        if self.plays is not None and self.comment_files:
            raise ValueError("`comment_files` are raw files: with canonical `plays`, send canonical `comments`")
        return self


AUDIENCE_FIELD = Field(None, max_length=120, description='whose comments: "r/<subreddit>" (see /v1/windows '
                                                       '`audiences`); leave out for the largest')


class WindowsRequest(GameRequest):
    audience: str | None = AUDIENCE_FIELD


class TimelineRequest(WindowsRequest):
    windows: list[Annotated[int, Field(ge=0)]] | None = Field(
        None, min_length=1, max_length=MAX_WINDOWS, description="window indexes to generate (see /v1/windows); "
                                                                "leave out for the whole game")


# --------------------------------------------------------------------------------------------
# Response models (they document the answers; `extra="allow"` keeps the service's extra keys)


class TimelineEntry(BaseModel):
    """One moment, as timeline.schema.json defines it (an entry without a quote has no `quote` key)."""

    ts: str
    event: str
    fan_sentiment: Literal[schema.SENTIMENTS]  # type: ignore[valid-type]
    quote: str | None = None

    @model_serializer(mode="wrap")
    def _no_null_quote(self, handler):  # no return annotation: it would replace the documented schema
        data = handler(self)
        if data.get("quote") is None:   # the schema has no null quote: the key is left out
            data.pop("quote", None)
        return data


class RowCounts(BaseModel):
    read: int
    kept: int
    rejected: int
    rejected_by_reason: dict[str, int]


class Alignment(BaseModel):
    method: str | None = Field(description="per_play_utc, minute_stamps, period_anchors, interpolated; "
                                           "given (canonical); null without comments")
    expected_error_s: float | None = Field(description="expected wall-clock error of the alignment")
    reaction_lag_s: float | None = Field(description="wall seconds from a play to its fans' comment peak")
    lag_source: str | None = Field(description="estimated (from this game's comments), default or param")
    tipoff_utc: str | None
    note: str | None


class InputReport(BaseModel):
    kind: Literal["raw", "canonical"]
    pbp_format: str | None
    comment_formats: list[str]
    alignment: Alignment
    plays: RowCounts
    comments: RowCounts
    rejected: list[dict[str, Any]] = Field(description="the first rows not kept: file, row, field, reason, detail")


class GameOut(BaseModel):
    game_id: str
    date: str | None
    home_team: str
    away_team: str
    home_name: str | None
    away_name: str | None
    periods: int
    final_home: int
    final_away: int
    n_plays: int
    n_comments: int


class WindowOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    index: int
    start: str
    end: str
    start_s: float
    end_s: float
    score_home: int
    score_away: int
    audience: str
    plays: int
    candidates: int = Field(description="candidate plays the prompt shows (build_sft.max_candidates)")
    comments: int = Field(description="the audience's comments aligned into the window")
    comments_shown: int = Field(description="reactions shown under the candidates (the quotes an answer may use)")
    comments_trimmed: int = Field(description="shown reactions left out to fit the prompt's token budget")
    prompt_tokens: int
    over_budget: bool


class GeneratedWindow(WindowOut):
    timeline: list[TimelineEntry] = Field(description="this window's output: valid against the schema")
    text: str = Field(description="the model's exact output")
    valid: bool
    errors: list[str]
    new_tokens: int
    finished: bool
    seconds: float


class Trimmed(BaseModel):
    comments_trimmed: int = Field(description="shown reactions left out to fit the prompt budget")
    windows_trimmed: int
    prompts_over_budget: int


class ParamsOut(BaseModel):
    source: str
    warning: str | None
    window_s: float
    overlap_s: float
    max_candidates: int
    max_shown: int
    max_prompt_tokens: int
    reaction_lag_s: float | str


class AudienceOut(BaseModel):
    audience: str = Field(description='"r/<subreddit>" (or "comments" when the files name none)')
    team: str | None = Field(description="the team whose own subreddit it is; null for a league thread")
    comments: int


class ScorePoint(BaseModel):
    game_s: float
    home: int
    away: int


class VolumeBin(BaseModel):
    start_s: float
    end_s: float
    count: int


class PeriodMark(BaseModel):
    period: int
    label: str
    start_s: float


class Series(BaseModel):
    """What the page draws: the score after every scoring play, comments per game minute, periods."""

    end_s: float
    score: list[ScorePoint]
    volume: list[VolumeBin]
    periods: list[PeriodMark]


class WindowsResponse(BaseModel):
    game: GameOut
    input: InputReport
    params: ParamsOut
    audience: str = Field(description="the audience these windows' prompts show")
    audiences: list[AudienceOut]
    windows: list[WindowOut]
    trimmed: Trimmed
    series: Series


class TimelineResponse(BaseModel):
    timeline: list[TimelineEntry] = Field(description="the game's moments in game order, from the windows generated")
    audience: str = Field(description="whose feeling fan_sentiment is: the audience whose comments were read")
    audiences: list[AudienceOut]
    game: GameOut
    input: InputReport
    params: ParamsOut
    windows: list[GeneratedWindow]
    windows_total: int
    merge: dict[str, int]
    trimmed: Trimmed
    series: Series
    generation: dict[str, Any]


# --------------------------------------------------------------------------------------------
# Errors


class JSON(JSONResponse):
    """JSON as UTF-8, any lone surrogate (text from a file's bad \\u escape) sent as "?": input text
    that cannot be encoded must not turn an answer into a 500."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, allow_nan=False,
                          separators=(",", ":")).encode("utf-8", "replace")


def _error(status: int, loc: list[Any], msg: str, type_: str) -> JSONResponse:
    return JSON(status_code=status, content={"detail": [{"loc": loc, "msg": msg, "type": type_}]})


def _input_error(exc: InputError, prefix: tuple[str, ...] = ("body",)) -> JSONResponse:
    """422, or 413 for a file over the read limits (`InputTooLarge`), naming where."""
    if isinstance(exc, InputTooLarge):
        return _error(413, [*prefix, *exc.loc], exc.message, "too_large")
    return _error(422, [*prefix, *exc.loc], exc.message, "input_error")


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
                await _error(400, ["header", "content-length"], "Content-Length is not a number", "bad_header")(
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
               max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, samples_dir: str | Path | None = None) -> FastAPI:
    """The app around one loaded service.

    `max_queue`: requests that may wait while one generates (more get 503 + Retry-After).
    `api_key`: when set, every /v1 route needs it in the `X-API-Key` header (else 401); the CLI
    takes it from $FAN_TIMELINE_API_KEY. `samples_dir`: game directories the page offers.
    """
    queue = GenerationQueue(max_queue)
    samples = {s.id: s for s in find_samples(samples_dir)}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        queue.start()
        yield
        queue.stop(timeout=5)

    app = FastAPI(title="fan-timeline", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  default_response_class=JSON,
                  description="Play-by-play + live fan comments -> a short JSON timeline of the moments that "
                              "mattered. Output is always valid against timeline schema "
                              f"{schema.SCHEMA_VERSION} (grammar-constrained decoding).")
    app.state.service = service
    app.state.queue = queue
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    if api_key:
        app.add_middleware(ApiKeyGate, api_key=api_key)   # added last = runs first

    key_header = APIKeyHeader(name="X-API-Key", auto_error=False,
                              description=f"needed when the server was started with ${API_KEY_ENV} set")

    async def require_key(key: str | None = Depends(key_header)) -> None:
        """Documents the key in the OpenAPI schema; ApiKeyGate enforces it before the body is read."""

    @app.exception_handler(InputError)
    async def on_input_error(request: Request, exc: InputError) -> JSONResponse:
        return _input_error(exc)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        """A 4xx raised by FastAPI/Starlette themselves (a body that is not UTF-8 or nests too deep
        for the JSON parser, a broken multipart body, an unknown route) in the API's error shape,
        with the parser's reason; the 503 of a full queue keeps its plain text detail."""
        if not (400 <= exc.status_code < 500 and isinstance(exc.detail, str)):
            return await http_exception_handler(request, exc)
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

    def generation(game: GameInput, windows: list[int] | None, audience: str | None,
                   stop: threading.Event) -> dict[str, Any]:
        audience = game.audience(audience)                # a bad audience or index: 422
        indexes = service.select(game, windows, audience)
        return service.timeline(game, indexes, audience, should_stop=stop.is_set).as_dict()

    # ---- API ------------------------------------------------------------------------------------

    @app.post("/v1/timeline", response_model=TimelineResponse, dependencies=[Depends(require_key)],
              responses={401: {"description": "API key missing or wrong"}, 413: {"description": "body too large"},
                         422: {"description": "bad input: detail[].loc says where"},
                         503: {"description": "queue full: retry after Retry-After seconds"}})
    async def timeline(req: TimelineRequest, request: Request) -> dict[str, Any]:
        """The timeline of a game (or of the chosen windows): raw files in any format ingest reads
        (detected, or named by `format`) or canonical rows. Windowed exactly as build_sft windows
        training games; each window decoded with the schema as a grammar."""
        return await run_queued(request, lambda stop: generation(_prepare(service, req), req.windows, req.audience,
                                                                stop))

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
            return _error(422, ["body", "comments"], f"at most {MAX_COMMENT_FILES} comment files, not {len(comments)}",
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
                return _error(422, ["body", "windows"], f"windows must be comma-separated integers, not {windows!r}",
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

    @app.post("/v1/windows", response_model=WindowsResponse, dependencies=[Depends(require_key)])
    async def windows(req: WindowsRequest, request: Request) -> dict[str, Any]:
        """The game read, aligned and cut into windows with their prompts' sizes, for one audience
        (and the list of them); no generation."""
        return await run_queued(request, lambda stop: _prepare(service, req).as_dict(service.params, req.audience))

    @app.get("/v1/samples", dependencies=[Depends(require_key)])
    async def sample_list() -> list[dict[str, Any]]:
        """The sample games the server was started with (`--samples`)."""
        return [s.summary() for s in samples.values()]

    @app.get("/v1/samples/{sample_id}", dependencies=[Depends(require_key)])
    async def sample(sample_id: str) -> dict[str, Any]:
        """A sample game as a /v1/timeline request body (raw files; zstd ones base64)."""
        s = samples.get(sample_id)
        if s is None:
            return _error(404, ["path", "sample_id"], f"no sample game {sample_id!r}; see /v1/samples", "not_found")
        pbp, files = await run_in_threadpool(s.raw_files)
        return {"game": s.meta, "pbp": encode_for_json(pbp), "comment_files": [encode_for_json(f) for f in files]}

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "model": service.info.get("model"), "queue": queue.stats()}

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

    uvicorn.run(create_app(service, **app_options), host=host, port=port, log_level="info")


