"""What a picture's file and faces say about how much evidence its pixels still carry.

Two measurements make a verdict weaker than it looks: a face from a generator the model has not seen, once
re-compressed, ranks far lower than the same face clean (README, "Never seen and re-shared": up to 0.08
ROC-AUC), and faces that arrive with few pixels rank lower (README, "Faces that arrive small"). Real photos
stay safe in both cases, so what weakens is a *Real photo* or *Uncertain* verdict, not an *AI-generated*
one. The app puts these notes beside the verdict; nothing here changes a score.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image

from .images import DECODER_ERRORS

# At or under this estimated JPEG quality a file reads as a re-shared copy: cameras and generators save at
# 90 or more, social networks and messengers re-encode at about 60-85 (our re-share chains: 60 and 80).
RECOMPRESSED_JPEG_QUALITY = 80
# At or under this many pixels across the square the model sees, the face-size benchmark's ROC-AUC drop
# reaches the re-share goal's 0.02 (64 px: 0.020, 40 px: 0.031; 96 px: 0.008).
SMALL_FACE_PX = 64

# The IJG (libjpeg) luminance table at quality 50, in natural order: every common encoder scales it.
_IJG_LUMINANCE = np.array(
    [
        [16, 11, 10, 16, 24, 40, 51, 61],
        [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56],
        [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77],
        [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101],
        [72, 92, 95, 98, 112, 100, 103, 99],
    ]
).ravel()


def ijg_table(quality: int) -> np.ndarray:
    """The luminance table libjpeg writes at `quality` (1-100)."""
    scale = 5000 / quality if quality < 50 else 200 - 2 * quality
    return np.clip((_IJG_LUMINANCE * scale + 50) // 100, 1, 255)


_IJG_TABLES = np.stack([ijg_table(q) for q in range(1, 101)])


def jpeg_quality(luminance_table) -> int:
    """The IJG quality whose luminance table is nearest (in log steps) to the file's; for an encoder with its
    own tables (some cameras, some apps) the nearest IJG quality, which is what matters here: how coarse."""
    table = np.clip(np.asarray(luminance_table, dtype=float).ravel()[:64], 1, None)
    distance = np.abs(np.log(_IJG_TABLES) - np.log(table)).mean(axis=1)
    return int(np.argmin(distance)) + 1


@dataclass(frozen=True)
class Compression:
    format: str  # "JPEG" or "WebP"
    quality: int | None  # estimated IJG quality for JPEG; None for lossy WebP (its files do not say)


def lossy_compression(data: bytes) -> Compression | None:
    """How the file's pixels were compressed, when lossily: JPEG with its estimated quality, or lossy WebP.
    None for lossless formats and for anything unreadable (the loader reports those)."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return Compression("WebP", None) if _webp_is_lossy(data) else None
    if data[:2] != b"\xff\xd8":
        return None
    try:
        with Image.open(io.BytesIO(data)) as image:  # reads the header only
            tables = getattr(image, "quantization", None)
    except DECODER_ERRORS:
        return None
    return Compression("JPEG", jpeg_quality(tables[0])) if tables and 0 in tables else None


def _webp_is_lossy(data: bytes) -> bool:
    """A 'VP8 ' image chunk is lossy, 'VP8L' lossless; an extended file ('VP8X') lists its chunks after it."""
    offset = 12
    while offset + 8 <= len(data):
        kind, size = data[offset : offset + 4], int.from_bytes(data[offset + 4 : offset + 8], "little")
        if kind in (b"VP8 ", b"VP8L"):
            return kind == b"VP8 "
        offset += 8 + size + (size & 1)
    return False


@dataclass(frozen=True)
class InputNote:
    kind: str  # "recompressed" | "small_face"
    label: str  # a few words for a table cell
    text: str  # the sentence shown beside the verdict

    def to_dict(self) -> dict:
        return asdict(self)


def compression_note(compression: Compression | None) -> InputNote | None:
    if compression is None:
        return None
    if compression.format == "JPEG" and compression.quality > RECOMPRESSED_JPEG_QUALITY:
        return None
    how = f"JPEG at quality ~{compression.quality}" if compression.quality is not None else "lossy WebP"
    return InputNote(
        "recompressed",
        f"compressed ({how})",
        f"This file is compressed ({how}), as a shared copy usually is. Compression erases fine detail the "
        "model reads, most of all on generators it has not seen, so a Real photo or Uncertain verdict on it is "
        "weaker evidence; an AI-generated verdict is not (real photos' compressed copies are rarely called AI).",
    )


def crop_side(crop_box) -> int:
    """Pixels across the square (x0, y0, x1, y1) the model saw for a face."""
    return int(crop_box[2] - crop_box[0])


def small_face_note(crop_sides: list[int]) -> InputNote | None:
    """`crop_sides`: pixels across the square the model saw, one per judged face."""
    small = [side for side in crop_sides if side <= SMALL_FACE_PX]
    if not small:
        return None
    verb = "is" if len(small) == 1 else "are"
    faces = "The face is" if len(crop_sides) == 1 else f"{len(small)} of {len(crop_sides)} faces {verb}"
    return InputNote(
        "small_face",
        f"small face ({min(small)} px)",
        f"{faces} small ({min(small)} px across, face and margin): the model has few pixels to read and ranks "
        "such faces less reliably, so give their verdicts less weight.",
    )


def note_labels(notes) -> str:
    """Notes (InputNote or their dicts) as one table cell: their labels, '; '-separated."""
    return "; ".join(note["label"] if isinstance(note, dict) else note.label for note in notes)


def input_notes(data: bytes | None, crop_sides: list[int]) -> list[InputNote]:
    """The notes for one picture: its file's bytes (None: already decoded, no file to read) and the sides of
    the squares the model saw for its faces (empty when no face was found)."""
    notes = [compression_note(lossy_compression(data)) if data is not None else None, small_face_note(crop_sides)]
    return [note for note in notes if note is not None]
