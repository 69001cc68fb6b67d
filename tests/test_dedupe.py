import imagehash
import numpy as np
from PIL import Image

from dataset_builder.build import BuildOptions
from dataset_builder.dedupe import close_pairs, deduplicate, lookalike_groups
from dataset_builder.prepare import perceptual_hash
from realorai.reshare import RESHARE
from tests.conftest import PORTRAITS, needs_portraits


def test_close_pairs_counts_bits_exactly():
    hashes = np.array([0b0, 0b111, 0b1111, 0xFFFF << 48], dtype=np.uint64)
    assert close_pairs(hashes, 3) == [(0, 1), (1, 2)]  # 0 vs 0b1111 is 4 bits: out
    assert (0, 2) in close_pairs(hashes, 4)
    assert close_pairs(hashes, 0) == []


def test_close_pairs_across_blocks():
    hashes = np.arange(10, dtype=np.uint64) << np.uint64(8)
    hashes[7] = hashes[2]
    assert close_pairs(hashes, 0, block=3) == [(2, 7)]


def test_close_pairs_adds_the_bits_of_every_word():
    hashes = np.array([[0, 0], [0b1, 0b1], [0, 0b111], [0xFF, 0]], dtype=np.uint64)
    assert close_pairs(hashes, 2) == [(0, 1)]  # 1 + 1 bits; (0, 2) is 3 bits, all in the second word
    assert close_pairs(hashes, 3) == [(0, 1), (0, 2), (1, 2)]


def test_hash_size_8_is_imagehash_default_phash():
    """--hash-size 8 rebuilds the data as it was built before the 256-bit hash (the shipped model's build)."""
    image = Image.radial_gradient("L").convert("RGB")
    assert perceptual_hash(image, 8).tolist() == [int(str(imagehash.phash(image)), 16)]
    assert perceptual_hash(image, 16).shape == (4,)


@needs_portraits
def test_aligned_faces_of_different_people_are_not_duplicates_but_a_reshared_copy_is():
    """Two genphotos people (a woman; a man with glasses: same alignment, same grey backdrop) 2 bits apart in 64."""
    first, second = (Image.open(PORTRAITS / "ai" / "genphotos" / name).convert("RGB") for name in ("00155.jpg", "00794.jpg"))
    assert (imagehash.phash(first) - imagehash.phash(second)) <= 5  # what dropped the second before
    copy = RESHARE["0.5x bicubic + JPEG q60"](first)
    hashes = np.array([perceptual_hash(image, BuildOptions.hash_size) for image in (first, second, copy)])
    assert close_pairs(hashes, BuildOptions.group_bits) == [(0, 2)]
    assert close_pairs(hashes, BuildOptions.near_duplicate_bits) == [(0, 2)]


def test_exact_and_near_duplicates_keep_the_first():
    sha = ["a", "b", "a", "c", "d"]
    ph = np.array([0, 0xFFFF << 40, 0, 0b11, 0xFFFF], dtype=np.uint64)  # 3 is 2 bits from 0: near
    result = deduplicate(sha, [ph], ["real"] * 5, ["x", "x", "y", "x", "x"], max_distance=2)
    assert result.keep == [0, 1, 4]
    assert result.dropped[2] == (0, "exact duplicate")
    assert result.dropped[3] == (0, "near duplicate")
    assert result.counts == {"exact_cross_source": 1, "near_same_source": 1}


def test_same_picture_with_both_labels_is_dropped_entirely():
    result = deduplicate(["a", "b"], [np.array([5, 5], dtype=np.uint64)], ["real", "ai"], ["x", "y"], 0)
    assert result.keep == []
    assert result.counts["label_conflict"] == 2


def test_lookalike_groups_are_transitive_over_any_hash():
    crop = np.array([0, 0b1, 0b11, 0xFF00], dtype=np.uint64)
    full = np.array([0, 1 << 50, 1 << 51, 0xFF01], dtype=np.uint64)
    groups = lookalike_groups([crop, full], 1)
    assert groups[0] == groups[1] == groups[2] != groups[3]
