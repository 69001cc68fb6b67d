"""Deterministic train/validation/test split, stratified by (label, source), that keeps look-alike groups whole.

Pure function of the image keys, their strata and groups, and the seed: the file system's order and the
machine do not matter, so the same inputs and seed always give the same split.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict

SPLITS = ("train", "validation", "test")
HOLDOUT = "holdout"


def assign_splits(
    keys: list[str],
    strata: list[tuple[str, str]],
    groups: list[int],
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    seed: int = 0,
    holdout: list[bool] | None = None,
) -> list[str]:
    """Split name for each image.

    keys: stable identity per image; strata: (label, source) per image; groups: look-alike group id per
    image (all members of a group land in the same split); holdout: images whose whole group goes to
    the `holdout` split (unseen sources).
    """
    if abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"split fractions must sum to 1, got {fractions}")
    holdout = holdout or [False] * len(keys)
    members: dict[int, list[int]] = defaultdict(list)
    for i, group in enumerate(groups):
        members[group].append(i)

    result = [""] * len(keys)
    by_stratum: dict[tuple[str, str], list[list[int]]] = defaultdict(list)
    for group in members.values():
        if any(holdout[i] for i in group):
            for i in group:
                result[i] = HOLDOUT
        else:
            by_stratum[strata[min(group)]].append(group)

    for stratum in sorted(by_stratum):
        stratum_groups = sorted(by_stratum[stratum], key=lambda g: _order(seed, min(keys[i] for i in g)))
        total = sum(len(g) for g in stratum_groups)
        targets = [f * total for f in fractions]
        filled = [0] * len(SPLITS)
        for group in stratum_groups:
            # The split furthest below its target (relative to its size) takes the next group.
            k = max(range(len(SPLITS)), key=lambda s: (targets[s] - filled[s]) / max(targets[s], 1e-9))
            filled[k] += len(group)
            for i in group:
                result[i] = SPLITS[k]
    return result


def _order(seed: int, key: str) -> str:
    return hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()
