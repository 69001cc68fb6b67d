"""Render the model's README.md (Hub model card with model-index) from model_card.md and metrics.json."""

from __future__ import annotations

import json
from pathlib import Path
from string import Template

from .config import REPO_ROOT
from .modeling import weights_origin

TEMPLATE = REPO_ROOT / "model_card.md"
DEFAULT_REPO_ID = "real-or-ai/portrait-detector"
DEFAULT_DATASET_ID = "real-or-ai/portrait-faces"


def _fmt(value) -> str:
    if value is None or value != value:  # None, or NaN (e.g. real recall of an AI-only source)
        return "–"
    return f"{value:.4f}"


def _auc(m: dict) -> str:
    """A one-class source's AUC is against all images of the other class; marked with *."""
    if m.get("roc_auc") is None and m.get("roc_auc_vs_other_class") is not None:
        return f"{m['roc_auc_vs_other_class']:.4f}*"
    return _fmt(m.get("roc_auc"))


def metrics_table(rows: dict[str, dict], first: str) -> str:
    lines = [
        f"| {first} | n | accuracy | balanced acc. | ROC-AUC | AP | EER | real recall | AI recall |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, m in rows.items():
        lines.append(
            f"| {name} | {m['n']} | {_fmt(m['accuracy'])} | {_fmt(m['balanced_accuracy'])} | "
            f"{_auc(m)} | {_fmt(m['average_precision'])} | {_fmt(m['eer'])} | "
            f"{_fmt(m['real_recall'])} | {_fmt(m['ai_recall'])} |"
        )
    return "\n".join(lines)


HOLDOUT_REPORT = "holdout-sdfd/metrics.json"  # the same recipe trained without SDFD, kept beside the model


def unseen_generator_section(metrics: dict, model_dir: Path) -> str:
    """The held-out-source result: from this run's own holdout split, or from the companion run's report."""
    source = metrics
    if "holdout" not in metrics["splits"] and (model_dir / HOLDOUT_REPORT).is_file():
        source = json.loads((model_dir / HOLDOUT_REPORT).read_text())
    holdout = source["splits"].get("holdout")
    if not holdout:
        return ""
    unseen = ", ".join(s for s, m in holdout["per_source"].items() if m["n_ai"] == m["n"])  # AI-only sources
    rows = {"clean": holdout["overall"], **holdout.get("robustness", {})}
    return (
        f"**Unseen generator.** The same recipe trained without any {unseen} image, then scored on {unseen} "
        "faces against the test split's real photos — the honest estimate for a generator family the model "
        f"never saw:\n\n{metrics_table(rows, 'unseen vs real')}\n\nMade by: `{source['command']}`"
    )


def look_alike_table(test: dict) -> str:
    """Markdown matrix: rows real sources, columns generators, cells the AUC of that pair alone."""
    pairs = test.get("real_source_vs_generator_auc")
    if not pairs:
        return "not computed for this report (re-run `python train.py --eval-only ...`)"
    generators = sorted({g for row in pairs.values() for g in row})
    lines = ["| real source \\ generator | " + " | ".join(generators) + " |", "|---|" + "---:|" * len(generators)]
    lines += [f"| {source} | " + " | ".join(_fmt(row.get(g)) for g in generators) + " |" for source, row in pairs.items()]
    return "\n".join(lines)


def weakest_source(test: dict) -> str:
    name, m = min(test["per_source"].items(), key=lambda item: item[1]["accuracy"])
    kind = "its real photos are called AI" if m["n_ai"] == 0 else "its AI faces are called real"
    return (
        f"- Weakest source on the test split: **{name}**, accuracy {m['accuracy']:.4f} — {kind} most often. "
        "Read verdicts on such pictures with that error rate in mind."
    )


def _epoch_summary(epoch: dict) -> str:
    text = f"epoch {epoch['epoch']}: val AUC {epoch['val_auc']:.4f}"
    if "val_worst_group_auc" in epoch:  # runs before the worst-group criterion did not record it
        text += f" (worst: {epoch['val_worst_group']} {epoch['val_worst_group_auc']:.4f})"
    return text


SAMPLING_TEXT = {
    "class-source": "sampling balanced by class and, inside a class, by source",
    "group": "a sampler that gives every real source and every generator the same share",
}
SELECTION_TEXT = {
    "pooled-auc": "validation ROC-AUC",
    "worst-group-auc": "the worst source's validation ROC-AUC (each against every image of the other class)",
}


def render_model_card(metrics: dict, model_dir: Path, repo_id: str = DEFAULT_REPO_ID) -> str:
    config = json.loads((model_dir / "config.json").read_text())
    test = metrics["splits"]["test"]
    overall = test["overall"]
    holdout_section = unseen_generator_section(metrics, model_dir)
    train_config = metrics.get("training", {}).get("config", {})  # reports older than a setting lack its key
    index_metrics = [
        ("roc_auc", "ROC-AUC"),
        ("balanced_accuracy", "Balanced accuracy"),
        ("accuracy", "Accuracy"),
        ("average_precision", "Average precision"),
        ("ece", "ECE (calibrated)"),
    ]
    model_index = "\n".join(
        f"    - type: {key}\n      name: {name}\n      value: {overall[key]:.4f}"
        for key, name in index_metrics
        if overall.get(key) is not None
    )
    history = ", ".join(_epoch_summary(h) for h in metrics.get("training", {}).get("history", [])) or "n/a (evaluated only)"
    serving = config.get("realorai", {})
    values = {
        "architecture": config["architecture"],
        "sampling": SAMPLING_TEXT[train_config.get("sampling", "class-source")],
        "selection": SELECTION_TEXT[train_config.get("select_on", "pooled-auc")],
        "weights_origin": weights_origin(config["architecture"]),
        "repo_id": repo_id,
        "dataset_id": DEFAULT_DATASET_ID,
        "labels": ", ".join(config.get("label_names", [])),
        "face_margin": serving.get("face_margin"),
        "face_size": serving.get("face_size"),
        "temperature": f"{metrics['temperature']:.3f}",
        "band_lo": metrics["uncertain_band"][0],
        "band_hi": metrics["uncertain_band"][1],
        "command": metrics["command"],
        "train_command": metrics.get("training", {}).get("command", metrics["command"]),
        "test_n": overall["n"],
        "model_index_metrics": model_index,
        "overall_table": metrics_table({"all": overall}, "split"),
        "source_table": metrics_table(test["per_source"], "source"),
        "generator_table": metrics_table(test["per_generator"], "generator"),
        "look_alike_table": look_alike_table(test),
        "robustness_table": metrics_table(test.get("robustness", {}), "degradation") if test.get("robustness") else "not run",
        "holdout_section": holdout_section,
        "weakest_source": weakest_source(test),
        "ece_before": _fmt(test["ece_before_calibration"]),
        "ece_after": _fmt(overall["ece"]),
        "history": history,
    }
    return Template(TEMPLATE.read_text()).substitute(values)
