"""The benchmark results the docs quote are data in the repo, and the docs say what the data says.

benchmarks/results/*.json are what `benchmarks/train_throughput.py --out` wrote on the machines
they name; docs/performance.md's table of them is generated (`benchmarks/results_tables.py`), and
the README's ratios against the strongest peer are the range over the GPU results. Needs no GPU:
it reads the committed files.
"""

from __future__ import annotations

import json
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


def test_readme_quotes_the_range_against_the_strongest_peer():
    gpu = [json.loads(p.read_text()) for p in RESULTS if json.loads(p.read_text())["device"] == "cuda"]
    speed = [r["ratios"]["ft"][r["strongest_baseline"]]["tokens_per_s"] for r in gpu]
    memory = [r["ratios"]["ft"][r["strongest_baseline"]]["peak_memory"] for r in gpu]
    readme = " ".join((REPO / "README.md").read_text().split())   # line breaks are spaces
    assert f"**{min(speed):.2f}–{max(speed):.2f}×**" in readme
    assert f"at {min(memory):.2f}–{max(memory):.2f}× TRL's peak memory" in readme
    assert all(r["strongest_baseline"] == "trl_sft" for r in gpu)   # the README names TRL as the strongest
    (cpu,) = [json.loads(p.read_text()) for p in RESULTS if json.loads(p.read_text())["device"] == "cpu"]
    ratio = cpu["ratios"]["ft"][cpu["strongest_baseline"]]
    assert cpu["strongest_baseline"] == "hf_trainer_compile"          # named in the README too
    assert f"**{ratio['tokens_per_s']:.2f}×** the strongest peer there" in readme
    assert f"at {ratio['peak_memory']:.2f}× its memory" in readme
