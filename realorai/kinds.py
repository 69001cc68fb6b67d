"""A head per kind of AI image (diffusion, GAN), served as one timm head with a class per kind.

One linear "AI" direction has to serve every generator at once, and the GAN families pull it away from what
unseen diffusion models share (`benchmarks.family_count`, README "Tried"). Here each kind gets its own
logistic head, fitted on that kind against every real photo (the kind weighing as much as the real photos);
each head is levelled so the same share of held-out real photos score under 0, a kind then lowered by its
offset, and the heads combine as a soft OR: P(real) = 1 / (1 + sum_k exp(m_k)), i.e. softmax over the
logits (0, m_1, m_2, ...). A timm head with a zero "real" row and one row per kind serves exactly that, and
the temperature divides every kind's margin before the OR, as softmax(logits / T) does.

The kinds are the sources' families (`realorai.sources`); their classes are named "ai-<kind>".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.special import logsumexp

from .config import AI_INDEX, LABELS, REAL_INDEX
from .probe import LinearHead, fit_linear_head
from .sources import source_facts

# Each kind's head is shifted so that this share of held-out real photos scores under margin 0: every kind
# then raises the same share of real photos, and a head the real photos push high (the GAN head on FFHQ,
# whose faces StyleGAN imitates) no longer lifts every real photo in the OR.
LEVEL = 0.99
REAL_LABEL = LABELS[REAL_INDEX]


def kind_label(kind: str) -> str:
    return f"ai-{kind}"


@dataclass(frozen=True)
class RowKinds:
    """`training_rows`' rows (every view of the kept rows in turn) by kind of image."""

    kinds: np.ndarray  # each row's source family ("diffusion", "gan", or a real photo's)
    names: list[str]  # the AI kinds among the rows, sorted: kind k's class is k + 1
    classes: np.ndarray  # each row's class: 0 for a real photo, 1.. for its AI kind


def row_kinds(split, keep: np.ndarray, views: tuple[str, ...], rows: int | None = None) -> RowKinds:
    """The kinds of `training_rows`' rows; `rows`: how many that function returned, refused if it dropped
    some (a group weighted 0, an autoencoder view), as the kinds would no longer line up with them."""
    labels = np.tile(split.labels[keep], len(views))
    kinds = np.array([source_facts(s).family for s in np.tile(split.sources[keep], len(views))])
    if rows is not None and rows != len(kinds):
        raise ValueError("a head per kind needs every training row kept: no group weighted 0, no autoencoder view")
    names = sorted(set(kinds[labels == AI_INDEX].tolist()))
    classes = np.where(labels == AI_INDEX, [names.index(k) + 1 if k in names else 0 for k in kinds], 0)
    return RowKinds(kinds, names, classes)


@dataclass
class KindHeads:
    """One binary head per kind of AI image; their soft OR is the model's P(AI)."""

    heads: list[LinearHead]
    kinds: tuple[str, ...]

    @property
    def labels(self) -> tuple[str, ...]:
        """The served classes: "real" where the dataset has it, then each kind."""
        names = [kind_label(k) for k in self.kinds]
        return tuple(names[:REAL_INDEX] + [REAL_LABEL] + names[REAL_INDEX:])

    def margins(self, features: np.ndarray) -> np.ndarray:
        return np.stack([h.margin(features) for h in self.heads], axis=1)

    def margin(self, features: np.ndarray) -> np.ndarray:
        """log P(AI) - log P(real) at temperature 1."""
        return logsumexp(self.margins(features), axis=1)

    def logits(self, features: np.ndarray) -> np.ndarray:
        """The served head's logits: 0 for "real", each kind's margin for its class."""
        return np.insert(self.margins(features), REAL_INDEX, 0.0, axis=1)

    def torch_state(self) -> dict[str, torch.Tensor]:
        """timm `head.weight` (1 + K, d) and `head.bias` (1 + K,) giving exactly `logits`."""
        weight = np.insert(np.stack([h.weight for h in self.heads]), REAL_INDEX, 0.0, axis=0)
        bias = np.insert(np.array([h.bias for h in self.heads]), REAL_INDEX, 0.0)
        return {"head.weight": torch.as_tensor(weight).float(), "head.bias": torch.as_tensor(bias).float()}

    @classmethod
    def from_torch_state(cls, state: dict[str, torch.Tensor], labels: tuple[str, ...]) -> KindHeads:
        weight, bias = state["head.weight"].double(), state["head.bias"].double()
        real = labels.index(REAL_LABEL)
        rows = [i for i in range(len(labels)) if i != real]
        heads = [LinearHead((weight[i] - weight[real]).numpy(), float(bias[i] - bias[real])) for i in rows]
        return cls(heads, tuple(labels[i].removeprefix("ai-") for i in rows))


def head_from_torch_state(state: dict[str, torch.Tensor], labels: tuple[str, ...]):
    """A served head back as the fit made it: the binary `LinearHead`, or `KindHeads` for a class per kind."""
    if tuple(labels) == LABELS:
        return LinearHead.from_torch_state(state)
    return KindHeads.from_torch_state(state, tuple(labels))


def fit_kind_heads(features: np.ndarray, classes: np.ndarray, weights: np.ndarray, kinds: list[str], c: float) -> KindHeads:
    """Kind k's head (class k + 1 of `row_kinds`) fitted on that kind against every real photo, the kind
    weighing as much as the real photos."""
    heads = []
    for k in range(1, len(kinds) + 1):
        rows = (classes == 0) | (classes == k)
        is_ai, w = classes[rows] > 0, weights[rows].copy()
        w[is_ai] *= w[~is_ai].sum() / w[is_ai].sum()
        heads.append(fit_linear_head(features[rows], is_ai.astype(int), w, c))
    return KindHeads(heads, tuple(kinds))


def levelled(head: KindHeads, real_features: np.ndarray, offsets: dict[str, float], level: float = LEVEL) -> KindHeads:
    """Each kind's head shifted so that `level` of the given real photos score under margin 0, and a kind
    in `offsets` then lowered that many logits more."""
    heads = []
    for kind, h in zip(head.kinds, head.heads):
        shift = float(np.quantile(h.margin(real_features), level)) + offsets.get(kind, 0.0)
        heads.append(LinearHead(h.weight, h.bias - shift))
    return KindHeads(heads, head.kinds)


@dataclass(frozen=True)
class KindRecipe:
    """A head per kind of AI image (realorai.kinds): the path tuned on the real photos and `tune_kinds`' faces
    only (all kinds if empty), each kind's head levelled on validation real photos and lowered by its offset."""

    # The shipped values, chosen by leave-one-out (README "Tried"): the path tuned on diffusion faces only lets
    # unseen diffusion families rank 0.93-0.94 on the diffusion head alone (0.90-0.91 tuned on every kind);
    # the GAN head lowered 3 logits stops it lifting unseen real photos in the OR (3 over 2: the worst held-out
    # family and its re-shared copies rank higher on both seeds, at a lower StyleGAN2 fold).
    tune_kinds: tuple[str, ...] = ("diffusion",)
    offsets: dict[str, float] = field(default_factory=lambda: {"gan": 3.0})

    @property
    def offsets_text(self) -> str:
        return ",".join(f"{kind}={value:g}" for kind, value in self.offsets.items())

    def to_dict(self) -> dict:
        return {"head": "a head per kind of AI image", "tune_kinds": list(self.tune_kinds), "kind_offsets": dict(self.offsets)}


def parse_kind_offsets(text: str) -> dict[str, float]:
    """'gan=2,diffusion=0.5' -> {kind: logits}; a clear error otherwise."""
    offsets = {}
    for item in (t.strip() for t in text.split(",") if t.strip()):
        kind, equals, value = item.partition("=")
        try:
            offsets[kind.strip()] = float(value)
        except ValueError:
            equals = ""
        if not equals or not kind.strip():
            raise ValueError(f"kind offset {item!r}: write KIND=LOGITS, e.g. gan=2")
    return offsets
