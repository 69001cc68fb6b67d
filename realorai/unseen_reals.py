"""An AI threshold drawn against real sources the model has not seen, by cross-fitting.

The real-first rule (`probe.real_first_decision`) sets the threshold on validation photos from the very
sources the head was trained on, so it cannot see how a new camera, studio or archive scores. Here every fit
is repeated once per real source in its training rows, without that source; each refit shows how far (in
logits above its own real-first threshold) the threshold has to rise to keep the left-out source's photos at
most `target` called AI, and the fit's threshold rises by the largest such margin. It never falls.

With `copies`, the left-out source's re-shared copies (the training views other than "clean") are held to
the same target as its clean photos: re-sharing pushes some unseen real photos towards "AI" (the app's
London studio portrait: P(AI) 0.989 as served, 0.991-0.9999 after four of the five re-share chains), and
a threshold that keeps only the clean photos safe does not keep their copies safe.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .calibration import logit, sigmoid
from .config import AI_INDEX
from .generalisation import is_copy
from .probe import Decision, ai_threshold

# Held-out real photos called AI, at most (issue #9 allows 5%; README "Thresholds" has the measurements:
# with StyleGAN2 weighted down the margins are smaller, and 3% let the threshold fall too far for real photos).
UNSEEN_REAL_TARGET = 0.01
UNSEEN_REAL_COPIES = False  # train.py's default: also hold left-out sources' re-shared copies (README "Thresholds")


@dataclass
class CrossFitted:
    """A fit (anything with `p_ai` and `decision`) whose threshold was raised; `margins`: per real source,
    the logit margin its refit needed (the raise is the largest one, or none)."""

    fitted: object
    margins: dict[str, float]

    @property
    def decision(self) -> Decision:
        return self.fitted.decision

    def p_ai(self, features):
        return self.fitted.p_ai(features)


def raised(decision: Decision, margin: float) -> Decision:
    """`decision` with its AI threshold `margin` logits higher (stored as `ai_threshold` rounds it)."""
    ai_from = ai_threshold(float(sigmoid(logit(decision.ai_from) + margin)))
    return Decision(min(decision.real_up_to, ai_from), max(ai_from, decision.ai_from))


def needed_margin(p_unseen: np.ndarray, decision: Decision, target: float) -> float:
    """How many logits above `decision.ai_from` the threshold must be for at most `target` of the photos
    whose P(AI) is `p_unseen` to be called AI (negative: the threshold already keeps them)."""
    return float(np.quantile(logit(p_unseen), 1 - target) - logit(decision.ai_from))


def unseen_real_fitter(fit, target: float = UNSEEN_REAL_TARGET, copies: bool = False):
    """fit(train, validation, keep_train, keep_validation) -> CrossFitted, from a fit function of the same
    signature (`leave_one_out`'s). The refits score each left-out source's clean train and validation rows
    and, with `copies`, its train rows' re-shared copies on their own: the margin is the larger of the two.
    `target` 0, or a fit with a single real source, has nothing to cross-fit: the threshold stays."""

    def fit_unseen(train, validation, keep_train=None, keep_validation=None) -> CrossFitted:
        keep_train = np.ones(len(train.labels), bool) if keep_train is None else keep_train
        keep_validation = np.ones(len(validation.labels), bool) if keep_validation is None else keep_validation
        main = fit(train, validation, keep_train, keep_validation)
        real_groups = sorted(set(train.groups[keep_train & (train.labels != AI_INDEX)].tolist()))
        margins = {}
        for group in real_groups if target and len(real_groups) > 1 else ():
            out_train, out_validation = keep_train & (train.groups == group), keep_validation & (validation.groups == group)
            refit = fit(train, validation, keep_train & ~out_train, keep_validation & ~out_validation)
            unseen = np.concatenate([train.views["clean"][out_train], validation.views["clean"][out_validation]])
            margins[group] = needed_margin(refit.p_ai(unseen), refit.decision, target)
            for view in [v for v in train.views if is_copy(v)] if copies else ():
                copied = needed_margin(refit.p_ai(train.views[view][out_train]), refit.decision, target)
                print(f"      unseen {group}, {view} copies: {copied:+.2f} logits", flush=True)
                margins[group] = max(margins[group], copied)
            print(f"      unseen {group}: threshold must rise {margins[group]:+.2f} logits", flush=True)
        margin = max([0.0, *margins.values()])
        return CrossFitted(main.with_decision(raised(main.decision, margin)) if margin > 0 else main, margins)

    return fit_unseen
