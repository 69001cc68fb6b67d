"""The AI threshold drawn against real sources the model has not seen (cross-fitting per real source)."""

import numpy as np

from realorai.calibration import logit
from realorai.config import AI_INDEX
from realorai.generalisation import SplitData, fit_recipe
from realorai.probe import Decision
from realorai.unseen_reals import unseen_real_fitter

REAL = 1 - AI_INDEX


def portraits(rng, sizes: dict[str, int]) -> SplitData:
    """4-D features: AI faces at +3 on the first axis, street photos at 0; the studio and the archive sources
    sit between (1.5) and each carries a look of its own on an axis of its own (2 and 3), as real sources do."""
    where = {"street": (0.0, 0, 0, 0), "studio": (1.5, 0, 2, 0), "archive": (1.5, 0, 0, 2), "gen": (3.0, 0, 0, 0)}
    names = [name for name, n in sizes.items() for _ in range(n)]
    labels = np.array([AI_INDEX if name == "gen" else REAL for name in names])
    features = np.array([where[name] for name in names]) + rng.normal(0, 0.6, (len(names), 4))
    return SplitData(labels, np.array(names), np.where(labels == AI_INDEX, "gan", ""), {"clean": features})


def recipe(train, validation, keep_train=None, keep_validation=None):
    return fit_recipe(train, validation, 1.0, ("clean",), keep_train, keep_validation)


def test_a_real_source_unseen_in_training_is_kept_under_the_target():
    rng = np.random.default_rng(0)
    train = portraits(rng, {"street": 400, "studio": 200, "gen": 400})
    validation = portraits(rng, {"street": 200, "studio": 100, "gen": 200})
    archive = portraits(rng, {"archive": 2000}).views["clean"]  # a real source never trained on

    plain = recipe(train, validation)
    crossed = unseen_real_fitter(recipe, target=0.03)(train, validation)
    # the head learns the studio's own look as "real", and the 1% rule, drawn on studio photos, cannot see
    # that a source without that look is called AI far more often; the refit that never saw the studio does
    assert set(crossed.margins) == {"real/street", "real/studio"} and crossed.margins["real/studio"] > 0
    assert crossed.decision.ai_from > plain.decision.ai_from
    called_plain = (plain.p_ai(archive) >= plain.decision.ai_from).mean()
    called_crossed = (crossed.p_ai(archive) >= crossed.decision.ai_from).mean()
    assert called_crossed <= 0.05 < called_plain
    assert crossed.decision.real_up_to <= crossed.decision.ai_from
    # the raise costs recall, but AI faces are still caught
    assert (crossed.p_ai(train.views["clean"][train.labels == AI_INDEX]) >= crossed.decision.ai_from).mean() > 0.5


class Fixed:
    """A fit whose P(AI) is the first feature, with a fixed decision: the arithmetic on its own."""

    def __init__(self, decision: Decision):
        self.decision = decision

    def p_ai(self, features):
        return features[:, 0]

    def with_decision(self, decision: Decision):
        return Fixed(decision)


def test_each_refit_leaves_its_source_out_and_the_largest_margin_is_applied():
    labels = np.array([REAL] * 100 + [REAL] * 100 + [AI_INDEX] * 50)
    sources = np.array(["a"] * 100 + ["b"] * 100 + ["g"] * 50)
    p = np.r_[np.linspace(0.01, 0.5, 100), np.linspace(0.01, 0.95, 100), np.full(50, 0.99)]
    data = SplitData(labels, sources, np.where(labels == AI_INDEX, "gan", ""), {"clean": p[:, None]})
    seen = []

    def fit(train, validation, keep_train, keep_validation):
        seen.append(set(train.sources[keep_train]) | set(validation.sources[keep_validation]))
        return Fixed(Decision(0.3, 0.6))

    crossed = unseen_real_fitter(fit, target=0.03)(data, data)
    assert seen == [{"a", "b", "g"}, {"b", "g"}, {"a", "g"}]  # the fit, then one refit per real source, without it
    assert crossed.margins["real/a"] < 0 < crossed.margins["real/b"]  # b's top 3% sit above 0.6
    expected = np.quantile(logit(np.r_[p[100:200], p[100:200]]), 0.97) - logit(0.6)
    assert np.isclose(crossed.margins["real/b"], expected)
    assert np.isclose(logit(crossed.decision.ai_from), logit(0.6) + expected, atol=2e-3)  # rounded up to 4 decimals
    assert (p[100:200] >= crossed.decision.ai_from).mean() <= 0.03
    assert crossed.decision.real_up_to == 0.3

    # target 0 (off) or a single real source: nothing to cross-fit, the threshold stays
    seen.clear()
    assert unseen_real_fitter(fit, target=0.0)(data, data).decision == Decision(0.3, 0.6) and len(seen) == 1
    only_b = sources != "a"
    kept = unseen_real_fitter(fit, target=0.03)(data, data, only_b, only_b)
    assert kept.decision == Decision(0.3, 0.6) and kept.margins == {}


def test_re_shared_copies_of_an_unseen_source_are_held_to_the_target_too():
    """A source whose clean photos stay safe but whose re-shared copies score as AI (as the app's studio
    portrait does): only the rule with copies raises the threshold for them."""
    labels = np.array([REAL] * 100 + [REAL] * 100 + [AI_INDEX] * 50)
    sources = np.array(["a"] * 100 + ["b"] * 100 + ["g"] * 50)
    clean = np.r_[np.linspace(0.01, 0.5, 100), np.linspace(0.01, 0.5, 100), np.full(50, 0.99)]
    copies = np.r_[np.linspace(0.01, 0.5, 100), np.linspace(0.3, 0.9, 100), np.full(50, 0.99)]  # b moves up
    views = {"clean": clean[:, None], "augment-1": copies[:, None], "other:clean": clean[:, None]}
    data = SplitData(labels, sources, np.where(labels == AI_INDEX, "gan", ""), views)

    def fit(train, validation, keep_train, keep_validation):
        return Fixed(Decision(0.3, 0.6))

    clean_only = unseen_real_fitter(fit, target=0.03)(data, data)
    with_copies = unseen_real_fitter(fit, target=0.03, copies=True)(data, data)
    assert clean_only.decision.ai_from == 0.6 and max(clean_only.margins.values()) < 0  # clean photos never reach 0.6
    expected = np.quantile(logit(copies[100:200]), 0.97) - logit(0.6)  # b's copies alone, not pooled with its photos
    assert np.isclose(with_copies.margins["real/b"], expected) and expected > 0
    assert with_copies.margins["real/a"] == clean_only.margins["real/a"]  # a's copies are no worse than its photos
    assert (copies[100:200] >= with_copies.decision.ai_from).mean() <= 0.03
    assert (copies[:100] >= with_copies.decision.ai_from).mean() == 0
