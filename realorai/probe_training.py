"""The shipped recipe end to end: cached features -> linear head -> calibrated model folder -> report.

`train.py` calls `fit_and_save` to train and `report` to evaluate any probe model folder; the report
scores the test split through the runtime the app serves (the wheel's INT8 graph), checks the float timm
path against it, and adds the leave-one-source-out and re-share tables to metrics.json.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .backbones import CLASS_PATH_RUNTIME, Backbone, build_backbone, clip_class_path, clip_options, clip_source, float_precision
from .calibration import ai_probability
from .class_path import Tuning
from .config import FACE_SIZE
from .evaluation import probability_report
from .faces import face_crop_settings
from .features import split_features
from .generalisation import (
    DEFAULT_C,
    FittedHead,
    SplitData,
    false_ai_by_source,
    leave_one_out,
    recipe_fitter,
    recipe_record,
    reshare_table,
)  # fmt: skip
from .kinds import KindRecipe, head_from_torch_state
from .metrics import binary_metrics
from .modeling import (
    ServingConfig,
    frozen_classifier,
    load_classifier,
    load_trained,
    read_config,
    save_hub_folder,
    slim_folder,
)  # fmt: skip
from .predict import trained_prefixes
from .probe import MAX_FALSE_AI_ON_VALIDATION, MIN_REAL_SHARE, Decision
from .reshare import RESHARE
from .unseen_reals import unseen_real_fitter


@dataclass(frozen=True)
class ProbeRecipe:
    """How a probe model's head is fitted, in one value: train.py builds it from its flags, the shipped fit and
    every leave-one-out fold of the report read it, and metrics.json records it (`record`)."""

    c: float = DEFAULT_C  # inverse L2 strength of the logistic head
    views: tuple[str, ...] = ("clean",)  # training views of every face (clean, augment-N)
    augment_weight: float = 1.0  # weight of a re-shared copy of a real photo
    ai_augment_weight: float | None = None  # ... of an AI face (None: augment_weight)
    group_weights: dict[str, float] = field(default_factory=dict)  # {group: weight} of training rows (SplitData's)
    unseen_real_target: float = 0.0  # cross-fit the AI threshold for unseen real sources (realorai.unseen_reals)
    unseen_real_copies: bool = False  # ... holding their re-shared copies too
    tuning: Tuning | None = None  # first tune the last block's class path on the tokens entering it
    kinds: KindRecipe | None = None  # a head per kind of AI image (realorai.kinds) instead of the binary head
    also_fit_on: tuple[str, ...] = ()  # other runtimes whose clean features join training (frozen path only)

    def __post_init__(self) -> None:
        if self.kinds is not None and self.tuning is None:
            raise ValueError("a head per kind of AI image is fitted on the tuned class path (--tune)")
        if self.tuning is not None and self.also_fit_on:
            raise ValueError("tuning the class path works on the class token of the resized face, one runtime")

    def decision_rule(self) -> str:
        """The thresholds' rule in words, as metrics.json, the card and the app state it."""
        rule = (
            f"AI from the lowest P(AI) at which every real source of the validation split has at most "
            f"{MAX_FALSE_AI_ON_VALIDATION:.0%} of its photos called AI (never below 0.5)"
        )
        if self.unseen_real_target:
            rule += (
                f", raised until, in refits that never saw it, every real training source has at most "
                f"{self.unseen_real_target:.0%} of its photos called AI"
                + (" and at most as many of their re-shared copies" if self.unseen_real_copies else "")
            )
        return rule + (
            f"; real up to the P(AI) under which every real source keeps {MIN_REAL_SHARE:.0%} of its photos; uncertain in between"
        )

    def record(self, train_views) -> dict:
        """What the leave-one-out folds ran, as metrics.json records it; `train_views`: the views the head
        was fitted on (the other runtimes' clean views included)."""
        record = recipe_record(self.c, train_views, self.augment_weight, self.ai_augment_weight, self.group_weights)
        record |= {"unseen_real_target": self.unseen_real_target, "unseen_real_copies": self.unseen_real_copies}
        record |= self.kinds.to_dict() if self.kinds else {}
        return record | ({"tuning": self.tuning.to_dict()} if self.tuning else {})


@dataclass
class RecipeFit:
    """The recipe ready to fit: `fit` has leave_one_out's signature and cross-fits the threshold for unseen real
    sources; the splits it fits on (and, on the tuned path, the test split as row ids into the token store)."""

    fit: Callable
    train: SplitData
    validation: SplitData
    test: SplitData | None
    train_views: tuple[str, ...]


def recipe_fit(
    recipe: ProbeRecipe, dataset, depth: int, backbones, cache: Path | None, tokens: Path | None, tokens_loaded,
    test_views=("clean",),
) -> RecipeFit:  # fmt: skip
    """One way in for the shipped fit and the report's folds. The tuned path reads the token store
    (`tokens_loaded`, `token_data`'s, or built under `tokens` with the test split under `test_views`); the
    frozen path the features of `backbones` (the serving runtime first)."""
    if recipe.tuning is not None:
        from .tuned_recipe import tuned_fitter

        store, splits = tokens_loaded or token_data(dataset, depth, tokens, recipe.views, test_views)
        per_kind = {"tune_kinds": recipe.kinds.tune_kinds, "kind_offsets": recipe.kinds.offsets} if recipe.kinds else {}
        weights = {"augment_weight": recipe.augment_weight, "ai_augment_weight": recipe.ai_augment_weight}
        fit = tuned_fitter(store, recipe.tuning, recipe.c, recipe.views, **weights, **per_kind)
        train = replace(splits["train"], group_weights=dict(recipe.group_weights))
        test, train_views, validation = splits["test"], recipe.views, splits["validation"]
    else:
        train, validation, train_views = training_data(backbones, dataset, recipe.views, cache, recipe.group_weights)
        fit, test = recipe_fitter(recipe.c, train_views, recipe.augment_weight, recipe.ai_augment_weight), None
    crossed = unseen_real_fitter(fit, recipe.unseen_real_target, recipe.unseen_real_copies)
    return RecipeFit(crossed, train, validation, test, tuple(train_views))


def split_data(backbones, dataset, name: str, views, cache: Path | None) -> SplitData:
    """Features of one split: the serving backbone under each view, plus the clean view of other runtimes."""
    serving, *others = backbones
    features = {view: split_features(serving, dataset[name], name, view, cache) for view in views}
    for other in others:
        features[f"{other.name}:clean"] = split_features(other, dataset[name], name, "clean", cache)
    return SplitData.from_split(dataset[name], features)


def training_data(
    backbones, dataset, views, cache: Path | None, group_weights: dict | None = None
) -> tuple[SplitData, SplitData, tuple[str, ...]]:
    """Train (every view of the serving runtime, clean of the others; `group_weights` as SplitData has them),
    validation (clean) and the training views' names: the same for the shipped fit and every leave-one-out fold."""
    train = replace(split_data(backbones, dataset, "train", views, cache), group_weights=dict(group_weights or {}))
    validation = split_data(backbones[:1], dataset, "validation", ["clean"], cache)
    return train, validation, tuple(views) + tuple(f"{b.name}:clean" for b in backbones[1:])


def fit_and_save(
    dataset,
    out: Path,
    recipe: ProbeRecipe,
    backbone: str,
    cache: Path | None,
    slim: bool,
    clip: dict | None = None,
    face_crop: dict | None = None,
    tokens: Path | None = None,
    tokens_loaded: tuple | None = None,
) -> tuple[FittedHead, dict[str, float]]:
    """Fit the head on train (all views, all runtimes), calibrate and threshold on validation, write the folder.

    `backbone`: the runtime whose features train and serve the head (frozen path); `clip`: depth / pool /
    crop_pct of the CLIP cut (realorai.backbones.clip_options). With `recipe.tuning`, the class path is tuned on
    the tokens entering the last block (cached under `tokens`; `tokens_loaded`: `token_data`'s store, if already
    built). Returns the fitted head and the cross-fit's margins per real source.
    """
    clip = clip_options(clip or {})
    if recipe.tuning is not None and (clip["pool"] != "token" or clip["crop_pct"] != 1.0):
        raise ValueError("tuning the class path works on the class token of the resized face (pool token, crop_pct 1)")
    backbones = [] if recipe.tuning else [build_backbone(name, **clip) for name in [backbone, *recipe.also_fit_on]]
    ready = recipe_fit(recipe, dataset, clip["depth"], backbones, cache, tokens, tokens_loaded)
    crossed = ready.fit(ready.train, ready.validation)
    fitted, tuned_state = crossed.fitted, {}
    if recipe.tuning is not None:
        fitted, tuned_state = crossed.fitted.fitted, crossed.fitted.path.model_state(clip["depth"] - 1)
        print(f"class path tuned ({recipe.tuning.train}, mix {recipe.tuning.mix}) and head fitted")
    print(f"temperature fitted on validation: {fitted.temperature:.3f}; decision band {fitted.decision.band}")
    serving = ServingConfig(
        temperature=fitted.temperature,
        uncertain_band=fitted.decision.band,
        backbone=clip_source(**clip, fast_runtime=CLASS_PATH_RUNTIME if recipe.tuning else "clip-b16-int8"),
        face_crop=face_crop,
        labels=fitted.head.labels,
    )
    model = frozen_classifier(fitted.head.torch_state(), **clip, labels=fitted.head.labels)
    loaded = model.load_state_dict(tuned_state, strict=False)
    if loaded.unexpected_keys:
        raise ValueError(f"tuned tensors the model does not have: {loaded.unexpected_keys}")
    save_hub_folder(model, out, serving)
    if slim:
        slim_folder(out)
    return fitted, crossed.margins


def dataset_face_crop(data: Path) -> dict:
    """The face-crop settings a dataset was built with (older builds recorded only the size)."""
    import json

    settings = json.loads((Path(data) / "build_report.json").read_text()).get("settings", {})
    return settings.get("face_crop") or face_crop_settings(settings.get("size", FACE_SIZE))


# The test split's views the report's leave-one-out folds score (each held-out source re-shared too,
# realorai.generalisation.held_out_reshared); a token store built for a run with folds holds them.
FOLD_TEST_VIEWS = ("clean", *RESHARE)


def token_data(dataset, depth: int, tokens: Path | None, views, test_views=("clean",)) -> tuple:
    """One token store for the tuned recipe (train under every view, validation clean, test under
    `test_views`: the re-share chains too where the report's folds score held-out sources re-shared) and the
    splits as row ids into it: built once by train.py and shared by the shipped fit and the report's folds."""
    from .tuned_recipe import token_splits

    if tokens is None:
        raise ValueError("tuning needs a token cache folder (--tokens)")
    wanted = {"train": tuple(views), "validation": ("clean",), "test": tuple(test_views)}
    return token_splits(dataset, wanted, Path(tokens), clip_class_path(depth), depth)


def load_fitted(folder: Path) -> tuple[FittedHead, ServingConfig]:
    """The head, temperature and thresholds of a probe model folder (slim or full)."""
    serving = ServingConfig.from_config_json(read_config(folder))
    head = head_from_torch_state(load_trained(folder, ("head.",)), serving.labels)
    return FittedHead(head, serving.temperature, Decision(*serving.uncertain_band)), serving


def served_runtime(folder: Path, serving: ServingConfig) -> Backbone:
    """The runtime the app serves this folder with (predict.fast_runtime's choice, insisted on)."""
    from .predict import fast_runtime

    return fast_runtime(serving, "onnx", load_trained(folder, trained_prefixes(serving)))


def report(
    folder: Path,
    dataset,
    recipe: ProbeRecipe,
    cache: Path | None,
    leave_out: bool = True,
    tokens: Path | None = None,
    tokens_loaded: tuple | None = None,
) -> dict:
    """Everything we report for a probe model: test (clean, per source/generator), re-share, leave-one-out.

    Every leave-one-out fold refits `recipe` without its source: with `recipe.tuning` it tunes its own class
    path (on cached tokens) before its head; with `recipe.unseen_real_target` it draws its threshold by
    cross-fitting, as the shipped fit did."""
    fitted, serving = load_fitted(folder)
    clip = clip_options(serving.backbone)
    runtime = served_runtime(folder, serving)
    test = split_data([runtime], dataset, "test", ["clean", *RESHARE], cache)
    p_raw = ai_probability(fitted.head.logits(test.views["clean"]))
    p = fitted.p_ai(test.views["clean"])
    threshold = fitted.decision.ai_from
    reshare = reshare_table(fitted, test)
    result = {
        **probability_report(test.labels, p, dataset["test"], threshold),
        "ece_before_calibration": binary_metrics(test.labels, p_raw)["ece"],
        "false_ai_by_source": false_ai_by_source(p, test, threshold),
        "robustness": {view: binary_metrics(test.labels, fitted.p_ai(test.views[view]), threshold) for view in RESHARE},
        "reshare": reshare,
        "runtime": runtime.name,
        "_probabilities": {
            "labels": test.labels.tolist(),
            "p_ai": p.tolist(),
            "p_ai_raw": p_raw.tolist(),
            "source": test.sources.tolist(),
        },
    }
    result["float_runtime_check"] = float_runtime_check(fitted, dataset, test, p, cache, folder, runtime.name)
    metrics = {
        "labels": list(serving.labels),
        "temperature": fitted.temperature,
        "uncertain_band": list(fitted.decision.band),
        "decision": {
            "ai_from": threshold,
            "real_up_to": fitted.decision.real_up_to,
            "rule": recipe.decision_rule(),
            "unseen_real_target": recipe.unseen_real_target,
            "unseen_real_copies": recipe.unseen_real_copies,
        },
        "splits": {"test": result},
    }
    if leave_out:  # every fold refits exactly the shipped recipe: same views, same runtimes
        backbones = [] if recipe.tuning else [runtime, *(build_backbone(name, **clip) for name in recipe.also_fit_on)]
        ready = recipe_fit(recipe, dataset, clip["depth"], backbones, cache, tokens, tokens_loaded, FOLD_TEST_VIEWS)
        folds = leave_one_out(ready.train, ready.validation, test if ready.test is None else ready.test, fit=ready.fit)
        metrics["leave_one_out"] = folds | recipe.record(ready.train_views)
    return metrics


def float_runtime_check(
    fitted: FittedHead, dataset, test: SplitData, p_served: np.ndarray, cache: Path | None, folder: Path, served: str
) -> dict:
    """Test AUC through the float timm path (what `timm.create_model` users get) next to the served INT8 path.

    The folder's own timm model (tuned tensors included), in bfloat16 where the CPU has it (features match
    float32 to cosine ~0.9997): how far the float path drifts from the runtime the head was fitted on (both, with --also-fit-on).
    """
    float_features = split_features(float_backbone(folder, served), dataset["test"], "test", "clean", cache)
    p_float = fitted.p_ai(float_features)
    return {
        "runtime": f"clip-b16 (timm, {float_precision()})",
        "roc_auc": binary_metrics(test.labels, p_float)["roc_auc"],
        "roc_auc_served": binary_metrics(test.labels, p_served)["roc_auc"],
        "mean_abs_p_difference": float(np.abs(p_float - p_served).mean()),
        "verdict_agreement": float(((p_float >= fitted.decision.ai_from) == (p_served >= fitted.decision.ai_from)).mean()),
    }


def float_backbone(folder: Path, served: str) -> Backbone:
    """The folder's timm model's pre-logits (`float_pre_logits`); named after the served runtime (whose name carries
    the tuned weights' digest), so its cached features belong to these weights only."""
    from .backbones import CLIP_ARCHITECTURE, CLIP_ORIGIN, float_pre_logits, timm_transform

    model, _ = load_classifier(folder)
    name = served.replace("clip-b16-int8", "clip-b16", 1)  # clip-b16-d11, clip-b16-classpath-<digest>-d11
    transform = timm_transform(CLIP_ARCHITECTURE, crop_pct=model.pretrained_cfg.get("crop_pct", 1.0))
    return Backbone(name, CLIP_ARCHITECTURE, transform, float_pre_logits(model), CLIP_ORIGIN)
