"""The edits that probe the model beyond re-sharing (realorai.edits): what each one promises."""

import random

import numpy as np
from PIL import Image

from realorai.edits import EDITS, grayscale, noise, random_edit, tilt_keep, tilted
from realorai.features import view_function
from realorai.reshare import centre_crop_back


def test_a_tilt_leaves_no_empty_corners_and_keeps_the_size():
    white = Image.new("RGB", (256, 256), (255, 255, 255))
    for degrees in (5, 15, -15, 30):
        pixels = np.asarray(tilted(white, degrees))
        assert pixels.shape == (256, 256, 3)
        assert pixels.min() > 200, degrees  # a corner left by the rotation would be black
    assert tilt_keep(0) == 1.0 and abs(tilt_keep(45) - 1 / np.sqrt(2)) < 1e-9
    # a tilt past the corner-free square would show the black fill: keep is the largest that does not
    rotated = white.rotate(15, Image.BICUBIC)
    assert np.asarray(centre_crop_back(rotated, tilt_keep(15) * 1.05)).min() < 100


def test_edits_change_what_they_say_and_nothing_else():
    rng = np.random.default_rng(0)
    face = Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    gray = np.asarray(grayscale(face)).astype(int)
    assert (gray[..., 0] == gray[..., 1]).all() and (gray[..., 1] == gray[..., 2]).all()
    noisy = np.asarray(noise(face, 4)).astype(float) - np.asarray(face)
    assert 3 < noisy.std() < 5 and np.array_equal(np.asarray(noise(face, 4)), np.asarray(noise(face, 4)))
    for name, edit in EDITS.items():
        assert edit(face).size == face.size and edit(face).mode == "RGB", name


def test_the_edit_view_is_seeded_per_image():
    face = Image.new("RGB", (64, 64), (120, 90, 60))
    view = view_function("edit-1", "train")
    assert np.array_equal(np.asarray(view(face, 3)), np.asarray(view(face, 3)))
    drawn = {np.asarray(random_edit(face, random.Random(i))).tobytes() for i in range(12)}
    assert len(drawn) > 3  # different images draw different edits
