"""Scan many pictures: one row per face (or one row saying why a file could not be judged).

The core, `scan_batch`, is a function over a batch of pictures in columns, so the very same code runs in
the `realorai scan` command, in `datasets.Dataset.map(scan_batch, batched=True, num_proc=N)` and in Ray
Data's `map_batches(scan_batch)`. Each process loads the detector once, on its first batch.

    realorai scan photos/ more/*.jpg --out results.csv --workers 2
"""

from __future__ import annotations

import csv
import glob
import json
import os
from functools import lru_cache
from pathlib import Path

from .csv_cells import spreadsheet_safe
from .images import IMAGE_SUFFIXES, ImageLoadError, load_image, source_bytes
from .input_quality import compression_note, crop_side, lossy_compression, note_labels, small_face_note
from .provenance import read_provenance

COLUMNS = [
    "file",
    "face",
    "box",
    "face_score",
    "p_ai",
    "verdict",
    "confidence",
    "face_found",
    "provenance",
    "input_notes",
    "model",
    "error",
]


@lru_cache(maxsize=2)
def detector_for(model: str | None = None):
    """The process's detector for `model` ($REALORAI_MODEL, else the bundled one), built once."""
    from .predict import Detector

    return Detector(model or os.environ.get("REALORAI_MODEL") or None)


def scan_one(detector, name: str, source) -> list[dict]:
    """Rows for one picture: one per face, or one whole-image row (face_found False), or one error row."""
    failed = dict.fromkeys(COLUMNS, None) | {"file": name, "model": detector.name}
    try:
        data = source_bytes(source)
        result = detector.analyse(load_image(source if data is None else data)).to_dict()
        # Provenance from the same bytes; per-face verdicts stay the pixels' own (combine them as the app does
        # with realorai.provenance.combine if a signed declaration should decide).
        provenance = None if data is None else read_provenance(data).summary
        compressed = None if data is None else compression_note(lossy_compression(data))
    except ImageLoadError as err:
        return [failed | {"error": str(err)}]
    except Exception as err:  # one odd file must never end a scan of a million
        return [failed | {"error": f"analysis failed ({type(err).__name__})"}]
    return [
        {
            "file": name,
            "face": index,
            "box": face["box"],
            "face_score": face["face_score"],
            "p_ai": face["p_ai"],
            "verdict": face["verdict"],
            "confidence": face["confidence"],
            "face_found": result["face_found"],
            "provenance": provenance,
            "input_notes": face_notes(compressed, face, result["face_found"]),
            "model": result["model"],
            "error": None,
        }
        for index, face in enumerate(result["faces"])
    ]


def face_notes(compressed, face: dict, face_found: bool) -> str:
    """The app's input notes for one face's row, as their short labels: the file's compression, its size."""
    small = small_face_note([crop_side(face["crop_box"])]) if face_found else None
    return note_labels(note for note in (compressed, small) if note is not None)


def scan_batch(batch: dict, model: str | None = None, image_column: str = "image", name_column: str = "file") -> dict:
    """Columns in (pictures as paths, bytes or PIL images under `image_column`; names under `name_column`,
    else the paths) -> columns out, one row per face. Output rows do not line up with input rows: with
    `datasets.map`, remove the input columns."""
    detector = detector_for(model)
    images = list(batch[image_column])
    names = list(batch[name_column]) if name_column in batch else [str(i) for i in images]
    rows = [row for name, image in zip(names, images) for row in scan_one(detector, str(name), _source(image))]
    return {column: [row[column] for row in rows] for column in COLUMNS}


def _source(image):
    """What Ray or datasets hand over, as load_image wants it (numpy bytes arrays, {'bytes','path'} dicts)."""
    if isinstance(image, dict):  # a datasets Image feature with decode=False
        return image.get("bytes") or image["path"]
    if hasattr(image, "tobytes") and getattr(image, "dtype", None) is not None and image.dtype.kind in "SO":
        return image.item() if image.ndim == 0 else image.tobytes()
    return image


def expand(inputs: list[str]) -> list[Path]:
    """Files, folders (recursively, pictures by suffix) and globs -> sorted unique files."""
    found: set[Path] = set()
    for spec in inputs:
        path = Path(spec)
        if path.is_dir():
            found.update(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.is_file():
            found.add(path)
        else:
            matches = [Path(m) for m in glob.glob(spec, recursive=True)]
            if not matches:
                raise FileNotFoundError(f"nothing matches {spec!r}")
            found.update(p for p in matches if p.is_file())
    return sorted(p.resolve() for p in found)


class RowWriter:
    """Appends rows to a .csv or .jsonl file, flushing after each picture so a killed scan loses nothing
    that was written; `done` lists the files already in it, which a rerun skips."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.jsonl = self.path.suffix.lower() == ".jsonl"
        if self.path.suffix.lower() not in (".csv", ".jsonl"):
            raise ValueError(f"--out must end in .csv or .jsonl, not {self.path.name!r}")
        self.done = self._read_done()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists() or self.path.stat().st_size == 0
        self._handle = self.path.open("a", newline="")
        if not self.jsonl:
            self._csv = csv.DictWriter(self._handle, fieldnames=COLUMNS)
            if new:
                self._csv.writeheader()

    def _read_done(self) -> set[str]:
        if not self.path.exists():
            return set()
        text = self.path.read_text()
        if text and not text.endswith("\n"):  # a scan killed mid-line: drop the partial row
            text = text[: text.rfind("\n") + 1]
            self.path.write_text(text)
        if self.jsonl:
            return {json.loads(line)["file"] for line in text.splitlines() if line.strip()}
        return {row["file"].removeprefix("'") for row in csv.DictReader(text.splitlines())}

    def write(self, rows: list[dict]) -> None:
        for row in rows:
            if self.jsonl:
                self._handle.write(json.dumps(row) + "\n")
            else:
                self._csv.writerow({k: spreadsheet_safe(json.dumps(v) if isinstance(v, list) else v) for k, v in row.items()})
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()


def _scan_files(args: tuple[list[str], str | None]) -> list[dict]:
    paths, model = args
    detector = detector_for(model)
    return [row for path in paths for row in scan_one(detector, path, path)]


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def scan(inputs: list[str], out: Path, model: str | None = None, workers: int = 1, chunk: int = 8, progress: bool = True) -> dict:
    """Scan `inputs` into `out`, skipping files already there; a summary of what was done."""
    from tqdm import tqdm

    files = expand(inputs)
    out = Path(out).resolve()
    for folder in {p.parent for p in files}:
        if out.parent == folder:
            raise ValueError(f"--out {out} would be written next to the pictures it scans; put it elsewhere")
    writer = RowWriter(out)
    todo = [str(p) for p in files if str(p) not in writer.done]
    chunks = [(todo[i : i + chunk], model) for i in range(0, len(todo), chunk)]
    rows_written = 0
    bar = tqdm(total=len(todo), unit="file", desc="scanning", disable=not progress)
    pool = None
    try:
        if workers <= 1:
            results = map(_scan_files, chunks)
        else:
            import multiprocessing

            threads = max(1, (os.cpu_count() or 1) // workers)
            pool = multiprocessing.get_context("spawn").Pool(workers, initializer=_init_worker, initargs=(threads,))
            results = pool.imap_unordered(_scan_files, chunks)
        for rows in results:
            writer.write(rows)
            rows_written += len(rows)
            bar.update(len({r["file"] for r in rows}))
    finally:
        if pool is not None:
            pool.terminate()  # finished or interrupted: every result worth keeping is already written
        bar.close()
        writer.close()
    return {"files": len(files), "skipped": len(files) - len(todo), "scanned": len(todo), "rows": rows_written, "out": str(out)}
