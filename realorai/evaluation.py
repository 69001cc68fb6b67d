"""Run a classifier over a dataset split (optionally degraded) and turn its outputs into metrics.

Used by `train.py` after training and by `train.py --eval-only` on any model folder or Hub id.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from .calibration import ai_probability
from .config import AI_INDEX
from .metrics import binary_metrics
from .preprocess import blur, down_up, jpeg

# name -> degradation applied to the face crop before the model's transform
ROBUSTNESS = {
    "jpeg_q90": partial(jpeg, quality=90),
    "jpeg_q75": partial(jpeg, quality=75),
    "jpeg_q50": partial(jpeg, quality=50),
    "resize_0.5x": partial(down_up, factor=0.5),
    "resize_0.25x": partial(down_up, factor=0.25),
    "blur_sigma1": partial(blur, sigma=1.0),
}


class FaceDataset(Dataset):
    """A Hugging Face split as (tensor, label) pairs through `transform`, optionally degraded first."""

    def __init__(self, split, transform: Callable, degrade: Callable | None = None) -> None:
        self.split, self.transform, self.degrade = split, transform, degrade

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, index: int):
        row = self.split[index]
        image = row["image"].convert("RGB")
        if self.degrade is not None:
            image = self.degrade(image)
        return self.transform(image), row["label"]


@torch.inference_mode()
def predict_logits(
    model: nn.Module, split, transform, degrade=None, batch_size: int = 64, desc: str = "eval", workers: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    device = next(model.parameters()).device
    loader = DataLoader(FaceDataset(split, transform, degrade), batch_size=batch_size, num_workers=workers)
    model.eval()
    logits, labels = [], []
    for images, targets in tqdm(loader, desc=desc, leave=False):
        images = images.to(device).contiguous(memory_format=torch.channels_last)
        logits.append(model(images).float().cpu().numpy())
        labels.append(targets.numpy())
    return np.concatenate(logits), np.concatenate(labels)


def grouped_metrics(labels: np.ndarray, p_ai: np.ndarray, groups: list[str], threshold: float = 0.5) -> dict:
    """Metrics per group value (source or generator).

    A source holds one class only, so its own AUC is undefined; `roc_auc_vs_other_class` scores it against
    every image of the other class in the split (e.g. FFHQ photos vs all AI faces).
    """
    groups = np.asarray(groups)
    result = {}
    for group in sorted(set(groups.tolist())):
        inside = groups == group
        metrics = binary_metrics(labels[inside], p_ai[inside], threshold)
        if metrics["roc_auc"] is None and len(set(labels.tolist())) == 2:
            pool = inside | (labels != labels[inside][0])
            metrics["roc_auc_vs_other_class"] = binary_metrics(labels[pool], p_ai[pool])["roc_auc"]
        result[group] = metrics
    return result


def look_alike_aucs(labels: np.ndarray, p_ai: np.ndarray, sources: list[str], generators: list[str]) -> dict:
    """AUC of every AI generator's images against every real source's photos: {real source: {generator: AUC}}.

    Pooled and per-source AUCs mix easy pairs with hard ones; this shows which pair the model confuses
    (FFHQ photos vs the StyleGAN2 faces that imitate them) and bounds what any threshold can do there.
    """
    sources, generators = np.asarray(sources), np.asarray(generators)
    ai = labels == AI_INDEX
    table: dict[str, dict[str, float]] = {}
    for source in sorted(set(sources[~ai].tolist())):
        for generator in sorted(set(generators[ai].tolist())):
            pair = (~ai & (sources == source)) | (ai & (generators == generator))
            table.setdefault(source, {})[generator] = binary_metrics(labels[pair], p_ai[pair])["roc_auc"]
    return table


def probability_report(labels: np.ndarray, p_ai: np.ndarray, split, threshold: float = 0.5) -> dict:
    """Metrics of one split's probabilities: overall, per source, per generator and per real-source/generator pair.

    Accuracies and recalls are at `threshold` (the model's "AI from" decision); AUCs need none.
    """
    return {
        "overall": binary_metrics(labels, p_ai, threshold),
        "per_source": grouped_metrics(labels, p_ai, split["source"], threshold),
        "per_generator": grouped_metrics(labels, p_ai, split["generator"], threshold),
        "real_source_vs_generator_auc": look_alike_aucs(labels, p_ai, split["source"], split["generator"]),
    }


def evaluate_split(model, split, transform, temperature: float, robustness: bool = True, name: str = "test") -> dict:
    """Everything we report for one split; also returns the raw probabilities for plots."""
    logits, labels = predict_logits(model, split, transform, desc=f"{name}: clean")
    p_raw = ai_probability(logits)
    p_cal = ai_probability(logits, temperature)
    result = {
        **probability_report(labels, p_cal, split),
        "ece_before_calibration": binary_metrics(labels, p_raw)["ece"],
        "_probabilities": {
            "labels": labels.tolist(),
            "p_ai": p_cal.tolist(),
            "p_ai_raw": p_raw.tolist(),
            "source": list(split["source"]),
        },
    }
    if robustness:
        result["robustness"] = {}
        for degradation, fn in ROBUSTNESS.items():
            d_logits, d_labels = predict_logits(model, split, transform, degrade=fn, desc=f"{name}: {degradation}")
            result["robustness"][degradation] = binary_metrics(d_labels, ai_probability(d_logits, temperature))
    return result
