"""The benchmark results the docs quote are data in the repo, and the docs say what the data says.

    pytest tests/test_benchmark_results.py     (< 1 s, no network, no GPU: it reads the committed files)

benchmarks/results/*.json are what the benchmarks' `--out` wrote on the machines they name;
docs/performance.md's tables of them are generated (`benchmarks/results_tables.py`) and its summary
quotes their batching ratios; the README's performance paragraph quotes the range over the GPU
results against the strongest peer, the CPU result and the pipeline's wall time. Every number in
the README's hand-written prose is one of those, checked here, or the Python version pyproject.toml
requires: the rest of its numbers are generated (tests/test_report.py).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = sorted((REPO / "benchmarks" / "results").glob("train_throughput_*.json"))
PEERS = ("hf_trainer", "hf_trainer_compile", "trl_sft")


def test_each_result_names_its_commit_machine_command_and_peers():
    assert RESULTS
    for path in RESULTS:
        r = json.loads(path.read_text())
        assert r["commit"] and r["machine"] and r["versions"]["torch"], path.name
        assert r["command"].startswith("python benchmarks/train_throughput.py") and path.name in r["command"]
        assert r["strongest_baseline"] in PEERS and r["strongest_baseline"] in r["results"], path.name
        best = max((n for n in r["results"] if n in PEERS), key=lambda n: r["results"][n]["tokens_per_s"])
        assert r["strongest_baseline"] == best, path.name
        for name, t in r["results"].items():
            assert t["tokens_per_s"] > 0 and t["peak_memory_gib"] > 0 and 0 < t["mfu"] < 1, (path.name, name)
        ft = r["results"]["ft"]
        for peer in (n for n in r["results"] if n in PEERS):
            ratio = r["ratios"]["ft"][peer]["tokens_per_s"]
            assert abs(ratio - ft["tokens_per_s"] / r["results"][peer]["tokens_per_s"]) < 1e-9


def test_each_generation_result_names_its_commit_machine_and_command():
    results = sorted((REPO / "benchmarks" / "results").glob("generate_throughput_*.json"))
    assert results
    for path in results:
        r = json.loads(path.read_text())
        assert r["commit"] and r["machine"] and path.name in r["command"], path.name
        rows = {(row["decoding"], row["batch_size"]): row for row in r["rows"]}
        for (decoding, batch), row in rows.items():
            assert row["tok_s"] > 0 and row["valid"] <= row["n"], (path.name, decoding, batch)
            if batch > 1:
                ratio = r["ratios"][f"batched_{batch}_vs_1_{decoding}"]
                assert abs(ratio - row["tok_s"] / rows[decoding, 1]["tok_s"]) < 1e-9


def test_docs_table_is_generated_from_the_results():
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "results_tables.py"), "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def readme_performance_claims() -> list[str]:
    """What the README's performance paragraph must say, word for word, from the result files."""
    gpu = [json.loads(p.read_text()) for p in RESULTS if json.loads(p.read_text())["device"] == "cuda"]
    speed = [r["ratios"]["ft"][r["strongest_baseline"]]["tokens_per_s"] for r in gpu]
    memory = [r["ratios"]["ft"][r["strongest_baseline"]]["peak_memory"] for r in gpu]
    assert all(r["strongest_baseline"] == "trl_sft" for r in gpu)   # the README names TRL as the strongest
    assert all("H100" in r["machine"] for r in gpu)                 # ... and the H100
    (cpu,) = [json.loads(p.read_text()) for p in RESULTS if json.loads(p.read_text())["device"] == "cpu"]
    ratio = cpu["ratios"]["ft"][cpu["strongest_baseline"]]
    assert cpu["strongest_baseline"] == "hf_trainer_compile"          # named in the README too
    wall = json.loads((REPO / "benchmarks" / "results" / "pipeline_wall_time_cpu.json").read_text())
    (cores,) = set(re.findall(r"(\d+) CPUs", cpu["machine"] + " " + wall["machine"]))   # the same CPU machine
    return [f"**{min(speed):.2f}–{max(speed):.2f}×**", f"at {min(memory):.2f}–{max(memory):.2f}× TRL's peak memory",
            f"On a {cores}-core CPU", f"**{ratio['tokens_per_s']:.2f}×** the strongest peer there",
            f"at {ratio['peak_memory']:.2f}× its memory",
            f"every stage forced, takes {wall['total_s'] / 60:.0f} minutes"]


def test_readme_quotes_the_range_against_the_strongest_peer_and_the_pipeline_time():
    readme = " ".join((REPO / "README.md").read_text().split())   # line breaks are spaces
    for claim in readme_performance_claims():
        assert claim in readme, f"README.md should say {claim!r} (benchmarks/results/ says so)"


def _readme_prose() -> str:
    """The README less its generated blocks, code, inline code, link targets and list numbers."""
    text = (REPO / "README.md").read_text()
    text = re.sub(r"<!-- generated: (\w+).*?<!-- end of generated: \1 -->", "", text, flags=re.S)
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    text = re.sub(r"`[^`]*`|\]\([^)]*\)|<!--.*?-->", "", text, flags=re.S)
    return re.sub(r"^\s*\d+\.\s", "", text, flags=re.M)


def test_every_number_in_the_readme_prose_is_checked_here_or_generated():
    claims = " ".join(readme_performance_claims())
    (python,) = re.findall(r'requires-python = ">=([\d.]+)"', (REPO / "pyproject.toml").read_text())
    checked = set(re.findall(r"\d+(?:\.\d+)?", claims)) | {python}
    numbers = re.findall(r"(?<![\w.\-/])\d+(?:[.,]\d+)*", _readme_prose())
    unchecked = sorted(set(numbers) - checked)
    assert not unchecked, (f"README.md states {unchecked} by hand: generate them (src/fan_timeline/report.py) "
                           "or check them against the file they come from here")


def test_performance_summary_quotes_the_generation_ratios():
    doc = " ".join((REPO / "docs" / "performance.md").read_text().split())
    for path in sorted((REPO / "benchmarks" / "results").glob("generate_throughput_*.json")):
        r = json.loads(path.read_text())
        batched = {k: v for k, v in r["ratios"].items() if k.startswith("batched_")}
        free, constrained = (next(v for k, v in batched.items() if k.endswith(f"_{decoding}"))
                             for decoding in ("free", "constrained"))
        assert f"{free:.2f}× free, {constrained:.2f}× constrained" in doc, path.name
