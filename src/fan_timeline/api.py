"""The HTTP API's request and response models (pydantic), with their bounds: what `/docs` shows.

The routes are `server.py`'s; a request that breaks a bound here is a 422 naming the field.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_serializer, model_validator

from fan_timeline import schema, sport, tables

MAX_FILE_CHARS = 200 * 2**20          # per file; the body limit is the real bound
MAX_WINDOWS = 64
MAX_COMMENT_FILES = 20                # threads of one game: the league's (or its halves) and the teams'

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

    clock: str = Field(pattern=sport.CLOCK_LABEL_PATTERN, description='period and time remaining, e.g. "Q4 01:50"')
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
    clock: str = Field(pattern=sport.CLOCK_LABEL_PATTERN)
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


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class WindowPromptOut(WindowOut):
    messages: list[ChatMessage] = Field(description="the window's chat prompt, as the model reads it")
    json_schema: dict[str, Any] = Field(
        description="the window's grounded JSON Schema: its listed plays, in order, with their own ts and event, "
                    "the audience's feeling, quotes from the comments shown under them. Give it with the messages "
                    "to llama.cpp (`json_schema`), Ollama (`format`), LM Studio or vLLM (structured output) and "
                    "every entry is a true fact quoting a real comment, as this server's own decoding")


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
    windows: list[WindowPromptOut]
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
