"""A hostile probe of the real server: many huge bodies at once while /health is polled.

    python benchmarks/hostile_probe.py --out benchmarks/results/hostile_probe_cpu.json
    python benchmarks/hostile_probe.py --requests 16 --plays 5000 --comments 100000 --polls 2500

Starts `fan-timeline serve` (the embedded base model unless `--model`; the server's own default
--max-queue, body limit and in-flight budget unless given) on a free loopback port, then sends
`--requests` POST /v1/timeline at once, each a canonical game at the API's bounds (5,000 plays,
100,000 comments: ~43 MB of JSON; one window generated), while a monitor polls /health every
`--poll-interval` s until the burst is over and at least `--polls` polls were made. It records:

- the server's peak resident memory during the burst (VmHWM, reset through /proc/PID/clear_refs
  after start-up, so the model load's peak does not count; also sampled VmRSS);
- each request's answer and the time from its first byte to the status line. `--client
  reading` (default) sends over a raw socket and looks for an answer while it sends, as HTTP/1.1
  asks of a client sending a body (RFC 7230 6.5): the time to a 503 is the server's. `--client
  httpx` sends the whole body before it reads, as httpx and most clients do: the time to a 503
  is its upload, the rest of which the server reads and discards to keep the connection usable;
- /health latency (p50, p99, max; over the burst alone too) and every failed poll, with its
  exception and cause. `--poll-connection`: the polls' own keep-alive connection (a load
  balancer's way), a new connection per poll, or the pool the burst's httpx requests use;
- answers in 5xx other than 503 + Retry-After.

Targets (exit 1 when one is missed): peak resident < 2.5 GB, every 503 within 1 s, /health p99
< 0.5 s, no failed poll, no other 5xx. The server is a subprocess, ended by its PID. No network
beyond loopback.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import select
import socket
import statistics
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from load_test import EMBEDDED, _free_port, stop_server, wait_healthy  # same folder
from train_throughput import git_commit, machine

from fan_timeline import sport

REPO = Path(__file__).resolve().parents[1]
TARGETS = {"peak_rss_bytes": 2.5e9, "refusal_s": 1.0, "health_p99_s": 0.5}


def canonical_game(n_plays: int, n_comments: int, seed: int = 0) -> dict[str, Any]:
    """A valid canonical /v1/timeline body: plays in game order over four quarters, comments of
    48-83 words on random clocks, window 0 to generate."""
    rng = random.Random(seed)
    plays, home, away = [], 0, 0
    per_q = -(-n_plays // 4)
    for i in range(n_plays):
        q, k = divmod(i, per_q)
        team = "HAR" if i % 2 else "MSA"
        points = rng.choice((2, 3)) if rng.random() < 0.08 else 0
        home, away = (home + points, away) if team == "HAR" else (home, away + points)
        plays.append({"clock": sport.clock_label(q + 1, 720 * (1 - (k + 1) / (per_q + 1))),
                      "event_type": "made_shot" if points else "missed_shot", "team": team,
                      "player": f"Player {i % 13} Name", "points": points, "score_home": home, "score_away": away,
                      "text": f"Player {i % 13} Name {'makes' if points else 'misses'} a jump shot from 17 ft"})
    words = "what a shot lets go defense is trash ref you are blind clutch unreal brick again timeout now".split()
    comments = [{"body": " ".join(rng.choice(words) for _ in range(rng.randint(48, 83))),
                 "clock": sport.clock_label(rng.randint(1, 4), rng.uniform(0, 720)),
                 "flair_team": rng.choice(("HAR", "MSA", None)), "score": rng.randint(-5, 500),
                 "comment_id": f"c{j:07d}"} for j in range(n_comments)]
    return {"game": {"game_id": "probe", "home": {"team": "HAR", "name": "Harbor Herons"},
                     "away": {"team": "MSA", "name": "Mesa Suns"}},
            "plays": plays, "comments": comments, "windows": [0]}


def start_server(args: argparse.Namespace, port: int, log_path: Path):
    import subprocess

    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "HF_HUB_OFFLINE": "1"}
    env.pop("FAN_TIMELINE_API_KEY", None)
    exe = Path(sys.executable).with_name("fan-timeline")
    cmd = [str(exe) if exe.is_file() else "fan-timeline", "serve", "--model", args.model, "--host", "127.0.0.1",
           "--port", str(port), "--batch-size", "1", "--samples", str(REPO / "data" / "raw" / "sample")]
    for flag in ("max_queue", "max_body_mb", "max_inflight_mb"):
        if getattr(args, flag) is not None:
            cmd += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
    return cmd, subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log_path.open("w"), stderr=subprocess.STDOUT)


def status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


class Monitor:
    """Polls /health and samples the server's VmRSS, in two threads, until `stop()` and at least
    `min_polls` polls. The polls go over `client`'s connections: its own keep-alive connection (a
    load balancer's way), or the pool the burst's requests use; with no client, a new connection
    each."""

    def __init__(self, url: str, client: httpx.Client | None, pid: int, min_polls: int, interval_s: float,
                 timeout_s: float):
        self.url, self.client, self.pid = url, client, pid
        self.min_polls, self.interval_s, self.timeout_s = min_polls, interval_s, timeout_s
        self.polls: list[dict[str, Any]] = []
        self.max_rss_kb = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._poll, daemon=True),
                         threading.Thread(target=self._sample, daemon=True)]

    def __enter__(self) -> Monitor:
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _poll(self) -> None:
        while not (self._stop.is_set() and len(self.polls) >= self.min_polls):
            t0 = time.perf_counter()
            try:
                if self.client is None:
                    status: int | str = httpx.get(self.url + "/health", timeout=self.timeout_s).status_code
                else:
                    status = self.client.get(self.url + "/health", timeout=self.timeout_s).status_code
                error = None
            except httpx.TimeoutException as exc:
                status, error = "timeout", repr(exc)
            except httpx.HTTPError as exc:
                status, error = "error", f"{type(exc).__name__}: {exc} (cause: {exc.__cause__!r})"
            self.polls.append({"at_s": t0, "seconds": time.perf_counter() - t0, "status": status, "error": error})
            time.sleep(self.interval_s)

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                self.max_rss_kb = max(self.max_rss_kb, status_kb(self.pid, "VmRSS"))
            except (OSError, KeyError):
                return
            time.sleep(0.02)


def _answer(status: int, retry_after: str | None, text: str, headers_s: float, total_s: float) -> dict[str, Any]:
    out: dict[str, Any] = {"status": status, "seconds": round(headers_s, 3), "total_s": round(total_s, 3)}
    if status == 503:
        out["retry_after"] = retry_after
    if status != 200:
        out["detail"] = text[:300]
    return out


def post_reading(url: str, body: bytes, barrier: threading.Barrier, timeout_s: float) -> dict[str, Any]:
    """One request of the burst over a raw socket that stops sending when an answer comes."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout_s) as sock:
        head = (f"POST /v1/timeline HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
                f"content-length: {len(body)}\r\n\r\n").encode()
        barrier.wait()
        t0 = time.perf_counter()
        try:
            sock.sendall(head)
            view, sent = memoryview(body), 0
            while sent < len(body) and not select.select([sock], [], [], 0)[0]:
                sent += sock.send(view[sent:sent + 2**20])
            data = sock.recv(65536)
            headers_s = time.perf_counter() - t0
            while b"\r\n\r\n" not in data:
                more = sock.recv(65536)
                if not more:
                    raise ConnectionError(f"closed after {data[:80]!r}")
                data += more
        except OSError as exc:
            return {"status": "error", "seconds": time.perf_counter() - t0, "error": f"{type(exc).__name__}: {exc}"}
        head_text, _, rest = data.partition(b"\r\n\r\n")
        status_line, *lines = head_text.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines)}
        while len(rest) < int(headers.get("content-length", 0)):
            rest += sock.recv(65536)
    return _answer(int(status_line.split()[1]), headers.get("retry-after"), rest.decode("utf-8", "replace"),
                   headers_s, time.perf_counter() - t0)


def post_httpx(client: httpx.Client, url: str, body: bytes, barrier: threading.Barrier,
               timeout_s: float) -> dict[str, Any]:
    """One request of the burst through httpx, which sends the whole body before it reads."""
    barrier.wait()
    t0 = time.perf_counter()
    try:
        with client.stream("POST", url + "/v1/timeline", content=body, timeout=timeout_s,
                           headers={"content-type": "application/json"}) as r:
            headers_s = time.perf_counter() - t0
            text = r.read().decode("utf-8", "replace")
    except httpx.TimeoutException as exc:
        return {"status": "timeout", "seconds": time.perf_counter() - t0, "error": repr(exc)}
    except httpx.HTTPError as exc:
        return {"status": "error", "seconds": time.perf_counter() - t0,
                "error": f"{type(exc).__name__}: {exc} (cause: {exc.__cause__!r})"}
    return _answer(r.status_code, r.headers.get("retry-after"), text, headers_s, time.perf_counter() - t0)


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=EMBEDDED)
    parser.add_argument("--max-queue", type=int, help="the server's --max-queue (default: its default)")
    parser.add_argument("--max-body-mb", type=float, help="the server's --max-body-mb (default: its default)")
    parser.add_argument("--max-inflight-mb", type=float, help="the server's --max-inflight-mb (default: its default)")
    parser.add_argument("--requests", type=int, default=16, help="bodies sent at once")
    parser.add_argument("--plays", type=int, default=5000)
    parser.add_argument("--comments", type=int, default=100_000)
    parser.add_argument("--polls", type=int, default=2500, help="/health polls, at least")
    parser.add_argument("--poll-interval", type=float, default=0.02, help="pause between polls (s)")
    parser.add_argument("--poll-timeout", type=float, default=30, help="a poll slower than this is a failure")
    parser.add_argument("--client", choices=("reading", "httpx"), default="reading",
                        help="reading: the burst looks for an answer while it sends; httpx: it sends whole bodies")
    parser.add_argument("--poll-connection", choices=("own", "shared", "new"), default="own",
                        help="own: the polls keep one connection of their own; shared: they take connections from "
                             "the pool of the burst's httpx requests (--client httpx); new: a new connection each")
    parser.add_argument("--timeout", type=float, default=900, help="per burst request (s)")
    parser.add_argument("--out", type=Path, help="write the results here (JSON)")
    args = parser.parse_args()
    if args.poll_connection == "shared" and args.client != "httpx":
        parser.error("--poll-connection shared shares the burst's httpx pool: give --client httpx")

    body = json.dumps(canonical_game(args.plays, args.comments), separators=(",", ":")).encode()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"fan-timeline-probe-{port}.log"
    cmd, proc = start_server(args, port, log_path)
    print(f"server: PID {proc.pid}, {url}, log {log_path}; body {len(body) / 1e6:.1f} MB", file=sys.stderr)
    try:
        with httpx.Client(base_url=url) as client:
            startup_s = wait_healthy(client, proc, 600)
            queue_before = client.get("/health").json()["queue"]
        baseline_kb = status_kb(proc.pid, "VmRSS")
        try:   # start the peak over from here: the model load's own peak is not the burst's
            Path(f"/proc/{proc.pid}/clear_refs").write_text("5")
            peak_from = "after start-up (clear_refs)"
        except OSError:
            peak_from = "process start (clear_refs refused)"
        barrier = threading.Barrier(args.requests)
        limits = httpx.Limits(max_connections=args.requests + 1, max_keepalive_connections=args.requests + 1)
        with httpx.Client(limits=limits) as shared, httpx.Client() as own:
            poll_client = {"own": own, "shared": shared, "new": None}[args.poll_connection]
            t0 = time.perf_counter()
            with Monitor(url, poll_client, proc.pid, args.polls, args.poll_interval, args.poll_timeout) as monitor:
                with ThreadPoolExecutor(args.requests) as pool:
                    answers = list(pool.map(
                        lambda _: (post_reading(url, body, barrier, args.timeout) if args.client == "reading" else
                                   post_httpx(shared, url, body, barrier, args.timeout)), range(args.requests)))
                burst_s = time.perf_counter() - t0
        peak_kb = status_kb(proc.pid, "VmHWM")
        with httpx.Client(base_url=url) as client:
            health_after = client.get("/health", timeout=30).json()
    finally:
        stop_server(proc)

    polls = monitor.polls
    ok_s = [p["seconds"] for p in polls if p["status"] == 200]
    refused = [a for a in answers if a["status"] == 503]
    other_5xx = [a for a in answers if isinstance(a["status"], int) and a["status"] >= 500 and a["status"] != 503]
    other_5xx += [p for p in polls if isinstance(p["status"], int) and p["status"] >= 500]
    failed_polls = [p for p in polls if p["status"] != 200]
    during = [p["seconds"] for p in polls if p["status"] == 200 and p["at_s"] < t0 + burst_s]
    result = {
        "command": "python " + " ".join(sys.argv), "server_command": " ".join(Path(c).name if i == 0 else c
                                                                           for i, c in enumerate(cmd)),
        "commit": git_commit(), "machine": machine("cpu"),
        "client": args.client, "poll_connection": args.poll_connection, "body_bytes": len(body), "plays": args.plays,
        "comments": args.comments, "requests": args.requests,
        "startup_s": round(startup_s, 1), "queue_before": queue_before, "burst_s": round(burst_s, 1),
        "rss_baseline_mib": round(baseline_kb / 1024), "rss_peak_mib": round(peak_kb / 1024),
        "rss_peak_from": peak_from, "rss_sampled_max_mib": round(monitor.max_rss_kb / 1024),
        "answers": dict(Counter(str(a["status"]) for a in answers)),
        "refusal_s": sorted(a["seconds"] for a in refused),
        "retry_after": sorted({a.get("retry_after") for a in refused}, key=str),
        "served_s": sorted(a["total_s"] for a in answers if a["status"] == 200),
        "other_answers": [a for a in answers if a["status"] not in (200, 503)],
        "health": {"polls": len(polls), "polls_during_burst": len(during), "failed": len(failed_polls),
                   "failures": Counter(p["error"] for p in failed_polls),
                   "p50_s": round(pct(ok_s, 50), 4) if ok_s else None,
                   "p99_s": round(pct(ok_s, 99), 4) if ok_s else None,
                   "max_s": round(max(ok_s), 3) if ok_s else None,
                   "during_burst_p99_s": round(pct(during, 99), 4) if during else None},
        "other_5xx": len(other_5xx), "health_after": health_after.get("queue"), "server_exit": proc.returncode,
    }
    fails = []
    if peak_kb * 1024 >= TARGETS["peak_rss_bytes"]:
        fails.append(f"peak resident {peak_kb / 2**20:.2f} GiB >= 2.5 GB")
    if refused and max(result["refusal_s"]) >= TARGETS["refusal_s"]:
        fails.append(f"a refusal took {max(result['refusal_s']):.2f} s")
    if None in result["retry_after"]:
        fails.append("a 503 came without Retry-After")
    if ok_s and result["health"]["p99_s"] >= TARGETS["health_p99_s"]:
        fails.append(f"/health p99 {result['health']['p99_s']:.3f} s")
    if failed_polls:
        fails.append(f"{len(failed_polls)} of {len(polls)} /health polls failed: {dict(result['health']['failures'])}")
    if other_5xx:
        fails.append(f"{len(other_5xx)} answers in 5xx other than 503")
    if result["other_answers"]:
        fails.append(f"answers other than 200 and 503: {result['other_answers']}")
    result["failures"] = fails
    h = result["health"]
    print(f"\n{args.requests} x {len(body) / 1e6:.1f} MB canonical bodies at once ({args.plays} plays, "
          f"{args.comments} comments), burst {burst_s:.1f} s, server up in {startup_s:.0f} s\n"
          f"answers: {result['answers']}; refusals in {', '.join(f'{s:.2f}' for s in result['refusal_s']) or '-'} s; "
          f"served in {', '.join(f'{s:.1f}' for s in result['served_s']) or '-'} s\n"
          f"resident: {result['rss_baseline_mib']} MiB before, peak {result['rss_peak_mib']} MiB "
          f"(sampled max {result['rss_sampled_max_mib']} MiB)\n"
          f"/health: {h['polls']} polls ({h['polls_during_burst']} during the burst), p50 {h['p50_s']} s, "
          f"p99 {h['p99_s']} s, max {h['max_s']} s, {h['failed']} failed; other 5xx: {len(other_5xx)}")
    print("PASS" if not fails else "FAIL:\n- " + "\n- ".join(fails))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
