"""A bounded job queue: the server's work (reading a game, generating its timeline) off the event
loop, on one worker thread, one job at a time, with a bound on how many may wait.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any


class QueueFull(Exception):
    def __init__(self, retry_after_s: int, waiting: int):
        super().__init__(f"the job queue is full ({waiting} waiting); retry in {retry_after_s} s")
        self.retry_after_s = retry_after_s
        self.waiting = waiting


class JobQueue:
    """One worker thread runs submitted jobs one at a time, in arrival order; at most `max_waiting`
    jobs wait behind the running one, and `submit` refuses more with QueueFull.

    Jobs are not batched across requests: a request's windows are batched together, and the same
    request gets the same answer however busy the server is (padding next to other requests'
    prompts would change the numerics, and greedy decoding can follow).
    """

    def __init__(self, max_waiting: int):
        if max_waiting < 0:
            raise ValueError(f"max_waiting must be >= 0, not {max_waiting}")
        self.max_waiting = max_waiting
        self._jobs: deque[tuple[Callable[[], Any], Future]] = deque()
        self._cv = threading.Condition()
        self._running = False
        self._stopping = False
        self._done = 0
        self._mean_s: float | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="fan-timeline-jobs", daemon=True)
            self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        with self._cv:
            self._stopping = True
            while self._jobs:
                self._jobs.popleft()[1].cancel()
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def submit(self, job: Callable[[], Any]) -> Future:
        future: Future = Future()
        with self._cv:
            if self._stopping:
                raise RuntimeError("the job queue is stopped")
            busy = self._running or bool(self._jobs)
            if busy and len(self._jobs) >= self.max_waiting:
                raise QueueFull(self._retry_after_locked(), len(self._jobs))
            self._jobs.append((job, future))
            self._cv.notify()
        return future

    def _retry_after_locked(self) -> int:
        mean = self._mean_s if self._mean_s is not None else 30.0
        return max(1, math.ceil(mean * (len(self._jobs) + self._running)))

    def stats(self) -> dict[str, Any]:
        with self._cv:
            return {"running": int(self._running), "waiting": len(self._jobs), "max_waiting": self.max_waiting,
                    "done": self._done,
                    "mean_job_seconds": round(self._mean_s, 2) if self._mean_s is not None else None}

    def _work(self) -> None:
        while True:
            with self._cv:
                while not self._jobs and not self._stopping:
                    self._cv.wait()
                if self._stopping:
                    return
                job, future = self._jobs.popleft()
                if not future.set_running_or_notify_cancel():
                    continue
                self._running = True
            t0 = time.perf_counter()
            result: Any = None
            error: BaseException | None = None
            try:
                result = job()
            except BaseException as exc:  # noqa: BLE001 -- handed to the waiting request, which reports it
                error = exc
            seconds = time.perf_counter() - t0
            with self._cv:
                self._running = False
                self._done += 1
                self._mean_s = seconds if self._mean_s is None else 0.7 * self._mean_s + 0.3 * seconds
            # Only now does the waiting request learn the result: a client that sends its next request
            # as soon as it has its answer finds this job's slot free, and /health counts it done.
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)
