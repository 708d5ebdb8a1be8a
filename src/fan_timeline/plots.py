"""The pipeline's plot files, written one way: rows of a table, drawn by dvc.yaml.

Training appends its curves while it runs (`Curves`: one TSV per metric, columns `step` and the
metric's name, the layout `dvc plots` reads); evaluate writes its tables whole (`write_table`: a
JSON list of rows). dvc.yaml titles each plot and says how it is drawn; nothing else does.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from fan_timeline import atomic


class Curves:
    """Training curves under `root`: metric `name` is `root/<name>.tsv`, one row per logged step.

    A run from scratch starts with `clear`; a run resumed from a checkpoint puts back the curves
    the checkpoint saved (`restore`), cut at its step, and appends from there."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def clear(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        self.root.mkdir(parents=True, exist_ok=True)

    def log(self, step: int, values: dict[str, float]) -> None:
        for name, value in values.items():
            path = self.root / f"{name}.tsv"
            header = "" if path.exists() else f"step\t{name}\n"
            with open(path, "a", encoding="utf-8") as f:
                f.write(f"{header}{step}\t{float(value)!r}\n")

    def save(self, dest: Path) -> None:
        """Copy the curves so far to `dest` (a checkpoint being written)."""
        if self.root.is_dir():
            shutil.copytree(self.root, dest)

    def restore(self, saved: Path, last_step: int) -> None:
        """The curves a checkpoint saved, without the rows logged after its step (a resumed run
        logs those steps again)."""
        self.clear()
        if not saved.is_dir():
            return
        for tsv in saved.glob("*.tsv"):
            header, *rows = tsv.read_text(encoding="utf-8").splitlines()
            kept = [row for row in rows if int(row.split("\t", 1)[0]) <= last_step]
            (self.root / tsv.name).write_text("\n".join([header, *kept]) + "\n", encoding="utf-8")

    def read(self, name: str) -> list[tuple[int, float]]:
        """(step, value) rows of one curve."""
        _, *rows = (self.root / f"{name}.tsv").read_text(encoding="utf-8").splitlines()
        return [(int(step), float(value)) for step, value in (row.split("\t") for row in rows)]


def write_table(path: str | os.PathLike, rows: list[dict[str, Any]]) -> None:
    """A plot's table, whole and atomically: a JSON list of rows with the same keys."""
    atomic.write_json(Path(path), rows)
