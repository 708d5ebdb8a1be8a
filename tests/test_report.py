"""The README's results tables are the committed metrics, generated, never copied by hand.

    pytest tests/test_report.py     (< 1 s, no network)

Proves: `python -m fan_timeline.report --tables` over metrics/eval.json is, line for line, what the
README shows under "Results of the default pipeline", and `--realism` over metrics/realism.json its
real-vs-simulated table; the summary `scripts/repro.sh` ends with names every stage's headline
numbers.
"""

from __future__ import annotations

import json
from pathlib import Path

from fan_timeline import report

ROOT = Path(__file__).resolve().parents[1]


def test_readme_results_tables_are_generated_from_the_committed_metrics():
    tables = report.results_tables(json.loads((ROOT / "metrics" / "eval.json").read_text()))
    readme = (ROOT / "README.md").read_text()
    for line in tables.splitlines():
        assert line in readme, f"README lacks (or has another version of) this line of the results:\n{line}"
    assert "| **fine-tuned, constrained (the product)** |" in tables and "| grid (no content) |" in tables
    for baseline in ("rule", "state", "volume"):    # every baseline a sceptic tries first, beside the product
        assert f"finetuned_minus_{baseline}_event_f1_ci95" in tables


def test_readme_real_vs_simulated_table_is_the_committed_realism_report():
    table = report.realism_table(json.loads((ROOT / "metrics" / "realism.json").read_text()))
    readme = (ROOT / "README.md").read_text()
    for line in table.splitlines():
        assert line in readme, f"README lacks (or has another version of) this line of the realism table:\n{line}"
    assert "| `league.ratio_p50` | 1.18 |" in table      # the real game's figure beside the sample's


def test_summary_names_each_stage_and_where_the_rest_is(tmp_path):
    out = report.summary(ROOT / "metrics")
    for stage in ("ingest:", "build_sft:", "train_qlora:", "evaluate:", "export:"):
        assert stage in out
    assert "dvc metrics show" in out and len(out.splitlines()) <= 15
    assert report.summary(tmp_path).startswith("all metrics:")   # no metrics yet: no invented numbers
