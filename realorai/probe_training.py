"""The shipped recipe end to end: cached features -> linear head -> calibrated model folder -> report.

`train.py` calls `fit_and_save` to train and `report` to evaluate any probe model folder; the report
scores the test split through the runtime the app serves (the wheel's INT8 graph), checks the float timm
path against it, and adds the leave-one-source-out and re-share tables to metrics.json.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from safetensors.torch import load_file

from .backbones import build_backbone, clip_options, clip_source
from .calibration import softmax
from .config import AI_INDEX, FACE_SIZE, LABELS
from .evaluation import probability_report
from .faces import face_crop_settings
from .features import split_features
from .generalisation import FittedHead, SplitData, false_ai_by_source, fit_recipe, leave_one_out, reshare_table
from .metrics import binary_metrics
from .modeling import HEAD_FILE, WEIGHTS_FILE, ServingConfig, frozen_classifier, save_hub_folder, slim_folder
from .probe import MAX_FALSE_AI_ON_VALIDATION, MIN_REAL_SHARE, Decision, LinearHead
from .reshare import RESHARE

DECISION_RULE = (
    f"AI from the lowest P(AI) at which every real source of the validation split has at most "
    f"{MAX_FALSE_AI_ON_VALIDATION:.0%} of its photos called AI (never below 0.5); real up to the P(AI) under which "
    f"every real source keeps {MIN_REAL_SHARE:.0%} of its photos; uncertain in between"
)


def split_data(backbones, dataset, name: str, views, cache: Path | None) -> SplitData:
    """Features of one split: the serving backbone under each view, plus the clean view of other runtimes."""
    serving, *others = backbones
    features = {view: split_features(serving, dataset[name], name, view, cache) for view in views}
    for other in others:
        features[f"{other.name}:clean"] = split_features(other, dataset[name], name, "clean", cache)
    return SplitData.from_split(dataset[name], features)


def training_data(backbones, dataset, views, cache: Path | None) -> tuple[SplitData, SplitData, tuple[str, ...]]:
    """Train (every view of the serving runtime, clean of the others), validation (clean) and the training views'
    names: the same for the shipped fit and for every leave-one-out fold."""
    train = split_data(backbones, dataset, "train", views, cache)
    validation = split_data(backbones[:1], dataset, "validation", ["clean"], cache)
    return train, validation, tuple(views) + tuple(f"{b.name}:clean" for b in backbones[1:])


def fit_and_save(
    dataset,
    out: Path,
    backbone: str,
    also_fit_on: list[str],
    views: list[str],
    c: float,
    cache: Path | None,
    slim: bool,
    clip: dict | None = None,
    face_crop: dict | None = None,
    augment_weight: float = 1.0,
    ai_augment_weight: float | None = None,
) -> FittedHead:
    """Fit the head on train (all views, all runtimes), calibrate and threshold on validation, write the folder.

    `clip`: depth / pool / crop_pct of the CLIP cut (realorai.backbones.clip_options).
    """
    clip = clip_options(clip or {})
    backbones = [build_backbone(name, **clip) for name in [backbone, *also_fit_on]]
    train, validation, train_views = training_data(backbones, dataset, views, cache)
    fitted = fit_recipe(train, validation, c, train_views, augment_weight=augment_weight, ai_augment_weight=ai_augment_weight)
    print(f"temperature fitted on validation: {fitted.temperature:.3f}; decision band {fitted.decision.band}")
    serving = ServingConfig(
        temperature=fitted.temperature,
        uncertain_band=fitted.decision.band,
        backbone=clip_source(**clip),
        face_crop=face_crop,
    )
    save_hub_folder(frozen_classifier(fitted.head.torch_state(), **clip), out, serving)
    if slim:
        slim_folder(out)
    return fitted


def dataset_face_crop(data: Path) -> dict:
    """The face-crop settings a dataset was built with (older builds recorded only the size)."""
    import json

    settings = json.loads((Path(data) / "build_report.json").read_text()).get("settings", {})
    return settings.get("face_crop") or face_crop_settings(settings.get("size", FACE_SIZE))


def load_fitted(folder: Path) -> tuple[FittedHead, ServingConfig]:
    """The head, temperature and thresholds of a probe model folder (slim or full)."""
    import json

    config = json.loads((folder / "config.json").read_text())
    serving = ServingConfig.from_config_json(config)
    weights = folder / (HEAD_FILE if (folder / HEAD_FILE).is_file() else WEIGHTS_FILE)
    head = LinearHead.from_torch_state({k: v for k, v in load_file(weights).items() if k.startswith("head.")})
    return FittedHead(head, serving.temperature, Decision(*serving.uncertain_band)), serving


def report(
    folder: Path,
    dataset,
    c: float,
    views: list[str],
    cache: Path | None,
    leave_out: bool = True,
    augment_weight: float = 1.0,
    also_fit_on: list[str] = (),
    ai_augment_weight: float | None = None,
) -> dict:
    """Everything we report for a probe model: test (clean, per source/generator), re-share, leave-one-out."""
    fitted, serving = load_fitted(folder)
    clip = clip_options(serving.backbone)
    runtime = build_backbone(serving.backbone["fast_runtime"], **clip)
    test = split_data([runtime], dataset, "test", ["clean", *RESHARE], cache)
    p_raw = softmax(fitted.head.logits(test.views["clean"]))[:, AI_INDEX]
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
    result["float_runtime_check"] = float_runtime_check(fitted, dataset, test, p, cache, clip)
    metrics = {
        "labels": list(LABELS),
        "temperature": fitted.temperature,
        "uncertain_band": list(fitted.decision.band),
        "decision": {"ai_from": threshold, "real_up_to": fitted.decision.real_up_to, "rule": DECISION_RULE},
        "splits": {"test": result},
    }
    if leave_out:  # every fold refits exactly the shipped recipe: same views, same runtimes
        backbones = [runtime, *(build_backbone(name, **clip) for name in also_fit_on)]
        train, validation, train_views = training_data(backbones, dataset, views, cache)
        metrics["leave_one_out"] = leave_one_out(
            train, validation, test, c, train_views, augment_weight, ai_augment_weight=ai_augment_weight
        )
    return metrics


def float_runtime_check(
    fitted: FittedHead, dataset, test: SplitData, p_served: np.ndarray, cache: Path | None, clip: dict | None = None
) -> dict:
    """Test AUC through the float timm path (what `timm.create_model` users get) next to the served INT8 path.

    Uses the bfloat16 features of the same weights (they match fp32 to cosine ~0.9997): how far the float
    path drifts from the runtime the head was fitted on (both, with --also-fit-on).
    """
    float_backbone = build_backbone("clip-b16", **clip_options(clip or {}))
    float_features = split_features(float_backbone, dataset["test"], "test", "clean", cache)
    p_float = fitted.p_ai(float_features)
    return {
        "runtime": "clip-b16 (timm, bfloat16)",
        "roc_auc": binary_metrics(test.labels, p_float)["roc_auc"],
        "roc_auc_served": binary_metrics(test.labels, p_served)["roc_auc"],
        "mean_abs_p_difference": float(np.abs(p_float - p_served).mean()),
        "verdict_agreement": float(((p_float >= fitted.decision.ai_from) == (p_served >= fitted.decision.ai_from)).mean()),
    }
