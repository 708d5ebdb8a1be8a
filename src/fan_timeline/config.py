"""Typed, validated params: one frozen dataclass per params.yaml section.

`load_section(IngestConfig, "params.yaml")` reads the section named by the class's `SECTION`,
rejects unknown keys (naming the key, the section and the closest known key), checks types, and
runs the class's own `validate()` for ranges. A typo is an error, never a silent default.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

C = TypeVar("C")


class ConfigError(ValueError):
    pass


def _check_type(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise ConfigError(f"{where}: {value!r} is not one of {list(typing.get_args(tp))}")
        return value
    if origin in (typing.Union, types.UnionType):
        errors = []
        for arm in typing.get_args(tp):
            try:
                return _check_type(value, arm, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(f"{where}: {value!r} does not fit {tp}")
    if tp is type(None):
        if value is not None:
            raise ConfigError(f"{where}: expected null, got {value!r}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__} {value!r}")
        (item_tp, *_) = typing.get_args(tp) or (Any,)
        return tuple(_check_type(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value))
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {type(value).__name__} {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {type(value).__name__} {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {type(value).__name__} {value!r}")
        return value
    raise TypeError(f"unsupported config type {tp} at {where}")


def from_dict(cls: type[C], data: dict[str, Any] | None, section: str) -> C:
    """Build config `cls` from a params section, with errors that name the section and key."""
    data = dict(data or {})
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    unknown = [k for k in data if k not in names]
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(key, names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(names)}"
        raise ConfigError(f"params.yaml section {section!r}: unknown key {key!r}{hint}")
    values = {k: _check_type(v, hints[k], f"params.yaml {section}.{k}") for k, v in data.items()}
    try:
        obj = cls(**values)
    except TypeError as exc:
        raise ConfigError(f"params.yaml section {section!r}: {exc}") from None
    problem = obj.validate() if hasattr(obj, "validate") else None
    if problem:
        raise ConfigError(f"params.yaml section {section!r}: {problem}")
    return obj


def read_params(path: str | Path = "params.yaml") -> dict[str, Any]:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path} not found (run from the repository root)") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level")
    return data


def load_section(cls: type[C], path: str | Path = "params.yaml") -> C:
    section = cls.SECTION  # type: ignore[attr-defined]
    params = read_params(path)
    if section not in params:
        raise ConfigError(f"{path}: missing section {section!r}")
    return from_dict(cls, params[section], section)


def as_dict(cfg: Any) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(cfg).items()}


# --- sections -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class IngestConfig:
    SECTION = "ingest"
    reaction_lag_s: float = 15.0
    """A comment posted at wall time t reacts to the game at t - lag (seconds)."""
    postgame_grace_s: float = 300.0
    """Comments up to this long after the final play still count as reactions to the game."""
    author_salt: str = "fan-timeline"
    """Salt of the stable author pseudonym hash; change it to unlink pseudonyms across releases."""

    def validate(self) -> str | None:
        if not 0 <= self.reaction_lag_s <= 300:
            return "reaction_lag_s must be within 0..300 seconds"
        if self.postgame_grace_s < 0:
            return "postgame_grace_s must be >= 0"
        return None


@dataclass(frozen=True)
class BuildSftConfig:
    SECTION = "build_sft"
    window_s: float = 180.0
    """Game-clock seconds per window (one prompt/completion pair each)."""
    overlap_s: float = 30.0
    """Overlap between consecutive windows; stride = window_s - overlap_s."""
    max_prompt_tokens: int = 768
    """Token budget of a rendered prompt; comments are trimmed to fit, plays never are."""
    max_comments: int = 10
    """Most relevant comments shown per window (before budget trimming)."""
    comment_tail_s: float = 60.0
    """Comments aligned up to this long after the window end still react to its last plays."""
    val_fraction: float = 0.17
    test_fraction: float = 0.17
    split_salt: str = "fan-timeline-split-v1"
    """Games are split by a hash of salt + game id; change the salt to draw a new split."""

    def validate(self) -> str | None:
        if self.window_s < 30:
            return "window_s must be >= 30"
        if not 0 <= self.overlap_s < self.window_s:
            return "overlap_s must be >= 0 and < window_s"
        if self.max_prompt_tokens < 128:
            return "max_prompt_tokens must be >= 128"
        if not (0 < self.val_fraction < 1 and 0 < self.test_fraction < 1
                and self.val_fraction + self.test_fraction < 1):
            return "val_fraction and test_fraction must be in (0, 1) and sum to < 1"
        return None


@dataclass(frozen=True)
class EvaluateConfig:
    SECTION = "evaluate"
    ts_tolerance_s: float = 20.0
    """A predicted entry matches a reference entry this many game seconds away or closer."""
    batch_size: int = 8
    """Windows generated together (sorted by length); more is faster per token, up to memory."""
    base_windows: int = 8
    """Test windows the untrained base model runs on (a fixed spread-out subset; 0 = all)."""
    free_max_new_tokens: int = 256
    """Budget of free (unconstrained) decoding; constrained decoding always gets the schema bound."""

    def validate(self) -> str | None:
        if self.ts_tolerance_s < 0:
            return "ts_tolerance_s must be >= 0"
        if self.batch_size < 1 or self.free_max_new_tokens < 16 or self.base_windows < 0:
            return "batch_size >= 1, free_max_new_tokens >= 16 and base_windows >= 0 are required"
        return None


@dataclass(frozen=True)
class ExportConfig:
    SECTION = "export"
    parity_prompts: int = 4
    """Test prompts whose constrained greedy outputs must be equal for merged and adapter model."""

    def validate(self) -> str | None:
        return "parity_prompts must be >= 1" if self.parity_prompts < 1 else None
