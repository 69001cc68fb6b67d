"""Is a plain backdrop the model's cue for "AI"? The data README warns it could be: genphotos' AI faces share a
plain grey studio backdrop, and a real studio portrait (the app's London examples) has one too.

Every test face whose backdrop is plain enough to find without a segmentation model (the near-uniform region
touching the top and side edges, at least `--min-share` of the crop) gets that backdrop replaced, with a
soft edge, by genphotos' own grey (the median of their backdrops), white, near-black and a heavily blurred
real photo, and is scored through the app's own runtime at the model's thresholds. If real photos turned
AI on grey, the backdrop would be the cue; if AI faces stop being caught on other backdrops, their own
backgrounds carry part of what the model sees. Prints the table per source and class and writes
benchmarks/backdrops.json.

    python -m benchmarks.backdrops                  # the bundled model, ~2 min on 2 cores
    python -m benchmarks.backdrops --model runs/x --limit 400
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from datasets import load_from_disk
from PIL import ImageFilter

from benchmarks.edits import arguments, probabilities, test_faces
from realorai.backdrops import MIN_SHARE, on_backdrop, plain_backdrop
from realorai.config import LABELS
from realorai.predict import Detector


def main(argv=None) -> int:
    parser = arguments(__doc__, "benchmarks/backdrops.json")
    parser.add_argument("--min-share", type=float, default=MIN_SHARE, help="least share of the crop the backdrop must cover")
    args = parser.parse_args(argv)

    detector = Detector(args.model)
    test, faces = test_faces(args)
    found = [plain_backdrop(face) for face in faces]
    chosen = [i for i, (mask, _) in enumerate(found) if mask.mean() >= args.min_share]
    sources, labels = np.asarray(test["source"])[chosen], np.asarray(test["label"])[chosen]
    grey = np.median([found[i][1] for i, source in zip(chosen, sources) if source == "genphotos"], axis=0)
    train = load_from_disk(args.data)["train"]
    photos = [i for i, s in enumerate(train["source"]) if s == "pixabay"][:50]
    blurred = [train[i]["image"].convert("RGB").resize(faces[0].size).filter(ImageFilter.GaussianBlur(14)) for i in photos]
    scenes = [np.asarray(scene, dtype=np.float32) for scene in blurred]
    size = (*faces[0].size[::-1], 3)
    backdrops = {
        "as is": None,
        "genphotos grey": lambda k: np.broadcast_to(grey, size),
        "white": lambda k: np.full(size, 240.0),
        "near-black": lambda k: np.full(size, 35.0),
        "blurred photo": lambda k: scenes[k % len(scenes)],
    }
    _, ai_from = detector.serving.uncertain_band
    scores = {}
    for name, fill in backdrops.items():
        copies = [faces[i] if fill is None else on_backdrop(faces[i], found[i][0], fill(k)) for k, i in enumerate(chosen)]
        scores[name] = probabilities(detector, copies)
    groups = {f"{LABELS[label]} (all)": labels == label for label in sorted(set(labels.tolist()))}
    groups |= {source: sources == source for source in sorted(set(sources.tolist()))}
    rows = {}
    print("| faces | n | " + " | ".join(backdrops) + " |\n|---|---:|" + "---:|" * len(backdrops))
    for group, members in groups.items():
        rows[group] = {"n": int(members.sum())} | {
            name: {"median_p_ai": float(np.median(p[members])), "called_ai": float(np.mean(p[members] >= ai_from))}
            for name, p in scores.items()
        }
        cells = [f"{rows[group][name]['called_ai']:.0%} ({rows[group][name]['median_p_ai']:.3f})" for name in backdrops]
        print(f"| {group} | {members.sum()} | " + " | ".join(cells) + " |")
    print(f"\ncells: share called AI at P(AI) >= {ai_from} (median P(AI)); {len(chosen)} of {len(faces)} test faces qualify")
    record = {"model": detector.name, "ai_from": ai_from, "grey": grey.tolist(), "min_share": args.min_share, "rows": rows}
    record["faces_with_plain_backdrop"] = {s: int((sources == s).sum()) for s in sorted(set(sources.tolist()))}
    Path(args.out).write_text(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
