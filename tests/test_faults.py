"""Faults a weekly run meets: a stage killed mid-write, a full disk, a directory it may not write.

Proves, with the real stage entry points on freshly simulated games:
- ingest killed with SIGKILL at the moment it starts writing (and a few ms later, several times)
  leaves `data/interim` either absent or complete and byte-identical to an uninterrupted run, never
  a partial directory; under `dvc repro` a killed stage is never recorded as up to date.
- a full disk (a 64 KiB tmpfs, mounted in a private user + mount namespace) and a read-only
  output directory end the stage with exit status 1 and one line naming the path and the cause,
  no traceback.
- a trainer killed mid-run under `dvc repro` leaves no process behind, and the next run is not
  refused; a second run on the same checkpoints is refused, naming the first.
The DVC checks start from copies of conftest.py's shared five-stage run (`pipeline_run`).
The namespace tricks need `unshare` (util-linux) and unprivileged user namespaces; where those are
missing the disk-full and (as root, where chmod does not restrict) permission tests are skipped.

Run: pytest tests/test_faults.py   (no network)
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _pipeline import REPO, run, set_params

from fan_timeline.simulate.cli import simulate

pytestmark = pytest.mark.slow

INGEST = [sys.executable, str(REPO / "stages" / "ingest.py")]


def env() -> dict[str, str]:
    return {**os.environ, "DVC_NO_ANALYTICS": "1", "HF_HUB_OFFLINE": "1",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    """Two simulated games in a world-readable directory (the namespace tests run as `nobody`)."""
    root = tmp_path_factory.mktemp("raw")
    simulate(root / "sample", 2, 5)
    for p in [root, *root.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    for parent in root.parents:   # pytest's base temp dir is 0700
        if parent == Path("/tmp") or parent == parent.parent:
            break
        parent.chmod(parent.stat().st_mode | 0o755)
    return root / "sample"


def digests(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


def ingest_cmd(raw: Path, out: Path) -> list[str]:
    return [*INGEST, str(raw), str(out / "interim"), str(out / "ingest.json"), "--params", str(REPO / "params.yaml")]


@pytest.fixture(scope="module")
def reference(raw, tmp_path_factory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("reference")
    subprocess.run(ingest_cmd(raw, out), check=True, env=env(), capture_output=True)
    ref = digests(out / "interim")
    assert set(ref) == {"games.parquet", "plays.parquet", "comments.parquet", "gold.jsonl", "rejected.jsonl"}
    return ref


def kill_when_writing(cmd: list[str], watch: Path, delay_s: float, cwd: Path | None = None) -> bool:
    """Start `cmd` (own process group); as soon as anything appears in `watch`, wait `delay_s` and
    SIGKILL the group. True if it was killed, False if it finished first."""
    before = set(watch.iterdir()) if watch.is_dir() else set()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        while proc.poll() is None:
            if watch.is_dir() and set(watch.iterdir()) - before:
                time.sleep(delay_s)
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return proc.returncode == -signal.SIGKILL
            time.sleep(0.0005)
        return False
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.mark.parametrize("delay_ms", [0, 1, 3, 10, 30])
def test_killed_ingest_leaves_no_partial_output(raw, reference, tmp_path, delay_ms):
    out = tmp_path / "out"
    out.mkdir()
    killed = kill_when_writing(ingest_cmd(raw, out), out, delay_ms / 1000)
    interim = out / "interim"
    if interim.exists():   # it got as far as the rename: then it is the complete output
        assert digests(interim) == reference
    else:
        assert killed
    # What a kill leaves behind is only a hidden temp sibling, which nothing reads.
    assert all(p.name.startswith(".") for p in out.iterdir() if p.name not in ("interim", "ingest.json"))


def test_killed_dvc_repro_is_not_recorded_as_done(pipeline_run, tmp_path):
    repo = pipeline_run.copy(tmp_path / "repo")   # ingest ran and is committed
    set_params(repo, ingest={"reaction_lag_s": 20})   # ingest must rerun
    killed = kill_when_writing(["dvc", "repro", "ingest"], repo / "data", 0.0, cwd=repo)
    assert killed
    status = run(["dvc", "status", "ingest"], repo)
    assert "ingest" in status and "changed" in status, status   # DVC does not accept it as up to date
    interim = repo / "data" / "interim"
    assert not interim.exists() or set(digests(interim)) == {
        "games.parquet", "plays.parquet", "comments.parquet", "gold.jsonl", "rejected.jsonl"}


def processes_running(marker: str) -> list[str]:
    """Command lines of the live processes (not zombies) that mention `marker` or run inside it."""
    out = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if (marker in cmdline or cwd.startswith(marker)) and state != "Z":
            out.append(f"{proc.name}: {cmdline}")
    return out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_killed_repro_leaves_no_trainer_behind_and_the_next_run_is_not_refused(tmp_path, pipeline_run):
    # the shared run (its tiny model: the processes matter here, not the weights), training again
    # from no checkpoint in 2 processes, far longer than it will be let run
    repo = pipeline_run.copy(tmp_path / "repo")
    shutil.rmtree(repo / "models" / "checkpoints")
    set_params(repo, train_qlora={"nproc": 2, "grad_accum": 2, "max_steps": 400, "lora_layers": 2,
                                  "val_examples": 2, "checkpoint_every": 1, "calibration_windows": 1})
    proc = subprocess.Popen(["dvc", "repro", "train_qlora"], cwd=repo, env=env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        # the stage, the torchrun agent and its two workers are up (the workers in sessions of their own:
        # killing the group alone left them training)
        while len([c for c in processes_running(str(repo)) if "train_qlora.py" in c]) < 4:
            assert proc.poll() is None and time.monotonic() < deadline, "training did not start"
            time.sleep(0.2)
        while not any((repo / "models" / "checkpoints").glob("step-*")):
            assert proc.poll() is None and time.monotonic() < deadline, "no checkpoint written"
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        for _ in range(50):
            if not processes_running(str(repo)):
                break
            time.sleep(0.1)
        assert processes_running(str(repo)) == []
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    # the lock died with its holder: the next run is not refused
    set_params(repo, train_qlora={"max_steps": 3})
    assert "train_qlora: 3 steps" in run(["dvc", "repro", "train_qlora"], repo)


def test_a_second_run_on_the_same_checkpoints_is_refused_naming_the_first(tmp_path):
    from fan_timeline.process import Busy, exclusive

    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from fan_timeline.process import exclusive\n"
        f"with exclusive({str(tmp_path)!r}, 'train_qlora'):\n    print('held', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True, env=env())
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(Busy, match=rf"{tmp_path} is in use by pid {holder.pid} on .*another train_qlora"):
            with exclusive(tmp_path, "train_qlora"):
                pass
    finally:
        holder.kill()
        holder.wait()
    with exclusive(tmp_path, "train_qlora"):   # released when its holder died
        pass


def unshare_works(*flags: str) -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", *flags, "true"], capture_output=True).returncode == 0


def assert_one_line_failure(proc: subprocess.CompletedProcess, stage: str, path: Path, cause: str) -> str:
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith(f"{stage} failed: {path}") and cause in line, line
    return line


def test_disk_full_is_one_clear_line(raw, tmp_path):
    if not unshare_works("--user", "--map-root-user", "--mount"):
        pytest.skip("needs unprivileged user + mount namespaces (unshare) to mount a tiny tmpfs")
    out = tmp_path / "full"
    out.mkdir()
    script = f'mount -t tmpfs -o size=64k none "{out}" && exec "$@"'
    proc = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script, "sh",
                           *ingest_cmd(raw, out)], env=env(), capture_output=True, text=True)
    line = assert_one_line_failure(proc, "ingest", out / "interim", "no space left on device")
    assert ".tmp" not in line   # the output's own name, not our temporary sibling's


def test_read_only_output_is_one_clear_line(raw, tmp_path):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    cmd = ingest_cmd(raw, out)
    if os.geteuid() == 0:   # root ignores the mode; a user namespace without a uid map runs as nobody
        if not unshare_works("--user"):
            pytest.skip("running as root and no user namespaces: a read-only mode restricts nothing")
        cmd = ["unshare", "--user", *cmd]
    try:
        proc = subprocess.run(cmd, env=env(), capture_output=True, text=True)
    finally:
        out.chmod(0o755)
    line = assert_one_line_failure(proc, "ingest", out / "interim", "permission denied")
    assert ".tmp" not in line and not (out / "interim").exists()
