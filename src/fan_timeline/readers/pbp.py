"""Play-by-play entry point: detect which of the four formats a JSON file is, then read it.

Detection is by structure, never by file name, so renamed or uploaded files still work:
- `resultSets[]` with a "PlayByPlay" set        -> stats_v2
- `game.actions[]` whose actions have timeActual -> cdn_live
- `game.actions[]` with "PT..." clocks, no timeActual -> stats_v3
- `plays[]` plus `header.competitions`          -> espn
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fan_timeline.readers import cdn_live, espn, stats_v2, stats_v3
from fan_timeline.readers.common import load_json
from fan_timeline.tables import PBP_FORMATS, PbpResult, UnreadableFileError

_READERS = {"stats_v2": stats_v2, "stats_v3": stats_v3, "cdn_live": cdn_live, "espn": espn}
_PROBE = 50  # actions looked at to tell liveData from V3


def detect_pbp_format(obj: Any) -> str:
    """The PBP_FORMATS name of a parsed play-by-play document; ValueError if none fits."""
    if isinstance(obj, dict):
        sets = obj.get("resultSets")
        if isinstance(sets, list) and any(isinstance(s, dict) and s.get("name") == "PlayByPlay"
                                          for s in sets):
            return "stats_v2"
        game = obj.get("game")
        actions = game.get("actions") if isinstance(game, dict) else None
        if isinstance(actions, list):
            if not actions:
                raise ValueError("game.actions is empty: the file has no events")
            probe = [a for a in actions[:_PROBE] if isinstance(a, dict)]
            if any("timeActual" in a for a in probe):
                return "cdn_live"
            if any(isinstance(a.get("clock"), str) and a["clock"].startswith("PT") for a in probe):
                return "stats_v3"
        header = obj.get("header")
        if isinstance(obj.get("plays"), list) and isinstance(header, dict) \
                and isinstance(header.get("competitions"), list):
            return "espn"
    raise ValueError(f"not a known play-by-play format ({_describe(obj)})")


def read_pbp(data: bytes, source: str | Path, fmt: str | None = None) -> PbpResult:
    """Parse a play-by-play file once, detect its format (unless `fmt` is given) and read it."""
    if fmt is not None and fmt not in _READERS:
        raise ValueError(f"unknown play-by-play format {fmt!r}; expected one of {', '.join(PBP_FORMATS)}")
    obj = load_json(data, source)
    if fmt is None:
        try:
            fmt = detect_pbp_format(obj)
        except ValueError as e:
            raise UnreadableFileError(
                source, str(e),
                "expected stats.nba.com playbyplayv2/v3, cdn.nba.com liveData playbyplay or an "
                "ESPN summary JSON") from None
    return _READERS[fmt].from_json(obj, source)


def _describe(obj: Any) -> str:
    if isinstance(obj, dict):
        keys = [k[:40] for k in list(obj)[:8]]
        return "top-level keys: " + (", ".join(keys) if keys else "none")
    return f"top level is a JSON {type(obj).__name__}"
