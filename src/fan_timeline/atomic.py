"""Write outputs so that a killed process never leaves a partial file or directory behind.

Everything a stage declares as an output goes through these: write to a temporary sibling, then
`os.replace` it into place, so DVC and the next stage see either the old output or the new one.
A directory output is written whole into a temporary directory and renamed once at the end.

`run_stage` wraps each stage's main(): an OSError (disk full, no permission, read-only file
system) ends the stage with one line naming the path and the cause, and exit status 1.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, TypeVar

# What a user can do about the OS errors a stage meets while reading inputs or writing outputs.
_OS_ERROR_HINTS = {
    errno.ENOSPC: "no space left on device: free space on that file system (or move the output or "
                  "DVC cache elsewhere), then rerun",
    errno.EDQUOT: "disk quota exceeded: free space or raise the quota, then rerun",
    errno.EFBIG: "file too large for this file system or the process's file-size limit (ulimit -f)",
    errno.EACCES: "permission denied: make this path and its directory writable (readable, for "
                  "inputs) by the user running the stage",
    errno.EPERM: "operation not permitted: check the owner and mode of this path and its directory",
    errno.EROFS: "read-only file system: run from a writable checkout",
    errno.ENOENT: "no such file or directory: run the stages before this one (`dvc repro`) or "
                  "check the path",
}


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _tmp_sibling(path: Path, directory: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    # mkdtemp/mkstemp create 0700/0600; the output should get the modes a plain write would (umask).
    if directory:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
        os.chmod(tmp, 0o777 & ~_umask())
        return tmp
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, 0o666 & ~_umask())
    os.close(fd)
    return Path(name)


def os_error_message(exc: OSError) -> str:
    """`<path>: <cause and what to do>` for an OSError, in one line."""
    where = exc.filename if exc.filename is not None else "(path unknown)"
    if exc.filename2 is not None:
        where = f"{where} -> {exc.filename2}"
    cause = _OS_ERROR_HINTS.get(exc.errno) or exc.strerror or str(exc) or type(exc).__name__
    return f"{where}: {cause}"


def run_stage(name: str, main: Callable[[], int]) -> int:
    """Run a stage's main(); an OSError becomes `<name> failed: <path>: <cause>` on stderr, exit 1."""
    try:
        return main()
    except OSError as exc:
        print(f"{name} failed: {os_error_message(exc)}", file=sys.stderr)
        return 1


def _public_path(name: Any, target: Path, tmp: Path | None) -> str:
    """The path a user knows for one inside our temporary sibling (`.plays.parquet.x1y2.tmp` ->
    `plays.parquet`); the target itself when the error names no path (f.write, pyarrow)."""
    if name is None:
        return str(target)
    path = Path(os.fsdecode(name))
    if tmp is not None and path.is_relative_to(tmp):
        return str(target / path.relative_to(tmp))
    if path.parent == target.parent and path.name.startswith(f".{target.name}.") and path.name.endswith(".tmp"):
        return str(target)   # creating the temp sibling itself failed
    return str(path)


@contextmanager
def _naming(target: Path, tmp: list[Path]) -> Iterator[None]:
    """Re-raise an OSError met while writing `target` naming `target`, not our temp path."""
    try:
        yield
    except OSError as exc:
        public = _public_path(exc.filename, target, tmp[0] if tmp else None)
        if public != exc.filename:
            raise OSError(exc.errno, exc.strerror or str(exc), public) from exc
        raise


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary file path; on success it replaces `path`, on error it is removed."""
    path = Path(path)
    made: list[Path] = []
    with _naming(path, made):
        tmp = _tmp_sibling(path)
        made.append(tmp)
        try:
            yield tmp
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)


def replace_dir(tmp: Path, target: Path) -> None:
    """Move a finished temp dir onto `target` (os.replace cannot replace a non-empty directory)."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
    os.replace(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary directory; on success it replaces directory `path` as a whole."""
    path = Path(path)
    made: list[Path] = []
    with _naming(path, made):
        tmp = _tmp_sibling(path, directory=True)
        made.append(tmp)
        try:
            yield tmp
            replace_dir(tmp, path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    n = 0
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
            n += 1
    return n


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    with Path(path).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


T = TypeVar("T")


def spread_subset(rows: list[T], n: int) -> list[T]:
    """A fixed, spread-out subset of `n` rows (0 = all): the same rows every run, from every part
    of the file (e.g. the val pairs of the val loss, the windows the slow base model decodes)."""
    if n <= 0 or n >= len(rows):
        return list(rows)
    step = len(rows) / n
    return [rows[int(i * step)] for i in range(n)]
