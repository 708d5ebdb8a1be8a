"""Helpers of the serving tests (not collected): a real uvicorn server on a free loopback port, in
a thread of the test process, so one loaded model serves several apps; a service that parses for
real and does not generate."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "raw" / "sample"
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
    from fan_timeline.service import encode_for_json, find_samples

    (s,) = [s for s in find_samples(SAMPLES) if s.id == game_id]
    pbp, files = s.raw_files()
    return {"game": s.meta, "pbp": encode_for_json(pbp), "comment_files": [encode_for_json(f) for f in files]}


def game_meta(game_id: str) -> dict[str, Any]:
    return json.loads((SAMPLES / game_id / "game.json").read_text())


def parse_only_service(tokenizer: Any):
    """A TimelineService with the real reading, alignment, windows and prompts (the embedded
    model's tokenizer, the repo's params.yaml) whose generation answers an empty timeline for
    each chosen window, without a model: for tests of request handling, not of the model.
    Window selection, merging, the response model and JSON rendering stay the real code."""
    from fan_timeline.service import TimelineResult, TimelineService, WindowResult, pipeline_params

    class ParseOnlyService(TimelineService):
        def timeline(self, game, windows=None, *, progress=False):  # the parent's signature
            plans = [game.windows[i] for i in self.select(game, windows)]
            results = [WindowResult(p, '{"timeline":[]}', [], [], 0, True, 0.0) for p in plans]
            return TimelineResult(game, results, self.params, self.info, 0.0)

    return ParseOnlyService(None, tokenizer, pipeline_params({}, ROOT / "params.yaml"), {"model": "parse-only"})
