"""Small faces: what the served model makes of a face that arrives with few pixels, as the faces at the back
of a group photo or a wide scene do.

Every test face is shrunk to a side of N pixels and blown back up to the crop size, which is what
`realorai.faces.cut` does to a face of that size in a big picture, then scored through the app's own
runtime at the model's thresholds. Prints the table (the card's re-share renderer, plus "AI called real")
and writes benchmarks/face_size.json.

    python -m benchmarks.face_size                       # the bundled model, sides 128, 96, 64, 40 (~7 min on 2 cores)
    python -m benchmarks.face_size --sides 64,32 --model runs/x --limit 400
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from datasets import load_from_disk
from PIL import Image

from benchmarks.edits import probabilities
from realorai.generalisation import SplitData, robustness_row
from realorai.model_card import reshare_table
from realorai.predict import Detector


def arrived_at(face: Image.Image, side: int) -> Image.Image:
    """The face as a picture would give it with only `side` pixels across, cut and resized as served."""
    return face.resize((side, side), Image.BICUBIC, reducing_gap=3.0).resize(face.size, Image.BICUBIC)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model folder or hf-hub id (default: the bundled model)")
    parser.add_argument("--data", default="data/portraits-faces")
    parser.add_argument("--sides", default="128,96,64,40", help="comma-separated face sides in pixels")
    parser.add_argument("--limit", type=int, default=0, help="a seeded sample of this many test faces (0: all)")
    parser.add_argument("--out", default="benchmarks/face_size.json")
    args = parser.parse_args(argv)

    detector = Detector(args.model)
    test = load_from_disk(args.data)["test"]
    if args.limit:
        test = test.shuffle(seed=0).select(range(min(args.limit, len(test))))
    data = SplitData.from_split(test, {})
    faces = [image.convert("RGB") for image in test["image"]]
    real_to, ai_from = detector.serving.uncertain_band
    table, clean_auc = {}, None
    for side in [0, *(int(s) for s in args.sides.split(","))]:
        started, name = time.time(), f"{side} px across" if side else "clean"
        p = probabilities(detector, [arrived_at(face, side) for face in faces] if side else faces)
        table[name] = robustness_row(p, data, ai_from, clean_auc, real_to)
        clean_auc = table["clean"]["roc_auc"]
        print(f"  {name}: ROC-AUC {table[name]['roc_auc']:.4f} ({time.time() - started:.0f}s)", flush=True)
    print(reshare_table(table))
    record = {"model": detector.name, "runtime": detector.runtime, "thresholds": [real_to, ai_from], "rows": table}
    Path(args.out).write_text(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
