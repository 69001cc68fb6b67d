"""What editing and capture do to a photo beyond sharing: black and white, sensor noise, colour grading,
sharpening, a tilted head, heavy compression.

`EDITS` (fixed settings) probe the shipped model beyond the issue's re-share chains
(`benchmarks/edits.py`); `random_edit` draws the same operations with random settings, for the "edit-N"
training view tried in README "Tried". Pure functions: PIL image in, new PIL image out, size kept.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

from .preprocess import jpeg
from .reshare import centre_crop_back


def grayscale(image: Image.Image) -> Image.Image:
    return ImageOps.grayscale(image).convert("RGB")


def noise(image: Image.Image, sigma: float, seed: int = 0) -> Image.Image:
    """Gaussian noise of `sigma` grey levels per channel: a high-ISO sensor, or film grain added in an editor."""
    pixels = np.asarray(image, np.float32) + np.random.default_rng(seed).normal(0.0, sigma, (image.height, image.width, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def graded(image: Image.Image, contrast: float, saturation: float) -> Image.Image:
    """A colour grade: contrast, then saturation (1 = unchanged)."""
    return ImageEnhance.Color(ImageEnhance.Contrast(image).enhance(contrast)).enhance(saturation)


def sharpened(image: Image.Image, percent: int = 150) -> Image.Image:
    """An unsharp mask as phones and platforms apply it."""
    return image.filter(ImageFilter.UnsharpMask(radius=2, percent=percent, threshold=3))


def tilted(image: Image.Image, degrees: float) -> Image.Image:
    """The head tilted by `degrees`, without the empty corners a rotation leaves: the rotated picture's
    largest centred square free of them, resized back. Compare with `centre_crop_back(image, the same keep)`."""
    return centre_crop_back(image.rotate(degrees, Image.BICUBIC), tilt_keep(degrees))


def tilt_keep(degrees: float) -> float:
    """Share of the side of a square that stays free of corners after rotating it by `degrees`."""
    angle = abs(np.radians(degrees)) % (np.pi / 2)
    return float(1.0 / (np.cos(angle) + np.sin(angle)))


# name -> edit, the probe's fixed settings. "zoom" isolates what a tilt costs beyond its tighter framing.
EDITS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "black and white": grayscale,
    "noise sigma 4": lambda image: noise(image, 4),
    "noise sigma 8": lambda image: noise(image, 8),
    "contrast 1.4 + saturation 1.3": lambda image: graded(image, 1.4, 1.3),
    "unsharp mask 150%": sharpened,
    "JPEG q30": lambda image: jpeg(image, 30),
    "zoom to 82%": lambda image: centre_crop_back(image, tilt_keep(15)),
    "tilted 15° (zoom to 82%)": lambda image: tilted(image, 15),
}


def random_edit(image: Image.Image, rng: random.Random) -> Image.Image:
    """One random edit of the kinds in `EDITS`, settings drawn from wide ranges, then a random flip."""
    step = rng.choice(("grayscale", "noise", "grade", "sharpen", "tilt", "jpeg"))
    if step == "grayscale":
        image = grayscale(image)
    if step == "noise":
        image = noise(image, rng.uniform(2, 10), rng.randrange(2**31))
    if step == "grade":
        image = graded(image, rng.uniform(0.75, 1.4), rng.uniform(0.6, 1.4))
    if step == "sharpen":
        image = sharpened(image, rng.randint(50, 200))
    if step == "tilt":
        image = tilted(image, rng.uniform(-15, 15))
    if step == "jpeg":
        image = jpeg(image, rng.randint(25, 60))
    if rng.random() < 0.5:
        image = image.transpose(Image.FLIP_LEFT_RIGHT)
    return image
