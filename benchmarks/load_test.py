"""A bounded load test of the real server: `fan-timeline serve` on a loopback port, called over HTTP.

    python benchmarks/load_test.py                       # models/export if present, else the embedded base model
    python benchmarks/load_test.py --model embedded:SmolLM2-135M-Instruct --requests 9 --json load.json

Three phases against one server started with `--max-queue Q` (default 2), each bounded by a
fixed number of requests and a deadline, so the run stops by itself:

1. windows: `--windows-requests` POST /v1/windows (read, align, window; no generation) of the
   sample games, `--windows-concurrency` at a time (default Q + 1: reading a game takes the
   queue's worker too, and a request is admitted, or refused, before its body is read).
2. timeline: `--requests` POST /v1/timeline of one window each (`windows: [k]` of a sample game,
   k and the game changing per request) at the documented concurrency Q + 1 (one generating, Q
   waiting): every request must get a 200; no request is started after `--duration` seconds.
3. overload: `--burst` timeline requests at once, more than Q + 1: the excess must be refused at
   once with 503 + Retry-After, the rest answered, none time out, and /health answers afterwards.

Prints a markdown table (throughput, p50/p95 latency, answers by status) and writes JSON
(`--json`). Exit 1 when a criterion above fails. The server is a subprocess, ended by its PID.
No network beyond loopback.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
EMBEDDED = "embedded:SmolLM2-135M-Instruct"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: str, port: int, max_queue: int, batch_size: int, log_path: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "HF_HUB_OFFLINE": "1"}
    env.pop("FAN_TIMELINE_API_KEY", None)
    exe = Path(sys.executable).with_name("fan-timeline")
    cmd = [str(exe) if exe.is_file() else "fan-timeline", "serve", "--model", model, "--host", "127.0.0.1",
           "--port", str(port), "--max-queue", str(max_queue), "--batch-size", str(batch_size),
           "--samples", str(REPO / "data" / "raw" / "sample")]
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log_path.open("w"), stderr=subprocess.STDOUT)


def wait_healthy(client: httpx.Client, proc: subprocess.Popen, timeout_s: float) -> float:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout_s:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode} before answering /health")
        try:
            if client.get("/health", timeout=2).status_code == 200:
                return time.perf_counter() - t0
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"no /health within {timeout_s:.0f} s")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)     # uvicorn shuts down gracefully
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _request(client: httpx.Client, path: str, body: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    t0 = time.perf_counter()
    try:
        r = client.post(path, json=body, timeout=timeout_s)
    except httpx.TimeoutException:
        return {"status": "timeout", "seconds": time.perf_counter() - t0}
    except httpx.TransportError as exc:
        return {"status": f"error:{type(exc).__name__}", "seconds": time.perf_counter() - t0}
    out: dict[str, Any] = {"status": r.status_code, "seconds": time.perf_counter() - t0}
    if r.status_code == 503:
        out["retry_after"] = r.headers.get("retry-after")
    elif r.status_code == 200 and path == "/v1/timeline":
        g = r.json()["generation"]
        out["new_tokens"] = g["new_tokens"]
        out["valid"] = all(w["valid"] for w in r.json()["windows"])
    return out


def run_phase(client: httpx.Client, name: str, path: str, bodies: list[dict[str, Any]], concurrency: int,
              duration_s: float, timeout_s: float) -> dict[str, Any]:
    """`bodies` sent by `concurrency` workers; a worker starts no request after `duration_s`."""
    results: list[dict[str, Any]] = []
    lock = threading.Lock()
    queue = list(bodies)
    t0 = time.perf_counter()

    def worker() -> None:
        while True:
            with lock:
                if not queue or time.perf_counter() - t0 > duration_s:
                    return
                body = queue.pop(0)
            r = _request(client, path, body, timeout_s)
            with lock:
                results.append(r)

    with ThreadPoolExecutor(concurrency) as pool:
        for _ in range(concurrency):
            pool.submit(worker)
    wall = time.perf_counter() - t0
    return summarise(name, path, concurrency, len(bodies), results, wall)


def run_burst(client: httpx.Client, path: str, bodies: list[dict[str, Any]], timeout_s: float) -> dict[str, Any]:
    """All `bodies` at once (a barrier releases them together)."""
    barrier = threading.Barrier(len(bodies))

    def one(body: dict[str, Any]) -> dict[str, Any]:
        barrier.wait()
        return _request(client, path, body, timeout_s)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(len(bodies)) as pool:
        results = list(pool.map(one, bodies))
    return summarise("overload", path, len(bodies), len(bodies), results, time.perf_counter() - t0)


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def summarise(name: str, path: str, concurrency: int, planned: int, results: list[dict[str, Any]],
              wall_s: float) -> dict[str, Any]:
    ok = [r["seconds"] for r in results if r["status"] == 200]
    refused = [r for r in results if r["status"] == 503]
    return {
        "phase": name, "route": path, "concurrency": concurrency, "planned": planned, "sent": len(results),
        "wall_s": round(wall_s, 1), "status": dict(Counter(str(r["status"]) for r in results)),
        "ok_per_min": round(60 * len(ok) / wall_s, 2) if wall_s else 0.0,
        "p50_s": round(_pct(ok, 50), 2) if ok else None, "p95_s": round(_pct(ok, 95), 2) if ok else None,
        "max_s": round(max(r["seconds"] for r in results), 2) if results else None,
        "refused_max_s": round(max(r["seconds"] for r in refused), 3) if refused else None,
        "retry_after": sorted({r.get("retry_after") for r in refused}, key=str),
        "new_tokens": sum(r.get("new_tokens", 0) for r in results),
        "invalid_outputs": sum(1 for r in results if r.get("valid") is False),
    }


def check(phases: dict[str, dict[str, Any]], max_queue: int, health_after: int) -> list[str]:
    """The pass criteria; each failure as a sentence."""
    fails = []
    for name in ("windows", "timeline"):
        p = phases[name]
        if p["status"] != {"200": p["sent"]}:
            fails.append(f"{name}: not every request got a 200 at concurrency {p['concurrency']}: {p['status']}")
    if phases["timeline"]["invalid_outputs"]:
        fails.append("timeline: a window's output was not schema-valid")
    o = phases["overload"]
    st = o["status"]
    if st.get("503", 0) < 1:
        fails.append(f"overload: no 503 for {o['sent']} requests at once against a queue of {max_queue}")
    if set(st) - {"200", "503"}:
        fails.append(f"overload: answers other than 200 and 503 (timeouts, errors, other 5xx): {st}")
    if st.get("200", 0) < 1:
        fails.append("overload: no request was served")
    if None in o["retry_after"]:
        fails.append("overload: a 503 came without Retry-After")
    if o["refused_max_s"] is not None and o["refused_max_s"] > 5:
        fails.append(f"overload: a refusal took {o['refused_max_s']} s (it should be immediate)")
    if health_after != 200:
        fails.append(f"/health answered {health_after} after the overload")
    return fails


def table(phases: dict[str, dict[str, Any]]) -> str:
    lines = ["| phase | route | concurrency | requests sent | answers | served/min | p50 | p95 | max | "
             "503 Retry-After |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for p in phases.values():
        answers = ", ".join(f"{n}× {s}" for s, n in sorted(p["status"].items()))
        ra = ", ".join(f"{x} s" for x in p["retry_after"]) or "–"

        def s(v: float | None) -> str:
            return "–" if v is None else f"{v:.2f} s"
        lines.append(f"| {p['phase']} | {p['route']} | {p['concurrency']} | {p['sent']}/{p['planned']} | {answers} | "
                     f"{p['ok_per_min']:.1f} | {s(p['p50_s'])} | {s(p['p95_s'])} | {s(p['max_s'])} | {ra} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help=f"default: models/export if present, else {EMBEDDED}")
    parser.add_argument("--max-queue", type=int, default=2, help="the server's --max-queue")
    parser.add_argument("--batch-size", type=int, default=1, help="the server's --batch-size")
    parser.add_argument("--windows-requests", type=int, default=48)
    parser.add_argument("--windows-concurrency", type=int, help="default: --max-queue + 1")
    parser.add_argument("--requests", type=int, default=9, help="timeline requests (one window each) in phase 2")
    parser.add_argument("--duration", type=float, default=120, help="phase 2 starts no request after this (s)")
    parser.add_argument("--burst", type=int, default=8, help="requests at once in phase 3 (> max-queue + 1)")
    parser.add_argument("--timeout", type=float, default=240, help="per request (s): longer counts as a timeout")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    args.windows_concurrency = args.windows_concurrency or args.max_queue + 1
    if args.burst <= args.max_queue + 1:
        parser.error("--burst must exceed --max-queue + 1 to overload the server")
    model = args.model or ("models/export" if (REPO / "models" / "export" / "config.json").is_file() else EMBEDDED)
    port = _free_port()
    log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"fan-timeline-load-{port}.log"
    proc = start_server(model, port, args.max_queue, args.batch_size, log_path)
    print(f"server: PID {proc.pid}, http://127.0.0.1:{port}, model {model}, --max-queue {args.max_queue}, "
          f"log {log_path}", file=sys.stderr)
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", limits=limits) as client:
            startup_s = wait_healthy(client, proc, 300)
            ids = [s["id"] for s in client.get("/v1/samples").json()]
            samples = {i: client.get(f"/v1/samples/{i}").json() for i in ids}
            n_windows = {i: len(client.post("/v1/windows", json=samples[i], timeout=args.timeout).json()["windows"])
                         for i in ids}
            windows_bodies = [samples[ids[k % len(ids)]] for k in range(args.windows_requests)]

            def timeline_body(k: int) -> dict[str, Any]:
                game = ids[k % len(ids)]
                return {**samples[game], "windows": [(5 * k + 3) % n_windows[game]]}

            phases: dict[str, dict[str, Any]] = {}
            print("phase 1: /v1/windows …", file=sys.stderr)
            phases["windows"] = run_phase(client, "windows", "/v1/windows", windows_bodies, args.windows_concurrency,
                                          args.duration, args.timeout)
            print("phase 2: /v1/timeline at the documented concurrency …", file=sys.stderr)
            phases["timeline"] = run_phase(client, "timeline", "/v1/timeline",
                                           [timeline_body(k) for k in range(args.requests)], args.max_queue + 1,
                                           args.duration, args.timeout)
            print("phase 3: overload …", file=sys.stderr)
            phases["overload"] = run_burst(client, "/v1/timeline",
                                           [timeline_body(100 + k) for k in range(args.burst)], args.timeout)
            health = client.get("/health", timeout=10)
            queue = health.json().get("queue") if health.status_code == 200 else None
    finally:
        stop_server(proc)
    fails = check(phases, args.max_queue, health.status_code)
    result = {"model": model, "max_queue": args.max_queue, "batch_size": args.batch_size,
              "documented_concurrency": args.max_queue + 1, "startup_s": round(startup_s, 1),
              "phases": phases, "health_after": health.status_code, "queue_after": queue,
              "server_exit": proc.returncode, "failures": fails,
              "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}}
    print(f"\nmodel {model}, --max-queue {args.max_queue} (documented concurrency {args.max_queue + 1}), "
          f"--batch-size {args.batch_size}, {os.cpu_count()} CPUs, server up in {startup_s:.0f} s\n")
    print(table(phases))
    print(f"\n/health after the overload: {health.status_code} {queue}")
    print("PASS" if not fails else "FAIL:\n- " + "\n- ".join(fails))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
