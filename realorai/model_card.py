"""Render the model's README.md (Hub model card with model-index) from model_card.md and metrics.json."""

from __future__ import annotations

import json
from pathlib import Path
from string import Template

from .config import REPO_ROOT
from .sources import licence_lines, training_sources

# The recipe's own modules (torch, timm) are imported by the functions that describe training, not here: the
# report's tables render without them (`realorai report` answers in ~1 s instead of ~9 s on 2 slow cores).

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


def _pct(value) -> str:
    return "–" if value is None else f"{value:.1%}"


def leave_one_out_table(leave_one_out: dict | None) -> str:
    """One row per source left out of training: AI families by AUC and share caught, real sources by the
    share of their photos called AI (each at the threshold its own fold chose by the shipped rule)."""
    if not leave_one_out:
        return "not computed for this model (`python train.py --eval-only --model FOLDER` computes it)"
    lines = [
        "| left out | kind | n | ROC-AUC | AI caught | AI called real | real called AI | threshold |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for group, r in leave_one_out["rows"].items():
        if r["kind"] == "ai":
            caught, missed, false_ai = _pct(r["recall"]), _pct(r.get("called_real")), "–"
        else:
            caught, missed, false_ai = "–", "–", _pct(r["false_ai_rate"])
        name = group.split("/", 1)[1]
        lines.append(
            f"| {name} | {r['kind']} | {r['n']} | {_fmt(r['roc_auc'])} | {caught} | {missed} | {false_ai} | {r['ai_from']:.3f} |"
        )
    s = leave_one_out["summary"]
    lines.append(
        f"| **mean / worst** | | | {s['ai_auc_mean']:.4f} / {s['ai_auc_worst']:.4f} | {_pct(s['ai_recall_mean'])} / "
        f"{_pct(s['ai_recall_worst'])} | | {_pct(s['real_false_ai_mean'])} / {_pct(s['real_false_ai_worst'])} | |"
    )
    reshared = held_out_reshare_table(leave_one_out)
    return "\n".join(lines) + (f"\n\n{reshared}" if reshared else "")


def held_out_reshare_table(leave_one_out: dict) -> str:
    """Each held-out source's test faces after each re-share chain, scored by its own fold
    (realorai.generalisation.held_out_reshared); "" for a report made before folds recorded them."""
    rows = {group: r for group, r in leave_one_out["rows"].items() if r.get("reshared")}
    if not rows:
        return ""
    views = list(next(iter(rows.values()))["reshared"])
    lines = [
        "Left out *and* re-shared: each held-out source's test faces, clean and after each chain, scored by the "
        "fold that never saw the source. An AI family: ROC-AUC against the test split's real photos after the "
        "same chain (share caught at the fold's threshold); a real source: share of its photos called AI.",
        "",
        "| left out | n | " + " | ".join(views) + " |",
        "|---|---:|" + "---:|" * len(views),
    ]
    for group, r in rows.items():
        if r["kind"] == "ai":
            cells = [f"{_fmt(c['roc_auc'])} ({_pct(c['recall'])})" for c in r["reshared"].values()]
        else:
            cells = [f"{_pct(c['false_ai_rate'])} called AI" for c in r["reshared"].values()]
        lines.append(f"| {group.split('/', 1)[1]} | {r['reshared']['clean']['n']} | " + " | ".join(cells) + " |")
    s = leave_one_out["summary"]
    if "reshared_ai_auc_worst" in s:
        worst = f"Worst unseen family after a re-share: ROC-AUC {s['reshared_ai_auc_worst']:.4f}, "
        worst += f"largest drop from its clean copy {s['reshared_ai_auc_drop_worst']:+.4f}"
        if "reshared_real_false_ai_worst" in s:
            worst += f"; worst unseen real source after a re-share: {_pct(s['reshared_real_false_ai_worst'])} called AI"
        lines += ["", worst + "."]
    return "\n".join(lines)


def reshare_table(reshare: dict | None) -> str:
    if not reshare:
        return "not computed for this model"
    called_real = all("ai_called_real" in r for r in reshare.values())  # rows that also say it (benchmarks/edits.py)
    lines = [
        "| copy | n | ROC-AUC | AUC drop | AI caught |" + (" AI called real |" if called_real else "")
        + " real called AI | worst real source called AI |",
        "|---|---:|---:|---:|---:|" + ("---:|" if called_real else "") + "---:|---:|",
    ]  # fmt: skip
    for name, r in reshare.items():
        drop = "–" if name == "clean" else f"{r['auc_drop']:+.4f}"
        lines.append(
            f"| {name} | {r['n']} | {_fmt(r['roc_auc'])} | {drop} | {_pct(r['ai_recall'])} | "
            + (f"{_pct(r['ai_called_real'])} | " if called_real else "")
            + f"{_pct(r['real_false_ai_rate'])} | {_pct(r['real_false_ai_worst_source'])} |"
        )
    return "\n".join(lines)


def generators_seen(metrics: dict) -> str:
    """The generator families of the training split, from the dataset counts in metrics.json."""
    keys = metrics.get("dataset", {}).get("train", {})
    names = sorted({key.split("/", 2)[2] for key in keys if key.startswith("ai/")})
    return ", ".join(names) or "unknown"


def weakest_source(test: dict) -> str:
    """The source with the lowest accuracy at the "AI" threshold, in counts: for an AI source, a face not called AI
    may be *uncertain* rather than called real, so "called real" would overstate it."""
    name, m = min(test["per_source"].items(), key=lambda item: item[1]["accuracy"])
    confusion = m["confusion"]
    if m["n_ai"] == 0:
        missed = f"{confusion['fp']} of its {m['n']} real photos are called AI"
    else:
        missed = f"{confusion['tp']} of its {m['n_ai']} AI faces are called AI, the rest *uncertain* or called real"
    auc = m.get("roc_auc_vs_other_class")
    ranked = f" (ranked against the other class at ROC-AUC {auc:.3f})" if auc is not None else ""
    return f"- Weakest source on the test split: **{name}**: {missed}{ranked}. Read verdicts on such pictures in that light."


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


def _copy_weights(train_config: dict) -> str:
    """How much a re-shared copy counts against a clean face, per class, where that differs from 1."""
    real = train_config.get("augment_weight", 1.0)
    ai = train_config.get("ai_augment_weight", real)  # older runs weighed both classes' copies alike
    if real == ai == 1.0:
        return ""
    return (
        f" (against a clean face's weight of 1, a real photo's copy weighs {real:g} and an AI face's {ai:g}: "
        "re-shared real photos teach the head that processing is no sign of AI, while re-shared AI faces push it "
        "towards cues that survive re-sharing but carry less well to unseen generators)"
    )


def _group_weights(train_config: dict) -> str:
    """The groups that count other than equally (--group-weights), in words."""
    from .generalisation import parse_group_weights

    weights = parse_group_weights(train_config.get("group_weights", ""))
    if not weights:
        return ""
    listed = ", ".join(f"{group} at {weight:g}" for group, weight in weights.items())
    return f", except {listed} times an equal share (the rest of its class shares what it gives up)"


def _tuning_text(train_config: dict, depth: int) -> str:
    """What of the backbone training changed, from the recorded --tune settings."""
    from .class_path import Tuning

    tune = train_config.get("tune", "none")  # runs before class-path tuning existed kept CLIP frozen
    if tune == "none":
        return "kept **frozen**"
    what = {
        "attention": "query and attention output projection",
        "attention-kv": "query, keys and values (read from every token) and attention output projection",
    }.get(tune, "query, attention output, MLP and norms")
    mix = train_config.get("tune_mix", 1.0)
    wise = (
        f", then moved back {1 - mix:.0%} of the way to CLIP's weights (weight-space ensembling, WiSE-FT), which "
        "keeps more of what CLIP knows about images the tuning data lacks"
        if mix < 1
        else ""
    )
    dro = train_config.get("tune_group_dro", 0.0)
    reweighted = (
        f"; each real source's and generator's weight in the tuning grew with its running loss (Group DRO, step "
        f"{dro:g}), each class keeping its total, so the tuning serves its worst-fitted groups"
        if dro
        else ""
    )
    kinds = train_config.get("tune_kinds", "") if train_config.get("head") == "kinds" else ""
    faces = f" (on the real photos and the {' and '.join(kinds.split(','))} faces only)" if kinds else ""
    return (
        f"frozen except the class token's path through block {depth}: its {what} were tuned{faces} on every token "
        f"as block {depth - 1} leaves it, computed once per image ({train_config.get('tune_epochs')} epochs, "
        f"AdamW lr {train_config.get('tune_lr'):g}, after a linear head alone for {Tuning.head_epochs}){reweighted}" + wise
    )


def _head_text(train_config: dict) -> str:
    """The head training fitted (--head), in words, up to the features it reads."""
    from .kinds import LEVEL, parse_kind_offsets

    c = train_config.get("c", "?")
    if train_config.get("head") != "kinds":
        return f". A logistic-regression head (C = {c} on standardised features, folded into timm's `head`) is fitted"
    offsets = parse_kind_offsets(train_config.get("kind_offsets", ""))
    lowered = "".join(f", the {kind} head then lowered {value:g} logits more" for kind, value in offsets.items() if value)
    return (
        f". One logistic-regression head per kind of AI image (C = {c} on standardised features), each fitted on "
        "that kind against every real photo (the kind weighing as much as the real photos), each shifted so that "
        f"{LEVEL:.0%} of the validation split's real photos score under 0{lowered}; timm's `head` serves them as one "
        "class per kind next to a zero \"real\" row, so P(AI) = 1 − P(real) is their soft OR (realorai.kinds). "
        "The heads are fitted"
    )


def training_text(metrics: dict, config: dict) -> str:
    """How the model was trained, in words, from its own recorded configuration."""
    from .modeling import weights_origin

    train_config = metrics.get("training", {}).get("config", {})  # reports older than a setting lack its key
    origin = weights_origin(config["architecture"])
    if config.get("realorai", {}).get("backbone"):
        views = [v for v in train_config.get("views", "clean").split(",") if v]
        extra = [v for v in train_config.get("also_fit_on", "").split(",") if v]
        copies = sum(v.startswith("augment") for v in views)
        backbone = config["realorai"]["backbone"]
        return (
            f"{config['architecture']} cut after block {backbone.get('depth', 12)} "
            f"({origin}; every tensor mapped into timm and checked against the graph), "
            + _tuning_text(train_config, backbone.get("depth", 12))
            + _head_text(train_config)
            + f" on the pooled features of every training face in {len(views)} views — clean and {copies} randomly re-shared "
            f"cop{'y' if copies == 1 else 'ies'} (resize, JPEG, WebP, crop, "
            "blur, flip) — on both classes"
            + _copy_weights(train_config)
            + (
                f", plus the clean features from timm's float path ({', '.join(extra)}), so the same head holds for "
                "the INT8 runtime the app uses and for `timm.create_model`"
                if extra
                else ", as the INT8 runtime the app uses computes them (timm's float path: see Runtimes above)"
            )
            + ". Samples are weighted so that each class and, inside it, each real source and each generator family "
            "count equally" + _group_weights(train_config) + ". Temperature and thresholds are fitted on the "
            "validation split."
        )
    history = ", ".join(_epoch_summary(h) for h in metrics.get("training", {}).get("history", [])) or "n/a (evaluated only)"
    return (
        f"{config['architecture']} from ImageNet weights ({origin}, mapped tensor-for-tensor into timm), fine-tuned "
        f"with AdamW, cosine schedule, {SAMPLING_TEXT[train_config.get('sampling', 'class-source')]}, and "
        "augmentation on both classes: random resized crop, flip, colour jitter, Gaussian blur, down-and-up "
        "resizing, JPEG re-compression (q 30–95), grayscale. Early stopping on "
        f"{SELECTION_TEXT[train_config.get('select_on', 'pooled-auc')]}.\nHistory: {history}"
    )


def runtime_check_text(test: dict) -> str:
    check = test.get("float_runtime_check")
    if not check:
        return ""
    return (
        f"Runtimes: the numbers above come from the app's runtime ({test.get('runtime')}). Through timm's float "
        f"path the same test split scores ROC-AUC {check['roc_auc']:.4f} (served: {check['roc_auc_served']:.4f}); "
        f"mean |ΔP(AI)| {check['mean_abs_p_difference']:.4f}, same verdict side for {check['verdict_agreement']:.1%} "
        "of the faces."
    )


LOO_PROTOCOL = (
    "Every fold reruns the whole recipe without the held-out source: the tuning of the class path (when the "
    "model has one), the head, its temperature and its thresholds; the threshold is the one the shipped rule "
    "picks inside that fold (on its validation split and, when the rule is cross-fitted, its own real training "
    "sources), so the held-out source never informs it."
)


def _margins_text(metrics: dict) -> str:
    """How far each real training source, left out of a refit, asked the AI threshold to rise (cross-fitting)."""
    margins = metrics.get("training", {}).get("unseen_real_margins")
    if not margins:
        return ""
    listed = ", ".join(f"{group.split('/', 1)[1]} {margin:+.2f}" for group, margin in margins.items())
    return (
        f" Left out of a refit, each real source needed the threshold this many logits higher: {listed}; the "
        "threshold rose by the largest (none, if all are negative)."
    )


def render_model_card(metrics: dict, model_dir: Path, repo_id: str = DEFAULT_REPO_ID) -> str:
    config = json.loads((model_dir / "config.json").read_text())
    test = metrics["splits"]["test"]
    overall = test["overall"]
    holdout_section = unseen_generator_section(metrics, model_dir)
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
    serving = config.get("realorai", {})
    decision = metrics.get("decision", {})
    values = {
        "architecture": config["architecture"],
        "generators_seen": generators_seen(metrics),
        "training_sources": "\n".join("  " + line for line in licence_lines(training_sources(metrics))),
        "repo_id": repo_id,
        "dataset_id": DEFAULT_DATASET_ID,
        "labels": ", ".join(config.get("label_names", [])),
        "label_list": json.dumps(config.get("label_names", [])),
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
        "holdout_section": holdout_section
        or (
            "Robustness (test split, degradation applied to the face crop before the model):\n\n"
            + metrics_table(test["robustness"], "degradation")
            if test.get("robustness") and "reshare" not in test
            else ""
        ),
        "leave_one_out_table": leave_one_out_table(metrics.get("leave_one_out")),
        "loo_protocol": LOO_PROTOCOL if metrics.get("leave_one_out") else "",
        "reshare_table": reshare_table(test.get("reshare")),
        "threshold": f"{decision.get('ai_from', 0.5):.3f}",
        "decision_rule": (f"Thresholds: {decision['rule']}." if decision.get("rule") else "") + _margins_text(metrics),
        "runtime_check": runtime_check_text(test),
        "training_text": training_text(metrics, config),
        "weakest_source": weakest_source(test),
        "ece_before": _fmt(test["ece_before_calibration"]),
        "ece_after": _fmt(overall["ece"]),
    }
    return Template(TEMPLATE.read_text()).substitute(values)
