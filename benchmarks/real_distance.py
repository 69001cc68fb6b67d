"""Does "how unlike our real photos" help the head on unseen sources? Leave-one-source-out on CLIP's frozen
block-11 features (tokens cached), three scores per fold:

- logistic: the recipe's linear head (class x source balanced, C = 0.02);
- distance: the Mahalanobis distance from the kept real training photos (Ledoit-Wolf covariance), a
  one-class score that never sees an AI face;
- logistic + a x distance: both standardised on the fold's validation real photos.

An AI family: ROC-AUC against the test split's real photos. A real source: the share of its photos above the
99th percentile of the fold's validation real photos (the 1% rule, without the cross-fit).

    python -m benchmarks.real_distance        # ~3 min on 2 cores, writes benchmarks/real_distance.json
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from datasets import load_from_disk
from sklearn.covariance import LedoitWolf
from sklearn.metrics import roc_auc_score

from realorai.backbones import clip_class_path
from realorai.config import AI_INDEX
from realorai.generalisation import DEFAULT_C
from realorai.probe import balanced_weights, fit_linear_head
from realorai.tuned_recipe import token_splits

MIXES = (0.25, 0.5, 1.0)


def distance_from(reals: np.ndarray):
    """Squared Mahalanobis distance from the distribution of `reals`, as a function of features."""
    fit = LedoitWolf().fit(reals)
    return lambda x: np.einsum("ij,jk,ik->i", x - fit.location_, fit.precision_, x - fit.location_)


def fold_scores(features: dict, splits: dict, held_out: str) -> tuple[dict, np.ndarray]:
    """(name -> score function, the fold's validation real photos): scores fitted without the group
    `held_out`, standardised on those real photos."""
    train, validation = splits["train"], splits["validation"]
    keep = train.groups != held_out
    head = fit_linear_head(
        features["train"][keep], train.labels[keep], balanced_weights(train.labels[keep], train.groups[keep]), DEFAULT_C
    )
    distance = distance_from(features["train"][keep & (train.labels != AI_INDEX)])
    reals = features["validation"][(validation.groups != held_out) & (validation.labels != AI_INDEX)]

    def standardised(score):
        on_reals = score(reals)
        mean, std = on_reals.mean(), on_reals.std()
        return lambda x: (score(x) - mean) / std

    logistic, far = standardised(head.margin), standardised(lambda x: np.log(distance(x)))
    scores = {"logistic": logistic, "distance": far}
    scores |= {f"logistic + {a:g} x distance": (lambda x, a=a: logistic(x) + a * far(x)) for a in MIXES}
    return scores, reals


def main() -> int:
    torch.set_num_threads(2)
    dataset = load_from_disk("data/portraits-faces")
    wanted = {name: ("clean",) for name in ("train", "validation", "test")}
    store, splits = token_splits(dataset, wanted, Path("data/tokens"), clip_class_path(11), 11)
    features = {name: store.features(store.path, split.views["clean"]) for name, split in splits.items()}
    test = splits["test"]
    test_reals = features["test"][test.labels != AI_INDEX]
    groups = sorted(set(splits["train"].groups.tolist()))
    table = {}
    for group in groups:
        scores, reals = fold_scores(features, splits, group)
        held = np.concatenate([features[name][split.groups == group] for name, split in splits.items()])
        row = {}
        for name, score in scores.items():
            if group.startswith("ai/"):
                truth = np.r_[np.zeros(len(test_reals)), np.ones(len(held))]
                row[name] = round(float(roc_auc_score(truth, np.r_[score(test_reals), score(held)])), 4)
            else:
                row[name] = round(float(np.mean(score(held) >= np.quantile(score(reals), 0.99))), 4)
        table[group] = row
        print(f"{group[:40]:<40} " + "  ".join(f"{n} {v:.3f}" for n, v in row.items()), flush=True)
    Path("benchmarks/real_distance.json").write_text(json.dumps(table, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
