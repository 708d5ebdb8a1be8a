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
from _serving import ROOT, SAMPLES, game_meta, periods_of, sample_ids, windows_of, written_formats

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


def _script() -> list[str]:
    script = Path(sys.executable).with_name("fan-timeline")
    return [str(script)] if script.exists() else [sys.executable, "-m", "fan_timeline.cli"]


@pytest.mark.parametrize(("args", "error"), [
    (["serve", "--batch-size", "0"], "argument --batch-size: must be >= 1, not 0"),
    (["serve", "--max-queue", "-1"], "argument --max-queue: must be >= 0, not -1"),
    (["serve", "--port", "70000"], "argument --port: must be <= 65535, not 70000"),
    (["serve", "--max-body-mb", "nan"], "argument --max-body-mb: must be >= 0.001, not nan"),
    (["serve", "--max-inflight-mb", "10"], "--max-inflight-mb (10) must be at least --max-body-mb (50)"),
    (["serve", "--samples", "/nonexistent/samples"], "--samples: /nonexistent/samples is not a directory"),
    (["serve", "--params", "/nonexistent/params.yaml"], "--params: /nonexistent/params.yaml"),
    (["serve", "--host", "192.0.2.1"], "cannot listen on 192.0.2.1:8000"),       # TEST-NET-1: never this machine's
    (["demo", "--batch-size", "x"], "argument --batch-size: 'x' is not an integer"),
    (["generate", "--pbp", str(SAMPLES / "S0001" / "pbp.json"), "--audience", "nba"],
     "--audience: 'nba' is not an audience: give a subreddit as \"r/<name>\" (e.g. \"r/nba\")"),
    (["generate", "--pbp", str(SAMPLES / "S0001" / "pbp.json"), "--windows", "3,x"],
     "--windows: 'x' is not a window index"),
    (["serve"], "--model: base model '/nonexistent/model' is neither a directory nor an embedded name"),
])
def test_a_bad_argument_is_answered_before_the_model_loads(args, error):
    # The model named cannot load: were it loaded first, its error would be the answer. The real
    # console script, in a subprocess: the exit code and stderr a user sees.
    done = subprocess.run([*_script(), *args, "--model", "/nonexistent/model"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"})
    assert done.returncode == 2, done.stderr
    assert error in done.stderr, done.stderr
    assert "loading" not in done.stderr and "Traceback" not in done.stderr


def test_generate_checks_audience_and_windows_against_the_game_before_the_weights_load(base_model_path, capsys):
    game = SAMPLES / "S0001"
    args = ["generate", "--model", base_model_path, "--pbp", str(game / "pbp.json"), "--comments",
            str(game / "comments"), "--game", str(game / "game.json")]
    assert cli.main([*args, "--audience", "r/nosuchsub"]) == 2
    err = capsys.readouterr().err
    assert "error: --audience: no audience 'r/nosuchsub' in this game; there are r/" in err
    assert f"loading {base_model_path}" not in err           # printed just before the weights load
    n = windows_of(periods_of("S0001"))
    assert cli.main([*args, "--windows", f"2,{n}"]) == 2
    err = capsys.readouterr().err
    assert f"error: --windows: window {n} does not exist: this game has {n} windows (0..{n - 1})" in err
    assert f"loading {base_model_path}" not in err


def test_serve_defaults_are_the_servers():
    from fan_timeline import server

    args = cli._parser().parse_args(["serve"])
    assert args.max_body_mb * 2**20 == server.DEFAULT_MAX_BODY_BYTES
    assert args.max_inflight_mb * 2**20 == server.DEFAULT_MAX_INFLIGHT_BYTES
