"""PNG plots written next to the model (ROC, reliability diagram, robustness) for the card and the app."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402

PLOT_FILES = {"roc": "roc.png", "reliability": "reliability.png", "robustness": "robustness.png"}


def roc_plot(probabilities: dict, path: Path, title: str) -> None:
    labels, p_ai, sources = (np.asarray(probabilities[k]) for k in ("labels", "p_ai", "source"))
    fig, ax = plt.subplots(figsize=(5, 4.5), dpi=110)
    fpr, tpr, _ = roc_curve(labels, p_ai)
    ax.plot(fpr, tpr, lw=2.2, color="black", label="all")
    real = labels == 0
    for source in sorted(set(sources[labels == 1].tolist())):  # each AI source against all real photos
        keep = real | (sources == source)
        fpr, tpr, _ = roc_curve(labels[keep], p_ai[keep])
        ax.plot(fpr, tpr, lw=1.2, label=f"real vs {source}")
    ax.plot([0, 1], [0, 1], ls=":", color="grey")
    ax.set(xlabel="false positive rate (real called AI)", ylabel="true positive rate (AI caught)", title=title)
    ax.set_xscale("symlog", linthresh=0.01)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def reliability_plot(probabilities: dict, path: Path, bins: int = 10) -> None:
    labels = np.asarray(probabilities["labels"])
    fig, ax = plt.subplots(figsize=(5, 4.5), dpi=110)
    for key, name in (("p_ai_raw", "before calibration"), ("p_ai", "after temperature scaling")):
        p = np.asarray(probabilities[key])
        edges = np.linspace(0, 1, bins + 1)
        which = np.clip(np.digitize(p, edges) - 1, 0, bins - 1)
        centres = [p[which == b].mean() for b in range(bins) if (which == b).any()]
        observed = [labels[which == b].mean() for b in range(bins) if (which == b).any()]
        ax.plot(centres, observed, marker="o", label=name)
    ax.plot([0, 1], [0, 1], ls=":", color="grey", label="perfect")
    ax.set(xlabel="predicted P(AI)", ylabel="observed share of AI images", title="Reliability (test split)")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def robustness_plot(metrics: dict, path: Path) -> None:
    names = ["clean", *metrics["robustness"]]
    aucs = [metrics["overall"]["roc_auc"], *[m["roc_auc"] for m in metrics["robustness"].values()]]
    bal = [metrics["overall"]["balanced_accuracy"], *[m["balanced_accuracy"] for m in metrics["robustness"].values()]]
    fig, ax = plt.subplots(figsize=(6.5, 4), dpi=110)
    x = np.arange(len(names))
    ax.bar(x - 0.2, aucs, 0.4, label="ROC-AUC")
    ax.bar(x + 0.2, bal, 0.4, label="balanced accuracy")
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_ylim(max(0.0, min(aucs + bal) - 0.05), 1.0)
    ax.set(title="Robustness to photo degradations (test split)")
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_plots(metrics: dict, folder: Path) -> None:
    test = metrics["splits"]["test"]
    roc_plot(test["_probabilities"], folder / PLOT_FILES["roc"], "ROC (test split)")
    reliability_plot(test["_probabilities"], folder / PLOT_FILES["reliability"])
    if "robustness" in test:
        robustness_plot(test, folder / PLOT_FILES["robustness"])
