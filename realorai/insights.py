"""Read the live model's own report (metrics.json, plots) and turn it into tables for the Insights tab.

Nothing here is hard-coded: a model without a report simply shows "not available".
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from .config import LABELS, portraits_dir
from .model_card import HOLDOUT_REPORT, look_alike_table, metrics_table, unseen_generator_section
from .plots import PLOT_FILES

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


def results_markdown(metrics: dict | None, folder: Path | None = None) -> str:
    if not metrics:
        return "_This model folder has no metrics.json, so there is nothing to show._"
    test = metrics["splits"]["test"]
    parts = [
        f"Temperature **{metrics['temperature']:.3f}**; expected calibration error "
        f"{test['ece_before_calibration']:.4f} before → **{test['overall']['ece']:.4f}** after calibration.",
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
    if test.get("robustness"):
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
