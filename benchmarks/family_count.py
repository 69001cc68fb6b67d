"""How an unseen AI family's ROC-AUC grows with the number of AI families the model learns from.

The worst leave-one-out fold is under issue #9's 0.90, and no recipe change lifted it (README "Tried"). If
what holds it down is how few generator families each fold learns from (three), the held-out family should
rank better as families are added. This measures that: for every AI family held out, the recipe is fitted on
the real photos plus every non-empty subset of the other AI families, and the held-out family (all its faces)
is scored against the test split's real photos, as in the leave-one-out table.

    python -m benchmarks.family_count --recipe frozen   # CLIP block 11 features, the shipped head; ~2 min
    python -m benchmarks.family_count --recipe tuned    # the shipped recipe, block 11's class path tuned per fit; ~30 min

Only ranking is measured (no thresholds, so no cross-fit). Rows go to benchmarks/family_count.json.
"""

from __future__ import annotations

import json
from itertools import combinations
from pathlib import Path

import numpy as np
from datasets import load_from_disk

from benchmarks.candidates import AUG, BLOCKS, benchmark_arguments, load_splits
from realorai.config import AI_INDEX
from realorai.generalisation import AI_COPY_WEIGHT, DEFAULT_C, SplitData, _auc, recipe_fitter
from realorai.sources import generator_short_name


def family_curve(train: SplitData, validation: SplitData, test: SplitData, fit) -> list[dict]:
    """One row per (held-out AI family, subset of the other families trained on); real photos always kept."""
    splits = (train, validation, test)
    families = sorted({g for s in splits for g in s.groups.tolist() if g.startswith("ai/")})
    negatives = test.labels != AI_INDEX
    rows = []
    for held in families:
        others = [f for f in families if f != held]
        for size in range(1, len(others) + 1):
            for trained in combinations(others, size):
                keep = [(s.labels != AI_INDEX) | np.isin(s.groups, trained) for s in splits]
                fitted = fit(train, validation, keep[0], keep[1])
                p_held = np.concatenate([fitted.p_ai(s.views["clean"][s.groups == held]) for s in splits])
                auc = _auc(p_held, fitted.p_ai(test.views["clean"][negatives]))
                rows.append({"held_out": held, "trained_on": list(trained), "roc_auc": auc})
                print(
                    f"  {held[3:][:24]:<24} from {len(trained)}: {', '.join(t[3:][:14] for t in trained):<50} {auc:.3f}",
                    flush=True,
                )
    return rows


def short(group: str) -> str:
    """ "ai/text-to-image (FLUX.1 ...)" -> "text-to-image"."""
    return generator_short_name(group.removeprefix("ai/"))


def markdown_table(rows: list[dict]) -> str:
    """Rows: the AI families trained on (with every real photo); columns: the family held out; "–" where the
    held-out family is among those trained on."""
    held_out = sorted({r["held_out"] for r in rows})
    auc = {(r["held_out"], tuple(r["trained_on"])): r["roc_auc"] for r in rows}
    trained_sets = sorted({tuple(r["trained_on"]) for r in rows}, key=lambda t: (len(t), t))
    lines = [
        "| trained on | " + " | ".join(f"{short(h)} held out" for h in held_out) + " |",
        "|---|" + "---:|" * len(held_out),
    ]
    for trained in trained_sets:
        cells = [f"{auc[h, trained]:.3f}" if (h, trained) in auc else "–" for h in held_out]
        lines.append(f"| {' + '.join(map(short, trained))} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def frozen_splits_and_fit(dataset, cache: Path):
    splits = load_splits(dataset, [f"{BLOCKS}@11"], AUG, cache)
    if splits is None:
        raise SystemExit("CLIP's all-blocks features are not cached: see README 'Tried' for the realorai.features commands")
    return splits, recipe_fitter(DEFAULT_C, AUG, 1.0, AI_COPY_WEIGHT)


def tuned_splits_and_fit(dataset, cache: Path):
    import torch

    from realorai.backbones import clip_class_path
    from realorai.class_path import Tuning
    from realorai.tuned_recipe import token_splits, tuned_fitter

    torch.set_num_threads(2)
    depth = 11  # the shipped cut
    wanted = {"train": AUG, "validation": ("clean",), "test": ("clean",)}
    store, splits = token_splits(dataset, wanted, cache, clip_class_path(depth), depth)
    return tuple(splits.values()), tuned_fitter(store, Tuning(), DEFAULT_C, AUG, 1.0, AI_COPY_WEIGHT)


def main(argv: list[str] | None = None) -> int:
    parser = benchmark_arguments(__doc__)
    parser.set_defaults(out="benchmarks/family_count.json")
    parser.add_argument("--recipe", choices=("frozen", "tuned"), default="frozen")
    args = parser.parse_args(argv)
    dataset = load_from_disk(args.data)
    cache = Path(args.cache if args.cache != "data/features" or args.recipe == "frozen" else "data/tokens")
    splits, fit = (frozen_splits_and_fit if args.recipe == "frozen" else tuned_splits_and_fit)(dataset, cache)
    rows = family_curve(*splits, fit)
    print("\n" + markdown_table(rows))
    out = Path(args.out)
    previous = json.loads(out.read_text()) if out.is_file() else {}
    out.write_text(json.dumps(previous | {args.recipe: {"rows": rows}}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
