"""Compare model folders on one split of the dataset: the figures used to choose between training recipes.

    python benchmarks/compare_models.py model runs/lite0-groups [--data data/portraits-faces] [--split validation]
                                        [--flip] [--ensemble]

Per model: pooled ROC-AUC and balanced accuracy, accuracy per source and per generator, and the AUC of
every real source against every generator (the hard pair is FFHQ photos vs StyleGAN2 faces), all with the
model's own calibration. `--flip` adds each model with horizontal-flip test-time augmentation (calibrated
log-odds of the two views averaged); `--ensemble` adds the average of all models' calibrated log-odds.
Choose recipes on `validation`; the test split is for reporting.
"""

from __future__ import annotations

import argparse

import numpy as np
from datasets import load_from_disk
from PIL import ImageOps

from realorai.calibration import ai_probability, logit, sigmoid
from realorai.evaluation import predict_logits, probability_report
from realorai.modeling import load_classifier
from realorai.preprocess import data_config, eval_transform


def calibrated_log_odds(logits: np.ndarray, temperature: float) -> np.ndarray:
    """log P(ai)/P(real) after temperature scaling (the AI kinds summed when a model has a class per kind);
    averaging these is averaging the models' evidence."""
    return logit(ai_probability(logits, temperature))


def summary(labels: np.ndarray, log_odds: np.ndarray, split) -> dict:
    report = probability_report(labels, sigmoid(log_odds), split)
    row = {"ROC-AUC": report["overall"]["roc_auc"], "balanced acc.": report["overall"]["balanced_accuracy"]}
    row |= {f"{name} acc.": m["accuracy"] for name, m in report["per_source"].items()}
    row |= {f"{name} acc.": m["accuracy"] for name, m in report["per_generator"].items() if m["n_ai"]}
    for source, generators in report["real_source_vs_generator_auc"].items():
        row |= {f"{source} vs {generator} AUC": auc for generator, auc in generators.items()}
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", help="model folders or hf-hub ids")
    parser.add_argument("--data", default="data/portraits-faces")
    parser.add_argument("--split", default="validation")
    parser.add_argument("--flip", action="store_true", help="also score each model with flip test-time augmentation")
    parser.add_argument("--ensemble", action="store_true", help="also score the average of all models")
    args = parser.parse_args()
    split = load_from_disk(args.data)[args.split]

    columns: dict[str, np.ndarray] = {}
    for ref in args.models:
        model, serving = load_classifier(ref)
        transform = eval_transform(data_config(model))
        logits, labels = predict_logits(model, split, transform, desc=ref)
        columns[ref] = calibrated_log_odds(logits, serving.temperature)
        if args.flip:
            flipped, _ = predict_logits(model, split, transform, degrade=ImageOps.mirror, desc=f"{ref} flipped")
            columns[f"{ref} +flip"] = (columns[ref] + calibrated_log_odds(flipped, serving.temperature)) / 2
    if args.ensemble:
        columns["ensemble"] = np.mean([columns[ref] for ref in args.models], axis=0)
        if args.flip:
            columns["ensemble +flip"] = np.mean([columns[f"{ref} +flip"] for ref in args.models], axis=0)

    rows = {name: summary(labels, log_odds, split) for name, log_odds in columns.items()}
    keys = list(dict.fromkeys(k for row in rows.values() for k in row))
    print(f"{args.split} split of {args.data} ({len(split)} faces)\n")
    print("| | " + " | ".join(rows) + " |\n|---|" + "---:|" * len(rows))
    for key in keys:
        print(f"| {key} | " + " | ".join(f"{row.get(key, float('nan')):.4f}" for row in rows.values()) + " |")


if __name__ == "__main__":
    main()
