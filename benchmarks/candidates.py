"""Compare frozen-backbone candidates by leave-one-source-out and re-share robustness, not by pooled AUC.

Reads the features cached by `python -m realorai.features` (run those first; see README "Tried"), fits
each candidate with the shipped recipe (`realorai.generalisation.fit_recipe`) and prints one row per
candidate plus its leave-one-out and re-share tables; everything also goes to benchmarks/candidates.json.

    python benchmarks/candidates.py --data data/portraits-faces
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from datasets import load_from_disk

from realorai.features import cached_features, cut_from_all_blocks
from realorai.generalisation import SplitData, false_ai_by_source, fit_recipe, leave_one_out, reshare_table
from realorai.reshare import RESHARE

AUG = ("clean", "augment-1")
AUG2 = ("clean", "augment-1", "augment-2")
BLOCKS = "clip-b16-int8-blocks"  # CLIP's class token after every block, one pass; "@N" picks block N
CROPPED = "clip-b16-int8-blocks-token-avg-crop"  # class and mean patch tokens, centre crop; "@N:token|avg"
ALL_POOLS = "clip-b16-int8-blocks-token-avg-max"  # class, mean and max patch tokens; "@N:token|avg|max"
# (name, backbones whose features are concatenated, training views, C[, weight of augmented copies[, of AI ones]])
CANDIDATES = [
    ("mobilenetv2 (ImageNet) probe", ["mobilenetv2_100"], AUG, 0.05),
    ("mobilenetv2 (ImageNet) probe, no augmentation", ["mobilenetv2_100"], ("clean",), 0.05),
    ("efficientnet-lite2 (ImageNet) probe", ["tf_efficientnet_lite2"], AUG, 0.05),
    ("efficientnet-lite2 (ImageNet) probe, no augmentation", ["tf_efficientnet_lite2"], ("clean",), 0.05),
    ("dinov2-s14 probe", ["dinov2-s14"], AUG, 0.05),
    ("dinov2-s14 probe, no augmentation", ["dinov2-s14"], ("clean",), 0.05),
    ("clip-b16 probe, last block", ["clip-b16-int8"], AUG, 0.05),
    ("clip-b16 + dinov2-s14 probe", ["clip-b16-int8", "dinov2-s14"], AUG, 0.05),
    ("clip-b16 block 11 + dinov2-s14 probe, no augmentation", [f"{BLOCKS}@11", "dinov2-s14"], ("clean",), 0.05),
    *[(f"clip-b16 block {n} probe, no augmentation", [f"{BLOCKS}@{n}"], ("clean",), 0.05) for n in (6, 9, 10, 11, 12)],
    ("clip-b16 block 10 probe", [f"{BLOCKS}@10"], AUG, 0.05),
    ("clip-b16 block 11 probe, C=0.5", [f"{BLOCKS}@11"], AUG, 0.5),
    ("clip-b16 block 11 probe, augmented copies at 1/4 weight", [f"{BLOCKS}@11"], AUG, 0.05, 0.25),
    ("clip-b16 block 11 probe (shipped recipe, INT8 features only)", [f"{BLOCKS}@11"], AUG, 0.05),  # until this session
    # CLIP with a CNN: Lite2's worst held-out family beat CLIP's (text-to-image), so the two may be complementary.
    ("clip-b16 block 11 + efficientnet-lite2 probe", [f"{BLOCKS}@11", "tf_efficientnet_lite2"], AUG, 0.05),
    ("clip-b16 block 11 + efficientnet-lite2 probe, C=0.02", [f"{BLOCKS}@11", "tf_efficientnet_lite2"], AUG, 0.02),
    # Mean patch token instead of the class token; a centre 224 crop of the 256 face instead of a resize.
    ("clip-b16 block 11 probe, centre crop, no augmentation", [f"{CROPPED}@11:token"], ("clean",), 0.05),
    ("clip-b16 block 11 mean-token probe, centre crop, no augmentation", [f"{CROPPED}@11:avg"], ("clean",), 0.05),
    # Max over the patch tokens (timm global_pool="max"): a local artefact anywhere in the face can set a feature.
    *[(f"clip-b16 block {n} max-pool probe", [f"{ALL_POOLS}@{n}:max"], AUG, 0.05) for n in (9, 10, 11, 12)],
    ("clip-b16 block 11 max-pool probe, no augmentation", [f"{ALL_POOLS}@11:max"], ("clean",), 0.05),
    ("clip-b16 block 11 avgmax-pool probe", [f"{ALL_POOLS}@11:avgmax"], AUG, 0.05),
    # Re-shared copies of real photos at full weight, of AI faces at less (see fit_recipe).
    *[
        (f"clip-b16 block 11 probe, AI copies at weight {w}" + (f", C={c}" if c != 0.05 else ""), [f"{BLOCKS}@11"], AUG, c, 1, w)
        for c in (0.05, 0.02)
        for w in (0.0, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0)
    ],
    # The shipped weighting at the neighbouring depths.
    *[(f"clip-b16 block {n} probe, AI copies at weight 0.5, C=0.02", [f"{BLOCKS}@{n}"], AUG, 0.02, 1, 0.5) for n in (10, 12)],
    # Two re-shared copies of every face instead of one.
    *[
        (f"clip-b16 block 11 probe, two re-shared copies, AI copies at weight {w}, C=0.02", [f"{BLOCKS}@11"], AUG2, 0.02, 1, w)
        for w in (0.05, 0.125, 0.25)
    ],
    # Class tokens of several blocks side by side (intermediate blocks carry lower-level cues; RINE, ECCV 2024).
    *[
        (
            f"clip-b16 blocks {'+'.join(map(str, blocks))} probe, AI copies at weight 0.5, C=0.02",
            [f"{BLOCKS}@{n}" for n in blocks],
            AUG,
            0.02,
            1,
            0.5,
        )
        for blocks in ((10, 11), (9, 10, 11), (6, 9, 11), (8, 9, 10, 11, 12))
    ],
]


def features_of(cache: Path, spec: str, split, name: str, view: str) -> np.ndarray | None:
    """Cached features of a backbone, or of CLIP cut after a block: "clip-b16-int8-blocks...@N[:POOL]" (POOL:
    token, avg, max or avgmax), read from whichever all-blocks pass of the same crop recorded it."""
    backbone, _, cut = spec.partition("@")
    if not cut:
        return cached_features(cache, backbone, split, name, view)
    depth, _, pool = cut.partition(":")
    pooled = "" if pool in ("", "token") else f"-{pool}"
    runtime = f"clip-b16-int8-d{depth}{pooled}" + ("-crop" if backbone.endswith("-crop") else "")
    return cut_from_all_blocks(cache, runtime, split, name, view)


def load_split(dataset, name: str, backbones: list[str], views, cache: Path, optional=()) -> SplitData | None:
    """The split's features under `views` (all needed) and `optional` views (used where cached)."""
    loaded = {}
    for view in (*views, *optional):
        parts = [features_of(cache, b, dataset[name], name, view) for b in backbones]
        if any(p is None for p in parts):
            if view in optional:
                continue
            return None
        loaded[view] = np.concatenate(parts, axis=1)
    return SplitData.from_split(dataset[name], loaded)


def load_splits(dataset, backbones, train_views, cache: Path):
    """Train under `train_views`, validation clean, test clean plus every re-share chain cached; None if missing."""
    train = load_split(dataset, "train", backbones, train_views, cache)
    validation = load_split(dataset, "validation", backbones, ("clean",), cache)
    test = load_split(dataset, "test", backbones, ("clean",), cache, optional=tuple(RESHARE))
    return None if train is None or validation is None or test is None else (train, validation, test)


def benchmark_arguments(doc: str) -> argparse.ArgumentParser:
    """--data, --cache and --out, as every benchmark over cached features takes them."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="data/portraits-faces")
    parser.add_argument("--cache", default="data/features")
    parser.add_argument("--out", default="benchmarks/candidates.json")
    return parser


def measure(fit, train: SplitData, validation: SplitData, test: SplitData, also=None, **recorded) -> dict:
    """One benchmark row: `fit` on all of train, its re-share table on test, and the leave-one-out table of the
    same fit refitted per fold. `recorded` (backbones, views, C, ...) is stored with it; `also(fitted)`: more
    of the row from the same full fit (e.g. pictures it scores), so nothing fits it twice."""
    fitted = fit(train, validation)
    reshare = reshare_table(fitted, test)
    drops = [r["auc_drop"] for r in reshare.values() if r["auc_drop"] is not None]
    return {
        **recorded,
        "test_auc": reshare["clean"]["roc_auc"],
        "test_false_ai_by_source": false_ai_by_source(fitted.p_ai(test.views["clean"]), test, fitted.decision.ai_from),
        "decision": list(fitted.decision.band),
        "reshare": reshare,
        "reshare_worst_drop": max(drops) if drops else None,
        "leave_one_out": leave_one_out(train, validation, test, fit=fit),
        **(also(fitted) if also else {}),
    }


def evaluate_candidate(
    dataset, backbones, train_views, c, cache: Path, augment_weight: float = 1.0, ai_augment_weight: float | None = None
) -> dict | None:
    splits = load_splits(dataset, backbones, train_views, cache)
    if splits is None:
        return None

    def fit(train, validation, keep_train=None, keep_validation=None):
        return fit_recipe(train, validation, c, train_views, keep_train, keep_validation, augment_weight, ai_augment_weight)

    return measure(
        fit, *splits,
        backbones=backbones, train_views=list(train_views), c=c, augment_weight=augment_weight,
        ai_augment_weight=augment_weight if ai_augment_weight is None else ai_augment_weight,
    )  # fmt: skip


def _signed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.3f}"


def row(name: str, result: dict) -> str:
    s = result["leave_one_out"]["summary"]
    return (
        f"| {name} | {s['ai_auc_mean']:.3f} | {s['ai_auc_worst']:.3f} | {s['ai_recall_worst']:.3f} | "
        f"{s['real_false_ai_mean']:.3f} | {s['real_false_ai_worst']:.3f} | {_signed(result['reshare_worst_drop'])} | "
        f"{result['test_auc']:.4f} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = benchmark_arguments(__doc__)
    parser.add_argument("--only", default="", help="';'-separated candidate names (default: all with cached features)")
    args = parser.parse_args(argv)
    dataset = load_from_disk(args.data)
    wanted = set(args.only.split(";")) if args.only else None
    results = {}
    print(
        "| candidate | held-out AI AUC mean | worst | worst AI recall | held-out real called AI, mean | worst | "
        "worst re-share AUC drop | pooled test AUC |\n|---|---:|---:|---:|---:|---:|---:|---:|"
    )
    for name, backbones, views, c, *weights in CANDIDATES:
        if wanted and name not in wanted:
            continue
        result = evaluate_candidate(dataset, backbones, views, c, Path(args.cache), *weights)
        if result is None:
            print(f"| {name} | features not cached: run `python -m realorai.features --backbone ...` first |")
            continue
        results[name] = result
        print(row(name, result), flush=True)
    for name, result in results.items():
        print(f"\n{name}: leave-one-out rows")
        for group, r in result["leave_one_out"]["rows"].items():
            score = f"recall {r['recall']:.3f}" if r["kind"] == "ai" else f"called AI {r['false_ai_rate']:.3f}"
            print(f"  {group:<40} n={r['n']:<5} AUC {r['roc_auc']:.3f}  {score}  (threshold {r['ai_from']:.3f})")
        print("  re-share: " + ", ".join(f"{v} {r['roc_auc']:.3f}" for v, r in result["reshare"].items()))
    previous = json.loads(Path(args.out).read_text()) if Path(args.out).is_file() else {}
    current = {name for name, *_ in CANDIDATES}  # rows of candidates no longer listed are dropped
    merged = {k: v for k, v in (previous | results).items() if k in current or "combination" in v}  # + ensemble.py's
    Path(args.out).write_text(json.dumps(merged, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
