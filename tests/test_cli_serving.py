"""`fan-timeline generate`, `demo` and `serve`: the same service as the API, from the command line.

    pytest tests/test_cli_serving.py      (~60 s on 2 CPU cores; the embedded base model, no network)

generate and demo run in-process through cli.main (the console script's function) so the test
process's torch import is shared; serve runs as the real console script in a subprocess, with the
API key taken from the environment.
"""

from __future__ import annotations

import io
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from _serving import ROOT, SAMPLES, game_meta, sample_ids, windows_of, written_formats

from fan_timeline import cli, schema

pytestmark = pytest.mark.slow


def test_generate_writes_the_timeline_of_raw_files(tmp_path, base_model_path, capsys):
    game = SAMPLES / "S0004"      # ESPN play-by-play
    out = tmp_path / "timeline.json"
    code = cli.main(["generate", "--model", base_model_path, "--pbp", str(game / "pbp.json"),
                     "--comments", str(game / "comments"), "--game", str(game / "game.json"),
                     "--windows", "15", "--out", str(out)])
    assert code == 0
    result = json.loads(out.read_text())
    assert (result["input"]["pbp_format"], result["input"]["comment_formats"]) == written_formats("S0004")
    assert result["input"]["alignment"]["method"] == "per_play_utc"
    (window,) = result["windows"]
    assert window["index"] == 15 and window["valid"] and window["finished"]
    assert schema.validate_timeline(json.loads(window["text"])) == []
    n = windows_of(result["game"]["periods"])
    assert result["game"]["game_id"] == "S0004" and result["windows_total"] == n
    assert f"of {n} windows" in capsys.readouterr().err


def test_generate_stops_on_bad_input_naming_the_file(tmp_path, capsys):
    assert cli.main(["generate", "--pbp", str(tmp_path / "missing.json")]) == 2
    assert "missing.json" in capsys.readouterr().err
    bad_game = tmp_path / "game.json"
    bad_game.write_text('{"home": {"team": "HAR"}, "venue": "Harbor Arena"}')
    assert cli.main(["generate", "--pbp", str(SAMPLES / "S0001" / "pbp.json"), "--game", str(bad_game)]) == 2
    err = capsys.readouterr().err
    assert "game.json" in err and "venue" in err
    assert cli.main(["generate"]) == 2 and "--pbp" in capsys.readouterr().err


def test_generate_names_a_missing_game_json_or_a_bad_windows_flag(tmp_path, capsys):
    pbp = str(SAMPLES / "S0001" / "pbp.json")
    for game in (tmp_path / "nowhere.json", tmp_path):          # missing, and a directory
        assert cli.main(["generate", "--pbp", pbp, "--game", str(game)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: cannot read ") and str(game) in err and "Traceback" not in err
    assert cli.main(["generate", "--pbp", pbp, "--windows", "a,b"]) == 2
    assert "--windows: 'a' is not a window index" in capsys.readouterr().err


def test_demo_shows_markup_in_paths_as_text(base_model_path, monkeypatch, capsys):
    # rich markup in what the user types (a path) is shown as typed, never parsed
    monkeypatch.setattr(sys, "stdin", io.StringIO("f\n/tmp/[/red]nowhere.json\n\n\nq\n"))
    assert cli.main(["demo", "--model", base_model_path, "--samples", str(SAMPLES)]) == 0
    out = capsys.readouterr().out
    assert "cannot read /tmp/[/red]nowhere.json: No such file or directory" in out


def test_demo_is_driven_by_its_input(base_model_path, monkeypatch, capsys):
    # a wrong choice, then sample 1 (S0001: stats V2), window 15, then quit at "another window?"
    monkeypatch.setattr(sys, "stdin", io.StringIO("x\n1\n15\nq\n"))
    assert cli.main(["demo", "--model", base_model_path, "--samples", str(SAMPLES)]) == 0
    out = capsys.readouterr().out
    meta = game_meta("S0001")
    listed = f"S0001  {meta['away']['team']} at {meta['home']['team']}"
    assert "Sample games:" in out and listed in out and "'x' is not one of the choices" in out
    assert "comments aligned by minute_stamps" in out and "#15 Q4 03:00 – Q4 02:15" in out   # a 45 s window
    header = re.search(r"Q4 03:00 – Q4 02:15  \(window #15: (\d+) moments?", out)
    assert header, out
    moments = re.findall(r"^  (Q4 0[0-3]:\d\d)  ● (positive|negative|mixed|neutral)", out, re.MULTILINE)
    assert len(moments) == int(header.group(1))
    assert out.count("Window to write") == 2     # it asks for another window after showing one


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_starts_the_api_and_takes_the_key_from_the_environment(base_model_path, tmp_path):
    script = Path(sys.executable).with_name("fan-timeline")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "fan_timeline.cli"]
    port = _free_port()
    env = {**os.environ, "FAN_TIMELINE_API_KEY": "k-123", "OMP_WAIT_POLICY": "PASSIVE"}
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen([*command, "serve", "--model", base_model_path, "--port", str(port),
                             "--samples", str(SAMPLES), "--max-queue", "2"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "serve did not come up"
            time.sleep(0.5)
        assert httpx.get(url + "/health").json()["queue"]["max_waiting"] == 2
        assert httpx.get(url + "/version").json()["auth"] is True
        assert httpx.get(url + "/v1/samples").status_code == 401
        samples = httpx.get(url + "/v1/samples", headers={"X-API-Key": "k-123"})
        assert samples.status_code == 200 and len(samples.json()) == len(sample_ids())
        assert "<script src=\"/static/app.js\"></script>" in httpx.get(url + "/").text
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()
    assert "Uvicorn running" in (tmp_path / "serve.log").read_text()
