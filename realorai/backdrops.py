"""A face's plain backdrop, found without a segmentation model, and the face put on another one.

The data README warns that a plain backdrop could become the model's cue for "AI" (genphotos' AI faces share
a grey studio backdrop, and so do real studio portraits). `benchmarks/backdrops.py` swaps backdrops to
measure it; the "backdrop-N" training view (`realorai.features`) swaps them at random. Pure functions.
"""

from __future__ import annotations

import random

import numpy as np
from PIL import Image
from scipy import ndimage

EDGE = 6  # pixels of the top, left and right edges that sample the backdrop's colour
TOLERANCE = 14  # grey levels (any channel) from that colour that still count as backdrop
MIN_SHARE = 0.12  # a backdrop covering less of the crop is too little to swap


def plain_backdrop(face: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    """(mask, colour): the near-uniform region connected to the top or side edges, and its median colour."""
    pixels = np.asarray(face, dtype=np.float32)
    edges = np.concatenate([pixels[:EDGE].reshape(-1, 3), pixels[:, :EDGE].reshape(-1, 3), pixels[:, -EDGE:].reshape(-1, 3)])
    colour = np.median(edges, axis=0)
    regions, _ = ndimage.label(np.abs(pixels - colour).max(axis=2) < TOLERANCE)
    touching = set(np.unique(np.concatenate([regions[0], regions[:, 0], regions[:, -1]]))) - {0}
    return ndimage.binary_opening(np.isin(regions, list(touching)), iterations=2), colour


def on_backdrop(face: Image.Image, mask: np.ndarray, backdrop: np.ndarray) -> Image.Image:
    """`face` with the masked region replaced by `backdrop` (an RGB array of its size), edges softened."""
    weight = ndimage.gaussian_filter(mask.astype(np.float32), 1.2)[..., None]
    return Image.fromarray(np.uint8(np.asarray(face, dtype=np.float32) * (1 - weight) + backdrop * weight))


def backdrop_colour(rng: random.Random) -> np.ndarray:
    """A studio backdrop's colour: any grey level, tinted a little (paper and cloth backdrops, walls)."""
    grey = rng.uniform(20, 235)
    return np.array([np.clip(grey + rng.uniform(-30, 30), 0, 255) for _ in range(3)], dtype=np.float32)


def random_backdrop(face: Image.Image, rng: random.Random) -> Image.Image:
    """The face on a random plain, graded or blotchy backdrop when it has a plain one to swap, else unchanged."""
    mask, _ = plain_backdrop(face)
    if mask.mean() < MIN_SHARE:
        return face
    height, width = mask.shape
    colour = backdrop_colour(rng)
    kind = rng.choice(("plain", "graded", "blotchy"))
    backdrop = np.broadcast_to(colour, (height, width, 3)).copy()
    if kind == "graded":
        other = backdrop_colour(rng)
        ramp = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
        backdrop = backdrop * (1 - ramp) + other * ramp
    if kind == "blotchy":  # out-of-focus scenery: smooth random blobs around the colour
        noise = np.random.default_rng(rng.randrange(2**31)).normal(0, 25, (height // 32 + 1, width // 32 + 1, 3))
        blobs = np.asarray(Image.fromarray(np.uint8(np.clip(noise + 128, 0, 255))).resize((width, height), Image.BICUBIC))
        backdrop = np.clip(backdrop + blobs.astype(np.float32) - 128, 0, 255)
    return on_backdrop(face, mask, backdrop)
