"""Real photos from outside our data, as a user would upload them: the pictures that PyPI wheels carry.

None of these is in ../shared/data/portraits, none is shipped in this repo, and none was used to choose
anything: a handful of unseen real photos (two official studio portraits, a TV still with six people, a
cameraman outdoors, an aligned face crop) through the app's own pipeline (`Detector.analyse`: detection,
crop, runtime, thresholds), as uploaded and after each re-share chain of the robustness table applied to the
whole picture. Every face is real, so the question is only how many are called AI.

    python -m benchmarks.wheel_pictures                                   # skimage and matplotlib (installed)
    pip download insightface==2.1 --no-deps -d /tmp/wheels                # a group photo and a face crop
    python -m benchmarks.wheel_pictures --insightface-wheel /tmp/wheels/insightface-2.1-py3-none-any.whl

Writes benchmarks/wheel_pictures.json.
"""

from __future__ import annotations

import argparse
import json
import zipfile
from collections import Counter
from pathlib import Path

from realorai.images import load_image
from realorai.onnx_weights import package_file
from realorai.predict import Detector
from realorai.reshare import RESHARE

# (package, file inside it, what it shows); all real photographs of people
INSTALLED = [
    ("skimage", "data/astronaut.png", "NASA portrait of Eileen Collins, studio"),
    ("skimage", "data/camera.png", "cameraman outdoors, greyscale"),
    ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg", "US Navy portrait of Grace Hopper, studio"),
]
IN_INSIGHTFACE = [
    ("insightface/data/images/t1.jpg", "TV still, six people round a table"),
    ("insightface/data/images/Tom_Hanks_54745.png", "aligned face crop, 112 px"),
]


def pictures(insightface_wheel: str | None) -> list[tuple[str, str, bytes]]:
    found = [  # skimage and matplotlib come with requirements-dev.txt
        (f"{package}/{relative}", what, package_file(package, relative).read_bytes()) for package, relative, what in INSTALLED
    ]
    if insightface_wheel:
        with zipfile.ZipFile(insightface_wheel) as wheel:
            found += [(name, what, wheel.read(name)) for name, what in IN_INSIGHTFACE]
    return found


def judged_faces(detector: Detector, image) -> list[dict]:
    analysis = detector.analyse(image)
    return [{"p_ai": round(f.p_ai, 4), "verdict": f.verdict} for f in analysis.faces] if analysis.face_found else []


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model folder or hf-hub id (default: the bundled model)")
    parser.add_argument("--insightface-wheel", default=None, help="the insightface 2.1 wheel (pip download)")
    parser.add_argument("--out", default="benchmarks/wheel_pictures.json")
    args = parser.parse_args(argv)
    detector = Detector(args.model)
    rows, verdicts = [], {view: Counter() for view in ["as uploaded", *RESHARE]}
    print("| picture | what | faces | P(AI) per face, as uploaded | re-shared copies: faces, highest P(AI) |")
    print("|---|---|---:|---|---|")
    for name, what, data in pictures(args.insightface_wheel):
        original = load_image(data)
        views = {"as uploaded": original} | {view: chain(original) for view, chain in RESHARE.items()}
        faces = {view: judged_faces(detector, image) for view, image in views.items()}
        for view, found in faces.items():
            verdicts[view].update(f["verdict"] for f in found)
        rows.append({"picture": name, "what": what, "faces": faces})
        p_ai = ", ".join(f"{f['p_ai']:.4f} {f['verdict']}" for f in faces["as uploaded"]) or "no face"
        copies = [f for view in RESHARE for f in faces[view]]
        highest = max((f["p_ai"] for f in copies), default=None)
        print(f"| `{name}` | {what} | {len(faces['as uploaded'])} | {p_ai} | {len(copies)}, {highest} |")
    band = list(detector.serving.uncertain_band)  # (real up to, AI from)
    summary = {view: dict(counts) for view, counts in verdicts.items()} | {"uncertain_band": band}
    print(json.dumps(summary))
    Path(args.out).write_text(json.dumps({"model": args.model or "bundled model", "summary": summary, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
