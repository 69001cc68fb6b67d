"""How well a recipe generalises: leave-one-source-out and re-share tables, computed on cached features.

Protocol (the same for every candidate, and the one the shipped model is chosen by): one forward pass per
image and view is cached; each fold refits, without the held-out source, the linear head, its temperature
and its thresholds by exactly the recipe that ships (`fit_recipe`), after tuning the backbone's last class
path afresh when the recipe tunes it (`leave_one_out(fit=...)`, realorai.tuned_recipe). An AI family
held out is scored on all its images against the test split's real photos; a real source held out is
scored on all its photos (share called AI at the fold's threshold). Where the test split has re-shared views,
each row also scores the held-out source's test faces after every chain (`held_out_reshared`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .calibration import ai_probability, fit_temperature
from .config import AI_INDEX
from .metrics import binary_metrics
from .probe import Decision, LinearHead, balanced_weights, fit_linear_head, group_names, real_first_decision
from .reshare import RESHARE
from .sources import generator_short_name

RECON_PREFIX = "recon-"  # view "recon-1": every image through the latent autoencoder (realorai.autoencoder)
UPSCALED_PREFIX = "upscaled-"  # view "upscaled-1": every real photo shrunk and painted back by Real-ESRGAN (realorai.upscaler)

# The shipped recipe's settings, both chosen by leave-one-out and re-share robustness (README, "Tried").
DEFAULT_C = 0.02  # inverse L2 strength on standardised features
AI_COPY_WEIGHT = 0.5  # weight of an AI face's re-shared copy (a real photo's copy: 1, as a clean face)
# StyleGAN2's faces at a tenth of an equal share (the AI class keeps its total): learning FFHQ's look as "real"
# mostly to tell it from the StyleGAN faces made from it held unseen diffusion families back (README, "Tried")
GROUP_WEIGHTS = "ai/stylegan2=0.1"


@dataclass
class SplitData:
    """One split's labels and groups, and its features under each cached view."""

    labels: np.ndarray
    sources: np.ndarray
    generators: np.ndarray
    views: dict[str, np.ndarray]
    # how much a group's rows count against the rest of its class (1 if not listed), e.g. {"ai/stylegan2": 0.25}
    group_weights: dict[str, float] = field(default_factory=dict)
    # the share of the AI class's weight that a "recon-N" view's remade real photos take (realorai.autoencoder)
    recon_share: float = 0.2

    def __post_init__(self) -> None:
        if self.group_weights:
            self.group_weights = resolve_group_weights(self.group_weights, set(self.groups.tolist()))

    @classmethod
    def from_split(cls, split, views: dict[str, np.ndarray]) -> SplitData:
        return cls(np.asarray(split["label"]), np.asarray(split["source"]), np.asarray(split["generator"]), views)

    @property
    def groups(self) -> np.ndarray:
        return np.asarray(group_names(self.labels, self.sources, self.generators))


@dataclass
class FittedHead:
    head: LinearHead
    temperature: float
    decision: Decision

    def p_ai(self, features: np.ndarray) -> np.ndarray:
        return ai_probability(self.head.logits(features), self.temperature)

    def with_decision(self, decision: Decision) -> FittedHead:
        return FittedHead(self.head, self.temperature, decision)


def fit_recipe(
    train: SplitData,
    validation: SplitData,
    c: float = DEFAULT_C,
    train_views: tuple[str, ...] = ("clean",),
    keep_train: np.ndarray | None = None,
    keep_validation: np.ndarray | None = None,
    augment_weight: float = 1.0,
    ai_augment_weight: float | None = None,
) -> FittedHead:
    """Head on the train rows (every listed view stacked), temperature and thresholds on validation (clean).

    Views other than "clean" (augmented copies) count `augment_weight` times a clean face, an AI face's copies
    `ai_augment_weight` times (None: the same). Re-shared real photos teach the head that a processed photo is
    not an AI one; re-shared AI faces push it towards cues that survive re-sharing, which carry less well to
    unseen generators, so they count less in the shipped recipe (README, "Tried").
    """
    keep_validation = np.ones(len(validation.labels), bool) if keep_validation is None else keep_validation
    features, labels, weights = training_rows(train, train_views, keep_train, augment_weight, ai_augment_weight)
    return calibrated(fit_linear_head(features, labels, weights, c), validation, keep_validation)


def recipe_fitter(
    c: float = DEFAULT_C, train_views=("clean",), augment_weight: float = 1.0, ai_augment_weight: float | None = None
):
    """`fit_recipe` with these settings as a fit function of `leave_one_out`'s signature."""

    def fit(train: SplitData, validation: SplitData, keep_train=None, keep_validation=None) -> FittedHead:
        return fit_recipe(train, validation, c, train_views, keep_train, keep_validation, augment_weight, ai_augment_weight)

    return fit


def is_copy(view: str) -> bool:
    """A view of re-shared (or otherwise altered) copies, weighted as copies: not "clean", nor another
    runtime's clean view ("clip-b16:clean")."""
    return not view.endswith("clean")


def training_rows(
    train: SplitData,
    train_views: tuple[str, ...],
    keep_train: np.ndarray | None = None,
    augment_weight: float = 1.0,
    ai_augment_weight: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The kept train rows of every view stacked, their labels and the recipe's weights (see `fit_recipe`);
    rows at weight 0 are left out, not kept to shift the standardisation."""
    keep_train = np.ones(len(train.labels), bool) if keep_train is None else keep_train
    values = np.concatenate([train.views[v][keep_train] for v in train_views])
    labels = np.tile(train.labels[keep_train], len(train_views))
    base = balanced_weights(train.labels[keep_train], train.groups[keep_train])
    ai = train.labels[keep_train] == AI_INDEX
    if train.group_weights:  # each class keeps its total: the listed groups' share moves to the others
        scaled = base * np.array([train.group_weights.get(g, 1.0) for g in train.groups[keep_train]])
        for in_class in (ai, ~ai):
            if scaled[in_class].sum() > 0:
                scaled[in_class] *= base[in_class].sum() / scaled[in_class].sum()
        base = scaled
    copy_weight = np.where(ai, augment_weight if ai_augment_weight is None else ai_augment_weight, augment_weight)
    weights = np.concatenate([base * (copy_weight if is_copy(v) else 1.0) for v in train_views])
    if any(is_reconstruction(v) for v in train_views):
        # real photos through the autoencoder become AI faces, `recon_share` of the AI class's weight, each
        # weighing what its real photo does (the real sources keep their balance); AI faces' copies drop out
        row = np.tile(np.arange(len(base)), len(train_views))
        remade = np.repeat([is_reconstruction(v) for v in train_views], len(base))
        remade_reals = remade & ~ai[row]
        weights[~remade & (labels == AI_INDEX)] *= 1.0 - train.recon_share
        weights[remade] = 0.0
        weights[remade_reals] = train.recon_share * base[ai].sum() * base[row[remade_reals]] / base[row[remade_reals]].sum()
        labels[remade] = AI_INDEX
    used = weights > 0
    return values[used], labels[used], weights[used]


def is_reconstruction(view: str) -> bool:
    """A view whose images are real photos remade by a network (the latent autoencoder, the GAN upscaler):
    AI faces, whatever the row's label."""
    return view.startswith((RECON_PREFIX, UPSCALED_PREFIX))


def calibrated(head: LinearHead, validation: SplitData, keep_validation: np.ndarray) -> FittedHead:
    """The head with its temperature and real-first thresholds, fitted on the kept validation rows (clean)."""
    val_features, val_labels = validation.views["clean"][keep_validation], validation.labels[keep_validation]
    temperature = fit_temperature(head.logits(val_features), val_labels)
    p_val = ai_probability(head.logits(val_features), temperature)
    decision = real_first_decision(p_val, val_labels, validation.sources[keep_validation].tolist())
    return FittedHead(head, temperature, decision)


def _auc(positive: np.ndarray, negative: np.ndarray) -> float | None:
    labels = np.r_[np.ones(len(positive)), np.zeros(len(negative))]
    return binary_metrics(labels, np.r_[positive, negative])["roc_auc"]


def leave_one_out(
    train: SplitData,
    validation: SplitData,
    test: SplitData,
    c: float = DEFAULT_C,
    train_views=("clean",),
    augment_weight: float = 1.0,
    fit=None,
    ai_augment_weight: float | None = None,
) -> dict:
    """{"rows": {"ai/<family>" | "real/<source>": {...}}, "summary": {...}}; see the module docstring.

    `fit(train, validation, keep_train, keep_validation)` replaces the shipped recipe (e.g. to measure a
    combination of heads); it returns anything with `p_ai(features)` and `decision`."""
    splits = (train, validation, test)
    recipe = recipe_fitter(c, train_views, augment_weight, ai_augment_weight)
    rows: dict[str, dict] = {}
    groups = sorted(set(np.concatenate([s.groups for s in splits]).tolist()))
    for group in groups:
        held = [s.groups == group for s in splits]
        if not held[0].any():  # nothing of it in train: nothing to hold out
            continue
        fitted = (fit or recipe)(train, validation, ~held[0], ~held[1])
        p_held = np.concatenate([fitted.p_ai(s.views["clean"][h]) for s, h in zip(splits, held)])
        real_test, ai_test = test.labels != AI_INDEX, test.labels == AI_INDEX
        row = {"n": int(len(p_held)), "ai_from": fitted.decision.ai_from, "real_up_to": fitted.decision.real_up_to}
        row["called_real_by_share"] = called_real_by_share(fitted, validation, ~held[1], p_held)
        if group.startswith("ai/"):
            negatives = fitted.p_ai(test.views["clean"][real_test])
            row |= {
                "kind": "ai",
                "roc_auc": _auc(p_held, negatives),
                "recall": float((p_held >= fitted.decision.ai_from).mean()),
                "called_real": float((p_held <= fitted.decision.real_up_to).mean()),
            }
        else:
            positives = fitted.p_ai(test.views["clean"][ai_test])
            row |= {
                "kind": "real",
                "roc_auc": _auc(positives, p_held),
                "false_ai_rate": float((p_held >= fitted.decision.ai_from).mean()),
                "called_real": float((p_held <= fitted.decision.real_up_to).mean()),
                # where the AI threshold would have had to be for 5% / 3% / 1% of this unseen source called AI
                "p_ai_at": {f"{q:.2f}": float(np.quantile(p_held, q)) for q in (0.95, 0.97, 0.99)},
            }
        row["reshared"] = held_out_reshared(fitted, test, held[2], row["kind"])
        rows[group] = row
    # what the folds ran; a custom `fit` records its own settings
    recipe = recipe_record(c, train_views, augment_weight, ai_augment_weight) if fit is None else {}
    return {"rows": rows, "summary": summarise(rows), **recipe}


def held_out_reshared(fitted, test: SplitData, held_test: np.ndarray, kind: str) -> dict:
    """The held-out source's test faces, clean and after each re-share chain the test split has, scored by the
    fold that never saw the source: the hidden set's hardest case (a generator or a camera the model has not
    seen, in a re-shared copy). An AI family: ROC-AUC against the test split's real photos after the same
    chain, the drop from its clean AUC, recall and "called real" at the fold's thresholds. A real source: the
    share called AI, and its ROC-AUC against the test split's AI faces after the same chain. {} when the
    test split has no re-shared view (or none of the source)."""
    views = [v for v in RESHARE if v in test.views]
    if not views or not held_test.any():
        return {}
    ai = test.labels == AI_INDEX
    others = ~held_test & (~ai if kind == "ai" else ai)  # the other class, under the same chain
    table: dict[str, dict] = {}
    for view in ("clean", *views):
        p = fitted.p_ai(test.views[view])
        p_held = p[held_test]
        auc = _auc(p_held, p[others]) if kind == "ai" else _auc(p[others], p_held)
        row = {"n": int(held_test.sum()), "roc_auc": auc}
        row["auc_drop"] = None if view == "clean" or auc is None else float(table["clean"]["roc_auc"] - auc)
        if kind == "ai":
            row |= {
                "recall": float((p_held >= fitted.decision.ai_from).mean()),
                "called_real": float((p_held <= fitted.decision.real_up_to).mean()),
            }
        else:
            row["false_ai_rate"] = float((p_held >= fitted.decision.ai_from).mean())
        table[view] = row
    return table


REAL_SHARES = (0.9, 0.75, 0.6, 0.5)  # the "real" limits a fold also reports (MIN_REAL_SHARE is the drawn one)


def called_real_by_share(fitted, validation: SplitData, keep_validation: np.ndarray, p_held: np.ndarray) -> dict:
    """The held-out source's share called real had the fold drawn its "real" limit so that every validation
    real source keeps `share` of its photos called real, for each of REAL_SHARES: how far a *real* verdict
    can be trusted on a source the model has not seen."""
    p_val = fitted.p_ai(validation.views["clean"][keep_validation])
    labels, sources = validation.labels[keep_validation], validation.sources[keep_validation].tolist()
    shares = {}
    for share in REAL_SHARES:
        real_up_to = min(real_first_decision(p_val, labels, sources, min_real_share=share).real_up_to, fitted.decision.ai_from)
        shares[f"{share:.2f}"] = float((p_held <= real_up_to).mean())
    return shares


def recipe_record(
    c: float, train_views, augment_weight: float = 1.0, ai_augment_weight: float | None = None, group_weights=None
) -> dict:
    """The head's settings as a leave-one-out table records them."""
    return {
        "c": c,
        "train_views": list(train_views),
        "augment_weight": augment_weight,
        "ai_augment_weight": augment_weight if ai_augment_weight is None else ai_augment_weight,
        "group_weights": dict(group_weights or {}),
    }


def resolve_group_weights(weights: dict[str, float], groups: set[str]) -> dict[str, float]:
    """Each listed group as the data names it: exactly, or by the name before its description
    ("ai/unknown-gan" for "ai/unknown-gan (generated-photos style)"); a group the data lacks is an error,
    never a weight silently left unused."""
    resolved = {}
    for group, weight in weights.items():
        matches = [g for g in groups if g == group] or [g for g in groups if generator_short_name(g) == group]
        if len(matches) != 1:
            raise ValueError(f"group weight {group!r}: no such group in the data; groups: {', '.join(sorted(groups))}")
        resolved[matches[0]] = weight
    return resolved


def parse_group_weights(text: str) -> dict[str, float]:
    """'ai/stylegan2=0.1,real/ffhq=2' -> {group: weight} (SplitData.group_weights); a clear error otherwise."""
    weights = {}
    for item in (t.strip() for t in text.split(",") if t.strip()):
        group, equals, weight = item.partition("=")
        kind = group.partition("/")[0]
        try:
            value = float(weight)
        except ValueError:
            value = -1.0
        if not equals or kind not in ("ai", "real") or "/" not in group or value < 0:
            raise ValueError(f"group weight {item!r}: write GROUP=W with GROUP ai/NAME or real/NAME and W >= 0")
        weights[group] = value
    return weights


def summarise(rows: dict[str, dict]) -> dict:
    ai = [r for r in rows.values() if r["kind"] == "ai"]
    real = [r for r in rows.values() if r["kind"] == "real"]
    summary = {}
    if ai:
        summary |= {
            "ai_auc_mean": float(np.mean([r["roc_auc"] for r in ai])),
            "ai_auc_worst": float(min(r["roc_auc"] for r in ai)),
            "ai_recall_mean": float(np.mean([r["recall"] for r in ai])),
            "ai_recall_worst": float(min(r["recall"] for r in ai)),
        }
    if real:
        summary |= {
            "real_false_ai_mean": float(np.mean([r["false_ai_rate"] for r in real])),
            "real_false_ai_worst": float(max(r["false_ai_rate"] for r in real)),
            "real_auc_worst": float(min(r["roc_auc"] for r in real)),
        }
    return summary | reshared_summary(rows)


def reshared_summary(rows: dict[str, dict]) -> dict:
    """The worst of the held-out sources' re-shared copies (`held_out_reshared`): an unseen AI family's lowest
    ROC-AUC and largest drop after any chain, an unseen real source's highest share called AI after any chain."""
    copies = [(row["kind"], r) for row in rows.values() for v, r in row.get("reshared", {}).items() if v != "clean"]
    ai = [r for kind, r in copies if kind == "ai" and r["roc_auc"] is not None]
    real = [r for kind, r in copies if kind == "real"]
    summary = {}
    if ai:
        summary |= {
            "reshared_ai_auc_worst": float(min(r["roc_auc"] for r in ai)),
            "reshared_ai_auc_drop_worst": float(max(r["auc_drop"] for r in ai)),
        }
    if real:
        summary["reshared_real_false_ai_worst"] = float(max(r["false_ai_rate"] for r in real))
    return summary


def reshare_table(fitted: FittedHead, test: SplitData) -> dict:
    """ROC-AUC, AI recall and real photos called AI (at the shipped thresholds), clean and after each chain."""
    table = {}
    clean_auc = None
    for view in ("clean", *RESHARE):
        if view not in test.views:
            continue
        table[view] = robustness_row(fitted.p_ai(test.views[view]), test, fitted.decision.ai_from, clean_auc)
        clean_auc = table[view]["roc_auc"] if view == "clean" else clean_auc
    return table


def robustness_row(p: np.ndarray, data: SplitData, ai_from: float, clean_auc: float | None, real_to: float | None = None) -> dict:
    """One row of a robustness table: P(AI) `p` of `data`'s faces after some change, at the threshold `ai_from`
    (and, given the "real" threshold `real_to`, the share of AI faces confidently called real)."""
    ai = data.labels == AI_INDEX
    auc = binary_metrics(data.labels, p)["roc_auc"]
    called_real = {} if real_to is None else {"ai_called_real": float((p[ai] <= real_to).mean())}
    return called_real | {
        "n": int(len(p)),
        "roc_auc": auc,
        "auc_drop": None if clean_auc is None else float(clean_auc - auc),
        "ai_recall": float((p[ai] >= ai_from).mean()),
        "real_false_ai_rate": float((p[~ai] >= ai_from).mean()),
        "real_false_ai_worst_source": worst_false_ai(p, data, ai_from),
    }


def worst_false_ai(p: np.ndarray, data: SplitData, ai_from: float) -> float:
    """The highest share of photos called AI among the real sources."""
    return max(false_ai_by_source(p, data, ai_from).values())


def false_ai_by_source(p: np.ndarray, data: SplitData, ai_from: float) -> dict[str, float]:
    real = data.labels != AI_INDEX
    return {s: float((p[real & (data.sources == s)] >= ai_from).mean()) for s in sorted(set(data.sources[real].tolist()))}
