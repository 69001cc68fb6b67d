"""Does this machine serve the model as the machine that trained it did?

Scores the test split through the app's own runtime (`Detector.probabilities`: the INT8 graph, the tuned
class path, the head, the temperature) and compares each face's P(AI) with the model's recorded
`test_predictions.json`, written when the model was trained and evaluated. The INT8 graph quantizes its
activations dynamically, so a CPU's own float rounding moves single scores a little; a runtime that computes
something else (the saturating uint8 x int8 kernel of CPUs without VNNI, `realorai.int8_products`) moves
the ranking. Writes benchmarks/runtime_check.json.

    python -m benchmarks.runtime_check                    # the bundled model, ~5 min on 2 cores
    python -m benchmarks.runtime_check --model runs/x --limit 300
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
from datasets import load_from_disk

from benchmarks.edits import probabilities
from realorai.calibration import logit
from realorai.config import AI_INDEX
from realorai.int8_products import int8_machine
from realorai.metrics import binary_metrics
from realorai.predict import Detector


def compare(labels: np.ndarray, recorded: np.ndarray, here: np.ndarray, ai_from: float) -> dict:
    return {
        "n": len(labels),
        "roc_auc_recorded": binary_metrics(labels, recorded)["roc_auc"],
        "roc_auc_here": binary_metrics(labels, here)["roc_auc"],
        "mean_abs_p_difference": float(np.abs(here - recorded).mean()),
        "p95_abs_logit_difference": float(np.quantile(np.abs(logit(here) - logit(recorded)), 0.95)),
        "verdict_agreement": float(((here >= ai_from) == (recorded >= ai_from)).mean()),
        "called_ai_recorded": int((recorded >= ai_from).sum()),
        "called_ai_here": int((here >= ai_from).sum()),
        "real_called_ai_here": int(((here >= ai_from) & (labels != AI_INDEX)).sum()),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="model", help="model folder holding test_predictions.json")
    parser.add_argument("--data", default="data/portraits-faces")
    parser.add_argument("--limit", type=int, default=0, help="score only the first N test faces")
    parser.add_argument("--out", default="benchmarks/runtime_check.json")
    args = parser.parse_args(argv)

    recorded = json.loads((Path(args.model) / "test_predictions.json").read_text())["test"]
    test = load_from_disk(args.data)["test"]
    n = min(args.limit or len(test), len(test))
    if len(recorded["p_ai"]) != len(test):
        raise SystemExit(f"{args.model}'s predictions cover {len(recorded['p_ai'])} faces, the test split {len(test)}")
    detector = Detector(args.model)
    started = time.time()
    images = test.select(range(n))["image"]
    here = probabilities(detector, images)
    labels = np.asarray(recorded["labels"][:n])
    result = {
        "model": detector.name,
        "runtime": detector.runtime,
        "machine": {"processor": platform.processor() or platform.machine(), **int8_machine()},
        "seconds_per_face": (time.time() - started) / n,
        **compare(labels, np.asarray(recorded["p_ai"][:n]), here, detector.serving.uncertain_band[1]),
    }
    print(json.dumps(result, indent=1))
    Path(args.out).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
