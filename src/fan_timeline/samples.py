"""Sample games: the game directories the page and the demo offer, and raw files as the API carries them."""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fan_timeline.game import RawFile

log = logging.getLogger("fan_timeline.samples")


@dataclass(frozen=True)
class SampleGame:
    id: str
    path: Path
    meta: dict[str, Any]
    pbp_file: Path
    comment_files: tuple[Path, ...]

    def summary(self) -> dict[str, Any]:
        def team(side: str) -> str | None:
            return (self.meta.get(side) or {}).get("team")
        return {"id": self.id, "home": team("home"), "away": team("away"), "date": self.meta.get("date"),
                "pbp": self.pbp_file.name, "comment_files": [f.name for f in self.comment_files]}

    def raw_files(self) -> tuple[RawFile, list[RawFile]]:
        return (RawFile(self.pbp_file.name, self.pbp_file.read_bytes()),
                [RawFile(f.name, f.read_bytes()) for f in self.comment_files])


def find_samples(root: str | Path | None) -> list[SampleGame]:
    """Game directories under `root` (ingest's layout: pbp.*, comments/*, game.json); [] if none."""
    from fan_timeline.ingest import IngestError, discover

    if root is None or not Path(root).is_dir():
        return []
    try:
        found = discover(root)
    except IngestError as exc:
        log.warning("no sample games: %s", exc)
        return []
    return [SampleGame(str(g.meta.get("game_id") or g.path.name), g.path, g.meta, g.pbp_file, tuple(g.comment_files))
            for g in found]


def encode_for_json(f: RawFile) -> dict[str, Any]:
    """A raw file as the API carries it: UTF-8 text as is, anything else (zstd) as base64."""
    try:
        text = f.data.decode("utf-8")
        if "\x00" not in text:
            return {"name": f.name, "content": text, "encoding": "text"}
    except UnicodeDecodeError:
        pass
    return {"name": f.name, "content": base64.b64encode(f.data).decode("ascii"), "encoding": "base64"}
