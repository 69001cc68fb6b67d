"""PNG plots written next to the model (ROC, reliability diagram, robustness) for the card and the app."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402

from .config import PLOT_FILES  # noqa: E402
from .probe import MAX_FALSE_AI_ON_VALIDATION  # noqa: E402
from .sources import generator_short_name  # noqa: E402

HELD_OUT_REAL_GOAL = 0.05  # a held-out real source may have at most this share called AI (issue #9)


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


def _label_shares(ax, bars) -> None:
    """Write each bar's share beside it: a real source with 0% called AI shows "0.0%", not an empty row."""
    ax.bar_label(bars, labels=[f"{bar.get_width():.1%}" for bar in bars], padding=3, fontsize=7)


def _real_called_ai(ax, shares: dict[str, float], line: float, line_label: str, title: str, axis_from: float = 0.1) -> None:
    """Each real source's share of photos called AI (the costlier mistake), labelled, against a dashed line
    (a goal or the thresholds' limit); the axis reaches at least `axis_from`, so a few percent look small."""
    y = np.arange(len(shares))
    _label_shares(ax, ax.barh(y, list(shares.values()), 0.5, color="tab:red"))
    ax.axvline(line, ls="--", color="black", label=line_label)
    ax.set_yticks(y, list(shares))
    ax.set(xlim=(0, max([axis_from, *[v * 1.2 for v in shares.values()]])), title=title)
    ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.legend(loc="lower right", fontsize=7)


def leave_one_out_plot(leave_one_out: dict, path: Path) -> None:
    """Left: each AI family never seen in training (AUC, share caught). Right: each real source never seen
    (share of its photos called AI, with the goal line)."""
    rows = leave_one_out["rows"]
    ai = {k.removeprefix("ai/"): r for k, r in rows.items() if r["kind"] == "ai"}
    real = {k.removeprefix("real/"): r for k, r in rows.items() if r["kind"] == "real"}
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), dpi=110, gridspec_kw={"width_ratios": [1.3, 1]})
    y = np.arange(len(ai))
    auc = left.barh(y + 0.2, [r["roc_auc"] for r in ai.values()], 0.4, label="ROC-AUC vs real test photos")
    left.bar_label(auc, labels=[f"{bar.get_width():.2f}" for bar in auc], padding=3, fontsize=7)
    _label_shares(left, left.barh(y - 0.2, [r["recall"] for r in ai.values()], 0.4, label="share caught at the threshold"))
    left.set_yticks(y, [generator_short_name(name) for name in ai])
    left.set(xlim=(0, 1.1), title="AI family left out of training")
    left.axvline(0.9, ls=":", color="grey")
    left.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=2, fontsize=7)  # below: bars fill the axes
    shares = {name: r["false_ai_rate"] for name, r in real.items()}
    _real_called_ai(right, shares, HELD_OUT_REAL_GOAL, f"goal ≤ {HELD_OUT_REAL_GOAL:.0%}", "Real source left out: called AI")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def held_out_reshare_plot(leave_one_out: dict, path: Path) -> None:
    """Each source left out of training, clean and after each re-share chain (its test faces, scored by its own
    fold): left, an unseen AI family's ROC-AUC against the real test photos under the same chain; right, an
    unseen real source's share called AI. One line per source, the goals dotted."""
    rows = {k: r for k, r in leave_one_out["rows"].items() if r.get("reshared")}
    views = list(next(iter(rows.values()))["reshared"])
    x = np.arange(len(views))
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2), dpi=110)
    for group, r in rows.items():
        ai = r["kind"] == "ai"
        values = [c["roc_auc" if ai else "false_ai_rate"] for c in r["reshared"].values()]
        name = generator_short_name(group.split("/", 1)[1]) if ai else group.split("/", 1)[1]
        (left if ai else right).plot(x, values, marker="o", label=name)
    left.axhline(0.9, ls=":", color="grey", label="goal ≥ 0.90")
    left.set(ylim=(min(0.5, left.get_ylim()[0]), 1.0), title="AI family left out: ROC-AUC after each copy")
    right.axhline(HELD_OUT_REAL_GOAL, ls="--", color="black", label=f"goal ≤ {HELD_OUT_REAL_GOAL:.0%}")
    right.set(ylim=(0, max(0.1, right.get_ylim()[1])), title="Real source left out: called AI after each copy")
    right.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    for ax in (left, right):
        ax.set_xticks(x, views, rotation=25, ha="right", fontsize=7)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def reshare_plot(reshare: dict, path: Path) -> None:
    """ROC-AUC, AI caught and real photos called AI, clean and after each re-share chain (test split)."""
    names = list(reshare)
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(8, 4), dpi=110)
    ax.bar(x - 0.27, [r["roc_auc"] for r in reshare.values()], 0.27, label="ROC-AUC")
    ax.bar(x, [r["ai_recall"] for r in reshare.values()], 0.27, label="AI caught")
    real = ax.bar(x + 0.27, [r["real_false_ai_rate"] for r in reshare.values()], 0.27, label="real called AI")
    ax.bar_label(real, labels=[f"{bar.get_height():.1%}" for bar in real], padding=2, fontsize=7)  # 0.0% shows
    ax.set_xticks(x, names, rotation=20, ha="right", fontsize=8)
    ax.set(ylim=(0, 1), title="After re-sharing (test split, shipped thresholds)")
    ax.legend(loc="center right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def per_group_plot(test: dict, path: Path) -> None:
    """Left: each AI source and generator family, the share of its test pictures called AI at the shipped
    threshold. Right: each real source, the share of its test photos called AI (the costlier mistake)."""
    ai_rows = {f"source {k}": r for k, r in test["per_source"].items() if r["n_ai"]}
    ai_rows |= {f"family {generator_short_name(k)}": r for k, r in test["per_generator"].items() if r["n_ai"]}
    real = test.get("false_ai_by_source", {})
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), dpi=110, gridspec_kw={"width_ratios": [1.4, 1]})
    y = np.arange(len(ai_rows))
    _label_shares(left, left.barh(y, [r["ai_recall"] for r in ai_rows.values()], 0.6, color="tab:blue"))
    left.set_yticks(y, [f"{name} (n={r['n_ai']})" for name, r in ai_rows.items()], fontsize=7)
    left.set(xlim=(0, 1), title="AI pictures called AI (test, shipped threshold)")
    left.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    line = f"threshold drawn for ≤ {MAX_FALSE_AI_ON_VALIDATION:.0%} (validation)"
    _real_called_ai(right, real, MAX_FALSE_AI_ON_VALIDATION, line, "Real photos called AI (test)", axis_from=0.05)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_plots(metrics: dict, folder: Path) -> None:
    test = metrics["splits"]["test"]
    roc_plot(test["_probabilities"], folder / PLOT_FILES["roc"], "ROC (test split)")
    reliability_plot(test["_probabilities"], folder / PLOT_FILES["reliability"])
    if "robustness" in test:
        robustness_plot(test, folder / PLOT_FILES["robustness"])
    if "reshare" in test:
        reshare_plot(test["reshare"], folder / PLOT_FILES["reshare"])
    if "per_source" in test and "per_generator" in test:
        per_group_plot(test, folder / PLOT_FILES["per_group"])
    if "leave_one_out" in metrics:
        leave_one_out_plot(metrics["leave_one_out"], folder / PLOT_FILES["leave_one_out"])
        if any(r.get("reshared") for r in metrics["leave_one_out"]["rows"].values()):
            held_out_reshare_plot(metrics["leave_one_out"], folder / PLOT_FILES["held_out_reshare"])
