"""What the app's endpoints do, without Gradio: file in, JSON-serialisable result (and pictures) out.

Kept apart from `app.py` so every action is tested directly; the app only wires these to components.
Errors are raised as ImageLoadError with a plain message; the app turns them into gr.Error.

One `Service` per process holds the loaded detector and the one limit on work in flight: every path that
decodes a picture or runs the model takes a slot first, so memory is bounded by the number of slots,
however the requests are spread over the endpoints.
"""

from __future__ import annotations

import base64
import csv
import ctypes
import ctypes.util
import io
import logging
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from .csv_cells import spreadsheet_safe
from .images import ImageLoadError, ImageSource, load_image, source_bytes
from .input_quality import InputNote, crop_side, input_notes, note_labels
from .predict import VERDICT_TEXT, Analysis, Detector, draw_boxes, heatmap_overlay, side_by_side
from .provenance import Provenance, combine, read_provenance

log = logging.getLogger("real-or-ai")

MAX_BATCH = 50  # files per batch request; more is refused with a message, not silently cut
BATCH_COLUMNS = ["file", "verdict", "p_ai", "confidence", "faces", "face_found", "provenance", "input_notes", "error"]
DISPLAY_MAX_SIDE = 1600  # annotated pictures sent back are no larger: the boxes stay legible, memory stays small
LARGE_PIXELS = 4_000_000  # after a picture this large, hand freed memory back to the system


@dataclass
class Explained:
    analysis: Analysis
    annotated: Image.Image  # the picture with verdict-coloured face boxes, at most DISPLAY_MAX_SIDE
    heatmaps: list[Image.Image]  # one Grad-CAM overlay per face crop
    provenance: Provenance  # read from the uploaded file's own bytes
    notes: list[InputNote]  # what the file and the faces' sizes say about how much the pixels can tell


def crop_sides(analysis: Analysis) -> list[int]:
    """Pixels across the square the model saw, per judged face; none for a whole-picture judgement."""
    return [crop_side(face.crop_box) for face in analysis.faces] if analysis.face_found else []


def with_notes(result: dict, notes: list[InputNote]) -> dict:
    return dict(result, input_notes=[note.to_dict() for note in notes])


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
            provenance=result.get("provenance", {}).get("summary", ""),
            input_notes=note_labels(result.get("input_notes", [])),
        )
    return row


def table(rows: list[dict]) -> list[list]:
    """Rows as lists in BATCH_COLUMNS order, for a Dataframe."""
    return [[row[c] for c in BATCH_COLUMNS] for row in rows]


def write_csv(rows: list[dict], folder: Path) -> str:
    """The rows as a CSV in `folder` (the app's managed scratch folder, swept like every upload)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"real-or-ai-{uuid.uuid4().hex[:12]}.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=BATCH_COLUMNS)
        writer.writeheader()
        writer.writerows({k: spreadsheet_safe(v) for k, v in row.items()} for row in rows)
    return str(path)


def inline_picture(image: Image.Image, quality: int = 85) -> str:
    """A data: URI of the picture, so it is shown without ever being written to disk."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


_LIBC = ctypes.CDLL(ctypes.util.find_library("c")) if ctypes.util.find_library("c") else None
if _LIBC is not None and not hasattr(_LIBC, "malloc_trim"):  # not glibc (e.g. musl): nothing to trim
    _LIBC = None


def _release_memory() -> None:
    """Return freed heap to the OS: glibc keeps it per thread arena otherwise, and RSS only grows."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def limit_heap_arenas(count: int = 2) -> None:
    """Cap glibc's per-thread heap arenas (default 8 per core). Gradio serves from a pool of threads; each
    arena keeps its own freed memory, so RSS crept up 9.5% over five rounds of 30 callers; with 2 arenas
    +1.9% to +4.8% (benchmarks/bench_load.py). Call before the server starts its threads."""
    if _LIBC is not None:
        _LIBC.mallopt(-8, count)  # M_ARENA_MAX


class Service:
    """The app's actions over one detector, with at most `work_slots` pictures decoded or analysed at once."""

    def __init__(self, detector: Detector, work_slots: int = 2, results_dir: Path | None = None) -> None:
        self.detector = detector
        self._slots = threading.BoundedSemaphore(work_slots)
        self.results_dir = Path(results_dir) if results_dir else None

    def _analyse(self, source: ImageSource, live: bool = False) -> tuple[Image.Image, Analysis, Provenance, list[InputNote]]:
        """Decode, find faces, classify; read provenance and compression from the very bytes that were decoded.
        `live`: a camera frame, encoded by the browser, not a shared copy: its compression says nothing."""
        data = source_bytes(source)
        image = load_image(data if data is not None else source)
        provenance = read_provenance(data) if data is not None else Provenance([])
        try:
            analysis = self.detector.analyse(image, live)
        except ImageLoadError:
            raise
        except Exception as err:  # a detector/model failure on one odd picture must not look like a crash
            log.exception("analysis failed")
            raise ImageLoadError(f"this picture could not be analysed ({type(err).__name__}).") from err
        return image, analysis, provenance, input_notes(None if live else data, crop_sides(analysis))

    def predict(self, source: ImageSource, live: bool = False) -> dict:
        """JSON result for one picture: verdict, probabilities, faces with boxes, notes on the input."""
        with self._slots:
            image, analysis, provenance, notes = self._analyse(source, live)
            large = image.width * image.height > LARGE_PIXELS
            del image
        if large:
            _release_memory()
        return with_notes(combine(analysis.to_dict(), provenance), notes)

    def explain(self, source: ImageSource, live: bool = False) -> Explained:
        with self._slots:
            image, analysis, provenance, notes = self._analyse(source, live)
            heatmaps = [heatmap_overlay(crop, self.detector.explain(crop)) for crop in analysis.crops]
            annotated = draw_boxes(image, analysis, DISPLAY_MAX_SIDE)
            large = image.width * image.height > LARGE_PIXELS
            del image
        if large:
            _release_memory()
        return Explained(analysis, annotated, heatmaps, provenance, notes)

    def result(self, explained: Explained) -> dict:
        return with_notes(combine(explained.analysis.to_dict(), explained.provenance), explained.notes)

    def predict_batch(self, paths: list[str | Path]) -> list[dict]:
        """One row per file; a bad file gets its error in the row instead of failing the batch."""
        if len(paths) > MAX_BATCH:
            raise ImageLoadError(f"{len(paths)} files sent; at most {MAX_BATCH} per batch.")
        rows = []
        for path in paths:
            name = Path(path).name
            try:
                rows.append(batch_row(name, self.predict(path)))
            except ImageLoadError as err:
                rows.append(batch_row(name, error=str(err)))
        return rows

    def write_csv(self, rows: list[dict]) -> str:
        if self.results_dir is None:
            raise RuntimeError("this service was built without a results folder")
        return write_csv(rows, self.results_dir)

    def classify_frame(self, frame: ImageSource | None) -> dict:
        """Live webcam: the verdict for the faces of one frame. The frame is not kept anywhere."""
        if frame is None:
            return {"verdict": "none", "message": "waiting for the camera"}
        return self.predict(frame, live=True)

    def explain_inline(self, source: ImageSource, live: bool = False) -> dict:
        """The result, the boxed picture and the heat maps as data: URIs: nothing of it is written to disk."""
        explained = self.explain(source, live)
        return {
            "result": self.result(explained),
            "annotated": inline_picture(explained.annotated),
            "heatmaps": inline_picture(side_by_side(explained.heatmaps)) if explained.heatmaps else None,
        }

    def explain_frame(self, frame: ImageSource) -> tuple[str, dict]:
        """A webcam snapshot explained, as HTML with the pictures inline, and its result."""
        inline = self.explain_inline(frame, live=True)
        pictures = [("snapshot with face boxes", inline["annotated"]), ("heat maps per face", inline["heatmaps"])]
        html = "".join(
            f"<img class='snapshot' alt='{alt}' src='{uri}' style='max-width:100%'>" for alt, uri in pictures if uri
        )
        return html, inline["result"]
