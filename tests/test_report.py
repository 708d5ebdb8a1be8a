"""docs/results.md and the README's generated blocks are the committed files rendered, never copied by hand.

    pytest tests/test_report.py     (< 1 s, no network)

Proves: docs/results.md is, byte for byte, what `python -m fan_timeline.report --write` renders now
from metrics/*.json, plots/eval/ and benchmarks/results/, and so are the README's generated blocks
(its one results table and the timeline excerpt); the table puts the best test event F1 first, so a
baseline that beats the product stands above it, and its words follow the intervals; every link in
the README and docs/ to a file or a `#heading` lands somewhere; the summary `scripts/repro.sh` ends
with names every stage's headline numbers.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from fan_timeline import report

ROOT = Path(__file__).resolve().parents[1]
REGENERATE = "stale: regenerate it with `python -m fan_timeline.report --write` and commit the result"


def _eval() -> dict:
    return json.loads((ROOT / "metrics" / "eval.json").read_text())


def test_results_doc_is_rendered_from_the_committed_files():
    committed = (ROOT / "docs" / "results.md").read_text(encoding="utf-8")
    assert committed == report.results_doc(ROOT), f"docs/results.md is {REGENERATE}"


def test_readme_generated_blocks_are_rendered_from_the_committed_files():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = report.readme_blocks(ROOT)
    assert {"results", "excerpt"} <= set(blocks)
    for name, text in blocks.items():
        begin, end = report.markers(name)
        assert begin in readme and end in readme, f"README.md lacks the markers of its generated block {name!r}"
        shown = readme.split(begin + "\n", 1)[1].split("\n" + end, 1)[0]
        assert shown == text, f"README.md's generated block {name!r} is {REGENERATE}"


def test_the_readme_table_holds_the_product_the_rule_and_both_baselines_with_their_differences():
    table = report.headline_table(_eval())
    for run in report.HEADLINE_RUNS:
        assert f"| {report.RUN_NAMES[run]} |" in table
    rows = table.splitlines()[2:]
    assert len(rows) == len(report.HEADLINE_RUNS)
    assert all(" to " in row for row in rows if "the product" not in row.split("|")[1])   # every baseline's interval


def test_a_baseline_that_beats_the_product_stands_above_it_and_is_called_so():
    ev = copy.deepcopy(_eval())
    ev["runs"]["state"]["event_f1"] = 0.99
    ev["finetuned_minus_state_event_f1_ci95"] = [-0.5, -0.1]
    ev["finetuned_minus_rule_event_f1_ci95"] = [0.02, 0.2]
    rows = report.headline_table(ev).splitlines()[2:]
    assert rows[0].startswith(f"| {report.RUN_NAMES['state']} |") and "(the product worse)" in rows[0]
    text = report.headline(ev, json.loads((ROOT / "metrics" / "sft.json").read_text()), {}, None)
    assert "**The fine-tuned model beats the rule" in text
    assert "does worse than the game state alone" in " ".join(text.split())


def test_a_readme_without_the_markers_is_an_error_not_a_silent_skip():
    with pytest.raises(ValueError, match="results"):
        report.with_blocks("# a README with no generated block\n", {"results": "| a | table |"})


def test_check_mode_fails_on_a_stale_doc_and_write_mends_it(tmp_path):
    for rel in ("metrics", "plots", "benchmarks/results"):
        src = ROOT / rel
        for path in src.rglob("*.json"):
            dest = tmp_path / rel / path.relative_to(src)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(path.read_bytes())
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "results.md").write_text("# stale\n")
    (tmp_path / "README.md").write_text((ROOT / "README.md").read_text(encoding="utf-8"))
    assert report.main(["--check", "--root", str(tmp_path)]) == 1
    assert report.main(["--write", "--root", str(tmp_path)]) == 0
    assert report.main(["--check", "--root", str(tmp_path)]) == 0
    assert (tmp_path / "docs" / "results.md").read_text() == (ROOT / "docs" / "results.md").read_text()


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    code = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            code = not code
        elif not code and (m := re.match(r"#{1,6}\s+(.*?)\s*$", line)):
            slug = _slug(m.group(1))
            seen[slug] = seen.get(slug, -1) + 1
            if seen[slug]:
                seen[f"{slug}-{seen[slug]}"] = 0
    return set(seen)


def test_every_link_in_the_readme_and_docs_lands_on_a_file_and_heading():
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "docs" / "log").glob("*.md"))]
    broken = []
    for doc in docs:
        text = re.sub(r"```.*?```", "", doc.read_text(encoding="utf-8"), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue                                        # http(s), mailto: not ours to check
            file, _, anchor = target.partition("#")
            path = (doc.parent / file).resolve() if file else doc
            if not path.exists():
                broken.append(f"{doc.relative_to(ROOT)}: {target} (no such file)")
            elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
                broken.append(f"{doc.relative_to(ROOT)}: {target} (no such heading)")
    assert not broken, "links that go nowhere:\n" + "\n".join(broken)
    assert "read-as-a-fan" in _anchors(ROOT / "docs" / "results.md")   # what the README's excerpt links to


def test_summary_names_each_stage_and_where_the_rest_is(tmp_path):
    out = report.summary(ROOT / "metrics")
    for stage in ("ingest:", "build_sft:", "train_qlora:", "evaluate:", "export:"):
        assert stage in out
    assert "dvc metrics show" in out and "docs/results.md" in out and len(out.splitlines()) <= 15
    assert report.summary(tmp_path).startswith("all metrics:")   # no metrics yet: no invented numbers
