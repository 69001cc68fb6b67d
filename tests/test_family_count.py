"""benchmarks/family_count.py: every fit learns from all real photos and exactly the chosen AI families, and
the held-out family is scored against the test split's real photos."""

import numpy as np

from benchmarks.family_count import family_curve, markdown_table
from realorai.generalisation import SplitData


class _Fitted:
    def __init__(self, seen):
        self.seen = seen

    def p_ai(self, features):  # a family it learnt from scores high, anything else 0.5, real photos 0
        return np.select([features[:, 0] == 0, np.isin(features[:, 1], self.seen)], [0.0, 1.0], 0.5)


def test_each_fit_sees_the_real_photos_and_only_the_chosen_families():
    families = ["sd", "gan", "t2i"]
    generator = np.array(["camera"] * 4 + families * 2)
    labels = (generator != "camera").astype(int)
    codes = np.array([-1 if g == "camera" else families.index(g) for g in generator])
    split = SplitData(labels, np.where(labels == 1, generator, "ffhq"), generator, {"clean": np.c_[labels, codes]})
    fits = []

    def fit(train, validation, keep_train, keep_validation):
        assert keep_train[labels == 0].all() and keep_validation[labels == 0].all()
        seen = sorted(set(generator[keep_train & (labels == 1)].tolist()))
        fits.append(seen)
        return _Fitted([families.index(g) for g in seen])

    rows = family_curve(split, split, split, fit)
    assert len(rows) == len(fits) == 3 * 3  # each family held out, trained on 1 or 2 of the others (3 subsets)
    for r, seen in zip(rows, fits):
        assert r["held_out"] not in seen and sorted(r["trained_on"]) == [f"ai/{g}" for g in seen]
        assert r["roc_auc"] == 1.0  # the unseen family's 0.5 still ranks above every real photo's 0
    table = markdown_table(rows).splitlines()
    assert table[0] == "| trained on | gan held out | sd held out | t2i held out |"
    assert table[2] == "| gan | – | 1.000 | 1.000 |" and table[-1] == "| sd + t2i | 1.000 | – | – |"
