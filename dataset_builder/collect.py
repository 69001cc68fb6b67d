"""Find the input images: folders laid out LABEL/SOURCE/*, with an optional manifest.csv giving `generator`.

Only reads; never touches the inputs.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from realorai.config import LABELS
from realorai.images import IMAGE_SUFFIXES

DEFAULT_GENERATOR = {"real": "camera", "ai": "unknown"}


@dataclass(frozen=True)
class Record:
    path: Path
    label: str  # one of LABELS
    source: str  # folder name: where the image comes from (sdfd, ffhq, ...)
    generator: str  # camera, stylegan2, stable-diffusion-2.1, ... (from manifest.csv when present)

    @property
    def key(self) -> str:
        """Stable identity across machines: root folder name + relative path."""
        return f"{self.label}/{self.source}/{self.path.name}"


def collect(roots: list[Path]) -> tuple[list[Record], list[tuple[Path, str]]]:
    """All candidate files under `roots`, sorted, and the files skipped with a reason."""
    records: list[Record] = []
    skipped: list[tuple[Path, str]] = []
    for root in roots:
        if not root.is_dir():
            raise FileNotFoundError(f"input folder not found: {root}")
        generators = _read_manifest(root / "manifest.csv")
        found_label = False
        for label in LABELS:
            label_dir = root / label
            if not label_dir.is_dir():
                continue
            found_label = True
            for source_dir in sorted(p for p in label_dir.iterdir() if p.is_dir()):
                for path in sorted(source_dir.rglob("*")):
                    if not path.is_file():
                        continue
                    if path.suffix.lower() not in IMAGE_SUFFIXES:
                        skipped.append((path, f"not an image file extension ({path.suffix or 'none'})"))
                        continue
                    rel = path.relative_to(root).as_posix()
                    generator = generators.get(rel, DEFAULT_GENERATOR[label])
                    records.append(Record(path, label, source_dir.name, generator))
        if not found_label:
            raise ValueError(f"{root} has neither a real/ nor an ai/ folder (expected LABEL/SOURCE/*.jpg)")
    return records, skipped


def _read_manifest(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    with path.open(newline="") as handle:
        return {row["file"]: row["generator"] for row in csv.DictReader(handle) if row.get("generator")}
