"""What sharing a photo does to it: downscaling, re-compression, cropping, screenshots.

The fixed chains (`RESHARE`) are the robustness test; `random_reshare` draws chains of the same
operations with random settings as training augmentation, on both classes, so "robust to re-sharing"
means the same operations in both places. All functions are pure: PIL image in, new PIL image out.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable

from PIL import Image

from .preprocess import blur, jpeg


def encode(image: Image.Image, format: str, **options) -> Image.Image:
    """Round-trip through an encoder (JPEG, WEBP, PNG), as an upload to a platform does."""
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def scale(image: Image.Image, factor: float, resample=Image.BICUBIC) -> Image.Image:
    size = (max(16, round(image.width * factor)), max(16, round(image.height * factor)))
    return image.resize(size, resample)


def centre_crop_back(image: Image.Image, keep: float) -> Image.Image:
    """Keep the central `keep` share of each side and resize back: a user's crop before re-posting."""
    w, h = image.size
    cw, ch = round(w * keep), round(h * keep)
    left, top = (w - cw) // 2, (h - ch) // 2
    return image.crop((left, top, left + cw, top + ch)).resize((w, h), Image.BICUBIC)


def bicubic_half_jpeg60(image: Image.Image) -> Image.Image:
    return jpeg(scale(image, 0.5), 60)


def webp50(image: Image.Image) -> Image.Image:
    return encode(image, "WEBP", quality=50)


def three_reshares(image: Image.Image) -> Image.Image:
    for _ in range(3):
        image = jpeg(scale(image, 0.75), 80)
    return image


def crop80(image: Image.Image) -> Image.Image:
    return centre_crop_back(image, 0.8)


def screenshot_067(image: Image.Image) -> Image.Image:
    """A screenshot of the picture shown at 0.67x: bilinear display scaling, saved losslessly as PNG."""
    return encode(scale(image, 0.67, Image.BILINEAR), "PNG")


# name -> chain; the robustness table of every candidate and of the shipped model uses exactly these.
RESHARE: dict[str, Callable[[Image.Image], Image.Image]] = {
    "0.5x bicubic + JPEG q60": bicubic_half_jpeg60,
    "WebP q50": webp50,
    "3x (0.75x + JPEG q80)": three_reshares,
    "80% crop + resize back": crop80,
    "PNG screenshot at 0.67x": screenshot_067,
}


def random_reshare(image: Image.Image, rng: random.Random) -> Image.Image:
    """One to three random sharing steps (resize, JPEG, WebP, crop, blur), settings drawn from wide ranges."""
    for _ in range(rng.randint(1, 3)):
        step = rng.choice(("resize", "jpeg", "webp", "crop", "blur", "resize+jpeg", "resize+jpeg"))
        if step in ("resize", "resize+jpeg"):
            image = scale(image, rng.uniform(0.35, 0.95), rng.choice((Image.BICUBIC, Image.BILINEAR, Image.LANCZOS)))
        if step in ("jpeg", "resize+jpeg"):
            image = jpeg(image, rng.randint(40, 95))
        if step == "webp":
            image = encode(image, "WEBP", quality=rng.randint(40, 90))
        if step == "crop":
            image = centre_crop_back(image, rng.uniform(0.75, 0.95))
        if step == "blur":
            image = blur(image, rng.uniform(0.3, 1.2))
    if rng.random() < 0.5:
        image = image.transpose(Image.FLIP_LEFT_RIGHT)
    return image
