"""Is there signal the fine-tuned CNN is missing? Two cheap probes with linear classifiers.

    python benchmarks/feature_probes.py spectrum [--data data/portraits-faces]
    python benchmarks/feature_probes.py imagenet [--data data/portraits-faces-holdout-sdfd] [--architecture mobilenetv2_100]

`spectrum`: FFHQ photos vs StyleGAN2 faces from the radially averaged log power spectrum of the face crop
(the GAN up-sampling fingerprint lives in the high frequencies). Fitted on train, scored on validation, for
all frequencies and for the upper bands alone.

`imagenet`: logistic regression on frozen ImageNet features (globally pooled, per backbone stage and all
together), fitted on train. Reports validation and test AUC, the FFHQ-vs-StyleGAN2 test AUC, and — on a
dataset built with `--holdout-source` — the held-out generator's faces against the test split's real photos,
the same "unseen" figure that `train.py` reports for the fine-tuned model.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from datasets import load_from_disk
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch.utils.data import DataLoader
from tqdm import tqdm

from realorai.config import LABELS
from realorai.evaluation import FaceDataset
from realorai.metrics import binary_metrics
from realorai.modeling import BACKBONE, imagenet_model
from realorai.preprocess import data_config, eval_transform

STYLEGAN2_LOOK_ALIKE = ("ffhq", "tpdne", "tpdne-b")  # FFHQ photos and the StyleGAN2 faces trained on them


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    return binary_metrics(labels, scores)["roc_auc"]


def linear_probe(train_x, train_y):
    return make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=5000, class_weight="balanced")).fit(
        train_x, train_y
    )


def radial_log_spectrum(image, bands: int) -> np.ndarray:
    gray = np.asarray(image.convert("L"), dtype=np.float64)
    power = np.log(np.abs(np.fft.fftshift(np.fft.fft2(gray - gray.mean()))) + 1e-3)
    h, w = gray.shape
    yy, xx = np.mgrid[-(h // 2) : h - h // 2, -(w // 2) : w - w // 2]
    radius = np.hypot(xx, yy).astype(int).ravel()
    profile = np.bincount(radius, power.ravel())[:bands] / np.bincount(radius)[:bands]
    return profile - profile[:8].mean()  # relative to the low frequencies: overall contrast is not the cue


def spectrum_probe(data: str) -> None:
    dataset = load_from_disk(data)
    bands = 128

    def features(split):
        keep = [i for i, source in enumerate(split["source"]) if source in STYLEGAN2_LOOK_ALIKE]
        rows = [split[i] for i in keep]
        return np.stack([radial_log_spectrum(r["image"], bands) for r in rows]), np.array([r["label"] for r in rows])

    train_x, train_y = features(dataset["train"])
    val_x, val_y = features(dataset["validation"])
    print(f"FFHQ vs StyleGAN2 from the face crop's log power spectrum ({len(train_y)} train, {len(val_y)} validation)\n")
    print("| frequencies used (of 128 radial bands) | validation AUC |\n|---|---:|")
    for low in (0, 32, 64, 96):
        probe = linear_probe(train_x[:, low:], train_y)
        print(f"| {low}–127 | {auc(val_y, probe.predict_proba(val_x[:, low:])[:, 1]):.4f} |")


@torch.inference_mode()
def pooled_features(model, split) -> list[np.ndarray]:
    """Per stage (then pre-logits) globally averaged activations, one array per stage."""
    transform = eval_transform(data_config(model))
    per_stage: list[list[np.ndarray]] = []
    for images, _ in tqdm(DataLoader(FaceDataset(split, transform), batch_size=64, num_workers=2), leave=False):
        final, stages = model.forward_intermediates(images)  # one pass: the stages and forward_features' output
        pooled = [t.mean((2, 3)) for t in stages] + [model.forward_head(final, pre_logits=True)]
        for i, tensor in enumerate(pooled):
            if len(per_stage) <= i:
                per_stage.append([])
            per_stage[i].append(tensor.numpy())
    return [np.concatenate(chunks) for chunks in per_stage]


def imagenet_probe(data: str, architecture: str) -> None:
    dataset = load_from_disk(data)
    model = imagenet_model(architecture).eval()
    feats = {name: pooled_features(model, dataset[name]) for name in dataset}
    labels = {name: np.array(dataset[name]["label"]) for name in dataset}
    sources = {name: np.array(dataset[name]["source"]) for name in dataset}
    n_stages = len(feats["train"])
    choices = {f"stage {i}" if i < n_stages - 1 else "pre-logits": [i] for i in range(n_stages)}
    choices["all stages"] = list(range(n_stages))

    test_real = labels["test"] == LABELS.index("real")
    pair = np.isin(sources["test"], STYLEGAN2_LOOK_ALIKE)
    unseen = None
    if "holdout" in dataset:  # held-out sources only: look-alikes of other sources may have followed them there
        held = sorted(set(sources["holdout"]) - set(sources["train"]))
        unseen = np.isin(sources["holdout"], held)

    print(f"Linear probe on frozen ImageNet {architecture} features, fitted on {data} train\n")
    header = "| features | validation AUC | test AUC | FFHQ vs StyleGAN2 test AUC |"
    if unseen is not None:
        header += f" unseen ({', '.join(held)}) vs test real AUC | unseen recall | real recall |"
    print(header + "\n|---" + "|---:" * (header.count("|") - 2) + "|")
    for name, stages in choices.items():
        stack = {split: np.concatenate([feats[split][i] for i in stages], axis=1) for split in feats}
        probe = linear_probe(stack["train"], labels["train"])
        p = {split: probe.predict_proba(stack[split])[:, 1] for split in stack}
        line = (
            f"| {name} | {auc(labels['validation'], p['validation']):.4f} | {auc(labels['test'], p['test']):.4f} "
            f"| {auc(labels['test'][pair], p['test'][pair]):.4f} |"
        )
        if unseen is not None:
            y = np.r_[np.zeros(test_real.sum()), np.ones(unseen.sum())]
            scores = np.r_[p["test"][test_real], p["holdout"][unseen]]
            line += (
                f" {auc(y, scores):.4f} | {(p['holdout'][unseen] >= 0.5).mean():.3f}"
                f" | {(p['test'][test_real] < 0.5).mean():.3f} |"
            )
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("probe", choices=("spectrum", "imagenet"))
    parser.add_argument("--data", help="default: data/portraits-faces (spectrum), data/portraits-faces-holdout-sdfd (imagenet)")
    parser.add_argument("--architecture", default=BACKBONE)
    args = parser.parse_args()
    if args.probe == "spectrum":
        spectrum_probe(args.data or "data/portraits-faces")
    else:
        imagenet_probe(args.data or "data/portraits-faces-holdout-sdfd", args.architecture)


if __name__ == "__main__":
    main()
