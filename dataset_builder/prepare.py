"""Turn one input file into the face crop the model will train on, with the hashes used for dedupe.

Runs in worker processes; every failure becomes a reason string, never an exception.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import imagehash
import numpy as np
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
    phash_crop: np.ndarray  # perceptual hash of the crop (uint64 words): near duplicates
    phash_full: np.ndarray  # ... and of the whole picture, which catches re-framed copies


@dataclass(frozen=True)
class Skipped:
    record: Record
    reason: str


def init_worker() -> None:
    torch.set_num_threads(1)  # one process per core is faster than threads inside MTCNN


def prepare(record: Record, size: int, keep_faceless: bool, image_format: str, hash_size: int) -> Prepared | Skipped:
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
        phash_crop=perceptual_hash(crop.image, hash_size),
        phash_full=perceptual_hash(image, hash_size),
    )


def perceptual_hash(image: Image.Image, hash_size: int) -> np.ndarray:
    """pHash of hash_size x hash_size bits (the DCT's lowest frequencies), packed into uint64 words.

    Why 16 (256 bits) and not imagehash's default 8: faces aligned the same way on the same plain backdrop
    (genphotos, StyleGAN's FFHQ alignment, tight UTKFace crops) share their 64 lowest frequencies. With 64 bits
    the builder dropped 244 different people as "near duplicates" (226 of genphotos' 965), and look-alike groups
    chained into hundreds of faces that had to land in one split (genphotos' test split: 30 faces of 739)."""
    bits = imagehash.phash(image, hash_size=hash_size).hash.flatten()
    return np.packbits(np.pad(bits, (0, -len(bits) % 64))).view(">u8").astype(np.uint64)


def encode(image: Image.Image, image_format: str) -> bytes:
    buffer = io.BytesIO()
    if image_format == "png":
        image.save(buffer, format="PNG", optimize=False, compress_level=6)
    else:  # high quality, no chroma subsampling: as little new compression signature as possible
        image.save(buffer, format="JPEG", quality=95, subsampling=0)
    return buffer.getvalue()
