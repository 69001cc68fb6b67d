"""Pack the portrait set for a GPU machine that can receive only ~50 MB per call and has no face detector.

Writes `<out>/index.json` (one row per face of the built dataset: split, row index, label, source, family,
original file, crop box) and `<out>/payload.tar`: the original files, index.json and CLIP's INT8 graph
(~250 MB). The GPU side cuts each face with `realorai.faces.cut(original, box)`, which is how the dataset
builder made it: this script checks that the cut equals the dataset's stored face, pixel for pixel, and
lists the faces where it does not (one of 8,582 here: its detection came out differently).

    python -m benchmarks.gpu_pack --out .gpu/data
    split -b 53000000 -d -a 1 .gpu/data/payload.tar .gpu/data/part-   # one part per call, ~53 MB each
    # there: cat part-* > payload.tar && tar xf payload.tar -C orig; then benchmarks/gpu_finetune.py
"""

from __future__ import annotations

import argparse
import io
import json
import tarfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from realorai.backbones import CLIP_ONNX
from realorai.config import portraits_dir
from realorai.faces import cut, face_crops, whole_image_crop
from realorai.images import load_image
from realorai.onnx_weights import package_file


def box_for(job: tuple[str, bool, bytes]) -> tuple[list[int] | None, str]:
    torch.set_num_threads(1)  # one process per core, as the dataset builder runs MTCNN
    path, face_found, stored_png = job
    image = load_image(path)
    crops = face_crops(image, all_faces=False) if face_found else [whole_image_crop(image)]
    if not crops:
        return None, "no face found now"
    stored = np.asarray(Image.open(io.BytesIO(stored_png)).convert("RGB"))
    mine = np.asarray(cut(image, crops[0].crop_box))
    if not np.array_equal(stored, mine):
        return list(crops[0].crop_box), f"differs from the stored face (max {np.abs(stored.astype(int) - mine).max()})"
    return list(crops[0].crop_box), ""


def main(argv: list[str] | None = None) -> int:
    from datasets import load_from_disk

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="data/portraits-faces")
    parser.add_argument("--portraits", type=Path, default=None, help="the original pictures (default: PORTRAITS_DIR)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    root = args.portraits or portraits_dir()
    dataset = load_from_disk(args.data)
    rows, jobs = [], []
    for split in dataset:
        table = dataset[split].cast_column("image", dataset[split].features["image"].__class__(decode=False))
        for index, row in enumerate(table):
            rows.append(
                dict(
                    split=split,
                    index=index,
                    label=row["label"],
                    source=row["source"],
                    generator=row["generator"],
                    file=row["file"],
                )
            )
            jobs.append((str(root / row["file"]), row["face_found"], row["image"]["bytes"]))
    with ProcessPoolExecutor(args.workers) as pool:
        results = list(pool.map(box_for, jobs, chunksize=16))
    problems = [(r["file"], why) for r, (_, why) in zip(rows, results) if why]
    for row, (box, _) in zip(rows, results):
        row["box"] = box
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "index.json").write_text(json.dumps(rows))
    files = sorted({r["file"] for r in rows})
    with tarfile.open(args.out / "payload.tar", "w", format=tarfile.GNU_FORMAT) as archive:  # no per-file PAX headers: 9 MB less
        for name in files:
            archive.add(root / name, arcname=name)
        archive.add(args.out / "index.json", arcname="index.json")
        archive.add(package_file(*CLIP_ONNX), arcname=Path(CLIP_ONNX[1]).name)
    print(f"{len(rows)} faces from {len(files)} files; {len(problems)} cut differently from the stored face")
    for problem in problems[:20]:
        print(" ", *problem)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
