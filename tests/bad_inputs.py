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
    gray16 = Image.fromarray(np.asarray(portrait.convert("L"), dtype=np.uint16) * 257)  # mode I;16
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


def png_with_chunk(image: Image.Image, chunk_type: bytes, payload: bytes) -> bytes:
    """A valid PNG of `image` with one extra chunk inserted right after IHDR."""
    raw = _png(image)
    chunk = struct.pack(">I", len(payload)) + chunk_type + payload + struct.pack(">I", zlib.crc32(chunk_type + payload))
    return raw[:33] + chunk + raw[33:]  # 8-byte signature + 25-byte IHDR chunk


def metadata_bombs(image: Image.Image) -> dict[str, bytes]:
    """PNGs whose compressed text / ICC chunk inflates to 5 MB: tiny files that ask the decoder for a lot."""
    inflated = zlib.compress(b"\0" * 5_000_000, 9)
    return {
        "ztxt_bomb.png": png_with_chunk(image, b"zTXt", b"Comment\0\0" + inflated),
        "iccp_bomb.png": png_with_chunk(image, b"iCCP", b"profile\0\0" + inflated),
    }


def encodings(image: Image.Image) -> dict[str, bytes]:
    """The portrait in each format the app accepts, including each format's less common variants."""
    variants = {
        "plain.jpg": (image, {"format": "JPEG", "quality": 90}),
        "progressive.jpg": (image, {"format": "JPEG", "quality": 85, "progressive": True}),
        "plain.png": (image, {"format": "PNG"}),
        "interlaced_alpha.png": (image.convert("RGBA"), {"format": "PNG"}),
        "plain.bmp": (image, {"format": "BMP"}),
        "1bit.bmp": (image.convert("1"), {"format": "BMP"}),
        "plain.tif": (image, {"format": "TIFF"}),
        "lzw.tif": (image, {"format": "TIFF", "compression": "tiff_lzw"}),
        "cmyk.tif": (image.convert("CMYK"), {"format": "TIFF"}),
        "lossy.webp": (image, {"format": "WEBP", "quality": 80}),
        "lossless_alpha.webp": (image.convert("RGBA"), {"format": "WEBP", "lossless": True}),
        "palette.gif": (image.convert("P", palette=Image.ADAPTIVE), {"format": "GIF"}),
    }
    out = {}
    for name, (picture, options) in variants.items():
        buffer = io.BytesIO()
        picture.save(buffer, **options)
        out[name] = buffer.getvalue()
    return out


def header_mutants(image: Image.Image, per_format: int = 8, seed: int = 0) -> dict[str, bytes]:
    """Seeded damage to the first bytes of each format (where the headers are), as a fuzzer would do:
    flipped bytes, a run of 0xFF, a dropped or duplicated slice, a cut."""
    import random

    rng = random.Random(seed)
    small = image.resize((160, 160))
    bases = {name: data for name, data in encodings(small).items() if name.startswith(("plain", "lossy", "palette"))}
    mutants = {}
    for name, data in bases.items():
        stem, ext = name.split(".")
        for i in range(per_format):
            body = bytearray(data)
            head = min(len(body) - 1, 200)
            kind = i % 4
            if kind == 0:  # a few random bytes
                for _ in range(rng.randint(1, 4)):
                    body[rng.randint(2, head)] = rng.randrange(256)
            elif kind == 1:  # a run of 0xFF over a header field
                start = rng.randint(2, head - 8)
                body[start : start + rng.randint(2, 8)] = b"\xff" * 8
            elif kind == 2:  # a slice of the header dropped or repeated
                start, length = rng.randint(2, head - 16), rng.randint(1, 16)
                body = body[:start] + (body[start + length :] if rng.random() < 0.5 else body[start:])
            else:  # cut anywhere
                body = body[: rng.randint(8, len(body) - 1)]
            mutants[f"mutant_{stem}_{ext}_{i}.{ext}"] = bytes(body)
    return mutants


def strips(image: Image.Image) -> dict[str, bytes]:
    """Extreme aspect ratios: the face detector's scaled input would be only a few pixels high or wide."""
    out = {}
    for name, size, fmt in [("wide.png", (2000, 64), "PNG"), ("tall.jpg", (64, 2000), "JPEG"), ("thread.png", (8000, 33), "PNG")]:
        buffer = io.BytesIO()
        image.resize(size).save(buffer, format=fmt)
        out[name] = buffer.getvalue()
    return out
