"""The shipped recipe with the last block's class path tuned: cached tokens -> tuned path -> features ->
the same linear head, temperature and real-first thresholds as every probe (`fit_recipe`).

Every leave-one-out fold tunes its own path without the held-out source, so the table measures the
whole recipe, tuning included, not only the head.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from .class_path import ClassPath, TokenStore, Tuning, averaged, interpolated, tune, tuned_soup
from .config import AI_INDEX
from .generalisation import FittedHead, SplitData, calibrated, fit_recipe, training_rows
from .kinds import fit_kind_heads, levelled, row_kinds
from .tokens import split_tokens


def token_splits(
    dataset, wanted: dict[str, tuple[str, ...]], cache: Path, start: ClassPath, depth: int, room: int = 0
) -> tuple[TokenStore, dict[str, SplitData]]:
    """{split: views} -> one store holding every (split, view)'s class tokens and normalised tokens for the
    class path of block `depth` (1-based: it reads the tokens after `depth - 1` blocks), and per split a
    SplitData whose views are row ids into the store (the tokens are computed if not cached). `room`: rows
    kept free for images outside the dataset."""
    store = TokenStore(sum(len(dataset[name]) * len(views) for name, views in wanted.items()) + room, start)
    splits = {}
    for name, views in wanted.items():
        ids = {}
        for view in views:
            started = time.time()
            (tokens,) = split_tokens(dataset[name], name, view, cache, (depth - 1,))
            ids[view] = store.add(tokens)
            print(f"  tokens {name} {view}: {len(tokens)} rows, normalised in {time.time() - started:.0f}s", flush=True)
        splits[name] = SplitData.from_split(dataset[name], ids)
    return store, splits


class TunedFit:
    """A tuned class path and the head fitted on its features: P(AI) of row ids in the store."""

    def __init__(self, path: ClassPath, store: TokenStore, fitted: FittedHead, seconds: float):
        self.path, self.store, self.fitted, self.seconds = path, store, fitted, seconds
        self.decision = fitted.decision

    def p_ai(self, ids: np.ndarray) -> np.ndarray:
        return self.fitted.p_ai(self.store.features(self.path, ids))

    def with_decision(self, decision) -> TunedFit:
        return TunedFit(self.path, self.store, self.fitted.with_decision(decision), self.seconds)


def row_groups(train: SplitData, views: tuple[str, ...], ids: np.ndarray) -> np.ndarray:
    """The source group of each store row id among the split's views (a face's copies share its group)."""
    row_of = np.full(max(int(train.views[v].max()) for v in views) + 1, -1)
    for view in views:
        row_of[train.views[view]] = np.arange(len(train.labels))
    return train.groups[row_of[ids]]


def generator_soup(
    store: TokenStore, train: SplitData, views: tuple[str, ...], keep: np.ndarray, augment_weight: float,
    ai_augment_weight: float | None, tuning: Tuning,
) -> ClassPath:  # fmt: skip
    """One path per AI generator in the kept rows, each tuned without that generator's faces, their weights
    averaged: "diverse weight averaging" (Ramé et al., NeurIPS 2022), with diversity from the data, so
    that what survives the average is what works without any one generator."""
    generators = sorted(set(train.generators[keep & (train.labels == AI_INDEX)].tolist()))
    rows = (training_rows(train, views, keep & (train.generators != g), augment_weight, ai_augment_weight) for g in generators)
    return averaged(tune(store, *without, tuning) for without in rows)


def tuned_fitter(
    store: TokenStore, tuning: Tuning, c: float, views: tuple[str, ...], augment_weight: float = 1.0,
    ai_augment_weight: float | None = None, memo: dict | None = None, tune_views: tuple[str, ...] | None = None,
    tune_group_weights: dict[str, float] | None = None, tune_kinds: tuple[str, ...] = (),
    kind_offsets: dict[str, float] | None = None,
):  # fmt: skip
    """fit(train, validation, keep_train, keep_validation) -> TunedFit, for `leave_one_out` and the shipped fit.

    `memo` (shared between fitters) keeps each fold's tuned path before mixing, so several `mix` values cost
    one tuning per fold. `tune_views`: the views the path is tuned on, if not all of `views` (the head
    always uses all). `tune_group_weights`: the group weights the path is tuned with, if not the training
    split's own (the head always uses those). `tune_kinds`: the path is tuned on the real photos and these
    kinds of AI image only (realorai.kinds; empty, or none of them in the fold: every face).
    `kind_offsets` ({kind: logits}): a head per kind of AI image, levelled on the fold's validation real
    photos and each kind lowered by its offset (realorai.kinds), instead of the binary head."""
    memo = {} if memo is None else memo
    unmixed = dataclasses.replace(tuning, mix=1.0)
    tune_views = tuple(tune_views or views)
    tune_kinds = tuple(tune_kinds)

    def tuned_path(train: SplitData, keep_train: np.ndarray) -> ClassPath:
        if tune_group_weights is not None:
            train = dataclasses.replace(train, group_weights=dict(tune_group_weights))
        if not tuning.epochs:
            return store.path
        if tuning.soup_over == "generators":
            return generator_soup(store, train, tune_views, keep_train, augment_weight, ai_augment_weight, unmixed)
        # the rows and weights the shipped head is fitted with, as ids into the store
        ids, labels, weights = training_rows(train, tune_views, keep_train, augment_weight, ai_augment_weight)
        kinds = row_kinds(train, keep_train, tune_views, len(ids)).kinds if tune_kinds else None
        if kinds is not None and np.isin(kinds[labels == AI_INDEX], tune_kinds).any():  # else: every face
            tuned = (labels != AI_INDEX) | np.isin(kinds, tune_kinds)
            ids, labels, weights = ids[tuned], labels[tuned], weights[tuned]
        return tuned_soup(store, ids, labels, weights, unmixed, row_groups(train, tune_views, ids))

    def fit_head(tuned_train: SplitData, tuned_validation: SplitData, keep_train, keep_validation) -> FittedHead:
        if kind_offsets is None:
            return fit_recipe(
                tuned_train, tuned_validation, c, views, keep_train, keep_validation, augment_weight, ai_augment_weight
            )
        features, _, weights = training_rows(tuned_train, views, keep_train, augment_weight, ai_augment_weight)
        kinds = row_kinds(tuned_train, keep_train, views, len(weights))
        head = fit_kind_heads(features, kinds.classes, weights, kinds.names, c)
        reals = tuned_validation.views["clean"][keep_validation & (tuned_validation.labels != AI_INDEX)]
        return calibrated(levelled(head, reals, kind_offsets), tuned_validation, keep_validation)

    def fit(train: SplitData, validation: SplitData, keep_train=None, keep_validation=None) -> TunedFit:
        keep_train = np.ones(len(train.labels), bool) if keep_train is None else keep_train
        keep_validation = np.ones(len(validation.labels), bool) if keep_validation is None else keep_validation
        started = time.time()
        key = (keep_train.tobytes(), unmixed, tune_views, str(tune_group_weights), tune_kinds)
        if key not in memo:
            memo[key] = tuned_path(train, keep_train)
        path = interpolated(store.path, memo[key], tuning.mix)
        tuned_train = dataclasses.replace(train, views={v: store.features(path, train.views[v]) for v in views})
        tuned_validation = dataclasses.replace(validation, views={"clean": store.features(path, validation.views["clean"])})
        fitted = fit_head(tuned_train, tuned_validation, keep_train, keep_validation)
        print(f"    tuned and fitted in {time.time() - started:.0f}s", flush=True)
        return TunedFit(path, store, fitted, time.time() - started)

    return fit
