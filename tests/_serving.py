"""Helpers of the serving tests (not collected): a real uvicorn server on a free loopback port, in
a thread of the test process, so one loaded model serves several apps; a service that parses for
real and does not generate."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = Path(os.environ["FAN_TIMELINE_TEST_SAMPLES"])   # the pipeline's first sample games (conftest.py)
REAL = ROOT / "tests" / "data" / "real"


class LiveServer:
    """`with LiveServer(app) as url:` serves `app` on http://127.0.0.1:<free port> until the block ends."""

    def __init__(self, app: Any):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self.url

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)
        self.sock.close()


def sample_body(game_id: str) -> dict[str, Any]:
    """A /v1/timeline body with a sample game's raw files, as GET /v1/samples/{id} gives it."""
    from fan_timeline.samples import encode_for_json, find_samples

    (s,) = [s for s in find_samples(SAMPLES) if s.id == game_id]
    pbp, files = s.raw_files()
    return {"game": s.meta, "pbp": encode_for_json(pbp), "comment_files": [encode_for_json(f) for f in files]}


# What the simulator wrote each sample in (it names comment files by format; it rotates the
# play-by-play formats over the games in the order of `simulate.cli.FORMATS`): what a reader must detect.
COMMENT_FORMAT_OF_SUFFIX = {".csv": "scraper_csv", ".json": "reddit_listing", ".ndjson": "reddit_ndjson",
                            ".zst": "reddit_ndjson"}


def comment_files(game_id: str) -> list[Path]:
    return sorted((SAMPLES / game_id / "comments").iterdir())


def written_formats(game_id: str) -> tuple[str, list[str]]:
    """(play-by-play format, comment file formats in file-name order) the simulator wrote."""
    from fan_timeline.simulate.cli import FORMATS

    return (FORMATS[(int(game_id[1:]) - 1) % len(FORMATS)],
            [COMMENT_FORMAT_OF_SUFFIX[f.suffix] for f in comment_files(game_id)])


def sample_ids() -> list[str]:
    return sorted(d.name for d in SAMPLES.iterdir() if (d / "game.json").is_file())


def windows_of(periods: int) -> int:
    """Windows of a game of `periods` periods under the shipped params: quarters of 720 s tiled by
    180 s windows, except the last 180 s of the fourth and of every 300 s overtime, cut in 45 s
    ones: 3 x 4 + (3 + 4) in regulation, (1 + 4) an overtime."""
    return 19 + 5 * (periods - 4)


def periods_of(game_id: str) -> int:
    from fan_timeline.readers.pbp import read_pbp

    return max(p["period"] for p in read_pbp((SAMPLES / game_id / "pbp.json").read_bytes(), "pbp.json").plays)


def game_meta(game_id: str) -> dict[str, Any]:
    return json.loads((SAMPLES / game_id / "game.json").read_text())


def parse_only_service(tokenizer: Any):
    """A TimelineService with the real reading, alignment, windows and prompts (the embedded
    model's tokenizer, the repo's params.yaml) whose generation answers an empty timeline for
    each chosen window, without a model: for tests of request handling, not of the model.
    Window selection, merging, the response model and JSON rendering stay the real code."""
    from fan_timeline.service import TimelineResult, TimelineService, WindowResult, pipeline_params

    class ParseOnlyService(TimelineService):
        def timeline(self, game, windows=None, audience=None, *, progress=False, should_stop=None):  # the parent's
            aud = game.audience(audience)
            plans = [game.windows(aud)[i] for i in self.select(game, windows, aud)]
            results = [WindowResult(p, '{"timeline":[]}', [], [], 0, True, 0.0) for p in plans]
            return TimelineResult(game, aud, results, self.params, self.info, 0.0)

    return ParseOnlyService(None, tokenizer, pipeline_params({}, ROOT / "params.yaml"), {"model": "parse-only"})
