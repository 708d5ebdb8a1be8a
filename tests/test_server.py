"""The HTTP API, served for real: uvicorn on a loopback port, called over HTTP with httpx.

    pytest tests/test_server.py      (~70 s on 2 CPU cores; the embedded base model, no network)

One model (the untrained embedded SmolLM2-135M: grammar-constrained decoding makes even it
schema-valid) serves every app of this module. Generating is slow on a CPU, so requests name one
window each; reading, aligning and windowing still take the whole game.
"""

from __future__ import annotations

import base64
import json
import shutil
import threading
import time

import httpx
import pytest
from _serving import (
    REAL,
    ROOT,
    SAMPLES,
    LiveServer,
    comment_files,
    sample_body,
    sample_ids,
    windows_of,
    written_formats,
)

from fan_timeline import ingest, schema, sport
from fan_timeline.server import create_app
from fan_timeline.service import TimelineService

pytestmark = pytest.mark.slow
MAX_BODY = 8 * 2**20     # over the largest sample game sent whole (S0003: 3.3 MiB of files, JSON-escaped)


@pytest.fixture(scope="module")
def service(base_model_path):
    return TimelineService.load(base_model_path, params_file=ROOT / "params.yaml", batch_size=4)


@pytest.fixture(scope="module")
def url(service):
    """The server every test here talks to: a queue of one, so a third concurrent request is refused."""
    with LiveServer(create_app(service, max_queue=1, max_body_bytes=MAX_BODY, samples_dir=SAMPLES)) as url:
        yield url


@pytest.fixture(scope="module")
def client(url):
    with httpx.Client(base_url=url, timeout=300) as c:
        yield c


def _check_generated(body: dict, requested: list[int]) -> None:
    """What every timeline answer must hold: the windows asked for, each output schema-valid and
    grounded in its prompt, the merged timeline in game order."""
    assert [w["index"] for w in body["windows"]] == requested
    for w in body["windows"]:
        assert w["valid"] and w["finished"] and w["errors"] == []
        assert schema.validate_timeline(json.loads(w["text"])) == []
        assert json.loads(w["text"])["timeline"] == w["timeline"]
        for e in w["timeline"]:
            assert w["start_s"] <= sport.label_to_game_seconds(e["ts"]) <= w["end_s"]
    for e in body["timeline"]:
        assert schema.validate_item(e) == []
    times = [sport.label_to_game_seconds(e["ts"]) for e in body["timeline"]]
    assert times == sorted(times)
    assert body["merge"]["entries_from_windows"] == len(body["timeline"]) + body["merge"]["duplicates_dropped"]
    assert body["generation"]["constrained"] and body["generation"]["new_tokens"] > 0


# ------------------------------------------------------------------------------------ no generation


def test_health_version_docs_and_page(client, service):
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["queue"]["max_waiting"] == 1
    version = client.get("/version").json()
    assert version["schema_version"] == schema.SCHEMA_VERSION
    assert version["model"] == service.info["model"] and version["auth"] is False
    assert (version["pipeline_params"]["build_sft"]["window_s"] > 0
            and "params file" in version["pipeline_params"]["source"])
    spec = client.get("/openapi.json").json()
    assert {"/v1/timeline", "/v1/timeline/upload", "/v1/windows", "/health", "/version"} <= set(spec["paths"])
    props = spec["components"]["schemas"]["TimelineRequest"]["properties"]
    assert props["comment_files"]["maxItems"] == 20 and props["windows"]["anyOf"][0]["maxItems"] == 64
    docs = client.get("/docs")
    assert docs.status_code == 200 and "cdn" not in docs.text.lower()
    page = client.get("/")
    assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
    for asset in ("app.js", "style.css", "docs.js"):
        text = client.get(f"/static/{asset}").text
        assert "//cdn" not in text and "https://" not in text and "innerHTML" not in text


@pytest.fixture(scope="module")
def ingested(tmp_path_factory, service) -> dict:
    """ingest's own reading of the sample games the format test sends, with the server's params."""
    root = tmp_path_factory.mktemp("raw")
    for game_id in ("S0001", "S0002", "S0003", "S0004"):
        shutil.copytree(SAMPLES / game_id, root / game_id)
    return {g["game_id"]: g for g in ingest.ingest(root, service.params.ingest).games}


@pytest.mark.parametrize("game_id", ["S0001", "S0002", "S0003", "S0004"])   # one per play-by-play format
def test_every_raw_format_is_read_and_aligned_as_ingest_does(client, ingested, game_id):
    r = client.post("/v1/windows", json=sample_body(game_id))      # .zst files go as base64
    assert r.status_code == 200, r.text
    body = r.json()
    report = body["input"]
    assert (report["pbp_format"], report["comment_formats"]) == written_formats(game_id)
    row = ingested[game_id]
    assert report["alignment"]["method"] == row["align_method"]
    assert body["game"]["n_comments"] == row["n_comments"] and body["game"]["n_plays"] == row["n_plays"]
    # audiences: the subreddits with enough comments of their own; the answer's is the first
    subreddits = json.loads(row["audiences"])
    audiences = [a["audience"] for a in body["audiences"]]
    assert audiences and set(audiences) <= set(subreddits) and body["audience"] == audiences[0]
    assert len(body["windows"]) == windows_of(row["periods"])
    assert body["series"]["score"][-1]["home"] == row["final_home"]
    assert body["series"]["score"][-1]["home"] == row["final_home"]


@pytest.mark.parametrize("name, pbp_format", [
    ("stats_playbyplayv2_0021900001.json", "stats_v2"),
    ("stats_playbyplayv3_0022200552.json", "stats_v3"),
    ("cdn_liveData_playbyplay_0022000001.json", "cdn_live"),
])
def test_real_play_by_play_files_are_read(client, name, pbp_format):
    content = (REAL / name).read_text(encoding="utf-8")
    r = client.post("/v1/windows", json={"pbp": {"name": name, "content": content}})
    assert r.status_code == 200, r.text
    assert r.json()["input"]["pbp_format"] == pbp_format
    # naming the format skips detection, and a wrong name is the client's error
    wrong = "espn"
    r = client.post("/v1/windows", json={"pbp": {"name": name, "content": content, "format": wrong}})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][:2] == ["body", "pbp"]


def _loc_msg(r: httpx.Response) -> tuple[list, str]:
    detail = r.json()["detail"]
    assert isinstance(detail, list) and detail, detail
    return detail[0]["loc"], detail[0]["msg"]


def test_malformed_and_wrong_bodies_get_4xx_saying_where(client):
    r = client.post("/v1/timeline", content=b'{"pbp": {"content": ', headers={"content-type": "application/json"})
    loc, msg = _loc_msg(r)
    assert r.status_code == 422 and loc[0] == "body" and "JSON decode error" in msg and "character" in msg

    cases = [
        ({"pbp": {"content": "{}"},
          "plays": [{"clock": "Q1 10:00", "event_type": "made_shot", "score_home": 2, "score_away": 0}]},
         ["body"], "either"),
        ({"pbp": {"content": "{}"}, "colour": "red"}, ["body", "colour"], "Extra inputs"),
        ({"pbp": {"name": "pbp.json", "content": "<html>rate limited</html>"}}, ["body", "pbp"],
         "pbp.json: not valid JSON"),
        ({"pbp": {"content": "@@", "encoding": "base64"}}, ["body", "pbp", "content"], "base64"),
        ({"pbp": {"content": "{}", "format": "nba_xml"}}, ["body", "pbp", "format"], "Input should be"),
        ({**sample_body("S0001"), "windows": [0, 99]}, ["body", "windows", 1], "window 99 does not exist"),
        ({**sample_body("S0001"), "game": {"date": "2025-10-21"}}, ["body", "game", "tz"], "time zone"),
        ({"game": {"home": {"team": "HAR"}, "away": {"team": "MSA"}},
          "plays": [{"clock": "Q1 10:00", "event_type": "made_shot", "points": 2, "score_home": 2, "score_away": 0},
                    {"clock": "Q1 11:00", "event_type": "made_shot", "points": 2, "score_home": 4, "score_away": 0}]},
         ["body", "plays", 1, "clock"], "game order"),
        ({"plays": [{"clock": "Q1 10:00", "event_type": "dunk", "score_home": 2, "score_away": 0}]},
         ["body", "plays", 0, "event_type"], "Input should be"),
        ({"pbp": {"content": "{}"}, "comment_files": [{"content": "x"}] * 21}, ["body", "comment_files"], "at most 20"),
    ]
    for payload, where, words in cases:
        r = client.post("/v1/timeline", json=payload)
        loc, msg = _loc_msg(r)
        assert r.status_code == 422, (payload, r.text)
        assert loc == where and words in msg, (where, loc, msg)
    assert client.get("/health").json()["windows_generated"] == 0   # none of them reached the model


@pytest.mark.parametrize("pbp", [
    {"resultSets": [{"name": "PlayByPlay", "headers": ["EVENTNUM"], "rowSet": [[1], ["x"], None]}]},
    {"resultSets": [{"name": "PlayByPlay", "headers": None, "rowSet": 7}]},
    {"game": {"actions": [{"clock": "PT12M00.00S", "period": "first"}, 5]}},
    {"game": {"actions": [{"timeActual": None}, {"timeActual": "yesterday", "clock": 3}]}},
    {"plays": [{"period": {"number": "x"}}, []], "header": {"competitions": [None]}},
    [1, 2, 3],
    "just a string",
])
def test_odd_play_by_play_structures_are_4xx_never_500(client, pbp):
    r = client.post("/v1/windows", json={"pbp": {"name": "odd.json", "content": json.dumps(pbp)},
                                         "comment_files": [{"name": "c.csv",
                                                            "content": "id,body,createdAt,username\n"}]})
    assert r.status_code == 422, r.text
    loc, msg = _loc_msg(r)
    assert loc[:2] == ["body", "pbp"] and "odd.json" in msg


def test_oversized_bodies_get_413_before_anything_reads_them(client):
    big = {"pbp": {"content": "x" * (MAX_BODY + 10)}}
    r = client.post("/v1/timeline", json=big)
    assert r.status_code == 413
    loc, msg = _loc_msg(r)
    assert loc == ["body"] and str(MAX_BODY) in msg

    def chunks():   # no Content-Length: the limit is counted as the body streams in
        for _ in range(MAX_BODY // 2**20 + 1):
            yield b" " * 2**20

    r = client.post("/v1/windows", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    r = client.post("/v1/timeline/upload", files={"pbp": ("pbp.json", b"{" + b" " * (MAX_BODY + 1) + b"}")})
    assert r.status_code == 413


def test_samples_are_served_as_request_bodies(client):
    listed = client.get("/v1/samples").json()
    assert [s["id"] for s in listed] == sample_ids()
    s2 = client.get("/v1/samples/S0002").json()
    zst = [f.suffix == ".zst" for f in comment_files("S0002")]
    assert [f["encoding"] == "base64" for f in s2["comment_files"]] == zst and any(zst)
    first_zst = s2["comment_files"][zst.index(True)]["content"]
    assert base64.b64decode(first_zst)[:4] == b"\x28\xb5\x2f\xfd"                # zstd's magic
    r = client.get("/v1/samples/S9999")
    assert r.status_code == 404 and _loc_msg(r)[0] == ["path", "sample_id"]


def test_api_key_is_required_when_set(service):
    with LiveServer(create_app(service, api_key="s3cret", samples_dir=SAMPLES)) as url, httpx.Client(base_url=url) as c:
        for path in ("/v1/samples", "/v1/samples/S0001"):
            assert c.get(path).status_code == 401
            assert c.get(path, headers={"X-API-Key": "wrong"}).status_code == 401
            assert c.get(path, headers={"X-API-Key": "s3cret"}).status_code == 200
        r = c.post("/v1/timeline", json=sample_body("S0001"))
        assert r.status_code == 401 and r.headers["www-authenticate"]
        assert r.json()["detail"][0]["loc"] == ["header", "X-API-Key"]
        # refused before the body is read: a malformed or oversized body is still a 401
        assert c.post("/v1/timeline", content=b"{", headers={"content-type": "application/json"}).status_code == 401
        r = c.post("/v1/windows", json=sample_body("S0001"), headers={"X-API-Key": "s3cret"})
        assert r.status_code == 200
        assert c.get("/health").status_code == 200 and c.get("/version").json()["auth"] is True


# ------------------------------------------------------------------------------------ generation


CANONICAL = {
    "game": {"game_id": "tiny", "home": {"team": "HAR", "name": "Harbor Herons"},
             "away": {"team": "MSA", "name": "Mesa Suns"}},
    "plays": [
        {"clock": "Q1 11:41", "event_type": "made_shot", "team": "HAR", "player": "Ada Okafor", "player2": "Ito",
         "points": 3, "score_home": 3, "score_away": 0, "text": "Okafor 26' 3PT Jump Shot (Ito 1 AST)"},
        {"clock": "Q1 11:15", "event_type": "made_shot", "team": "MSA", "player": "Luis Reyes", "points": 2,
         "score_home": 3, "score_away": 2, "text": "Reyes driving layup"},
        {"clock": "Q1 10:52", "event_type": "block", "team": "HAR", "player": "Ada Okafor", "player2": "Reyes",
         "score_home": 3, "score_away": 2},
    ],
    "comments": [
        {"body": "OKAFOR FROM DEEP", "clock": "Q1 11:38", "flair_team": "HAR", "score": 12},
        {"body": "reyes too easy", "clock": "Q1 11:12", "flair_team": "MSA", "score": 3},
        {"body": "<b>SWAT</b> & gone", "clock": "Q1 10:50", "flair_team": "HAR", "score": 8},
    ],
    "windows": [0],
}


def _upload_files(game_id: str) -> dict:
    game_dir = SAMPLES / game_id
    files = [("pbp", ("pbp.json", (game_dir / "pbp.json").read_bytes()))]
    files += [("comments", (f.name, f.read_bytes())) for f in sorted((game_dir / "comments").iterdir())]
    return files


def test_concurrent_requests_queue_and_overload_gets_503_with_retry_after(client, url):
    """Three requests at once against a queue of one: the first runs, the second waits, the third
    is refused with 503 + Retry-After. (Retrying it would cost another generation: the queue's
    unit test covers that room comes back.)"""
    done: dict[str, httpx.Response] = {}

    def post(name: str, **kwargs) -> threading.Thread:
        def run():
            with httpx.Client(base_url=url, timeout=300) as c:
                done[name] = c.post(**kwargs)
        t = threading.Thread(target=run)
        t.start()
        return t

    def wait_for(what, timeout=60):
        deadline = time.monotonic() + timeout
        while not what(client.get("/health").json()["queue"]):
            assert time.monotonic() < deadline, client.get("/health").json()
            time.sleep(0.05)

    # canonical rows, then raw files as a multipart upload (cdn liveData + zstd NDJSON comments)
    done_before = client.get("/health").json()["queue"]["done"]
    first = post("canonical", url="/v1/timeline", json=CANONICAL)
    wait_for(lambda q: q["running"] == 1)
    second = post("upload", url="/v1/timeline/upload", files=_upload_files("S0002"), data={"windows": "15"})
    wait_for(lambda q: q["waiting"] == 1)
    third = {**sample_body("S0003"), "windows": [15]}            # V3 + scraper CSV, as JSON
    refused = client.post("/v1/timeline", json=third)
    assert refused.status_code == 503, refused.text
    assert int(refused.headers["retry-after"]) >= 1 and "queue is full" in refused.json()["detail"]
    first.join(300)
    second.join(300)

    for r in (done["canonical"], done["upload"]):
        assert r.status_code == 200, r.text
    canonical = done["canonical"].json()
    _check_generated(canonical, [0])
    assert canonical["input"]["kind"] == "canonical" and canonical["input"]["alignment"]["method"] == "given"
    shown = {c["body"] for c in CANONICAL["comments"]}
    clocks = {p["clock"] for p in CANONICAL["plays"]}
    for e in canonical["windows"][0]["timeline"]:
        assert e["ts"] in clocks and e.get("quote", "OKAFOR FROM DEEP") in shown   # grounded

    upload = done["upload"].json()
    _check_generated(upload, [15])
    assert (upload["input"]["pbp_format"], upload["input"]["comment_formats"]) == written_formats("S0002")
    assert upload["input"]["alignment"]["method"] == "per_play_utc"
    assert upload["windows"][0]["start"] == "Q4 03:00"
    health = client.get("/health").json()["queue"]
    assert (health["done"] - done_before, health["running"], health["waiting"]) == (2, 0, 0)   # the 503 ran nothing
