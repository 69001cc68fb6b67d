"""Compare model folders on one split of the dataset: the figures used to choose between training recipes.

    python benchmarks/compare_models.py model runs/lite0-groups [--data data/portraits-faces] [--split validation]

Per model: pooled ROC-AUC and balanced accuracy, accuracy per source and per generator, and the AUC of
the hard pair (FFHQ photos vs StyleGAN2 faces), all with the model's own calibration. Choose recipes on
`validation`; the test split is for reporting.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from datasets import load_from_disk  # noqa: E402

from realorai.evaluation import evaluate_split  # noqa: E402
from realorai.modeling import load_classifier  # noqa: E402
from realorai.preprocess import data_config, eval_transform  # noqa: E402


def summary(model_ref: str, split) -> dict:
    model, serving = load_classifier(model_ref)
    report = evaluate_split(model, split, eval_transform(data_config(model)), serving.temperature, robustness=False)
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
    args = parser.parse_args()
    split = load_from_disk(args.data)[args.split]
    rows = {ref: summary(ref, split) for ref in args.models}
    keys = list(dict.fromkeys(k for row in rows.values() for k in row))
    print(f"{args.split} split of {args.data} ({len(split)} faces)\n")
    print("| | " + " | ".join(args.models) + " |\n|---|" + "---:|" * len(args.models))
    for key in keys:
        print(f"| {key} | " + " | ".join(f"{rows[ref].get(key, float('nan')):.4f}" for ref in args.models) + " |")


if __name__ == "__main__":
    main()
