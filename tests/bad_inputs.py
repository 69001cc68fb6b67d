"""Small problem images made on the fly: every kind of bad input the builder and the app must survive."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def decompression_bomb(width: int = 30000, height: int = 30000) -> bytes:
    """A valid PNG header that claims width x height pixels: decoding it would take gigabytes."""
    raw = _png(Image.new("L", (1, 1)))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return raw[:8] + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk)) + raw[8 + 25 :]


def write_bad_files(folder: Path, portrait: Image.Image) -> dict[str, Path]:
    """Write one file per problem case, derived from `portrait` where an image is needed."""
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}

    def put(name: str, data: bytes) -> None:
        files[name] = folder / name
        files[name].write_bytes(data)

    put("empty.jpg", b"")
    put("not_an_image.jpg", b"this is a text file, not a picture\n" * 20)
    jpeg = io.BytesIO()
    portrait.save(jpeg, format="JPEG", quality=90)
    put("truncated.jpg", jpeg.getvalue()[: len(jpeg.getvalue()) // 2])
    put("bomb.png", decompression_bomb())
    put("tiny.png", _png(portrait.resize((12, 12))))
    return files


def convertible_images(portrait: Image.Image) -> dict[str, Image.Image]:
    """Unusual but valid encodings of the same portrait: each must load as an 8-bit RGB image."""
    gray16 = Image.fromarray((np.asarray(portrait.convert("L"), dtype=np.uint16) * 257), mode="I;16")
    rgba = portrait.convert("RGBA")
    rgba.putalpha(200)
    return {
        "cmyk.jpg": portrait.convert("CMYK"),
        "gray16.png": gray16,
        "palette.png": portrait.convert("P", palette=Image.ADAPTIVE, colors=64),
        "alpha.png": rgba,
        "gray.png": portrait.convert("L"),
    }


def save(image: Image.Image, path: Path, **kwargs) -> Path:
    image.save(path, **kwargs)
    return path


def exif_rotated(portrait: Image.Image, path: Path) -> Path:
    """The portrait stored sideways with EXIF orientation 6 (display rotated 90° clockwise)."""
    stored = portrait.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(path, format="JPEG", exif=exif.tobytes(), quality=92)
    return path


def animated_gif(portrait: Image.Image, path: Path) -> Path:
    frames = [portrait, portrait.transpose(Image.Transpose.FLIP_LEFT_RIGHT).convert("L").convert("RGB")]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return path
