"""Turn one input file into the face crop the model will train on, with the hashes used for dedupe.

Runs in worker processes; every failure becomes a reason string, never an exception.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import imagehash
import torch
from PIL import Image

from realorai.faces import face_crops, whole_image_crop
from realorai.images import ImageLoadError, load_image

from .collect import Record


@dataclass(frozen=True)
class Prepared:
    record: Record
    image_bytes: bytes  # encoded face crop
    face_found: bool
    faces_in_image: int
    crop_box: tuple[int, int, int, int]
    original_size: tuple[int, int]
    sha256: str  # of the input file's bytes: exact duplicates
    phash_crop: int  # 64-bit perceptual hash of the crop: near duplicates
    phash_full: int  # ... and of the whole picture, which catches re-framed copies


@dataclass(frozen=True)
class Skipped:
    record: Record
    reason: str


def init_worker() -> None:
    torch.set_num_threads(1)  # one process per core is faster than threads inside MTCNN


def prepare(record: Record, size: int, keep_faceless: bool, image_format: str) -> Prepared | Skipped:
    try:
        data = record.path.read_bytes()
        image = load_image(data)
    except ImageLoadError as err:
        return Skipped(record, str(err))
    except OSError as err:
        return Skipped(record, f"cannot read file: {err}")
    crops = face_crops(image, size=size)
    if crops:
        crop = crops[0]
    elif keep_faceless:
        crop = whole_image_crop(image, size)
    else:
        return Skipped(record, "no face found")
    return Prepared(
        record=record,
        image_bytes=encode(crop.image, image_format),
        face_found=crop.face is not None,
        faces_in_image=len(crops),
        crop_box=crop.crop_box,
        original_size=image.size,
        sha256=hashlib.sha256(data).hexdigest(),
        phash_crop=perceptual_hash(crop.image),
        phash_full=perceptual_hash(image),
    )


def perceptual_hash(image: Image.Image) -> int:
    return int(str(imagehash.phash(image)), 16)


def encode(image: Image.Image, image_format: str) -> bytes:
    buffer = io.BytesIO()
    if image_format == "png":
        image.save(buffer, format="PNG", optimize=False, compress_level=6)
    else:  # high quality, no chroma subsampling: as little new compression signature as possible
        image.save(buffer, format="JPEG", quality=95, subsampling=0)
    return buffer.getvalue()
