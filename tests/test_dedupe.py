import numpy as np

from dataset_builder.dedupe import close_pairs, deduplicate, lookalike_groups


def test_close_pairs_counts_bits_exactly():
    hashes = np.array([0b0, 0b111, 0b1111, 0xFFFF << 48], dtype=np.uint64)
    assert close_pairs(hashes, 3) == [(0, 1), (1, 2)]  # 0 vs 0b1111 is 4 bits: out
    assert (0, 2) in close_pairs(hashes, 4)
    assert close_pairs(hashes, 0) == []


def test_close_pairs_across_blocks():
    hashes = np.arange(10, dtype=np.uint64) << np.uint64(8)
    hashes[7] = hashes[2]
    assert close_pairs(hashes, 0, block=3) == [(2, 7)]


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
