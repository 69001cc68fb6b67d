"""Wrong-verdict reports: with the visitor's explicit consent, keep the picture and the result as a source
the dataset builder reads (`LABEL/reports/<hash>.<ext>` plus `manifest.csv`), so the next dataset learns
from the mistakes people actually meet.

    python -m dataset_builder ../shared/data/portraits reports --out data/portraits-faces-next
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import os
import threading
from pathlib import Path

from .config import LABELS, REPO_ROOT
from .csv_cells import spreadsheet_safe

MAX_TOTAL_MB = 500  # the folder never grows past this; further reports are refused with a message
MANIFEST_COLUMNS = ["file", "generator", "reported_at", "model", "model_verdict", "p_ai", "note"]
SOURCE = "reports"  # the builder's source name for every reported picture
_lock = threading.Lock()  # one writer at a time: the manifest is appended to


class ReportRefused(ValueError):
    """Nothing was stored; the message says why."""


def reports_dir() -> Path:
    """$REALORAI_REPORTS, else reports/ in the checkout (ignored by git and the Space image)."""
    return Path(os.environ.get("REALORAI_REPORTS") or REPO_ROOT / "reports")


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0


def save_report(
    picture: Path,
    correct_label: str,
    result: dict,
    consent: bool,
    note: str = "",
    folder: Path | None = None,
    max_total_mb: int = MAX_TOTAL_MB,
) -> Path:
    """Store `picture` under its correct label with the model's result; the stored file's path.

    Refuses (storing nothing) without consent, without a correct label, without a result to correct, or
    when the folder is full.
    """
    if consent is not True:
        raise ReportRefused("nothing was kept: tick the box to agree that the picture may be kept.")
    if correct_label not in LABELS:
        raise ReportRefused(f"nothing was kept: say what the picture really is ({' or '.join(LABELS)}).")
    if not result or "verdict" not in result:
        raise ReportRefused("nothing was kept: analyse the picture first, then report its verdict.")
    picture = Path(picture)
    if not picture.is_file():
        raise ReportRefused("nothing was kept: the picture is no longer on the server; upload it again.")
    folder = Path(folder) if folder else reports_dir()
    data = picture.read_bytes()
    with _lock:
        if folder_bytes(folder) + len(data) > max_total_mb * 1_000_000:
            raise ReportRefused(f"nothing was kept: the reports folder is full ({max_total_mb} MB). Thank you all the same.")
        target = folder / correct_label / SOURCE / f"{hashlib.sha256(data).hexdigest()[:20]}{picture.suffix.lower() or '.jpg'}"
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        partial.write_bytes(data)
        partial.replace(target)  # never a half-written picture in the builder's input
        manifest = folder / "manifest.csv"
        new = not manifest.exists()
        with manifest.open("a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=MANIFEST_COLUMNS)
            if new:
                writer.writeheader()
            writer.writerow(
                {
                    "file": target.relative_to(folder).as_posix(),
                    "generator": "camera" if correct_label == "real" else "unknown (user report)",
                    "reported_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                    "model": result.get("model", ""),
                    "model_verdict": result["verdict"],
                    "p_ai": result.get("p_ai", ""),
                    "note": spreadsheet_safe(" ".join(str(note).split())[:300]),
                }
            )
    return target
