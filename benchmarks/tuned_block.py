"""Partial fine-tuning of CLIP on CPU: the class token's path through block 11 tuned on frozen tokens
(realorai.class_path), under the benchmark's protocol: per fold the path is tuned without the held-out
source, then the head, temperature and thresholds are fitted by the shipped recipe on the tuned features.

    python -m realorai.tokens --splits train,validation,test --views clean   # ~30 min for the three
    python -m realorai.tokens --splits train --views augment-1
    python -m realorai.tokens --splits test --views reshare
    python -m benchmarks.tuned_block --reshare --train attention-kv --mix 1 --unseen-real-target 0.01 \
        --group-weight ai/stylegan2=0.1 --group-dro 0.1  # shipped (train.py's defaults), ~26 min
    python -m benchmarks.tuned_block --reshare --train attention-kv --mix 1 --unseen-real-target 0.01 \
        --group-weight ai/stylegan2=0.1  # shipped before 2026-12-06 evening
    python -m benchmarks.tuned_block --train attention-kv --mix 1 --group-weight ai/stylegan2=0.1 \
        --pictures --group-dro 0.1 [--group-dro-over real] [--loss one-class]  # 1% rule, ~8 min
    python -m benchmarks.tuned_block --reshare --train attention-kv --mix 1 --unseen-real-target 0.01 \
        --group-weight ai/stylegan2=0.1 --unseen-real-copies  # ... re-shared copies of unseen reals held too
    python -m benchmarks.tuned_block --reshare --train attention-kv --mix 1 --unseen-real-target 0.03  # shipped before
    python -m benchmarks.tuned_block --reshare --train attention --mix 0.5  # the row shipped before, ~12 min on 2 cores
    python -m benchmarks.tuned_block --reshare --mix 0.25,0.5,1             # weight interpolation, one tuning per fold

Rows go to benchmarks/candidates.json next to the frozen-head candidates.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch
from datasets import load_from_disk

from benchmarks.candidates import benchmark_arguments, measure, row
from benchmarks.pictures import fit_scorer, picture_faces
from realorai.backbones import clip_class_path
from realorai.class_path import LOSSES, TRAINED, Tuning
from realorai.config import EXAMPLES_DIR
from realorai.generalisation import AI_COPY_WEIGHT, DEFAULT_C, is_reconstruction, parse_group_weights
from realorai.reshare import RESHARE
from realorai.tokens import image_tokens
from realorai.tuned_recipe import token_splits, tuned_fitter
from realorai.unseen_reals import unseen_real_fitter

DEPTH = 11  # the shipped cut: the class path of block 11, on the tokens after block 10


def candidate_name(tuning: Tuning, views: tuple[str, ...], depth: int = DEPTH) -> str:
    """The README's name for a run: what was tuned, how fast, on which views, how far it moved."""
    epochs = "" if tuning.epochs == Tuning.epochs else f", {tuning.epochs} epochs"
    tuned = (
        f"tuned ({tuning.train}, lr {tuning.lr:.0e}{epochs})".replace("e-0", "e-")
        if tuning.epochs
        else "untuned (float block on INT8 tokens)"
    )
    seed = f", seed {tuning.seed}" if tuning.seed else ""
    over = " over real sources" if tuning.group_dro_over == "real" else ""
    seed += f", Group DRO step {tuning.group_dro:g}{over}" if tuning.group_dro else ""
    if tuning.loss == "one-class":
        seed += f", one-class loss (real over {tuning.real_margin:g}, AI under {tuning.ai_margin:g}, scale {tuning.scale:g})"
    seed += f", {tuning.token_drop:.0%} of patch tokens hidden per step" if tuning.token_drop else ""
    seed += f", soup of {tuning.soup} seeds" if tuning.soup > 1 and tuning.soup_over == "seeds" else ""
    seed += ", soup of paths each tuned without one AI generator" if tuning.soup_over == "generators" else ""
    mix = "" if tuning.mix == 1.0 else f", weights {tuning.mix:g} of the way"
    extra = [v for v in views if v not in ("clean", "augment-1")]
    seed += f", with {' and '.join(extra)} copies" if extra else ""
    return f"clip-b16 block {depth} class path {tuned}" + ("" if "augment-1" in views else ", no augmentation") + seed + mix


def main(argv=None) -> int:
    parser = benchmark_arguments(__doc__)
    parser.set_defaults(cache="data/tokens")
    defaults = Tuning()
    tuning_options = ("lr", "head_lr", "epochs", "head_epochs", "batch", "head_l2", "seed", "token_drop", "soup", "soup_over")
    for name in (*tuning_options, "real_margin", "ai_margin", "scale", "group_dro", "group_dro_over"):
        parser.add_argument("--" + name.replace("_", "-"), type=type(getattr(defaults, name)), default=getattr(defaults, name))
    parser.add_argument("--loss", choices=LOSSES, default=defaults.loss, help="the tuning's loss")
    parser.add_argument("--train", choices=tuple(TRAINED), default="all", help="what of the class path is tuned")
    parser.add_argument("--mix", default="1", help="comma-separated: how far to move from CLIP's block to the tuned one")
    parser.add_argument("--views", default="clean,augment-1")
    parser.add_argument("--tune-views", default="", help="views the path is tuned on (default: --views; the head uses --views)")
    parser.add_argument("--reshare", action="store_true", help="also score the re-share chains (their tokens cached)")
    parser.add_argument("--name", default="")
    parser.add_argument("--depth", type=int, default=DEPTH, help="tune the class path of this block (1-based)")
    parser.add_argument("--ai-copy-weight", type=float, default=AI_COPY_WEIGHT, help="weight of an AI face's re-shared copy")
    parser.add_argument(
        "--group-weight",
        default="",
        help="GROUP=W,...: a group's rows count W times (its class keeps its total), e.g. ai/stylegan2=0.25",
    )
    parser.add_argument(
        "--tune-group-weight",
        default=None,
        help="GROUP=W,...: group weights for tuning the path only (default: --group-weight; the head uses --group-weight)",
    )
    parser.add_argument(
        "--unseen-real-target", type=float, default=0.0, help="raise the threshold by cross-fitting (realorai.unseen_reals)"
    )
    parser.add_argument(
        "--pictures",
        nargs="?",
        const=str(EXAMPLES_DIR),
        default="",
        help="also score a folder's whole pictures and their copies (benchmarks.pictures) with the full fit "
        "(default folder: the app's examples)",
    )
    parser.add_argument(
        "--recon-share", type=float, default=0.2, help="the AI class's share taken by a recon-N view (remade real photos)"
    )
    parser.add_argument(
        "--unseen-real-copies", action="store_true", help="the cross-fit holds the left-out source's re-shared copies too"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    base = Tuning(**{f.name: getattr(args, f.name) for f in dataclasses.fields(Tuning) if f.name != "mix"})
    views = tuple(args.views.split(","))
    dataset = load_from_disk(args.data)
    wanted = {"train": views, "validation": ("clean",), "test": ("clean", *(RESHARE if args.reshare else ()))}
    faces = picture_faces(args.pictures) if args.pictures else []
    store, splits = token_splits(dataset, wanted, Path(args.cache), clip_class_path(args.depth), args.depth, len(faces))
    picture_ids = store.add(image_tokens([face for *_, face in faces], (args.depth - 1,))[0]) if faces else None
    group_weights = parse_group_weights(args.group_weight)
    tune_group_weights = None if args.tune_group_weight is None else parse_group_weights(args.tune_group_weight)
    splits["train"] = dataclasses.replace(splits["train"], group_weights=group_weights, recon_share=args.recon_share)

    scored_pictures = fit_scorer(faces, picture_ids, splits["test"])
    memo, results = {}, {}
    for mix in [float(m) for m in args.mix.split(",")]:
        tuning = dataclasses.replace(base, mix=mix)
        tune_views = tuple(args.tune_views.split(",")) if args.tune_views else views
        only = "" if tune_views == views else f", tuned on {'+'.join(tune_views)} only"
        copies = "" if args.ai_copy_weight == AI_COPY_WEIGHT else f", AI copies at weight {args.ai_copy_weight:g}"
        crossed = f", threshold for unseen real sources at {args.unseen_real_target:.0%}" if args.unseen_real_target else ""
        crossed += " and their re-shared copies" if args.unseen_real_target and args.unseen_real_copies else ""
        remade = any(is_reconstruction(v) for v in views)
        copies += f", remade real photos at {args.recon_share:g} of the AI class" if remade else ""
        weighted = "".join(f", {g.removeprefix('ai/')} at weight {w:g}" for g, w in group_weights.items())
        if tune_group_weights is not None:
            tuned_with = ", ".join(f"{g.removeprefix('ai/')} at {w:g}" for g, w in tune_group_weights.items()) or "equal shares"
            weighted += f" (path tuned with {tuned_with})"
        name = args.name or candidate_name(tuning, views, args.depth) + only + copies + weighted + crossed
        fit = tuned_fitter(store, tuning, DEFAULT_C, views, 1.0, args.ai_copy_weight, memo, tune_views, tune_group_weights)
        if args.unseen_real_target:
            fit = unseen_real_fitter(fit, args.unseen_real_target, args.unseen_real_copies)
        recorded = tuning.to_dict() | {"tune_views": list(tune_views), "ai_copy_weight": args.ai_copy_weight}
        recorded |= {"unseen_real_target": args.unseen_real_target} if args.unseen_real_target else {}
        recorded |= {"unseen_real_copies": True} if args.unseen_real_target and args.unseen_real_copies else {}
        recorded |= {"group_weights": group_weights} if group_weights else {}
        recorded |= {"tune_group_weights": tune_group_weights} if tune_group_weights is not None else {}
        result = measure(
            fit, *splits.values(), also=scored_pictures if faces else None, settings=recorded, train_views=list(views),
            combination=f"class path of block {args.depth} tuned",  # kept by candidates.py's merge
        )  # fmt: skip
        results[name] = result
        caught = min(r["ai_recall"] for v, r in result["reshare"].items() if v != "clean") if args.reshare else float("nan")
        print(row(name, result)[:-1] + f"| worst re-shared AI caught {caught:.3f} |")
        for group, r in result["leave_one_out"]["rows"].items():
            score = (
                f"recall {r['recall']:.3f}" if r["kind"] == "ai" else f"called AI {r['false_ai_rate']:.3f} {r.get('p_ai_at', '')}"
            )
            shares = " ".join(f"{k}:{v:.3f}" for k, v in r.get("called_real_by_share", {}).items())
            print(f"  {group:<40} AUC {r['roc_auc']:.3f}  {score}  (threshold {r['ai_from']:.3f}; called real by share {shares})")
        print("  re-share: " + ", ".join(f"{v} {r['roc_auc']:.3f}" for v, r in result["reshare"].items()), flush=True)
        if faces:
            pictures = result["pictures"]
            print(
                f"  pictures (threshold {pictures['thresholds'][1]:.4f}): real copies called AI {pictures['wrong']['real']} "
                f"of {pictures['of']['real']}, AI copies called real {pictures['wrong']['ai']} of {pictures['of']['ai']}"
            )
            for picture, copies in pictures["rows"].items():
                print(f"    {picture:<20} " + " ".join(f"{c['p_ai']:.4f}" for c in copies.values()))
                if picture.startswith("real"):  # the share of the test split's real photos scoring as high
                    print(f"    {'  test reals as high':<20} " + " ".join(f"{c['reals_as_high']:.4f}" for c in copies.values()))
    out = Path(args.out)
    previous = json.loads(out.read_text()) if out.is_file() else {}
    out.write_text(json.dumps(previous | results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
