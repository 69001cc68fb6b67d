"""Beyond the issue's re-share chains: what editing and capture do to the served model's verdicts.

Every test face (the stored face crop, as the re-share table makes its copies) goes through each edit of
`realorai.edits.EDITS` (black and white, noise, a colour grade, sharpening, heavy JPEG, a tilted head and
the zoom that tilt implies) and through the app's own runtime (`Detector.probabilities`), and is judged at
the model's thresholds. Prints the table (the renderer of the card's re-share table, plus "AI called
real") and writes benchmarks/edits.json.

    python -m benchmarks.edits                  # the bundled model, the whole test split (~10 min on 2 cores)
    python -m benchmarks.edits --model runs/x --limit 400
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from datasets import load_from_disk

from realorai.edits import EDITS
from realorai.generalisation import SplitData, robustness_row
from realorai.model_card import reshare_table
from realorai.predict import Detector


def probabilities(detector: Detector, images, batch: int = 32) -> np.ndarray:
    return np.concatenate([detector.probabilities(images[i : i + batch]) for i in range(0, len(images), batch)])


def arguments(description: str, out: str) -> argparse.ArgumentParser:
    """The options every benchmark over copies of the test split's faces takes."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model folder or hf-hub id (default: the bundled model)")
    parser.add_argument("--data", default="data/portraits-faces")
    parser.add_argument("--limit", type=int, default=0, help="a seeded sample of this many test faces (0: all)")
    parser.add_argument("--out", default=out)
    return parser


def test_faces(args: argparse.Namespace):
    """The test split (a seeded sample of `--limit` faces, if set) and its faces as RGB images."""
    test = load_from_disk(args.data)["test"]
    if args.limit:
        test = test.shuffle(seed=0).select(range(min(args.limit, len(test))))
    return test, [image.convert("RGB") for image in test["image"]]


def score_copies(args: argparse.Namespace, copies: dict) -> dict:
    """Every test face through each of `copies` (name -> face -> face; None: the face as it is) and the app's
    own runtime, judged at the model's thresholds: prints the table and writes it to `args.out`."""
    detector = Detector(args.model)
    test, faces = test_faces(args)
    data = SplitData.from_split(test, {})
    real_to, ai_from = detector.serving.uncertain_band
    table, clean_auc = {}, None
    for name, copy in copies.items():
        started = time.time()
        p = probabilities(detector, faces if copy is None else [copy(face) for face in faces])
        table[name] = robustness_row(p, data, ai_from, clean_auc, real_to)
        clean_auc = clean_auc or table[name]["roc_auc"]
        print(f"  {name}: ROC-AUC {table[name]['roc_auc']:.4f} ({time.time() - started:.0f}s)", flush=True)
    print(reshare_table(table))
    record = {"model": detector.name, "runtime": detector.runtime, "thresholds": [real_to, ai_from], "rows": table}
    Path(args.out).write_text(json.dumps(record, indent=1))
    return record


def main(argv=None) -> int:
    args = arguments(__doc__, "benchmarks/edits.json").parse_args(argv)
    score_copies(args, {"clean": None, **EDITS})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
