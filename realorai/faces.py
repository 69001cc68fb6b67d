"""Find faces and cut the square face crop that the model sees.

One function, `face_crops`, is used by the dataset builder and by the app, so training and serving
frame faces identically. Detector: MTCNN with facenet-pytorch's weights (they ship inside the wheel, so it
works offline; `realorai.mtcnn` runs them without importing the package); it found a face in every sampled
image of every source, where OpenCV's Haar cascade missed ~40% of the tight UTKFace/SDFD crops (see README).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image

from .config import FACE_MARGIN, FACE_SIZE
from .images import fit_within
from .mtcnn import MTCNN

Box = tuple[int, int, int, int]  # left, top, right, bottom in image pixels

DETECT_MAX_SIDE = 400  # detect on a copy no larger than this: ~4x faster on big photos, same boxes
MIN_FACE_PX = 20  # at detection scale, i.e. faces under ~5% of the long side are missed at 400 px...
# ...so a picture with none found there, or with only small ones (HIDES_SMALLER_FACES_PX), is searched again at
# this scale (faces down to ~1.7% of the long side: a group photo, a wide scene). Only big pictures without a
# large face pay for it (0.2-0.4 s on 2 slow cores); a portrait never does, a live webcam frame only with no face.
RETRY_MAX_SIDE = 1200
MIN_SCORE = 0.92
MIN_RELATIVE_AREA = 0.1  # ignore background faces smaller than this share of the largest face
MAX_FACES = 8
# A face kept beside the largest can be sqrt(MIN_RELATIVE_AREA) ~ 0.32 of its side. Where the largest face found
# is under this many pixels at detection scale, such a face would be under MIN_FACE_PX there and missed, so the
# second search runs even though the first found something: a group photo's nearest face must not hide the rest.
HIDES_SMALLER_FACES_PX = MIN_FACE_PX / MIN_RELATIVE_AREA**0.5


@dataclass(frozen=True)
class Face:
    box: tuple[float, float, float, float]  # detector box (x0, y0, x1, y1), image pixels
    score: float  # detector confidence that this is a face

    @property
    def area(self) -> float:
        x0, y0, x1, y1 = self.box
        return max(0.0, x1 - x0) * max(0.0, y1 - y0)


@dataclass(frozen=True)
class FaceCrop:
    image: Image.Image  # FACE_SIZE x FACE_SIZE RGB
    crop_box: Box  # region of the source image that was cut
    face: Face | None  # None when no face was found and the whole image was centre-cropped


class FaceDetector:
    """MTCNN wrapper returning faces sorted largest first. Build once and reuse (see `default_detector`)."""

    def __init__(
        self, max_side: int = DETECT_MAX_SIDE, min_score: float = MIN_SCORE, retry_max_side: int = RETRY_MAX_SIDE
    ) -> None:
        self.max_side = max_side
        self.min_score = min_score
        self.retry_max_side = retry_max_side  # 0: no second search
        self._mtcnn = MTCNN(min_face_px=MIN_FACE_PX)
        self._lock = threading.Lock()  # MTCNN keeps no state, but torch threads are shared: serialise

    def detect(self, image: Image.Image, limit: int | None = MAX_FACES, beside_small_faces: bool = True) -> list[Face]:
        """Faces largest first, at most `limit` (None: every one found), none under MIN_RELATIVE_AREA of the largest.

        `beside_small_faces=False` searches again only where none was found: the live webcam's choice, as a face
        at arm's length is small enough to cost every frame a second search (in-process 18 -> 12 frames/s)."""
        faces = self._detect_within(image, self.max_side)
        if max(image.size) > self.max_side and self.retry_max_side > self.max_side:
            if not faces or (beside_small_faces and self._may_hide_faces(faces, image)):
                faces = self._detect_within(image, self.retry_max_side) or faces  # its faces may all be small
        return faces if limit is None else faces[:limit]

    def _may_hide_faces(self, faces: list[Face], image: Image.Image) -> bool:
        """Whether faces worth keeping beside the largest may have been too small for the first search: it is so
        small that faces a third of its size (kept beside it) were under MIN_FACE_PX there."""
        x0, y0, x1, y1 = faces[0].box
        scale = min(1.0, self.max_side / max(image.size))
        return max(x1 - x0, y1 - y0) * scale < HIDES_SMALLER_FACES_PX

    def _detect_within(self, image: Image.Image, max_side: int) -> list[Face]:
        small, scale = fit_within(image, max_side)
        if min(small.size) < MIN_FACE_PX:
            # A strip (e.g. 2000x64) shrinks below the smallest face MTCNN looks for: no face can be in it.
            return []
        with self._lock:
            boxes, scores = self._mtcnn.detect(small)
        faces = [
            Face(tuple(float(v) / scale for v in box), float(score))
            for box, score in zip(boxes, scores)
            if score >= self.min_score
        ]
        faces.sort(key=lambda f: f.area, reverse=True)
        if not faces:
            return []
        largest = faces[0].area
        return [f for f in faces if f.area >= MIN_RELATIVE_AREA * largest]


@lru_cache(maxsize=4)
def default_detector(
    max_side: int = DETECT_MAX_SIDE, min_score: float = MIN_SCORE, retry_max_side: int = RETRY_MAX_SIDE
) -> FaceDetector:
    """The process-wide detector for these settings, built on first use."""
    return FaceDetector(max_side, min_score, retry_max_side)


def face_crop_settings(size: int = FACE_SIZE, margin: float = FACE_MARGIN) -> dict:
    """How faces are found and cut: recorded by the dataset builder, copied into the model's config.json,
    and read back by serving, so a model is always served with the crop it was trained on."""
    return {
        "detector": "MTCNN (facenet-pytorch)",
        "size": size,
        "margin": margin,
        "min_score": MIN_SCORE,
        "detect_max_side": DETECT_MAX_SIDE,
        "detect_retry_max_side": RETRY_MAX_SIDE,
        "min_face_px": MIN_FACE_PX,
    }


def square_around(box: tuple[float, float, float, float], image_size: tuple[int, int], margin: float = FACE_MARGIN) -> Box:
    """Square of side `margin` x the box's longer side, centred on the box, shifted and shrunk to fit the image.

    Shrinking instead of padding matters: padded borders would appear only for some sources and become a
    shortcut the model could learn.
    """
    width, height = image_size
    x0, y0, x1, y1 = box
    side = min(max(x1 - x0, y1 - y0) * margin, width, height)
    side = max(1, int(round(side)))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left = int(round(min(max(cx - side / 2, 0), width - side)))
    top = int(round(min(max(cy - side / 2, 0), height - side)))
    return left, top, left + side, top + side


def centre_square(image_size: tuple[int, int]) -> Box:
    width, height = image_size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


def cut(image: Image.Image, box: Box, size: int = FACE_SIZE) -> Image.Image:
    """Crop `box` and resize to size x size (antialiased, so big photos are downscaled cleanly)."""
    return image.crop(box).resize((size, size), Image.BICUBIC, reducing_gap=3.0)


def face_crops(
    image: Image.Image,
    detector: FaceDetector | None = None,
    size: int = FACE_SIZE,
    margin: float = FACE_MARGIN,
    all_faces: bool = True,
    faces: list[Face] | None = None,
) -> list[FaceCrop]:
    """Square crops of the faces in `image`, largest first (the detector gives at most MAX_FACES); [] when none.

    `all_faces=False` returns only the main (largest) face, as the dataset builder wants. `faces`: the
    detector's faces if already found (the crops are cut around exactly those).
    """
    if faces is None:
        faces = (detector or default_detector()).detect(image)
    if not all_faces:
        faces = faces[:1]
    crops = []
    for face in faces:
        box = square_around(face.box, image.size, margin)
        crops.append(FaceCrop(cut(image, box, size), box, face))
    return crops


def whole_image_crop(image: Image.Image, size: int = FACE_SIZE) -> FaceCrop:
    """The fallback when no face is found: the centred square of the whole image."""
    box = centre_square(image.size)
    return FaceCrop(cut(image, box, size), box, None)
