"""What the app's endpoints do, without Gradio: file in, JSON-serialisable result (and pictures) out.

Kept apart from `app.py` so every action is tested directly; the app only wires these to components.
Errors are raised as ImageLoadError with a plain message; the app turns them into gr.Error.
"""

from __future__ import annotations

import csv
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from .images import ImageLoadError, ImageSource, load_image
from .predict import VERDICT_TEXT, Analysis, Detector, draw_boxes, heatmap_overlay

MAX_BATCH = 50  # files per batch request; more is refused with a message, not silently cut
BATCH_COLUMNS = ["file", "verdict", "p_ai", "confidence", "faces", "face_found", "error"]


@dataclass
class Explained:
    analysis: Analysis
    annotated: Image.Image  # the picture with verdict-coloured face boxes
    heatmaps: list[Image.Image]  # one Grad-CAM overlay per face crop


def predict_file(detector: Detector, path: str | Path) -> dict:
    """JSON result for one picture: verdict, probabilities, faces with boxes."""
    return detector.analyse(load_image(path)).to_dict()


def explain_file(detector: Detector, source: ImageSource) -> Explained:
    image = load_image(source)
    analysis = detector.analyse(image)
    heatmaps = [heatmap_overlay(crop, detector.explain(crop)) for crop in analysis.crops]
    return Explained(analysis, draw_boxes(image, analysis), heatmaps)


def batch_row(name: str, result: dict | None = None, error: str = "") -> dict:
    """One table/CSV row: the headline verdict of a picture, or why it could not be judged."""
    row = dict.fromkeys(BATCH_COLUMNS, "") | {"file": name, "error": error}
    if result is not None:
        row.update(
            verdict=VERDICT_TEXT[result["verdict"]],
            p_ai=result["p_ai"],
            confidence=result["confidence"],
            faces=len(result["faces"]) if result["face_found"] else 0,
            face_found=result["face_found"],
        )
    return row


def predict_batch(detector: Detector, paths: list[str | Path]) -> list[dict]:
    """One row per file; a bad file gets its error in the row instead of failing the batch."""
    if len(paths) > MAX_BATCH:
        raise ImageLoadError(f"{len(paths)} files sent; at most {MAX_BATCH} per batch.")
    rows = []
    for path in paths:
        try:
            rows.append(batch_row(Path(path).name, predict_file(detector, path)))
        except ImageLoadError as err:
            rows.append(batch_row(Path(path).name, error=str(err)))
    return rows


def table(rows: list[dict]) -> list[list]:
    """Rows as lists in BATCH_COLUMNS order, for a Dataframe."""
    return [[row[c] for c in BATCH_COLUMNS] for row in rows]


def write_csv(rows: list[dict]) -> str:
    handle = tempfile.NamedTemporaryFile("w", suffix=".csv", prefix="real-or-ai-", delete=False, newline="")
    with handle:
        writer = csv.DictWriter(handle, fieldnames=BATCH_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return handle.name


def classify_frame(detector: Detector, frame: Image.Image | None) -> dict:
    """Live webcam: the verdict for the main face of one frame. The frame is not kept anywhere."""
    if frame is None:
        return {"verdict": "none", "message": "waiting for the camera"}
    return detector.analyse(load_image(frame)).to_dict()
