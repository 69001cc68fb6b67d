"""Exact and near-duplicate detection over perceptual hashes, and grouping of look-alikes.

Pure functions over arrays of hashes (one row of uint64 words per image), so they are tested without images.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np


class UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        ri, rj = self.find(i), self.find(j)
        if ri != rj:  # smaller index is the root, so groups are deterministic
            self.parent[max(ri, rj)] = min(ri, rj)

    def groups(self) -> list[int]:
        return [self.find(i) for i in range(len(self.parent))]


def close_pairs(hashes: np.ndarray, max_distance: int, block: int = 512) -> list[tuple[int, int]]:
    """All index pairs i < j whose hashes differ in at most `max_distance` bits.

    `hashes`: one uint64 per image, or a row of uint64 words per image for longer hashes.
    """
    hashes = np.asarray(hashes, dtype=np.uint64)
    words = hashes.reshape(len(hashes), -1)
    pairs: list[tuple[int, int]] = []
    for start in range(0, len(words), block):
        rows = words[start : start + block]
        distances = np.bitwise_count(rows[:, None, :] ^ words[None, :, :]).sum(axis=2, dtype=np.int32)
        for i, j in zip(*np.nonzero(distances <= max_distance)):
            gi = start + int(i)
            if gi < j:
                pairs.append((gi, int(j)))
    return pairs


@dataclass
class DedupeResult:
    keep: list[int]  # indices kept, ascending
    dropped: dict[int, tuple[int, str]] = field(default_factory=dict)  # index -> (kept twin or -1, why)
    counts: Counter = field(default_factory=Counter)


def deduplicate(
    sha256: list[str],
    phashes: list[np.ndarray],
    labels: list[str],
    sources: list[str],
    max_distance: int,
) -> DedupeResult:
    """Keep one image per duplicate group (the lowest index); drop groups whose members disagree on label.

    Two images are duplicates when their file bytes are identical (exact) or any of their perceptual
    hashes are within `max_distance` bits (near). Groups are transitive.
    """
    n = len(sha256)
    finder = UnionFind(n)
    first_seen: dict[str, int] = {}
    for i, digest in enumerate(sha256):
        if digest in first_seen:
            finder.union(first_seen[digest], i)
        else:
            first_seen[digest] = i
    for hashes in phashes:
        for i, j in close_pairs(hashes, max_distance):
            finder.union(i, j)
    roots = finder.groups()
    members: dict[int, list[int]] = {}
    for i, root in enumerate(roots):
        members.setdefault(root, []).append(i)

    result = DedupeResult(keep=[])
    for root, group in members.items():
        if len(group) == 1:
            result.keep.append(root)
            continue
        if len({labels[i] for i in group}) > 1:
            for i in group:  # the same picture labelled both real and AI: trust neither
                result.dropped[i] = (-1, "label conflict")
            result.counts["label_conflict"] += len(group)
            continue
        result.keep.append(root)
        for i in group[1:]:
            pair_kind = "exact" if sha256[i] == sha256[root] else "near"
            where = "same_source" if sources[i] == sources[root] else "cross_source"
            result.dropped[i] = (root, f"{pair_kind} duplicate")
            result.counts[f"{pair_kind}_{where}"] += 1
    result.keep.sort()
    return result


def lookalike_groups(phashes: list[np.ndarray], max_distance: int) -> list[int]:
    """Group id per image: images within `max_distance` bits (transitively) share a group.

    The splitter keeps each group whole, so look-alikes never straddle train and test.
    """
    n = len(phashes[0]) if phashes else 0
    finder = UnionFind(n)
    for hashes in phashes:
        for i, j in close_pairs(hashes, max_distance):
            finder.union(i, j)
    return finder.groups()
