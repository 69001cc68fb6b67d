"""The "class per AI kind" experiment (benchmarks/kind_classes.py, README "Tried"): its classes follow the
recipe's training rows, its P(AI) is one minus the softmax's P(real), and the tuning sees the kinds."""

import numpy as np
import pytest
import torch

from benchmarks.kind_classes import fit_kind_head
from realorai.backbones import clip_class_path
from realorai.class_path import TokenStore, Tuning, tune
from realorai.generalisation import SplitData, training_rows
from realorai.kinds import row_kinds

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_classes_follow_the_training_rows_and_p_ai_is_one_minus_p_real():
    sources = np.array(["ffhq", "sdfd", "tpdne", "utkface", "sfhq-t2i", "genphotos"])
    labels = np.array([0, 1, 1, 0, 1, 1])
    rng = np.random.default_rng(0)
    views = {"clean": rng.normal(size=(6, 4)), "augment-1": rng.normal(size=(6, 4))}
    split = SplitData(labels, sources, sources, views)
    keep = np.array([True, True, True, True, True, False])
    features, row_labels, weights = training_rows(split, ("clean", "augment-1"), keep)
    classes = row_kinds(split, keep, ("clean", "augment-1"), len(row_labels)).classes
    # real -> 0; kinds in name order: diffusion 1, gan 2; both views of the kept rows, as training_rows stacks them
    assert classes.tolist() == [0, 1, 2, 0, 1] * 2
    assert ((classes > 0) == (row_labels == 1)).all()
    with pytest.raises(ValueError, match="every training row kept"):  # rows dropped: the kinds would not line up
        row_kinds(split, keep, ("clean", "augment-1"), len(row_labels) - 1)

    x = np.r_[rng.normal(0, 1, (30, 3)), rng.normal(2, 1, (30, 3)), rng.normal(-2, 1, (30, 3))]
    y = np.repeat([0, 1, 2], 30)
    head = fit_kind_head(x, y, np.ones(90), ["diffusion", "gan"], c=1.0)
    p_real = head.model.predict_proba((x - head.mean) / head.std)[:, 0]
    assert np.allclose(head.margin(x), np.log((1 - p_real) / p_real), atol=1e-8)
    logits = head.logits(x)  # two-class logits for the temperature and thresholds: the same P(AI)
    assert np.allclose(1 / (1 + np.exp(logits[:, 0] - logits[:, 1])), 1 - p_real, atol=1e-8)


def test_tuning_against_kinds_uses_the_kinds():
    path = clip_class_path(11)
    rng = np.random.default_rng(0)
    store = TokenStore(24, path)
    ids = store.add(rng.normal(size=(24, 197, 768)).astype(np.float32))
    kinds = np.arange(24) % 3  # 0 real, 1 and 2 two kinds of AI image
    one = Tuning(train="attention-kv", epochs=1, head_epochs=1, batch=8, lr=1e-3)
    by_kind = dict(tune(store, ids, kinds, np.ones(24), one).named_parameters())
    binary = dict(tune(store, ids, (kinds > 0).astype(int), np.ones(24), one).named_parameters())
    start = dict(path.named_parameters())
    assert not torch.equal(by_kind["kv_weight"], start["kv_weight"])
    assert not torch.allclose(by_kind["q.weight"], binary["q.weight"])  # the kinds, not just real/AI, reach the loss
