"""A face's plain backdrop found and swapped (realorai.backdrops), on a real studio portrait the app ships."""

import random

import numpy as np
from PIL import Image

from realorai.backdrops import MIN_SHARE, on_backdrop, plain_backdrop, random_backdrop
from realorai.config import EXAMPLES_DIR
from realorai.features import view_function


def studio_portrait() -> Image.Image:
    """real-london-1: a man in front of a plain grey studio backdrop, shrunk to the crop's size."""
    return Image.open(EXAMPLES_DIR / "real-london-1.jpg").convert("RGB").resize((256, 256), Image.BICUBIC)


def test_the_studio_backdrop_is_found_and_the_face_is_not():
    mask, colour = plain_backdrop(studio_portrait())
    assert mask.mean() > MIN_SHARE
    assert mask[10:20, 40:60].all() and mask[10:20, 196:216].all()  # either side above the head is backdrop
    assert not mask[:8, :8].all()  # the vignetted corners are darker than the tolerance allows: a known limit
    assert not mask[96:160, 112:144].any()  # the middle of the face is not
    assert 150 < colour.mean() < 240 and np.ptp(colour) < 25  # a light grey


def test_swapping_changes_the_backdrop_only():
    face = studio_portrait()
    mask, _ = plain_backdrop(face)
    swapped = np.asarray(on_backdrop(face, mask, np.full((256, 256, 3), 30.0))).astype(int)
    original = np.asarray(face).astype(int)
    assert np.abs(swapped[10:20, 40:60] - 30).max() <= 1  # backdrop now near-black
    assert np.array_equal(swapped[96:160, 112:144], original[96:160, 112:144])  # the face untouched


def test_a_face_without_a_plain_backdrop_is_left_alone_and_the_view_is_seeded():
    rng = np.random.default_rng(0)
    busy = Image.fromarray(rng.integers(0, 255, (128, 128, 3), dtype=np.uint8))  # no uniform region at all
    assert random_backdrop(busy, random.Random(0)) is busy
    view = view_function("backdrop-1", "train")
    face = studio_portrait()
    assert np.array_equal(np.asarray(view(face, 5)), np.asarray(view(face, 5)))
    drawn = {np.asarray(random_backdrop(face, random.Random(i))).tobytes() for i in range(6)}
    assert len(drawn) == 6  # different backdrops per seed
