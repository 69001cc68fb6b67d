"""The `finetune` recipe's loop: one training epoch and one validation at a time, each returning a dict of
metrics (as timm's train.py splits it), and checkpoints that carry the configuration they were trained with.

train.py wires data, model, optimiser and early stopping around these; a change to how an epoch runs or
how a model is validated is made here, once.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .calibration import ai_probability
from .evaluation import grouped_metrics, predict_logits
from .metrics import binary_metrics
from .probe import group_names


@dataclass(frozen=True)
class Schedule:
    """Linear warm-up to `lr`, then cosine decay to 0 at `total_steps`."""

    lr: float
    total_steps: int
    warmup_steps: int = 100

    def at(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        progress = (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps)
        return self.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def sampling_weights(labels: list[int], sources: list[str], generators: list[str], scheme: str) -> torch.Tensor:
    """Per-image draw weights; without balancing the sampler would mostly show UTKFace as 'real'.

    class-source: each class half the draws, then each source an equal share of its class. StyleGAN2's two
      scrapes (tpdne, tpdne-b) count as two sources, so FFHQ-aligned faces are drawn 2:1 AI.
    group: every real source and every generator the same share, so FFHQ vs StyleGAN2 is 1:1 (reals
      become 3 of 5 draws here). Measured: it moves errors from FFHQ photos to StyleGAN2 faces, it does
      not separate the pair better (README, "Tried").
    """
    if scheme == "group":
        groups = group_names(labels, sources, generators)
        counts = Counter(groups)
        return torch.tensor([1.0 / (len(counts) * counts[g]) for g in groups])
    if scheme == "class-source":
        counts = Counter(zip(labels, sources))
        sources_per_label = Counter(label for label, _ in counts)
        return torch.tensor([1.0 / (sources_per_label[y] * counts[(y, s)]) for y, s in zip(labels, sources)])
    raise ValueError(f"unknown sampling scheme {scheme!r}; use class-source or group")


def worst_group_auc(labels: np.ndarray, p_ai: np.ndarray, groups: list[str]) -> tuple[float, str]:
    """The lowest per-group AUC (each group against every image of the other class) and its group.

    The pooled AUC is dominated by easy sources (UTKFace) and sits near 1; `--select-on worst-group-auc`
    stops on this instead. The history records both either way.
    """
    per_group = grouped_metrics(labels, p_ai, groups)
    scores = {g: m["roc_auc_vs_other_class"] for g, m in per_group.items() if m.get("roc_auc_vs_other_class") is not None}
    if not scores:  # a validation subset with one class only (smoke runs)
        return 0.0, "none"
    group = min(scores, key=scores.get)
    return scores[group], group


def train_one_epoch(
    model: torch.nn.Module,
    loader,
    optimizer: torch.optim.Optimizer,
    schedule: Schedule,
    step: int,
    backward: Callable[[torch.Tensor], None] = torch.Tensor.backward,
    desc: str = "train",
    progress: bool = True,
) -> dict:
    """One pass over `loader` (cross-entropy, learning rate set per step by `schedule` from global `step`).

    Returns {"train_loss": smoothed loss at the end, "step": global step after the epoch, "seconds"}.
    `backward`: how to backpropagate (accelerate's `accelerator.backward` under accelerate).
    """
    model.train()
    started, running = time.time(), 0.0
    bar = tqdm(loader, desc=desc, disable=not progress)
    for images, labels in bar:
        for group in optimizer.param_groups:
            group["lr"] = schedule.at(step)
        images = images.contiguous(memory_format=torch.channels_last)
        loss = torch.nn.functional.cross_entropy(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        backward(loss)
        optimizer.step()
        step += 1
        running = 0.9 * running + 0.1 * loss.item() if running else loss.item()
        bar.set_postfix(loss=f"{running:.3f}", lr=f"{optimizer.param_groups[0]['lr']:.1e}")
    return {"train_loss": running, "step": step, "seconds": round(time.time() - started)}


def validate(model: torch.nn.Module, split, transform, workers: int = 2) -> dict:
    """Validation metrics of `model` on a dataset split: pooled ROC-AUC and balanced accuracy at 0.5, and
    the worst group (real source or generator) with its AUC against the other class."""
    logits, labels = predict_logits(model, split, transform, desc="validation", workers=workers)
    p_ai = ai_probability(logits)
    pooled = binary_metrics(labels, p_ai)
    worst_auc, worst = worst_group_auc(labels, p_ai, group_names(split["label"], split["source"], split["generator"]))
    return {
        "val_auc": pooled["roc_auc"],
        "val_worst_group_auc": worst_auc,
        "val_worst_group": worst,
        "val_balanced_accuracy": pooled["balanced_accuracy"],
    }


# What must match for a checkpoint to be resumed: the network and what it sees.
RESUME_MUST_MATCH = ("architecture", "img_size", "crop_pct", "data")


def save_checkpoint(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, progress: dict, config: dict) -> None:
    """Everything needed to continue training: weights, optimiser, `progress` (epoch, step, history, ...),
    the RNG state, and the run's `config`, so a checkpoint says what it is without its run folder."""
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "torch_rng": torch.get_rng_state()}
    torch.save(state | {"progress": progress, "config": config}, path)


def load_checkpoint(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, config: dict) -> dict:
    """Restore a `save_checkpoint` file into `model` and `optimizer`; returns its progress dict.

    Refuses a checkpoint of another network or dataset with a message naming the difference."""
    state = torch.load(path, map_location="cpu", weights_only=False)  # our own file, written above
    if "progress" not in state:
        raise ValueError(f"{path} was written before checkpoints carried their settings; start a fresh --out")
    saved = state["config"]
    changed = [k for k in RESUME_MUST_MATCH if k in saved and saved[k] != config.get(k)]
    differ = [f"{k}: checkpoint {saved[k]!r}, now {config.get(k)!r}" for k in changed]
    if differ:
        raise ValueError(f"{path} was trained with other settings ({'; '.join(differ)}); start a fresh --out or match them")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["torch_rng"])
    return state["progress"]
