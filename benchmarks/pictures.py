"""Whole pictures from outside our data, as a user would upload them, and their re-shared copies.

The test split's faces are crops of pictures that were all resized to 256 px; the re-share table copies
those crops. A user uploads the whole picture, at its own size, and re-shares that. This takes each picture
of a folder (default: the app's examples, real studio portraits of the London set and text-to-image faces,
none of them from a source in our data), makes the re-share chains' copies of the whole picture (plus a
mirror image, a JPEG re-save and two downscales), runs each through the app's own pipeline
(`Detector.analyse`: face detection, crop, runtime, thresholds) and prints the verdict of each copy.
A picture's class comes from its name (`real-*` or `ai-*`). Writes benchmarks/pictures.json.

    python -m benchmarks.pictures                               # the bundled model on the app's examples, ~1 min
    python -m benchmarks.pictures --model runs/x --folder DIR   # another model, other pictures
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

from realorai.config import AI_INDEX, EXAMPLES_DIR, FACE_MARGIN, FACE_SIZE
from realorai.faces import face_crops
from realorai.images import load_image
from realorai.predict import Detector, verdict_for
from realorai.preprocess import jpeg
from realorai.reshare import RESHARE, scale

COPIES = {
    "as uploaded": lambda image: image,
    "mirrored": lambda image: image.transpose(Image.FLIP_LEFT_RIGHT),
    "JPEG q90": lambda image: jpeg(image, 90),
    "0.75x": lambda image: scale(image, 0.75),
    "0.5x": lambda image: scale(image, 0.5),
    **RESHARE,
}
MARK = {"ai": "AI", "real": "real", "uncertain": "?"}


def labelled_pictures(folder: str | Path) -> list[tuple[Path, str]]:
    """(path, 'real' or 'ai') for each picture of `folder` named real-* or ai-*."""
    files = sorted(p for p in Path(folder).iterdir() if p.name.split("-")[0] in ("real", "ai") and p.suffix != ".md")
    return [(path, path.name.split("-")[0]) for path in files]


def picture_faces(folder: str | Path) -> list[tuple[str, str, str, Image.Image]]:
    """(picture, label, copy, face crop) for every face of every copy of `folder`'s pictures, cropped as the
    app crops them: for benchmarks that score a candidate fit on them without building a Detector."""
    faces = []
    for path, label in labelled_pictures(folder):
        image = load_image(path.read_bytes())
        for name, copy in COPIES.items():
            faces += [
                (path.name, label, name, crop.image) for crop in face_crops(copy(image), size=FACE_SIZE, margin=FACE_MARGIN)
            ]
    return faces


def picture_verdicts(
    faces: list[tuple[str, str, str, Image.Image]], p_ai, band: tuple[float, float], real_reference=None
) -> dict:
    """Each copy's headline P(AI) (its most AI-looking face, as the app's) and verdict under `band`, and how
    many copies of real pictures were called AI and of AI pictures called real. With `real_reference` (P(AI)
    of known real photos, e.g. the test split's) each copy also gets the share of them scoring at least as
    high: a measure of how AI-looking the copy is that does not depend on where a fit puts its threshold."""
    headline: dict[tuple[str, str, str], float] = {}
    for (picture, label, name, _), p in zip(faces, p_ai):
        headline[picture, label, name] = max(float(p), headline.get((picture, label, name), 0.0))
    rows, wrong, of = {}, {"real": 0, "ai": 0}, {"real": 0, "ai": 0}
    for (picture, label, name), p in headline.items():
        verdict = verdict_for(p, band)
        rows.setdefault(picture, {})[name] = {"p_ai": round(p, 4), "verdict": verdict}
        if real_reference is not None:
            rows[picture][name]["reals_as_high"] = round(float(np.mean(np.asarray(real_reference) >= p)), 4)
        wrong[label] += verdict == ("ai" if label == "real" else "real")
        of[label] += 1
    return {"thresholds": list(band), "wrong": wrong, "of": of, "rows": rows}


def fit_scorer(faces: list[tuple[str, str, str, Image.Image]], picture_ids, test):
    """For a benchmark's full fit (anything with `p_ai(ids)` and `decision`): its verdicts on the pictures'
    faces (row ids `picture_ids` in its store), each copy against the test split's real photos."""

    def scored(fitted) -> dict:
        reals = fitted.p_ai(test.views["clean"][test.labels != AI_INDEX])
        return {"pictures": picture_verdicts(faces, fitted.p_ai(picture_ids), fitted.decision.band, reals)}

    return scored


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model folder or hf-hub id (default: the bundled model)")
    parser.add_argument("--folder", default=str(EXAMPLES_DIR), help="pictures named real-* or ai-*")
    parser.add_argument("--out", default="benchmarks/pictures.json")
    args = parser.parse_args(argv)

    detector = Detector(args.model)
    pictures = labelled_pictures(args.folder)
    rows, wrong = {}, {"real": 0, "ai": 0}
    print("| picture | " + " | ".join(COPIES) + " |\n|---|" + "---:|" * len(COPIES))
    for path, label in pictures:
        image = load_image(path.read_bytes())
        results = {name: detector.analyse(copy(image)).summary for name, copy in COPIES.items()}
        rows[path.name] = {name: {"p_ai": r.p_ai, "verdict": r.verdict} for name, r in results.items()}
        wrong[label] += sum(r.verdict == ("ai" if label == "real" else "real") for r in results.values())
        print(f"| {path.name} | " + " | ".join(f"{r.p_ai:.4f} {MARK[r.verdict]}" for r in results.values()) + " |")
    n = {label: len(COPIES) * sum(kind == label for _, kind in pictures) for label in wrong}
    print(f"\nreal pictures' copies called AI: {wrong['real']} of {n['real']}", end="; ")
    print(f"AI pictures' copies called real: {wrong['ai']} of {n['ai']}")
    print(f"thresholds: real up to {detector.serving.uncertain_band[0]}, AI from {detector.serving.uncertain_band[1]}")
    record = {"model": detector.name, "thresholds": list(detector.serving.uncertain_band), "wrong": wrong, "of": n, "rows": rows}
    Path(args.out).write_text(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
