"""Open any user- or dataset-supplied picture as an upright 8-bit RGB PIL image, or say why not.

Shared by the dataset builder and the app, so both see exactly the same pixels from the same file.
"""

from __future__ import annotations

import importlib.util
import io
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .config import MAX_PIXELS, MIN_SIDE

ImageSource = str | Path | bytes | Image.Image
# What the loader opens, by file name: the formats below (HEIC/HEIF through pillow-heif; AVIF built into Pillow).
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".heif", ".avif"})

# PIL refuses, at open and before any decoding, images over twice this many pixels. Set process-wide so
# the same cap guards every decode in the process, including the ones Gradio does for image components.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS // 2
warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own cap below gives the clear message

if importlib.util.find_spec("pillow_heif"):  # iPhone photos (HEIC/HEIF); AVIF is built into Pillow
    from pillow_heif import register_heif_opener

    register_heif_opener()

# What a malformed file can make a PIL decoder raise, besides OSError: bad chunk sizes, tiles outside the
# image, "Decompressed data too large" for text/ICC chunk bombs, short reads inside struct.unpack, ...
DECODER_ERRORS = (OSError, ValueError, SyntaxError, EOFError, IndexError, KeyError, TypeError, struct.error, zlib.error)


class ImageLoadError(ValueError):
    """The input cannot be used as a picture; the message says why in plain words."""


def load_image(source: ImageSource, max_pixels: int = MAX_PIXELS, min_side: int = MIN_SIDE) -> Image.Image:
    """Decode `source` (path, bytes or PIL image) to an upright RGB image.

    Handles EXIF rotation, animated files (first frame), CMYK, 16-bit, float, palette and alpha.
    Raises ImageLoadError for empty, non-image, truncated, oversized or tiny inputs.
    """
    image = _open(source)
    width, height = image.size
    if width * height > max_pixels:
        raise ImageLoadError(
            f"image is {width}x{height} pixels ({width * height / 1e6:.0f} MP); the limit is "
            f"{max_pixels / 1e6:.0f} MP. Resize it and try again."
        )
    try:
        if getattr(image, "is_animated", False):
            image.seek(0)  # judge the first frame of a GIF/WebP/APNG
        image.load()
        # In place when we decoded it ourselves: a 48 MP photo is not copied (144 MB) just to read its EXIF.
        image = to_rgb(_upright(image, in_place=not isinstance(source, Image.Image)))
    except ImageLoadError:
        raise
    except MemoryError as err:
        raise ImageLoadError("the image is too large to decode here; resize it and try again.") from err
    except DECODER_ERRORS as err:  # truncated or corrupt pixel data, malformed headers
        raise ImageLoadError(f"the image data is truncated or corrupt ({_short(err)}).") from err
    if min(image.size) < min_side:
        raise ImageLoadError(f"image is only {image.width}x{image.height} pixels; at least {min_side} px per side is needed.")
    return image


def source_bytes(source: ImageSource) -> bytes | None:
    """The file's own bytes (metadata intact) for a path or bytes; None for a picture already decoded."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise ImageLoadError(f"no such file: {path.name}")
        return path.read_bytes()
    if isinstance(source, Image.Image):
        return None
    return bytes(source)


def fit_within(image: Image.Image, max_side: int) -> tuple[Image.Image, float]:
    """The picture scaled down (bilinear) so its longer side is at most `max_side`, and the scale used."""
    scale = min(1.0, max_side / max(image.size))
    if scale == 1.0:
        return image, scale
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.BILINEAR), scale


def _open(source: ImageSource) -> Image.Image:
    data = source_bytes(source)
    if data is None:
        return source
    if not data:
        raise ImageLoadError("the file is empty (0 bytes).")
    try:
        return Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as err:  # PIL's own guard (set to our cap above) fires at open
        raise ImageLoadError(f"image is too large; the limit is {MAX_PIXELS / 1e6:.0f} MP. Resize it and try again.") from err
    except UnidentifiedImageError as err:
        raise ImageLoadError(
            "this file is not an image format we can read (JPEG, PNG, WebP, GIF, BMP, TIFF, HEIC, AVIF)."
        ) from err
    except DECODER_ERRORS as err:  # a recognised format with a malformed header or an oversized chunk
        raise ImageLoadError(f"the image header is malformed ({_short(err)}).") from err


def _short(err: Exception) -> str:
    """The decoder's own words, one line and short: enough to tell cases apart, never a traceback."""
    text = " ".join(str(err).split()) or type(err).__name__
    return text[:120]


def _upright(image: Image.Image, in_place: bool = False) -> Image.Image:
    try:
        if in_place:
            ImageOps.exif_transpose(image, in_place=True)
            return image
        return ImageOps.exif_transpose(image)
    except Exception:  # malformed EXIF must not cost the picture: keep it as stored
        return image


def to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB from any PIL mode; transparency is composited on white, high bit depths are scaled."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") else max(float(values.max()), 1.0)
        if mode in ("I", "F") and values.max() <= 255:
            top = 255.0
        gray = np.clip(values / top * 255.0, 0, 255).astype(np.uint8)
        return Image.fromarray(gray, "L").convert("RGB")
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or image.mode == "RGBA":
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode == "CMYK":
        # PIL's CMYK conversion ignores ICC profiles but keeps the picture recognisable.
        return image.convert("RGB")
    return image.convert("RGB")
