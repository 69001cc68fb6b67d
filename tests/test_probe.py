"""Linear head, its fold into timm's head, the real-photos-first thresholds and leave-one-source-out."""

import numpy as np
import torch

from realorai.config import AI_INDEX
from realorai.generalisation import REAL_SHARES, SplitData, fit_recipe, leave_one_out
from realorai.probe import MIN_REAL_SHARE, LinearHead, balanced_weights, fit_linear_head, real_first_decision


def test_balanced_weights_give_each_class_and_group_an_equal_share():
    labels = np.array([0] * 90 + [0] * 10 + [1] * 30)
    groups = ["real/a"] * 90 + ["real/b"] * 10 + ["ai/x"] * 30
    w = balanced_weights(labels, groups)
    share = {g: w[np.array(groups) == g].sum() / w.sum() for g in set(groups)}
    assert np.isclose(share["ai/x"], 0.5) and np.isclose(share["real/a"], 0.25) and np.isclose(share["real/b"], 0.25)


def test_the_folded_head_equals_the_fitted_classifier_on_raw_features():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 6)) * [1, 10, 0.1, 1, 1, 1] + [5, -3, 0, 0, 0, 0]  # unequal scales: folding matters
    y = (x[:, 0] - 5 + 0.1 * x[:, 1] + rng.normal(0, 0.5, 400) > 0).astype(int)
    head = fit_linear_head(x, y, np.ones(len(y)))
    assert ((head.margin(x) > 0) == y).mean() > 0.85
    state = head.torch_state()
    timm_logits = torch.from_numpy(x).float() @ state["head.weight"].T + state["head.bias"]
    assert np.allclose(timm_logits.numpy(), head.logits(x), atol=1e-3)
    assert np.allclose(LinearHead.from_torch_state(state).margin(x), head.margin(x), atol=1e-3)
    # the AI column is the one that grows with the margin
    assert (np.argmax(head.logits(x), axis=1) == (head.margin(x) > 0).astype(int) * AI_INDEX).all()


def test_thresholds_put_real_photos_first():
    rng = np.random.default_rng(1)
    # Source "studio" has a heavy tail of AI-looking photos; "street" almost none; AI images are high.
    p = np.r_[rng.beta(2, 3, 500), rng.beta(1, 12, 300), rng.beta(8, 2, 400)]
    labels = np.r_[np.zeros(800, int), np.ones(400, int)]
    sources = ["studio"] * 500 + ["street"] * 300 + ["gen"] * 400
    decision = real_first_decision(p, labels, sources, max_false_ai=0.02, min_real_share=0.9)
    for source in ("studio", "street"):
        real = p[:800][np.array(sources[:800]) == source]
        assert (real >= decision.ai_from).mean() <= 0.02  # every source within the limit ...
        assert (real <= decision.real_up_to).mean() >= 0.9
    studio = p[:500]
    # ... and the threshold is the lowest that keeps the worst source within it
    assert (studio >= np.nextafter(decision.ai_from, 0) - 1e-4).mean() > 0.02 - 1 / 500
    assert 0.5 <= decision.ai_from and decision.real_up_to <= decision.ai_from
    # A harmless real set cannot push the AI threshold below 0.5: a verdict never contradicts its probability.
    easy = real_first_decision(np.r_[np.full(100, 0.01), np.full(100, 0.99)], np.r_[np.zeros(100), np.ones(100)], ["a"] * 200)
    assert easy.ai_from == 0.5


def synthetic(n: int, seed: int) -> SplitData:
    """Two real sources, two AI families; family "x" is visible only along feature 0, family "y" only along 1."""
    rng = np.random.default_rng(seed)
    groups = [("real", "a", "camera"), ("real", "b", "camera"), ("ai", "x", "gen-x"), ("ai", "y", "gen-y")]
    rows = [g for g in groups for _ in range(n)]
    features = rng.normal(size=(len(rows), 4))
    for i, (_, source, _) in enumerate(rows):
        features[i, 0] += 4 * (source == "x")
        features[i, 1] += 4 * (source == "y")
    labels = np.array([AI_INDEX if label == "ai" else 1 - AI_INDEX for label, _, _ in rows])
    return SplitData(labels, np.array([r[1] for r in rows]), np.array([r[2] for r in rows]), {"clean": features})


def test_leave_one_out_really_leaves_the_source_out():
    train, validation, test = synthetic(150, 0), synthetic(60, 1), synthetic(60, 2)
    rows = leave_one_out(train, validation, test)["rows"]
    assert set(rows) == {"ai/gen-x", "ai/gen-y", "real/a", "real/b"}
    # Trained with both families, each is easy; trained without x, nothing in training points along
    # feature 0, so x scores at chance. A fold that leaked x would score it near 1.
    full = fit_recipe(train, validation)
    x_test = test.generators == "gen-x"
    p = full.p_ai(test.views["clean"])
    assert np.mean(p[x_test][:, None] > p[test.labels != AI_INDEX][None, :]) > 0.95
    assert 0.35 < rows["ai/gen-x"]["roc_auc"] < 0.65 and rows["ai/gen-x"]["n"] == 270
    assert rows["real/a"]["kind"] == "real" and 0 <= rows["real/a"]["false_ai_rate"] <= 1
    at = rows["real/a"]["p_ai_at"]  # the thresholds that would have kept 5%, 3%, 1% of the unseen source off "AI"
    assert at["0.95"] <= at["0.97"] <= at["0.99"]
    # Every fold also says how much of the unseen source a lower "real" limit would still call real: the
    # drawn limit (MIN_REAL_SHARE) gives the row's own figure, and a lower share never calls more real.
    for row in rows.values():
        shares = [row["called_real_by_share"][f"{s:.2f}"] for s in REAL_SHARES]
        assert shares[REAL_SHARES.index(MIN_REAL_SHARE)] == row["called_real"]
        assert shares == sorted(shares, reverse=True)
    assert rows["ai/gen-x"]["called_real_by_share"]["0.50"] < rows["ai/gen-x"]["called_real"]  # x at chance: it moves


def test_leave_one_out_scores_each_held_out_source_after_re_sharing_by_its_own_fold():
    """A held-out source's re-shared test copies are scored by the fold that never saw it, each chain against
    the other class under the same chain: a chain that erases family y's cue leaves only x to tell from the
    held-out real source, one that pushes every face along it makes that source look AI."""
    from realorai.reshare import RESHARE

    train, validation, test = synthetic(150, 0), synthetic(60, 1), synthetic(60, 2)
    erased, pushed = list(RESHARE)[:2]
    clean = test.views["clean"]
    test.views[erased] = np.c_[clean[:, :1], np.random.default_rng(5).normal(size=len(clean)), clean[:, 2:]]
    test.views[pushed] = clean + [0, 4, 0, 0]
    folds = leave_one_out(train, validation, test)
    a, y = folds["rows"]["real/a"]["reshared"], folds["rows"]["ai/gen-y"]["reshared"]
    assert list(a) == ["clean", erased, pushed] and a["clean"]["n"] == 60 and a["clean"]["auc_drop"] is None
    assert a["clean"]["roc_auc"] > 0.95 and 0.6 < a[erased]["roc_auc"] < 0.9  # x still found, y no longer
    assert np.isclose(a[erased]["auc_drop"], a["clean"]["roc_auc"] - a[erased]["roc_auc"])
    assert a[pushed]["false_ai_rate"] > 0.5 > a["clean"]["false_ai_rate"]
    # y's own fold never learnt feature 1, so y is at chance (the full fit would rank it at ~1)
    assert 0.3 < y["clean"]["roc_auc"] < 0.7 and set(y["clean"]) >= {"recall", "called_real"}
    summary = folds["summary"]
    real_rows = [row["reshared"] for row in folds["rows"].values() if row["kind"] == "real"]
    real_copies = [r for table in real_rows for view, r in table.items() if view != "clean"]
    assert summary["reshared_real_false_ai_worst"] == max(r["false_ai_rate"] for r in real_copies)
    assert summary["reshared_ai_auc_worst"] <= min(y[erased]["roc_auc"], y[pushed]["roc_auc"])
    # the card, the CLI report and the Insights tab render it under the leave-one-out table, a column per chain
    from realorai.model_card import leave_one_out_table

    table = leave_one_out_table(folds).split("Left out *and* re-shared")[1]
    assert f"| left out | n | clean | {erased} | {pushed} |" in table
    assert f"| a | 60 | {a['clean']['false_ai_rate']:.1%} called AI | " in table
    assert f"{a[pushed]['false_ai_rate']:.1%} called AI |" in table and f"({y[erased]['recall']:.1%})" in table
    assert f"Worst unseen family after a re-share: ROC-AUC {summary['reshared_ai_auc_worst']:.4f}" in table
    # without re-shared views the rows say nothing rather than something made up
    test.views = {"clean": clean}
    assert leave_one_out(train, validation, test)["rows"]["ai/gen-y"]["reshared"] == {}


def test_leave_one_out_refits_a_custom_combination_per_fold_without_the_held_out_source():
    """`fit=` (how benchmarks/ensemble.py measures score combinations) gets every fold's masks, and each row
    is scored by what that fold fitted."""
    from realorai.generalisation import FittedHead

    train, validation, test = synthetic(150, 0), synthetic(60, 1), synthetic(60, 2)
    folds = []

    def on_feature_0(train_split, validation_split, keep_train, keep_validation):
        folds.append(set(train_split.generators[~keep_train].tolist()))
        only_0 = SplitData(
            train_split.labels, train_split.sources, train_split.generators, {"clean": train_split.views["clean"][:, :1]}
        )
        val_0 = SplitData(
            validation_split.labels,
            validation_split.sources,
            validation_split.generators,
            {"clean": validation_split.views["clean"][:, :1]},
        )
        fitted = fit_recipe(only_0, val_0, keep_train=keep_train, keep_validation=keep_validation)

        class FirstFeature(FittedHead):
            def p_ai(self, features):
                return super().p_ai(features[:, :1])

        return FirstFeature(fitted.head, fitted.temperature, fitted.decision)

    rows = leave_one_out(train, validation, test, fit=on_feature_0)["rows"]
    assert {"gen-x"} in folds and {"gen-y"} in folds
    # With a real source held out, the default recipe ranks both families above it (AUC ~1); a head on feature
    # 0 alone finds family x but not y, so the row shows the custom fit was the one scored (~0.75).
    assert 0.6 < rows["real/a"]["roc_auc"] < 0.85


def test_ai_faces_copies_can_weigh_less_than_real_photos_copies():
    """ai_augment_weight scales only the AI faces' augmented copies: at 0 the head is exactly the one fitted on
    the clean faces plus the real photos' copies; unset, both classes' copies weigh augment_weight."""
    from realorai.generalisation import DEFAULT_C

    train, validation = synthetic(150, 0), synthetic(60, 1)
    rng = np.random.default_rng(3)
    train.views["augment-1"] = train.views["clean"] + rng.normal(0, 1.5, train.views["clean"].shape)
    views = ("clean", "augment-1")
    without_ai_copies = fit_recipe(train, validation, train_views=views, ai_augment_weight=0.0).head

    real = train.labels != AI_INDEX
    base = balanced_weights(train.labels, train.groups)
    expected = fit_linear_head(
        np.concatenate([train.views["clean"], train.views["augment-1"][real]]),
        np.concatenate([train.labels, train.labels[real]]),
        np.concatenate([base, base[real]]),
        DEFAULT_C,
    )
    np.testing.assert_allclose(without_ai_copies.weight, expected.weight, rtol=1e-6, atol=1e-9)
    with_ai_copies = fit_recipe(train, validation, train_views=views).head
    assert np.abs(with_ai_copies.weight - without_ai_copies.weight).max() > 1e-3
    half = fit_recipe(train, validation, train_views=views, augment_weight=0.5).head
    same = fit_recipe(train, validation, train_views=views, augment_weight=0.5, ai_augment_weight=0.5).head
    np.testing.assert_array_equal(half.weight, same.weight)


def test_a_group_can_count_less_and_its_class_keeps_its_total():
    """SplitData.group_weights (benchmarks/tuned_block.py --group-weight): the listed group's rows weigh less
    inside its class, each class still carries half the total, and the other groups share the rest equally."""
    from dataclasses import replace

    from realorai.generalisation import training_rows

    labels = np.array([0] * 6 + [1] * 9)
    generators = np.array([""] * 6 + ["gan"] * 6 + ["diffusion"] * 3)
    sources = np.array(["a"] * 3 + ["b"] * 3 + ["tpdne"] * 6 + ["sdfd"] * 3)
    split = SplitData(labels, sources, generators, {"clean": np.arange(15.0)[:, None]})
    _, _, plain = training_rows(split, ("clean",))
    _, row_labels, weighted = training_rows(replace(split, group_weights={"ai/gan": 0.25}), ("clean",))
    for w in (plain, weighted):
        assert np.isclose(w[row_labels == 0].sum(), w[row_labels == 1].sum())
    assert np.allclose(weighted[:6], plain[:6])  # the real photos are untouched
    gan, diffusion = weighted[6:12].sum(), weighted[12:].sum()
    assert np.isclose(gan / diffusion, 0.25)  # equal shares before, a quarter of the other family's now


def test_remade_real_photos_are_ai_rows_that_mirror_the_real_sources_balance():
    """A "recon-N" view (realorai.autoencoder, tried in README): each kept real photo's remade copy is an AI
    row weighing `recon_share` of the AI class in the real photo's proportions; AI faces' copies are left out,
    and a real source left out of a fold takes its remade copies with it."""
    from realorai.generalisation import training_rows

    labels = np.array([0] * 6 + [1] * 4)
    sources = np.array(["a"] * 4 + ["b"] * 2 + ["sdfd"] * 4)
    generators = np.array(["camera"] * 6 + ["diffusion"] * 4)
    views = {"clean": np.arange(10), "recon-1": np.arange(10) + 100}
    split = SplitData(labels, sources, generators, views, recon_share=0.25)
    ids, row_labels, weights = training_rows(split, ("clean", "recon-1"))
    remade = ids >= 100
    assert sorted(ids[remade] - 100) == list(range(6))  # the real photos' copies only
    assert (row_labels[remade] == AI_INDEX).all()
    ai = (row_labels == AI_INDEX) & ~remade
    assert np.isclose(weights[remade].sum() / (weights[remade].sum() + weights[ai].sum()), 0.25)
    assert np.isclose(weights[remade].sum() + weights[ai].sum(), weights[row_labels == 0].sum())  # classes stay level
    by_source = {s: weights[remade][sources[ids[remade] - 100] == s].sum() for s in ("a", "b")}
    assert np.isclose(by_source["a"], by_source["b"])  # 4 photos of a weigh what 2 of b do, as the real rows
    keep = sources != "b"
    ids, _, _ = training_rows(split, ("clean", "recon-1"), keep)
    assert sorted(ids[ids >= 100] - 100) == [0, 1, 2, 3]


def test_the_autoencoder_gives_back_a_picture_of_the_same_size():
    from PIL import Image

    from realorai.autoencoder import LatentAutoencoder, reconstruct

    image = Image.new("RGB", (37, 29), (120, 60, 200))  # sides not a multiple of 4 or 8
    for downsamplings in (2, 3):  # latent at 1/4 or 1/8 of the size
        assert reconstruct(LatentAutoencoder(downsamplings=downsamplings).eval(), image).size == (37, 29)
