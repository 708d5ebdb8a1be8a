"""Event F1 of the trained model at every stop bias, on whole splits: what the calibration chooses from.

    python benchmarks/stop_bias_curve.py val test     (~4 min a split on 2 CPU cores)
    python benchmarks/stop_bias_curve.py val --leave-one-game-out
    python benchmarks/stop_bias_curve.py val test --base

Decodes each split's windows once with the adapter in models/adapter, the list of moments never
closed by choice (`calibration.STOP_BIAS_NEVER`), and scores every bias of `calibration.STOP_BIASES`
the way `calibration.fit_stop_bias` does (a row closes at its first choice whose margin exceeds the
bias), one bias at every choice; then the F1 at the adapter's own biases (`calibration.StopBias`: one
before a play the prompt lists as a likely moment, one before another), which train_qlora fits on
`calibration_windows` val windows, and the rule's timeline as the same decode writes it (a likely
moment always, another play never). The whole curve shows on val (where choosing is allowed) and
on test (for diagnosis only: nothing is chosen on test). `--leave-one-game-out` (val): for each
game, both fits (one bias, and the pair) on the other games' windows, scored on the held-out
game's: whether two biases fit on so few games generalise. `--base`: the same for the untrained
base model, its biases fit on val as train_qlora fits them: what the calibration alone does.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from fan_timeline import atomic
from fan_timeline.atomic import spread_subset
from fan_timeline.calibration import (
    STOP_BIAS_NEVER,
    StopBias,
    StopBiasScores,
    f1_by_stop_bias,
    fit_stop_bias,
    pair_grounding,
)
from fan_timeline.generate import generate_timelines
from fan_timeline.model import load_model

KINDS = {True: "a likely moment", False: "another play", None: "a play of unknown kind"}


def margins_by_kind(split: str, pairs: list[dict], results: list, groundings: list) -> None:
    """Mean margin (closing minus going on) before a likely moment and before another play, at a
    window's first, second and third choice, where the gold goes on and where it closes: how far
    apart the model holds the two kinds, and how often the gold has a moment to go on to."""
    rows: dict[tuple[str, int, bool], list[float]] = {}
    for pair, r, grounding in zip(pairs, results, groundings):
        gold = len(json.loads(pair["completion"][0]["content"])["timeline"])
        for i, m in enumerate(r.stop_margins):
            rows.setdefault((KINDS[grounding.likely_at(i)], i, i < gold), []).append(m)
    for (kind, i, go_on), ms in sorted(rows.items()):
        print(f"{split}: choice {i + 1}, before {kind}, gold {'goes on' if go_on else 'closes'}: {len(ms)} choices, "
              f"mean margin {sum(ms) / len(ms):+.2f}")


def best_single_bias(curve: dict[float, float]) -> float:
    """The single bias of the best F1 on a curve, ties to the one nearest 0 (as `fit_stop_bias` breaks them)."""
    return max(curve, key=lambda b: (curve[b], -abs(b)))


def leave_one_game_out(pairs: list[dict], results: list, tol: float) -> None:
    for game in sorted({p["game_id"] for p in pairs}):
        fit_on = [(p, r) for p, r in zip(pairs, results) if p["game_id"] != game]
        held = StopBiasScores(*zip(*[(p, r) for p, r in zip(pairs, results) if p["game_id"] == game]), tol)
        curve = f1_by_stop_bias(*zip(*fit_on), tol)
        one = best_single_bias(curve)
        two, _ = fit_stop_bias(*zip(*fit_on), tol)
        print(f"val without {game}: one bias {one:+.2f} scores {held.f1(StopBias.of(one)):.3f} on it, "
              f"the pair {two.moment:+.2f} / {two.other:+.2f} {held.f1(two):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("splits", nargs="+", choices=("val", "test", "stress"))
    parser.add_argument("--adapter", type=Path, default=Path("models/adapter"))
    parser.add_argument("--sft", type=Path, default=Path("data/sft"))
    parser.add_argument("--tol", type=float, default=20.0, help="evaluate.ts_tolerance_s")
    parser.add_argument("--leave-one-game-out", action="store_true",
                        help="on val: fit one bias and the pair on all games but one, score the one left out")
    parser.add_argument("--unranked", action="store_true",
                        help="decode with the grammar that admits any listed plays in order, not only the "
                             "first N (schema.Grounding.ranked)")
    parser.add_argument("--base", action="store_true",
                        help="the adapter's base model without it, calibrated the same way (list val first: "
                             "later splits are scored at the biases fit on val's calibration windows)")
    args = parser.parse_args()
    train_config = json.loads((args.adapter / "train_config.json").read_text())
    model, tokenizer = load_model(train_config["base_model"], adapter=None if args.base else str(args.adapter))
    own = None if args.base else StopBias.of(train_config.get("stop_bias"))
    if own is not None:
        print(f"adapter {args.adapter}: its stop bias {own.moment:+.2f} before a likely moment, {own.other:+.2f} "
              "before another play")

    def grounding(pair):
        return dataclasses.replace(pair_grounding(pair), ranked=not args.unranked)

    for split in args.splits:
        pairs = atomic.read_jsonl(args.sft / f"{split}.jsonl")
        groundings = [grounding(p) for p in pairs]
        results = generate_timelines(model, tokenizer, [p["prompt"] for p in pairs], constrained=True,
                                     groundings=groundings, batch_size=16, stop_bias=STOP_BIAS_NEVER)
        curve = f1_by_stop_bias(pairs, results, args.tol)
        best = best_single_bias(curve)
        print(f"{split} ({len(pairs)} windows): " + ", ".join(f"{b:+.2f}: {f:.3f}" for b, f in curve.items()
                                                            if b in (-1, -0.5, 0, 0.5, 0.75, 1, 1.5, 2, 3)))
        margins_by_kind(split, pairs, results, groundings)
        scores = StopBiasScores(pairs, results, args.tol, groundings)
        if split == "val":   # the biases train_qlora would fit: on its calibration windows
            n = train_config.get("calibration_windows", 0)   # "none": the adapter was not calibrated: fit on all
            calib = {p["id"] for p in spread_subset(pairs, 0 if n == "none" else n)}
            fit, _ = fit_stop_bias(*zip(*[(p, r) for p, r in zip(pairs, results) if p["id"] in calib]), args.tol)
            print(f"val: fit on {len(calib)} windows {fit.moment:+.2f} / {fit.other:+.2f}, "
                  f"whole val there {scores.f1(fit):.3f}")
            own = own if own is not None else fit
        at_own = f"at {'the val fit' if args.base else 'its own'} {scores.f1(own):.3f}; " if own is not None else ""
        print(f"{split}: best single bias {best:+.2f} ({curve[best]:.3f}); at 0 {curve[0.0]:.3f}; {at_own}"
              f"the likely moments alone {scores.f1(StopBias(STOP_BIAS_NEVER, -STOP_BIAS_NEVER)):.3f}")
        if split == "val" and args.leave_one_game_out:
            leave_one_game_out(pairs, results, args.tol)


if __name__ == "__main__":
    main()
