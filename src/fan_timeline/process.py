"""Process hygiene for long stages: children that die with their parent, and one run per directory.

- `die_with_parent`: torchrun starts its workers in sessions of their own, so killing `dvc repro`'s
  process group (Ctrl-C twice, `kill -9 -PGID`, a CI timeout) used to leave them training with
  PPID 1, writing checkpoints under a run started after the kill. A process that calls this is
  sent SIGKILL by the kernel when its parent exits (Linux `PR_SET_PDEATHSIG`; elsewhere a no-op).
- `exclusive`: a lock on a directory a run writes (the checkpoints), held for the run's life and
  released by the kernel when its holder dies, however it dies. A second run is refused with a
  message naming the holder (pid, command, since when) instead of training beside it.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import hashlib
import os
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

PR_SET_PDEATHSIG = 1   # <linux/prctl.h>


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Have the kernel send `sig` to this process when its parent exits (Linux only)."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:   # the parent died before the call: nobody will signal us
        os.kill(os.getpid(), sig)


class Busy(RuntimeError):
    """Another live process holds the lock."""


def lock_path(directory: str | Path) -> Path:
    """Where the lock of `directory` lives: beside no output (a DVC output must not hold it), in the
    temp directory, named after the directory's absolute path."""
    key = hashlib.sha256(str(Path(directory).resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"fan-timeline-{key}.lock"


@contextlib.contextmanager
def exclusive(directory: str | Path, what: str) -> Iterator[None]:
    """Hold `directory`'s lock for the `with` block; Busy names the holder when another has it."""
    path = lock_path(directory)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "an unknown process"
            raise Busy(f"{directory} is in use by {holder}: another {what} runs there; wait for it to "
                       f"end or stop it") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, (f"pid {os.getpid()} on {socket.gethostname()} ({' '.join(sys.argv)[:300]}), "
                       f"since {time.strftime('%Y-%m-%d %H:%M:%S')}\n").encode(), 0)
        yield
    finally:
        os.close(fd)   # closing releases the lock (and so does the holder's death)
