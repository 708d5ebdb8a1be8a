"""What a request cannot make the server do: open a file it names, or load a model unsafely.

    pytest tests/test_server_safety.py      (~15 s; the embedded model's tokenizer, no network)

- Strings from a request that look like paths ("/etc/passwd", "../../etc/passwd", the path of a
  valid play-by-play file on this machine) are content or names, never opened: an audit hook
  (sys.addaudithook, event "open") records every file the process opens while the requests run
  against a real uvicorn server, and none of those paths is among them. The sentinel files are
  valid inputs, so a server that opened them would also answer differently (200, not 422).
- Files built to exhaust the server (a 20 KB zstd of 600 MB of newlines; a CSV header of a
  million columns over 2,500 short rows; 100 comment files) are answered 413/422 naming the
  file, within the documented bounds of time and resident memory (docs/reliability.md, Limits).
- Model loading (model.load_model, what the server loads) reads safetensors only and runs no
  code from the checkpoint: a checkpoint saved only as a pickle (pytorch_model.bin) is refused
  without torch.load being called, and a checkpoint that ships its own modeling code does not
  get it executed.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading

import httpx
import pytest
import zstandard
from _serving import SAMPLES, LiveServer, comment_files, game_meta, parse_only_service

from fan_timeline.server import create_app

pytestmark = pytest.mark.slow     # loads the real tokenizer

_OPENED: list[str] = []
_RECORDING = threading.Event()


def _audit(event: str, args: tuple) -> None:
    if event == "open" and _RECORDING.is_set() and isinstance(args[0], (str, bytes, os.PathLike)):
        _OPENED.append(os.path.abspath(os.fsdecode(args[0])))


sys.addaudithook(_audit)   # cannot be removed: it records only while _RECORDING is set


@pytest.fixture(scope="module")
def url(tokenizer):
    with LiveServer(create_app(parse_only_service(tokenizer), samples_dir=None)) as url:
        yield url


def test_files_built_to_exhaust_the_server_get_a_4xx_within_bounds(url):
    import base64
    import resource
    import time

    import zstandard

    meta = game_meta("S0002")
    pbp = {"name": "pbp.json", "content": (SAMPLES / "S0002" / "pbp.json").read_text()}
    cobj = zstandard.ZstdCompressor(level=19).compressobj()
    bomb = b"".join(cobj.compress(b"\n" * (16 << 20)) for _ in range(40)) + cobj.flush()   # 640 MiB of newlines
    assert len(bomb) < 64 << 10
    wide = ("id,body,createdAt,username," + ",".join(f"c{i}" for i in range(10**6)) + "\n"
            + "a,b,2024-01-05T01:02:03Z,u\n" * 2500)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with httpx.Client(base_url=url, timeout=120) as c:
        for name, file, where in (
                ("bomb.ndjson.zst", {"content": base64.b64encode(bomb).decode(), "encoding": "base64"}, "more than"),
                ("wide.csv", {"content": wide}, "1,000,004 columns")):
            t0 = time.perf_counter()
            r = c.post("/v1/windows", json={"game": meta, "pbp": pbp, "comment_files": [{"name": name, **file}]})
            assert r.status_code == 413, r.text
            (d,) = r.json()["detail"]
            assert d["loc"] == ["body", "comment_files", 0] and name in d["msg"] and where in d["msg"], d
            assert time.perf_counter() - t0 < 30
        many = [("comments", (f"t{i}.ndjson", b"{}\n")) for i in range(100)]   # Starlette itself stops at 1,000
        r = c.post("/v1/timeline/upload", files=[("pbp", ("pbp.json", pbp["content"].encode())), *many])
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "comments"], r.text
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 500, grown_mb    # the server runs in this process; the old reader took ~7 GB for the bomb


def test_paths_in_requests_are_never_opened(url, tmp_path):
    # Sentinels: a valid play-by-play and comment file, and a copy of the game's facts; opened,
    # they would be read as the game.
    sentinel_pbp = tmp_path / "sentinel_pbp.json"
    shutil.copy(SAMPLES / "S0002" / "pbp.json", sentinel_pbp)            # cdn liveData: aligns without a zone
    thread = next(f for f in comment_files("S0002") if f.suffix != ".zst")   # a text thread (NDJSON, listing or CSV)
    sentinel_comments = tmp_path / f"sentinel_thread{thread.suffix}"
    shutil.copy(thread, sentinel_comments)
    pbp_text = sentinel_pbp.read_text()
    comments_text = sentinel_comments.read_text()
    v2 = {"name": "pbp.json", "content": (SAMPLES / "S0001" / "pbp.json").read_text()}
    v2_thread = comment_files("S0001")[0]
    v2_text = v2_thread.read_bytes()
    if v2_thread.suffix == ".zst":     # sent as text here: the dump decompressed
        v2_text = zstandard.ZstdDecompressor().decompressobj().decompress(v2_text)
    v2_comments = [{"name": v2_thread.name.removesuffix(".zst"), "content": v2_text.decode()}]
    paths = ["/etc/passwd", "../../../../../../etc/passwd", "file:///etc/passwd", str(sentinel_pbp),
             str(sentinel_comments), f"file://{sentinel_pbp}"]
    meta, v2_meta = game_meta("S0002"), game_meta("S0001")
    answers: list[tuple[str, httpx.Response]] = []
    _OPENED.clear()
    _RECORDING.set()
    try:
        with httpx.Client(base_url=url, timeout=60) as c:
            for p in paths:
                # a path as the play-by-play's content, its name, or the comment file's content
                answers.append((f"pbp content {p}",
                                c.post("/v1/windows", json={"game": meta, "pbp": {"name": p, "content": p}})))
                answers.append((f"comment content {p}", c.post("/v1/windows", json={
                    "game": meta, "pbp": {"name": "pbp.json", "content": pbp_text},
                    "comment_files": [{"name": p, "content": p}]})))
                answers.append((f"upload file named {p}", c.post("/v1/timeline/upload", files=[
                    ("pbp", (p, p.encode())), ("comments", (p, p.encode()))], data={"game": json.dumps(meta)})))
            # V2 play-by-play needs the game's time zone to align comments: a zone that is a path
            for tz in ("/etc/passwd", "../../../../../../etc/passwd", str(sentinel_pbp)[:64]):
                answers.append((f"tz {tz}", c.post("/v1/windows", json={
                    "game": {**v2_meta, "tz": tz}, "pbp": v2, "comment_files": v2_comments})))
            # a real file with a path-like name is read as what it is: the name is only a label
            ok = c.post("/v1/windows", json={"game": meta, "pbp": {"name": "../../etc/passwd", "content": pbp_text},
                                             "comment_files": [{"name": "/etc/passwd", "content": comments_text}]})
        n_request_opens = len(_OPENED)
        with open(sentinel_pbp, "rb"):   # the control: an open while recording is seen
            pass
    finally:
        _RECORDING.clear()

    for what, r in answers:
        assert r.status_code == 422, (what, r.text)
        loc = r.json()["detail"][0]["loc"]
        assert loc[0] == "body" and loc[1] in ("pbp", "comments", "comment_files", "game"), (what, loc)
    assert ok.status_code == 200 and ok.json()["input"]["comments"]["kept"] > 0, ok.text
    assert str(sentinel_pbp) in _OPENED[n_request_opens:]                        # the hook works
    opened_by_requests = [p for p in _OPENED[:n_request_opens] if "passwd" in p or p.startswith(str(tmp_path))]
    assert opened_by_requests == [], opened_by_requests


# ------------------------------------------------------------------------------------ model loading


def _tiny_llama(tokenizer):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64)
    return LlamaForCausalLM(config)


def test_load_model_refuses_a_pickle_only_checkpoint_and_runs_no_checkpoint_code(tokenizer, tmp_path, monkeypatch):
    import torch

    from fan_timeline.model import load_model

    model = _tiny_llama(tokenizer)
    # the control: the same tiny model saved as safetensors loads
    safe = tmp_path / "safe"
    model.save_pretrained(safe)
    tokenizer.save_pretrained(safe)
    assert (safe / "model.safetensors").is_file()
    loaded, _ = load_model(str(safe), device="cpu")
    assert torch.equal(loaded.model.embed_tokens.weight, model.model.embed_tokens.weight)

    # a pickle-only checkpoint: config + pytorch_model.bin (what safe_serialization=False wrote)
    pickled = tmp_path / "pickled"
    model.config.save_pretrained(pickled)
    tokenizer.save_pretrained(pickled)
    torch.save(model.state_dict(), pickled / "pytorch_model.bin")
    unpickled = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: unpickled.append(a) or real_load(*a, **k))
    with pytest.raises(OSError, match="safetensors"):
        load_model(str(pickled), device="cpu")
    assert unpickled == []

    # remote code: a checkpoint whose config points at its own modeling file
    remote = tmp_path / "remote"
    shutil.copytree(safe, remote)
    marker = tmp_path / "code_ran"
    (remote / "modeling_evil.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n"
        "from transformers import LlamaForCausalLM\nclass EvilForCausalLM(LlamaForCausalLM):\n    pass\n")
    cfg = json.loads((remote / "config.json").read_text())
    cfg["auto_map"] = {"AutoModelForCausalLM": "modeling_evil.EvilForCausalLM"}
    (remote / "config.json").write_text(json.dumps(cfg))
    try:
        loaded, _ = load_model(str(remote), device="cpu")
    except ValueError as exc:          # transformers refuses custom code without trust_remote_code
        assert "trust_remote_code" in str(exc)
    else:                              # or loads its own Llama class for the known model_type
        assert type(loaded).__name__ == "LlamaForCausalLM"
    assert not marker.exists(), "the checkpoint's own code ran"
    assert unpickled == []
