"""Score-level combinations of two frozen-backbone heads, measured like every candidate (leave-one-source-out
and re-share): each head is fitted by the shipped recipe on its own features, their calibrated P(AI) are
combined, and the real-first thresholds are drawn on the combined score.

    python -m benchmarks.ensemble   # CLIP block 11 with EfficientNet-Lite2; appends rows to benchmarks/candidates.json

Rules: "mean-logit" (average of the two calibrated logits) and "min" (call AI only as far as both agree).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from datasets import load_from_disk

from benchmarks.candidates import AUG, BLOCKS, benchmark_arguments, load_split, load_splits, measure, row
from realorai.calibration import logit, sigmoid
from realorai.generalisation import SplitData, fit_recipe
from realorai.probe import Decision, real_first_decision

C = 0.05  # the recipe's C when these rows were measured (README "Tried"); the shipped one is now 0.02

PARTS = [f"{BLOCKS}@11", "tf_efficientnet_lite2"]


RULES = {
    "mean-logit": lambda ps: sigmoid(np.mean([logit(p) for p in ps], axis=0)),
    "min": lambda ps: np.min(ps, axis=0),
}


@dataclass
class Combined:
    parts: list  # (column slice, FittedHead)
    rule: str
    decision: Decision

    def p_ai(self, features: np.ndarray) -> np.ndarray:
        return RULES[self.rule]([head.p_ai(features[:, columns]) for columns, head in self.parts])


def columns_of(data: SplitData, columns: slice) -> SplitData:
    return SplitData(data.labels, data.sources, data.generators, {v: f[:, columns] for v, f in data.views.items()})


def fitter(slices: list[slice], rule: str, c: float, views):
    def fit(train: SplitData, validation: SplitData, keep_train=None, keep_validation=None) -> Combined:
        keep_validation = np.ones(len(validation.labels), bool) if keep_validation is None else keep_validation
        parts = [
            (cols, fit_recipe(columns_of(train, cols), columns_of(validation, cols), c, views, keep_train, keep_validation))
            for cols in slices
        ]
        combined = Combined(parts, rule, Decision(0.5, 0.5))
        p_val = combined.p_ai(validation.views["clean"][keep_validation])
        combined.decision = real_first_decision(
            p_val, validation.labels[keep_validation], validation.sources[keep_validation].tolist()
        )
        return combined

    return fit


def main(argv: list[str] | None = None) -> int:
    args = benchmark_arguments(__doc__).parse_args(argv)
    dataset, cache = load_from_disk(args.data), Path(args.cache)
    train, validation, test = load_splits(dataset, PARTS, AUG, cache)
    width = load_split(dataset, "validation", PARTS[:1], ("clean",), cache).views["clean"].shape[1]
    slices = [slice(0, width), slice(width, None)]
    results = {}
    for rule in RULES:
        name = f"clip-b16 block 11 with efficientnet-lite2, scores combined by {rule}"
        fit = fitter(slices, rule, C, AUG)
        results[name] = measure(fit, train, validation, test, backbones=PARTS, combination=rule, train_views=list(AUG), c=C)
        print(row(name, results[name]), flush=True)
        for group, r in results[name]["leave_one_out"]["rows"].items():
            score = f"recall {r['recall']:.3f}" if r["kind"] == "ai" else f"called AI {r['false_ai_rate']:.3f}"
            print(f"  {group:<40} AUC {r['roc_auc']:.3f}  {score}")
    previous = json.loads(Path(args.out).read_text()) if Path(args.out).is_file() else {}
    Path(args.out).write_text(json.dumps(previous | results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
