"""Read the live model's own report (metrics.json, plots) and turn it into tables for the Insights tab.

Nothing here is hard-coded: a model without a report simply shows "not available".
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from .config import LABELS, PLOT_FILES, portraits_dir
from .model_card import (
    HOLDOUT_REPORT,
    generators_seen,
    leave_one_out_table,
    look_alike_table,
    metrics_table,
    reshare_table,
    unseen_generator_section,
)
from .sources import generator_short_name, training_sources

REPORT_FILES = ["metrics.json", *PLOT_FILES.values()]


def report_folder(reference: str) -> Path | None:
    """Folder holding the model's report files: the model folder itself, or the Hub snapshot (cached)."""
    path = Path(reference.removeprefix("local-dir:"))
    if path.is_dir():
        return path
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(reference.removeprefix("hf-hub:"), allow_patterns=REPORT_FILES + [HOLDOUT_REPORT]))
    except Exception:  # offline or no such files: the tab says so
        return None


def load_metrics(folder: Path | None, name: str = "metrics.json") -> dict | None:
    if folder is None or not (folder / name).is_file():
        return None
    return json.loads((folder / name).read_text())


def plot_paths(folder: Path | None) -> dict[str, str | None]:
    return {k: (str(folder / f) if folder and (folder / f).is_file() else None) for k, f in PLOT_FILES.items()}


def dataset_table(metrics: dict) -> str:
    """Images per label x source x generator (rows) and split (columns), from the evaluated dataset."""
    splits = list(metrics.get("dataset", {}))
    rows: dict[str, dict[str, int]] = {}
    for split, counts in metrics.get("dataset", {}).items():
        for key, n in counts.items():
            rows.setdefault(key, {})[split] = n
    lines = ["| label | source | generator | " + " | ".join(splits) + " | total |", "|---|---|---|" + "---:|" * (len(splits) + 1)]
    for key in sorted(rows, key=lambda k: (k.split("/")[0] != "real", k)):
        label, source, generator = key.split("/", 2)
        cells = [str(rows[key].get(split, 0)) for split in splits]
        lines.append(f"| {label} | {source} | {generator} | " + " | ".join(cells) + f" | {sum(rows[key].values())} |")
    return "\n".join(lines)


def sources_seen(metrics: dict | None) -> str:
    return ", ".join(training_sources(metrics or {}, "real")) or "unknown"


def model_sentence(config: dict, metrics: dict | None) -> str:
    """What the model is, in words, from its config.json and metrics.json (never typed into the page)."""
    from .modeling import weights_origin  # not at the top: `realorai report` renders without torch

    generators = generators_seen(metrics or {})
    if config.get("realorai", {}).get("backbone"):
        tuned = (metrics or {}).get("training", {}).get("config", {}).get("tune", "none") != "none"
        return (
            f"a general-purpose image encoder — {weights_origin(config['architecture'])} — "
            + ("frozen but for how its last block's summary token attends to the image, " if tuned else "kept frozen, ")
            + f"whose features feed {_classifier_words(config)} trained on real portraits ({sources_seen(metrics)}) "
            f"and AI portraits (generator families: {generators}). Every training face was also shown in randomly "
            "re-shared copies (downscaled, re-compressed as JPEG or WebP, cropped, blurred)" + _reshare_clause(metrics or {})
        )
    return (
        f"a convolutional network ({config.get('architecture', 'unknown')}, pretrained on ImageNet) fine-tuned on "
        f"real portraits ({sources_seen(metrics)}) and AI portraits (generator families: {generators}), with JPEG "
        "re-compression, resizing and blur on both classes"
    )


def _classifier_words(config: dict) -> str:
    """The head in words: one real/AI classifier, or one per kind of AI image (realorai.kinds)."""
    kinds = [name.removeprefix("ai-") for name in config.get("label_names", []) if name.startswith("ai-")]
    if not kinds:
        return "a linear classifier"
    return f"one linear classifier per kind of AI image ({', '.join(kinds)}; either can call a face AI),"


def _reshare_clause(metrics: dict) -> str:
    """What training on re-shared copies buys, as the model's own re-share table says it."""
    config = metrics.get("training", {}).get("config", {})
    reshare = metrics.get("splits", {}).get("test", {}).get("reshare", {})
    if config.get("ai_augment_weight", 1.0) >= config.get("augment_weight", 1.0) or len(reshare) < 2:
        return ", so a photo that went through social media is judged like the original"
    real_called_ai, caught = _reshare_extremes(reshare)
    return (
        f", an AI face's copies at {config['ai_augment_weight']:g} of a real photo's weight (at full weight they "
        "taught cues that generators it had never seen lack). So re-sharing rarely makes a real photo look AI "
        f"({real_called_ai:.1%} at most on our test split), but a re-shared AI face is caught less often than the "
        f"original ({min(caught):.0%} after the hardest re-share, against {reshare['clean']['ai_recall']:.0%})"
    )


def _reshare_extremes(reshare: dict) -> tuple[float, list[float]]:
    """The most real photos called AI over every view, and the share of AI faces caught in each re-shared copy."""
    real_called_ai = max(r["real_false_ai_rate"] for r in reshare.values())
    return real_called_ai, [r["ai_recall"] for name, r in reshare.items() if name != "clean"]


def generalisation_sentence(metrics: dict | None) -> str:
    """The leave-one-source-out result in one sentence, or where to find the held-out result."""
    loo = (metrics or {}).get("leave_one_out")
    if not loo:
        return "This model's report has no leave-one-source-out result; read its numbers as in-distribution only."
    s, rows = loo["summary"], loo["rows"]
    worst = min((r for r in rows.items() if r[1]["kind"] == "ai"), key=lambda item: item[1]["roc_auc"])[0]
    return (
        f"We trained the same recipe without each AI family in turn: a family it had never seen was still told "
        f"from real photos with ROC-AUC {s['ai_auc_mean']:.3f} on average (worst {s['ai_auc_worst']:.3f}, "
        f"{worst.split('/', 1)[1]}), but on average only {s['ai_recall_mean']:.0%} of its faces crossed the AI "
        f"threshold ({s['ai_recall_worst']:.0%} for the worst); a real source it had never seen had on average "
        f"{s['real_false_ai_mean']:.1%} "
        f"of its photos called AI (worst {s['real_false_ai_worst']:.1%})."
    )


def caught_by_generator(metrics: dict | None) -> str:
    """The share of each generator family's test faces called AI at the model's threshold, most caught first."""
    generators = (metrics or {}).get("splits", {}).get("test", {}).get("per_generator", {})
    caught = {generator_short_name(name): m["ai_recall"] for name, m in generators.items() if m.get("n_ai")}
    if not caught:
        return "not measured"
    return ", ".join(f"{name} {share:.0%}" for name, share in sorted(caught.items(), key=lambda item: -item[1]))


def reshare_sentence(metrics: dict | None) -> str:
    """The re-share table in one sentence: the largest AUC drop, real photos called AI, AI faces caught."""
    reshare = (metrics or {}).get("splits", {}).get("test", {}).get("reshare", {})
    copies = {name: r for name, r in reshare.items() if name != "clean"}
    if not copies:
        return "This model's report has no re-share table."
    worst = max(copies, key=lambda name: copies[name]["auc_drop"])
    real_called_ai, caught = _reshare_extremes(reshare)
    return (
        f"Every test face copied {len(copies)} ways as shared pictures are (downscaled, re-compressed, cropped, "
        f"screenshotted): ROC-AUC falls by {copies[worst]['auc_drop']:.3f} at most ({worst}; goal ≤ 0.02), "
        f"{real_called_ai:.1%} of real photos are called AI at most, and "
        f"{min(caught):.0%}–{max(caught):.0%} of AI faces are caught, against {reshare['clean']['ai_recall']:.0%} clean."
    )


def held_out_reshare_sentence(metrics: dict | None) -> str:
    """The hidden set's hardest case in the report's numbers: a source never seen, in a re-shared copy."""
    summary = ((metrics or {}).get("leave_one_out") or {}).get("summary", {})
    if "reshared_ai_auc_worst" not in summary:
        return "This model's report has no re-shared copies of its held-out sources."
    sentence = (
        "Each source left out of training, its test faces re-shared by each chain: the worst "
        f"unseen AI family ranks at ROC-AUC {summary['reshared_ai_auc_worst']:.3f} after a re-share, at most "
        f"{summary['reshared_ai_auc_drop_worst']:.3f} under its clean copy"
    )
    if "reshared_real_false_ai_worst" in summary:
        sentence += f"; an unseen real source has at most {summary['reshared_real_false_ai_worst']:.1%} of its copies called AI"
    return sentence + "."


def chart_captions(metrics: dict | None) -> dict[str, str]:
    """How to read each Insights chart, with its headline numbers, keyed as PLOT_FILES; from the model's report."""
    if not metrics:
        return {}
    test, band = metrics["splits"]["test"], metrics["uncertain_band"]
    return {
        "leave_one_out": generalisation_sentence(metrics)
        + " Goals: every unseen AI family at ROC-AUC ≥ 0.90, every unseen real source at most 5% called AI.",
        "reshare": reshare_sentence(metrics),
        "held_out_reshare": held_out_reshare_sentence(metrics),
        "per_group": (
            f"At the shipped threshold (AI from P(AI) ≥ {band[1]:.4f}, drawn for real photos first): the share of "
            "each AI source's test faces called AI, and of each real source's photos. AI faces under the threshold "
            "are mostly *Uncertain*, not *Real photo*."
        ),
        "reliability": (
            f"Calibration: after temperature scaling (T = {metrics['temperature']:.2f}) a face given P(AI) = p is AI "
            f"about p of the time; expected calibration error {test['ece_before_calibration']:.3f} before, "
            f"{test['overall']['ece']:.3f} after."
        ),
        "roc": (
            f"Ranking, whatever the threshold: ROC-AUC {test['overall']['roc_auc']:.4f} on the test split; the log "
            "scale shows where it matters, few real photos called AI."
        ),
    }


def results_markdown(metrics: dict | None, folder: Path | None = None) -> str:
    if not metrics:
        return "_This model folder has no metrics.json, so there is nothing to show._"
    test = metrics["splits"]["test"]
    parts = [
        f"Temperature **{metrics['temperature']:.3f}**; expected calibration error "
        f"{test['ece_before_calibration']:.4f} before → **{test['overall']['ece']:.4f}** after calibration.",
    ]
    if metrics.get("leave_one_out"):
        parts += [
            "### Leave one source out",
            "Each row: the same recipe trained without that source, then scored on it.",
            leave_one_out_table(metrics["leave_one_out"]),
        ]
    if test.get("reshare"):
        parts += ["### After re-sharing (test split)", reshare_table(test["reshare"])]
    parts += [
        "### Test split",
        metrics_table({"all": test["overall"]}, "split"),
        "### Per source",
        "Each source holds one class, so its AUC (marked \\*) is against all test images of the other class.",
        metrics_table(test["per_source"], "source"),
        "### Per generator",
        metrics_table(test["per_generator"], "generator"),
        "### Which pairs are hard",
        "ROC-AUC of each generator's faces against each real source's photos, that pair alone.",
        look_alike_table(test),
    ]
    if test.get("robustness") and not test.get("reshare"):
        parts += ["### Robustness (degradation applied before the model)", metrics_table(test["robustness"], "degradation")]
    unseen = unseen_generator_section(metrics, folder) if folder else ""
    if unseen:
        parts += ["### Unseen generator", unseen]
    parts.append(f"Reproduce: `{metrics['command']}`")
    return "\n\n".join(parts)


def sample_images(per_source: int = 2, seed: int = 0) -> list[tuple[str, str]]:
    """A few (path, caption) pairs per source from the local portraits, if they are present."""
    root = portraits_dir()
    samples = []
    for label in LABELS:
        for source_dir in sorted((root / label).glob("*")) if (root / label).is_dir() else []:
            files = sorted(source_dir.glob("*.jpg"))
            for path in random.Random(seed).sample(files, min(per_source, len(files))):
                samples.append((str(path), f"{label} · {source_dir.name}"))
    return samples
