from collections import Counter

import pytest

from dataset_builder.split import HOLDOUT, assign_splits


def make(n_per_stratum=100):
    keys, strata = [], []
    for label, source in [("real", "a"), ("real", "b"), ("ai", "c")]:
        for i in range(n_per_stratum):
            keys.append(f"{label}/{source}/{i:04d}.jpg")
            strata.append((label, source))
    return keys, strata


def test_fractions_per_stratum():
    keys, strata = make()
    splits = assign_splits(keys, strata, list(range(len(keys))), (0.7, 0.15, 0.15), seed=1)
    for stratum in set(strata):
        counts = Counter(s for s, st in zip(splits, strata) if st == stratum)
        assert counts == {"train": 70, "validation": 15, "test": 15}


def test_deterministic_and_independent_of_input_order():
    keys, strata = make()
    groups = list(range(len(keys)))
    first = dict(zip(keys, assign_splits(keys, strata, groups, seed=3)))
    order = list(reversed(range(len(keys))))
    shuffled = assign_splits([keys[i] for i in order], [strata[i] for i in order], [groups[i] for i in order], seed=3)
    assert dict(zip([keys[i] for i in order], shuffled)) == first
    assert dict(zip(keys, assign_splits(keys, strata, groups, seed=4))) != first  # the seed matters


def test_groups_never_straddle_splits():
    keys, strata = make()
    groups = [i // 7 for i in range(len(keys))]  # look-alike groups of 7
    splits = assign_splits(keys, strata, groups, seed=0)
    by_group: dict[int, set] = {}
    for g, s in zip(groups, splits):
        by_group.setdefault(g, set()).add(s)
    assert all(len(s) == 1 for s in by_group.values())
    assert set(splits) == {"train", "validation", "test"}


def test_holdout_takes_whole_groups():
    keys, strata = make(20)
    holdout = [st[1] == "c" for st in strata]
    groups = list(range(len(keys)))
    groups[0] = groups[45]  # a real image that looks like a held-out one follows it
    splits = assign_splits(keys, strata, groups, holdout=holdout)
    assert all(s == HOLDOUT for s, h in zip(splits, holdout) if h)
    assert splits[0] == HOLDOUT
    assert HOLDOUT not in splits[1:40]


def test_fractions_must_sum_to_one():
    with pytest.raises(ValueError, match="sum to 1"):
        assign_splits(["a"], [("real", "x")], [0], (0.5, 0.2, 0.2))
