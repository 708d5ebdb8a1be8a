"""Typed, validated params: one frozen dataclass per params.yaml section.

`load_section(IngestConfig, "params.yaml")` reads the section named by the class's `SECTION`,
rejects unknown keys (naming the key, the section and the closest known key), checks types
(pydantic, strict: `packing: 1` or `lora_r: "8"` is an error, not a guess), and runs the class's
own `validate()` for ranges. A typo is an error, never a silent default.

The dataclasses are the one source of every default and its meaning: params.yaml ships exactly
these values (a test holds them equal), so a config built in code (tests, notebooks, benchmarks) is
the shipped recipe unless it says otherwise.

A section's `RUNTIME` keys change speed, memory or logs, never a result (threads, logging, batch
sizes of inference, read limits). params.yaml keeps them apart, under `runtime.<section>`, which no
stage of dvc.yaml tracks: changing one reruns nothing. `load_section` merges them back in and
refuses one written in the tracked section.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import pydantic
import yaml

from fan_timeline import schema, sport
from fan_timeline.tables import ReadLimits

C = TypeVar("C")


class ConfigError(ValueError):
    pass


@functools.cache
def _type_adapter(tp: Any) -> pydantic.TypeAdapter:
    # strict: no "1" for 1, no 1 for true; an int is still a float
    return pydantic.TypeAdapter(tp, config=pydantic.ConfigDict(strict=True))


def _check_type(value: Any, tp: Any, where: str) -> Any:
    """`value` as type `tp` (pydantic, strict), or a ConfigError naming `where` and what was wrong."""
    if isinstance(value, list):   # YAML writes lists; a config holds tuples (frozen, hashable)
        value = tuple(value)
    try:
        return _type_adapter(tp).validate_python(value)
    except pydantic.ValidationError as exc:
        problems = []
        for err in exc.errors():
            index = "".join(f"[{x}]" for x in err["loc"] if isinstance(x, int))
            problems.append(f"item {index}: {err['msg']}" if index else err["msg"])
        raise ConfigError(f"{where}: {value!r}: " + "; or ".join(problems)) from None


def from_dict(cls: type[C], data: dict[str, Any] | None, section: str | None = None) -> C:
    """Build config `cls` from a params section, with errors that name the section and key."""
    section = section or cls.SECTION  # type: ignore[attr-defined]
    data = dict(data or {})
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    unknown = [k for k in data if k not in names]
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(key, names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(names)}"
        raise ConfigError(f"params.yaml section {section!r}: unknown key {key!r}{hint}")
    return cls(**data)


class Section:
    """Base of the section configs: checks every field's type and the section's ranges on creation,
    so a config is valid however it was made (from params.yaml or in code)."""

    SECTION = ""
    RUNTIME: tuple[str, ...] = ()
    """Keys that change speed, memory or logs, never a result: params.yaml holds them under
    `runtime.<section>`, untracked by DVC."""

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = _check_type(getattr(self, f.name), hints[f.name], f"params.yaml {self.SECTION}.{f.name}")
            object.__setattr__(self, f.name, value)
        problem = self.validate()
        if problem:
            raise ConfigError(f"params.yaml section {self.SECTION!r}: {problem}")

    def validate(self) -> str | None:
        return None


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


RUNTIME_SECTION = "runtime"


def set_values(params: dict[str, Any], section: str, values: dict[str, Any]) -> None:
    """Write `values` into a params.yaml mapping, each key where `load_section` reads it: in
    `section`, or in `runtime.<section>` for a runtime key (for scripts and tests that edit params)."""
    runtime = next((c.RUNTIME for c in SECTIONS if c.SECTION == section), ())
    for key, value in values.items():
        where = params.setdefault(RUNTIME_SECTION, {}).setdefault(section, {}) if key in runtime \
            else params.setdefault(section, {})
        where[key] = value


def load_section(cls: type[C], path: str | Path = "params.yaml") -> C:
    """Section `cls.SECTION` of params file `path`, with its runtime keys from `runtime.<section>`."""
    section = cls.SECTION  # type: ignore[attr-defined]
    runtime_keys: tuple[str, ...] = cls.RUNTIME  # type: ignore[attr-defined]
    params = read_params(path)
    if section not in params:
        raise ConfigError(f"{path}: missing section {section!r}")
    data = dict(params[section] or {})
    misplaced = [k for k in data if k in runtime_keys]
    if misplaced:
        raise ConfigError(f"{path}: {section}.{misplaced[0]} changes speed or logs, not results: set it under "
                          f"{RUNTIME_SECTION}.{section} (DVC does not track that section, so it reruns nothing)")
    runtime = _runtime_section(params, path)
    extra = runtime.get(section) or {}
    if not isinstance(extra, dict):
        raise ConfigError(f"{path}: {RUNTIME_SECTION}.{section} must be a mapping of keys to values")
    unknown = [k for k in extra if k not in runtime_keys]
    if unknown:
        known = ", ".join(runtime_keys) or "none"
        raise ConfigError(f"{path}: {RUNTIME_SECTION}.{section}.{unknown[0]} is not a runtime key of {section!r} "
                          f"(its runtime keys: {known}); results-changing keys go in section {section!r}")
    return from_dict(cls, {**data, **extra}, section)


def _runtime_section(params: dict[str, Any], path: str | Path) -> dict[str, Any]:
    runtime = params.get(RUNTIME_SECTION) or {}
    if not isinstance(runtime, dict):
        raise ConfigError(f"{path}: {RUNTIME_SECTION} must be a mapping of sections")
    sections = {c.SECTION: c for c in SECTIONS}
    for name in runtime:
        if name not in sections or not sections[name].RUNTIME:
            with_keys = ", ".join(c.SECTION for c in SECTIONS if c.RUNTIME)
            raise ConfigError(f"{path}: {RUNTIME_SECTION}.{name}: no such section with runtime keys "
                              f"(those with some: {with_keys})")
    return runtime


def as_dict(cfg: Any, runtime: bool = True) -> dict[str, Any]:
    """Plain dict of a config (lists, not tuples) for JSON; without its runtime keys if not `runtime`."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(cfg).items()
            if runtime or k not in cfg.RUNTIME}


def tracked_keys(cls: type) -> list[str]:
    """`section.key` of every key of section `cls` that can change a result: what dvc.yaml tracks."""
    return [f"{cls.SECTION}.{f.name}" for f in dataclasses.fields(cls) if f.name not in cls.RUNTIME]


# --- sections -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class SimulateConfig(Section):
    SECTION = "simulate"
    games: int = 34
    """Sample games written (data/raw/sample): each draws its own teams, game and threads from the seed."""
    seed: int = 7
    """Same seed, same bytes: the sample is the generator's code and this number."""
    stress_games: int = 8
    """Games of the stress set (data/raw/stress): another seed, bigger threads, both teams' subreddits,
    slow streams in half of them; evaluated apart, never trained on."""
    stress_seed: int = 2027
    world: Literal["realistic", "clean"] = "realistic"
    """realistic: fans as weak, late and noisy as real threads (fan_timeline.realism checks it);
    clean: the loud, on-cue bursts of earlier samples."""

    def validate(self) -> str | None:
        if self.games < 1 or self.stress_games < 0:
            return "games must be >= 1 and stress_games >= 0"
        return None


@dataclass(frozen=True)
class IngestConfig(Section):
    SECTION = "ingest"
    RUNTIME = ("max_comment_file_mb", "max_comment_rows", "max_csv_columns")
    raw_dir: str = "data/raw/sample"
    """The raw games to read (dvc.yaml passes it to the stage; `-S ingest.raw_dir=...` switches data)."""
    stress_dir: str = "data/raw/stress"
    """The stress set's games: read like the others, evaluated on their own, never trained on."""
    reaction_lag_s: float | Literal["auto"] = "auto"
    """A comment posted at wall time t reacts to the game at t - lag (seconds); `auto` estimates each
    game's lag from its comments (the delay at which they peak after its plays)."""
    postgame_grace_s: float = 300.0
    """Comments up to this long after the final play still count as reactions to the game."""
    author_salt: str = "fan-timeline"
    """Salt of the stable author pseudonym hash; change it to unlink pseudonyms across releases."""
    max_comment_file_mb: float = 2048.0
    """Largest comment file (MiB, after decompression): a bigger one stops the stage naming it."""
    max_comment_rows: int = 5_000_000
    """Most rows (lines, records) of one comment file."""
    max_csv_columns: int = 1_000
    """Most columns of a CSV comment file's header."""

    def read_limits(self) -> ReadLimits:
        return ReadLimits(int(self.max_comment_file_mb * 2**20), self.max_comment_rows, self.max_csv_columns)

    def validate(self) -> str | None:
        if not self.raw_dir.strip():
            return "raw_dir must name a directory"
        if self.max_comment_file_mb <= 0 or self.max_comment_rows <= 0 or self.max_csv_columns <= 0:
            return "max_comment_file_mb, max_comment_rows and max_csv_columns must be > 0"
        if self.reaction_lag_s != "auto" and not 0 <= self.reaction_lag_s <= 300:
            return "reaction_lag_s must be `auto` or within 0..300 seconds"
        if self.postgame_grace_s < 0:
            return "postgame_grace_s must be >= 0"
        return None


@dataclass(frozen=True)
class BuildSftConfig(Section):
    SECTION = "build_sft"
    window_s: float = 180.0
    """Game-clock seconds per window (one prompt/completion pair each)."""
    overlap_s: float = 0.0
    """Overlap between consecutive windows; stride = window_s - overlap_s."""
    late_window_s: float = 45.0
    """Windows this long in the last `late_span_s` of the fourth quarter and of every overtime, where a
    close game's moments crowd (a window holds at most `max_candidates` of them: a block, a go-ahead
    three, a last-chance miss, the free throws that seal it and the final can all fall in 110 s)."""
    late_span_s: float = 180.0
    """The end of the fourth quarter and of every overtime cut into `late_window_s` windows (0 = none)."""
    max_prompt_tokens: int = 640
    """Token budget of a rendered prompt; shown reactions are trimmed to fit, plays never are."""
    max_candidates: int = 3
    """Candidate plays a window shows: the highest by importance + fan reaction, the highest first.
    At most the schema's maxItems: a timeline is the first N of them (`schema.Grounding.ranked`),
    so a play listed past maxItems could never be chosen."""
    min_candidate_score: float = 2.5
    """A play is a candidate only from this score (importance + fan reaction; a moment scores 5 and
    more): plays that did little to the game and drew no reaction are not listed."""
    max_shown: int = 2
    """Reactions shown under each candidate play (the only quotes an answer may use)."""
    min_audience_comments: int = 30
    """A subreddit's comments become an audience of their own (one prompt per window) from this many."""
    train_audiences: int = 1
    """Audiences a train window is prompted for (0 = all; N = N of them, different ones window to
    window: more games for the same training time). Val and test windows get every audience."""
    stress_audiences: int = 1
    """The same for the stress set's windows (evaluated, never trained on)."""
    quiet_train_keep: float = 0.35
    """Share of the train windows that list no candidate play (whose only answer is []) that are kept,
    the same ones every run. Thinning by what the prompt shows, never by the label: thinning the
    windows whose label is empty taught the model that the plays it sees are moments more often
    than they are."""
    val_fraction: float = 0.18
    test_fraction: float = 0.235
    split_salt: str = "fan-timeline-split-v1"
    """Games are split by a hash of salt + game id; change the salt to draw a new split."""

    def validate(self) -> str | None:
        if self.window_s < 30:
            return "window_s must be >= 30"
        if not 0 <= self.overlap_s < self.window_s:
            return "overlap_s must be >= 0 and < window_s"
        if not 15 <= self.late_window_s <= self.window_s or not 0 <= self.late_span_s <= sport.OT_PERIOD_S:
            return f"late_window_s must be within 15..window_s and late_span_s within 0..{sport.OT_PERIOD_S:g}"
        if self.max_prompt_tokens < 128:
            return "max_prompt_tokens must be >= 128"
        if not 0 <= self.quiet_train_keep <= 1:
            return "quiet_train_keep must be within 0..1"
        if self.max_candidates < 1 or self.max_shown < 0 or self.min_audience_comments < 1 \
                or self.min_candidate_score < 0 or min(self.train_audiences, self.stress_audiences) < 0:
            return ("max_candidates >= 1, max_shown >= 0, min_audience_comments >= 1, min_candidate_score >= 0 and "
                    "train_audiences, stress_audiences >= 0 are required")
        if self.max_candidates > schema.max_items():
            return (f"max_candidates must be <= {schema.max_items()} (the schema's maxItems): a timeline is the "
                    "first N listed plays, so a play listed after them could never be chosen")
        if not (0 < self.val_fraction < 1 and 0 < self.test_fraction < 1
                and self.val_fraction + self.test_fraction < 1):
            return "val_fraction and test_fraction must be in (0, 1) and sum to < 1"
        return None


@dataclass(frozen=True)
class EvaluateConfig(Section):
    SECTION = "evaluate"
    RUNTIME = ("batch_size",)
    ts_tolerance_s: float = 20.0
    """A predicted entry matches a reference entry this many game seconds away or closer."""
    batch_size: int = 16
    """Windows generated together (sorted by length); more is faster per token, up to memory."""
    base_windows: int = 24
    """Test windows the untrained base model runs on, constrained (a fixed spread-out subset; 0 = all);
    the fine-tune's gain over it is paired on these."""
    base_free_windows: int = 4
    """Of those, the windows it also decodes freely (it rambles to the free budget)."""
    max_windows: int = 0
    """Test windows evaluated (a fixed spread-out subset; 0 = all)."""
    free_windows: int = 32
    """Of those, the windows the fine-tune also decodes freely (a fixed subset; 0 = all)."""
    stress_windows: int = 64
    """Stress windows evaluated (a fixed spread-out subset; 0 = all)."""
    free_max_new_tokens: int = 256
    """Budget of free (unconstrained) decoding; constrained decoding always gets the schema bound."""

    def validate(self) -> str | None:
        if self.ts_tolerance_s < 0:
            return "ts_tolerance_s must be >= 0"
        if self.batch_size < 1 or self.free_max_new_tokens < 16 or \
                min(self.base_windows, self.base_free_windows, self.max_windows, self.free_windows,
                    self.stress_windows) < 0:
            return ("batch_size >= 1, free_max_new_tokens >= 16, and window counts >= 0 are required")
        return None


@dataclass(frozen=True)
class ExportConfig(Section):
    SECTION = "export"
    parity_prompts: int = 4
    """Test prompts whose constrained greedy outputs must be equal for merged and adapter model."""
    gguf: tuple[str, ...] = ("f16", "q8_0")
    """GGUF files written beside the safetensors model (for llama.cpp, Ollama, LM Studio); [] for none."""

    def validate(self) -> str | None:
        if self.parity_prompts < 1:
            return "parity_prompts must be >= 1"
        bad = [f for f in self.gguf if f not in ("f16", "q8_0")]
        return f"gguf formats must be among f16, q8_0, not {bad}" if bad else None


DEFAULT_TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class TrainConfig(Section):
    SECTION = "train_qlora"
    RUNTIME = ("threads", "logging_every", "compile", "checkpoint_every")
    base_model: str = "embedded:SmolLM2-135M-Instruct"
    """embedded:<name>, a local checkpoint directory or a Hugging Face id."""
    quantization: Literal["auto", "nf4", "none"] = "auto"
    """auto: NF4 (QLoRA) on CUDA when bitsandbytes is installed, else none; nf4 needs CUDA."""
    lora_r: int = 16
    """LoRA rank; higher = more capacity and memory."""
    lora_alpha: float = 32.0
    """LoRA scale numerator (scale = alpha / r)."""
    lora_dropout: float = 0.05
    """Dropout on the LoRA input, 0 <= p < 1."""
    target_modules: tuple[str, ...] = DEFAULT_TARGET_MODULES
    """Names of the linear layers that get LoRA adapters."""
    lora_layers: int = 10
    """Adapt only the top N transformer layers (0 = all): backward stops there, so fewer is faster
    (10 of SmolLM2-135M's 30: ~1.7x faster steps on CPU, no worse on val)."""
    learning_rate: float = 1e-3
    """Peak learning rate: high for LoRA, right for a short run on a 135M model."""
    lr_schedule: Literal["cosine", "linear", "constant"] = "cosine"
    """Shape after warmup."""
    warmup_ratio: float = 0.05
    """Fraction of the steps spent warming up."""
    epochs: int = 2
    """Passes over the train split (ignored if max_steps > 0); 3 is no better on val."""
    max_steps: int = 0
    """Optimizer steps; 0 = as many as `epochs` take."""
    micro_batch_tokens: int = 1024
    """Token budget of one forward/backward (packed row, or padded rows x longest)."""
    grad_accum: int = 2
    """Micro-batches per optimizer step."""
    max_seq_len: int = 1024
    """Longest allowed example (prompt + completion + end-of-turn); longer is an error."""
    seed: int = 0
    """Seeds LoRA init, data order and dropout."""
    checkpoint_every: int = 10
    """Steps between resumable checkpoints; 0 = off."""
    eval_every: int | Literal["epoch"] = "epoch"
    """Steps between val-loss evaluations, or `epoch`: at the end of each; 0 = only at start and end."""
    packing: bool = True
    """No padding: examples of a micro-batch share a row (CUDA) or run unpadded (CPU)."""
    gradient_checkpointing: bool = False
    """Recompute activations in backward: less memory, ~30% slower."""
    threads: int = 0
    """CPU threads; 0 = physical cores."""
    logging_every: int = 2
    """Steps between train-loss log points."""
    val_examples: int = 12
    """Val pairs the val loss is computed on (a fixed spread-out subset; 0 = all): forward-only, not free."""
    nproc: int = 0
    """Data-parallel processes (torchrun): one per GPU on CUDA, the cores split between them on CPU.
    0 = auto: one per GPU (CUDA) or physical core (CPU), at most `grad_accum` (a process needs a
    micro-batch of each step); under a launcher already, the processes it started.
    Each optimizer step is the same global batch for any nproc; the processes share its micro-batches."""
    compile: bool = True
    """CUDA only (ignored on CPU): torch.compile the decoder layers, as CUDA graphs with packing
    (the first steps compile; ~2-4x faster steps after)."""
    decision_weight: float = 4.0
    """Loss weight of the completion's decision tokens (one more moment or close; which play),
    the only ones constrained decoding leaves to the model; every other trained token counts 1.
    The val loss stays the plain mean."""
    calibration_windows: int | Literal["none"] = 160
    """Val windows the trained model decodes once to fit its stop bias (how readily it reports one
    more moment; evaluate, export and the server decode with it): a fixed spread-out subset, 0 = all;
    `none`: no calibration, bias 0."""

    def validate(self) -> str | None:
        checks = [
            (bool(self.base_model.strip()), "base_model must name a model"),
            (self.calibration_windows == "none" or self.calibration_windows >= 0,
             "calibration_windows must be >= 0 (0 = all) or `none`"),
            (self.lora_r >= 1, "lora_r must be >= 1"),
            (self.lora_layers >= 0 and self.val_examples >= 0, "lora_layers and val_examples must be >= 0"),
            (self.lora_alpha > 0, "lora_alpha must be > 0"),
            (self.decision_weight > 0, "decision_weight must be > 0"),
            (0 <= self.lora_dropout < 1, "lora_dropout must be in [0, 1)"),
            (bool(self.target_modules), "target_modules must name at least one module, e.g. [q_proj, v_proj]"),
            (self.learning_rate > 0, "learning_rate must be > 0"),
            (0 <= self.warmup_ratio < 1, "warmup_ratio must be in [0, 1)"),
            (self.epochs >= 1, "epochs must be >= 1"),
            (self.max_steps >= 0, "max_steps must be >= 0 (0 = derive from epochs)"),
            (self.max_seq_len >= 16, "max_seq_len must be >= 16"),
            (self.micro_batch_tokens >= self.max_seq_len,
             f"micro_batch_tokens must be >= max_seq_len ({self.max_seq_len}) so the longest example fits"),
            (self.grad_accum >= 1, "grad_accum must be >= 1"),
            (min(self.checkpoint_every, self.threads, self.seed) >= 0,
             "checkpoint_every, threads and seed must be >= 0"),
            (self.eval_every == "epoch" or self.eval_every >= 0, "eval_every must be >= 0 or `epoch`"),
            (self.logging_every >= 1, "logging_every must be >= 1"),
            (self.nproc >= 0, "nproc must be >= 0 (0 = auto, 1 = one process, no torchrun)"),
        ]
        return next((msg for ok, msg in checks if not ok), None)


SECTIONS = (SimulateConfig, IngestConfig, BuildSftConfig, TrainConfig, EvaluateConfig, ExportConfig)
"""Every params.yaml section, in pipeline order."""
