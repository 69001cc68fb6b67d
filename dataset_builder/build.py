"""Build the dataset: collect -> crop faces -> drop duplicates -> split -> save (datasets + ImageFolder) + card."""

from __future__ import annotations

import csv
import json
import multiprocessing
import os
import shutil
from collections import Counter
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
from datasets import ClassLabel, Dataset, DatasetDict, Features, Image, Value
from tqdm import tqdm

from realorai.config import FACE_SIZE, LABELS
from realorai.faces import face_crop_settings

from .card import render_card
from .collect import collect
from .dedupe import deduplicate, lookalike_groups
from .prepare import Prepared, Skipped, init_worker, prepare
from .split import HOLDOUT, SPLITS, assign_splits

FEATURES = Features(
    {
        "image": Image(),
        "label": ClassLabel(names=list(LABELS)),
        "source": Value("string"),
        "generator": Value("string"),
        "face_found": Value("bool"),
        "file": Value("string"),
    }
)


@dataclass
class BuildOptions:
    inputs: list[Path]
    out: Path
    size: int = FACE_SIZE
    seed: int = 0
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    holdout: list[str] = field(default_factory=list)  # sources kept out of train/val/test entirely
    keep_faceless: bool = False  # keep images with no detected face as their centre square
    hash_size: int = 16  # pHash of hash_size² bits (8 = imagehash's 64-bit default, too coarse for aligned faces)
    near_duplicate_bits: int = 24  # phash distance at or below which two images are the same picture
    group_bits: int = 32  # phash distance at or below which images must share a split
    image_format: str = "png"  # png (lossless) or jpeg (q95)
    workers: int = 0  # 0 = one per core
    overwrite: bool = False
    limit_per_source: int = 0  # 0 = all; for quick trials


@dataclass
class BuildReport:
    counts: list[tuple[str, str, str, str, int]]  # split, label, source, generator, images
    dedupe: dict[str, int]
    skipped: list[tuple[str, str]]  # file, reason
    faceless_kept: int


def build(options: BuildOptions) -> BuildReport:
    out = options.out
    if options.hash_size < 2:  # before an hour of face cropping, not after
        raise ValueError(f"--hash-size must be at least 2 (a hash of N x N bits), got {options.hash_size}")
    _check_apart_from_inputs(out, options.inputs)
    if out.exists() and any(out.iterdir()):
        if not options.overwrite:
            raise FileExistsError(f"{out} already exists and is not empty; pass --overwrite to replace it")
        shutil.rmtree(out)

    records, skipped_files = collect(options.inputs)
    if options.limit_per_source:
        per_source: Counter = Counter()
        kept = []
        for record in records:
            per_source[(record.label, record.source)] += 1
            if per_source[(record.label, record.source)] <= options.limit_per_source:
                kept.append(record)
        records = kept
    unknown = set(options.holdout) - {r.source for r in records}
    if unknown:
        raise ValueError(f"--holdout-source {sorted(unknown)} not among the sources found")

    prepared, skipped = _prepare_all(records, options)
    skipped_rows = [(str(p), why) for p, why in skipped_files] + [(str(s.record.path), s.reason) for s in skipped]

    labels = [p.record.label for p in prepared]
    sources = [p.record.source for p in prepared]
    phashes = [_hash_rows([p.phash_crop for p in prepared], options), _hash_rows([p.phash_full for p in prepared], options)]
    dedupe = deduplicate([p.sha256 for p in prepared], phashes, labels, sources, options.near_duplicate_bits)
    for i, (twin, why) in sorted(dedupe.dropped.items()):
        twin_name = str(prepared[twin].record.path) if twin >= 0 else "another label"
        skipped_rows.append((str(prepared[i].record.path), f"{why} of {twin_name}"))
    kept = [prepared[i] for i in dedupe.keep]

    groups = lookalike_groups([h[dedupe.keep] for h in phashes], options.group_bits)
    splits = assign_splits(
        keys=[p.record.key for p in kept],
        strata=[(p.record.label, p.record.source) for p in kept],
        groups=groups,
        fractions=options.fractions,
        seed=options.seed,
        holdout=[p.record.source in options.holdout for p in kept],
    )
    split_names = [s for s in (*SPLITS, HOLDOUT) if s in set(splits)]

    out.mkdir(parents=True, exist_ok=True)
    dataset = DatasetDict({name: _to_dataset([p for p, s in zip(kept, splits) if s == name]) for name in split_names})
    dataset.save_to_disk(str(out))
    _export_imagefolder(out / "imagefolder", kept, splits, options.image_format)

    rows = [(s, p.record.label, p.record.source, p.record.generator) for p, s in zip(kept, splits)]
    settings = asdict(options) | {
        "format": options.image_format,
        "fractions": list(options.fractions),
        "face_crop": face_crop_settings(options.size),
    }
    skip_reasons = Counter(_reason_kind(why) for _, why in skipped_rows)
    (out / "README.md").write_text(render_card(rows, settings, dict(dedupe.counts), skip_reasons, split_names))
    report = BuildReport(
        counts=[(*k, n) for k, n in sorted(Counter(rows).items())],
        dedupe=dict(dedupe.counts),
        skipped=skipped_rows,
        faceless_kept=sum(not p.face_found for p in kept),
    )
    (out / "build_report.json").write_text(
        json.dumps(
            asdict(report) | {"settings": {k: str(v) if isinstance(v, Path) else v for k, v in settings.items()}},
            indent=1,
            default=str,
        )
    )
    return report


def _prepare_all(records, options: BuildOptions) -> tuple[list[Prepared], list[Skipped]]:
    work = partial(
        prepare,
        size=options.size,
        keep_faceless=options.keep_faceless,
        image_format=options.image_format,
        hash_size=options.hash_size,
    )
    workers = options.workers or os.cpu_count() or 1
    prepared: list[Prepared] = []
    skipped: list[Skipped] = []
    progress = tqdm(total=len(records), desc="cropping faces", unit="img")
    if workers == 1:
        init_worker()
        results = map(work, records)
        pool = None
    else:
        pool = multiprocessing.get_context("fork").Pool(workers, initializer=init_worker)
        results = pool.imap(work, records, chunksize=16)  # ordered: results follow the sorted records
    try:
        for result in results:
            (prepared if isinstance(result, Prepared) else skipped).append(result)
            progress.update()
    finally:
        progress.close()
        if pool is not None:
            pool.close()
            pool.join()
    return prepared, skipped


def _hash_rows(hashes: list[np.ndarray], options: BuildOptions) -> np.ndarray:
    """One row of uint64 words per image (an empty build still has the row width)."""
    return np.array(hashes, np.uint64).reshape(len(hashes), (options.hash_size**2 + 63) // 64)


def _to_dataset(items: list[Prepared]) -> Dataset:
    return Dataset.from_dict(
        {
            "image": [{"bytes": p.image_bytes, "path": None} for p in items],
            "label": [LABELS.index(p.record.label) for p in items],
            "source": [p.record.source for p in items],
            "generator": [p.record.generator for p in items],
            "face_found": [p.face_found for p in items],
            "file": [p.record.key for p in items],
        },
        features=FEATURES,
    )


def _export_imagefolder(root: Path, kept: list[Prepared], splits: list[str], image_format: str) -> None:
    """split/label/source__name.ext plus metadata.csv per split: loadable with load_dataset('imagefolder')."""
    suffix = ".png" if image_format == "png" else ".jpg"
    by_split: dict[str, list[tuple[str, Prepared]]] = {}
    for item, split in zip(kept, splits):
        name = f"{item.record.label}/{item.record.source}__{Path(item.record.path.name).stem}{suffix}"
        by_split.setdefault(split, []).append((name, item))
    for split, items in by_split.items():
        for name, item in items:
            path = root / split / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(item.image_bytes)
        with (root / split / "metadata.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["file_name", "source", "generator", "face_found"])
            for name, item in items:
                writer.writerow([name, item.record.source, item.record.generator, item.face_found])


def _reason_kind(reason: str) -> str:
    return reason.split(" of ")[0].split(":")[0].split("(")[0].strip()


def _check_apart_from_inputs(out: Path, inputs: list[Path]) -> None:
    """The output must neither contain nor sit inside an input: inputs are never written or deleted."""
    resolved = out.resolve()
    for source in inputs:
        source = source.resolve()
        if resolved == source or resolved in source.parents or source in resolved.parents:
            raise ValueError(f"the output folder {out} overlaps the input folder {source}; choose another --out")
