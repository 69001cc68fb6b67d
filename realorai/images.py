"""Open any user- or dataset-supplied picture as an upright 8-bit RGB PIL image, or say why not.

Shared by the dataset builder and the app, so both see exactly the same pixels from the same file.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .config import MAX_PIXELS, MIN_SIDE

ImageSource = str | Path | bytes | Image.Image


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
    if getattr(image, "is_animated", False):
        image.seek(0)  # judge the first frame of a GIF/WebP/APNG
    try:
        image.load()
    except OSError as err:  # truncated or corrupt pixel data
        raise ImageLoadError(f"the image data is truncated or corrupt ({err}).") from err
    image = _upright(image)
    image = to_rgb(image)
    if min(image.size) < min_side:
        raise ImageLoadError(f"image is only {image.width}x{image.height} pixels; at least {min_side} px per side is needed.")
    return image


def _open(source: ImageSource) -> Image.Image:
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise ImageLoadError(f"no such file: {path.name}")
        data = path.read_bytes()
    else:
        data = bytes(source)
    if not data:
        raise ImageLoadError("the file is empty (0 bytes).")
    try:
        with warnings.catch_warnings():
            # Our own pixel cap (checked right after) gives the clear message; PIL's warning is noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as err:  # PIL's own guard fires first for the very largest claims
        raise ImageLoadError(f"image is too large; the limit is {MAX_PIXELS / 1e6:.0f} MP ({err})") from err
    except UnidentifiedImageError as err:
        raise ImageLoadError("this file is not an image format we can read (JPEG, PNG, WebP, GIF, BMP, TIFF).") from err


def _upright(image: Image.Image) -> Image.Image:
    try:
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
