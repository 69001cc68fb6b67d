"""The served head per kind of AI image (realorai.kinds): levelled on real photos, one kind lowered, and
exactly what a timm head with a zero "real" row and a row per kind computes, temperature included."""

import numpy as np
import pytest
import torch

from realorai.calibration import ai_probability, fit_temperature, sigmoid
from realorai.kinds import KindHeads, head_from_torch_state, levelled, parse_kind_offsets
from realorai.modeling import linear_head
from realorai.probe import LinearHead


def two_kinds() -> KindHeads:
    # the GAN head scores real photos much higher: unlevelled, it would lift every real photo in the OR
    return KindHeads([LinearHead(np.array([1.0, 0, 0]), -3.0), LinearHead(np.array([0, 2.0, 0]), 1.5)], ("diffusion", "gan"))


def test_levelled_heads_put_the_same_share_of_real_photos_under_zero_then_lower_one_kind():
    reals = np.random.default_rng(1).normal(size=(1000, 3))
    level = levelled(two_kinds(), reals, {})
    for h in level.heads:
        assert abs((h.margin(reals) < 0).mean() - 0.99) <= 0.002
    lowered = levelled(two_kinds(), reals, {"gan": 1.5, "no-such-kind": 9.0})
    assert np.allclose(lowered.heads[1].margin(reals), level.heads[1].margin(reals) - 1.5)
    assert np.allclose(lowered.heads[0].margin(reals), level.heads[0].margin(reals))
    assert (lowered.margin(reals) < level.margin(reals)).all()  # the OR falls with the lowered kind


def test_the_timm_head_serves_the_soft_or_with_the_temperature_inside_it():
    heads = two_kinds()
    x = np.random.default_rng(2).normal(size=(50, 3))
    assert heads.labels == ("real", "ai-diffusion", "ai-gan")
    served = linear_head(heads.torch_state())(torch.as_tensor(x, dtype=torch.float32)).detach().double().numpy()
    assert np.allclose(served, heads.logits(x), atol=1e-5) and np.allclose(served[:, 0], 0)
    t = 1.7
    soft_or = sigmoid(np.logaddexp(heads.margins(x)[:, 0] / t, heads.margins(x)[:, 1] / t))  # each margin / T, then OR
    assert np.allclose(ai_probability(served, t), soft_or, atol=1e-5)
    back = head_from_torch_state(heads.torch_state(), heads.labels)
    assert back.kinds == heads.kinds and np.allclose(back.logits(x), heads.logits(x), atol=1e-5)
    binary = head_from_torch_state(LinearHead(np.ones(3), 0.5).torch_state(), ("real", "ai"))
    assert isinstance(binary, LinearHead) and np.allclose(binary.margin(x), x.sum(1) + 0.5, atol=1e-5)


def test_temperature_is_fitted_on_p_ai_and_agrees_with_softmax_cross_entropy_for_two_classes():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 400)
    margin = (2 * labels - 1) * 3.0 + rng.normal(0, 3, 400)  # over-confident: the fitted T is well above 1
    two = np.stack([-margin / 2, margin / 2], axis=1)
    # the fit must land on cross-entropy's own optimum: found here by a grid
    grid = np.exp(np.linspace(-1, 2, 3001))
    nll = [torch.nn.functional.cross_entropy(torch.as_tensor(two) / g, torch.as_tensor(labels)).item() for g in grid]
    assert fit_temperature(two, labels) == pytest.approx(grid[int(np.argmin(nll))], rel=2e-3)
    # the same margin split across two AI kinds: the fit sums the kinds, so P(AI) at the fitted T is calibrated
    kinds = np.stack([np.zeros(400), margin - np.log(2), margin - np.log(2)], axis=1)
    assert np.allclose(ai_probability(kinds), ai_probability(two))
    t = fit_temperature(kinds, labels)
    p = ai_probability(kinds, t)
    assert t > 1.2 and abs(p.mean() - labels.mean()) < 0.05


def test_kind_offsets_are_parsed_or_refused_clearly():
    assert parse_kind_offsets("gan=2, diffusion=0.5") == {"gan": 2.0, "diffusion": 0.5} and parse_kind_offsets("") == {}
    for bad in ("gan", "gan=two", "=2"):
        with pytest.raises(ValueError, match="KIND=LOGITS"):
            parse_kind_offsets(bad)


def test_the_shipped_fit_tunes_on_real_photos_and_the_named_kinds_then_fits_a_head_per_kind():
    from realorai.backbones import clip_class_path
    from realorai.class_path import TokenStore, Tuning, tune
    from realorai.generalisation import SplitData, training_rows
    from realorai.tuned_recipe import row_groups, tuned_fitter

    rng = np.random.default_rng(4)
    store = TokenStore(12, clip_class_path(11))
    ids = store.add(rng.normal(size=(12, 197, 768)).astype(np.float32))
    sources = np.array(["ffhq", "sdfd", "tpdne", "utkface"] * 3)  # real, diffusion, GAN, real
    split = SplitData(np.isin(sources, ["sdfd", "tpdne"]).astype(int), sources, sources, {"clean": ids})
    one = Tuning(epochs=1, head_epochs=1, batch=4, lr=1e-3)
    memo: dict = {}
    fit = tuned_fitter(store, one, 0.5, ("clean",), memo=memo, tune_kinds=("diffusion",), kind_offsets={"gan": 2.0})
    fitted = fit(split, split)
    (path,) = memo.values()
    rows, labels, weights = training_rows(split, ("clean",))
    keep = sources != "tpdne"  # the GAN faces never reach the tuning
    expected = tune(store, rows[keep], labels[keep], weights[keep], one, row_groups(split, ("clean",), rows[keep]))
    for (name, tuned), (_, wanted) in zip(path.named_parameters(), expected.named_parameters()):
        assert torch.equal(tuned, wanted), name
    assert fitted.fitted.head.labels == ("real", "ai-diffusion", "ai-gan")
    reals = store.features(path, ids[split.labels == 0])
    gan = fitted.fitted.head.heads[1].margin(reals)  # levelled at 99% of these real photos, then lowered 2
    assert np.quantile(gan, 0.99) == pytest.approx(-2.0, abs=1e-6)
