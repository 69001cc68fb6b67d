"""Scenes with several people: test faces pasted small into one wide picture, judged by the app's own pipeline.

Each scene puts `--per-scene` test faces of one class, `--face-px` pixels across, side by side on a 3600 x 1200
canvas (a photo's background blown up and blurred as backdrop, so the scene is not a flat card). At that size every face is
under 5% of the long side, which the detector's first search (400 px) cannot see; the second search (1200 px)
must find them. The scene is run through `Detector.analyse` (detection, crop, runtime, thresholds), and its
faces and headline (the most AI-looking face) are counted per class. Writes benchmarks/group_scenes.json.

    python -m benchmarks.group_scenes                        # the bundled model, 20 scenes a class (~2 min)
    python -m benchmarks.group_scenes --face-px 80 --scenes 10
    python -m benchmarks.group_scenes --first-search-only --out /tmp/g.json   # the detector without its second search
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

import numpy as np
from datasets import load_from_disk
from PIL import Image, ImageFilter

from realorai.config import AI_INDEX
from realorai.faces import FaceDetector
from realorai.predict import Detector

CANVAS = (3600, 1200)


def scene(faces: list[Image.Image], backdrop: Image.Image, face_px: int) -> Image.Image:
    """`faces` in a row across a wide canvas made of `backdrop`'s top-left corner (a photo's background, no
    face in it: a blown-up face would be found too, and as the largest it would hide the small ones) blurred."""
    corner = backdrop.crop((0, 0, 48, 48))
    canvas = corner.resize(CANVAS, Image.BICUBIC).filter(ImageFilter.GaussianBlur(40))
    step = CANVAS[0] // len(faces)
    for i, face in enumerate(faces):
        place = (i * step + (step - face_px) // 2, CANVAS[1] // 2 - face_px // 2)
        canvas.paste(face.resize((face_px, face_px), Image.BICUBIC), place)
    return canvas


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model folder or hf-hub id (default: the bundled model)")
    parser.add_argument("--data", default="data/portraits-faces")
    parser.add_argument("--scenes", type=int, default=20, help="scenes per class")
    parser.add_argument("--per-scene", type=int, default=4)
    parser.add_argument("--face-px", type=int, default=110)
    parser.add_argument("--first-search-only", action="store_true", help="no second search (the detector before it)")
    parser.add_argument("--out", default="benchmarks/group_scenes.json")
    args = parser.parse_args(argv)
    detector = Detector(args.model, faces=FaceDetector(retry_max_side=0) if args.first_search_only else None)
    test = load_from_disk(args.data)["test"].shuffle(seed=0)
    rng = np.random.default_rng(0)
    rows = {}
    for label, name in ((0, "real"), (AI_INDEX, "ai")):
        rows_of_class = [i for i, y in enumerate(test["label"]) if y == label]
        faces_found, verdicts, headlines, started = [], Counter(), Counter(), time.time()
        for k in range(args.scenes):
            picked = rows_of_class[k * args.per_scene : (k + 1) * args.per_scene]
            faces = [test[i]["image"].convert("RGB") for i in picked]
            backdrop = test[int(rng.integers(len(test)))]["image"].convert("RGB")
            analysis = detector.analyse(scene(faces, backdrop, args.face_px))
            faces_found.append(len(analysis.faces) if analysis.face_found else 0)
            verdicts.update(face.verdict for face in analysis.faces if analysis.face_found)
            headlines[analysis.summary.verdict if analysis.face_found else "no face"] += 1
        rows[name] = {
            "scenes": args.scenes,
            "faces_pasted": args.scenes * args.per_scene,
            "faces_found": int(sum(faces_found)),
            "face_verdicts": dict(verdicts),
            "headlines": dict(headlines),
            "seconds_per_scene": round((time.time() - started) / args.scenes, 2),
        }
        print(name, json.dumps(rows[name]))
    result = {"model": args.model or "bundled model", "face_px": args.face_px, "canvas": list(CANVAS)}
    result |= {"second_search": not args.first_search_only, "rows": rows}
    Path(args.out).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
