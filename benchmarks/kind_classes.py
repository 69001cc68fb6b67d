"""A head per kind of AI image (diffusion, GAN) instead of one "AI" class, measured like every candidate
(leave-one-source-out, re-share).

`python -m benchmarks.family_count` found that adding the GAN families to training lowers how well an
unseen diffusion family ranks (frozen CLIP features, SD 2.1 held out: 0.897 trained on text-to-image alone,
0.823 with the GANs too): a single linear "AI" direction has to serve both kinds. With a class per kind the
head keeps a direction per kind, and P(AI) = 1 - P(real) = sigmoid(logsumexp(ai logits) - real logit) is
high if either fires (`--head softmax`). `--head soft-or` fits each kind's direction on that kind against
the real photos alone and combines them the same way. The kinds come from `realorai.sources` (`family`).

    python -m benchmarks.kind_classes --recipe frozen [--head soft-or]      # CLIP block 11 features, ~1 min
    python -m benchmarks.kind_classes --recipe tuned --tune-classes binary  # the path tuned as shipped, ~8 min
    python -m benchmarks.kind_classes --recipe tuned --tune-classes kind --reshare --unseen-real-target 0.03  # ~30 min

With --reshare every leave-one-out fold also scores its held-out source's test faces after each re-share
chain (printed as a table; benchmarks/held_out_reshare.json holds the rows in README, "Never seen and re-shared"):

    python -m benchmarks.kind_classes --recipe tuned --tune-kinds diffusion --kind-offsets gan=2 \\
        --unseen-real-target 0.01 --reshare  # 48 min on 2 slow cores

Rows go to benchmarks/candidates.json next to the other candidates.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
from datasets import load_from_disk
from scipy.special import logsumexp
from sklearn.linear_model import LogisticRegression

from benchmarks.candidates import AUG, BLOCKS, benchmark_arguments, load_splits, measure, row
from realorai.config import AI_INDEX, EXAMPLES_DIR
from realorai.generalisation import AI_COPY_WEIGHT, DEFAULT_C, SplitData, calibrated, training_rows
from realorai.kinds import LEVEL, KindHeads, fit_kind_heads, levelled, parse_kind_offsets, row_kinds
from realorai.model_card import held_out_reshare_table
from realorai.reshare import RESHARE
from realorai.unseen_reals import unseen_real_fitter


@dataclasses.dataclass
class KindHead:
    """Multinomial logistic regression on standardised features; real is class 0."""

    model: LogisticRegression
    mean: np.ndarray
    std: np.ndarray

    def margin(self, features: np.ndarray) -> np.ndarray:
        """log P(AI) - log P(real) = logsumexp(AI kinds' logits) - real logit."""
        z = self.model.decision_function((np.asarray(features, np.float64) - self.mean) / self.std)
        z = np.stack([-z / 2, z / 2], axis=1) if z.ndim == 1 else z  # one kind: sklearn gives the binary margin
        return logsumexp(z[:, 1:], axis=1) - z[:, 0]

    def logits(self, features: np.ndarray) -> np.ndarray:
        """Two-class (real, AI) logits with that margin, as `calibrated` and the thresholds take them."""
        half = self.margin(features)[:, None] / 2
        return np.concatenate([-half, half], axis=1)


def fit_kind_head(features: np.ndarray, classes: np.ndarray, weights: np.ndarray, kinds, c: float = DEFAULT_C) -> KindHead:
    features = np.asarray(features, dtype=np.float64)
    mean, std = features.mean(axis=0), features.std(axis=0) + 1e-6
    model = LogisticRegression(C=c, max_iter=3000, tol=1e-5).fit((features - mean) / std, classes, sample_weight=weights)
    return KindHead(model, mean, std)


def fit_levelled_soft_or_head(features, classes, weights, kinds, c: float = DEFAULT_C) -> KindHeads:
    """The soft OR levelled on its own training real photos (the shipped recipe levels on the validation
    split's instead, photos the heads never saw: realorai.tuned_recipe)."""
    return levelled(fit_kind_heads(features, classes, weights, kinds, c), features[classes == 0], {})


HEADS = {"softmax": fit_kind_head, "soft-or": fit_kind_heads, "levelled-soft-or": fit_levelled_soft_or_head}
PER_KIND = {  # in the rows' names
    "softmax": "a class per AI kind",
    "soft-or": "a head per AI kind, soft OR",
    "levelled-soft-or": f"a head per AI kind levelled at the real photos' {LEVEL:.0%} quantile, soft OR",
}


def frozen_fitter(fit_head=fit_kind_head, views=AUG, c: float = DEFAULT_C):
    """The frozen-CLIP recipe (block 11 class token) with a head per kind instead of the binary one."""

    def fit(train: SplitData, validation: SplitData, keep_train=None, keep_validation=None):
        keep_train = np.ones(len(train.labels), bool) if keep_train is None else keep_train
        keep_validation = np.ones(len(validation.labels), bool) if keep_validation is None else keep_validation
        features, _, weights = training_rows(train, views, keep_train, 1.0, AI_COPY_WEIGHT)
        kinds = row_kinds(train, keep_train, views, len(weights))
        head = fit_head(features, kinds.classes, weights, kinds.names, c)
        return calibrated(head, validation, keep_validation)

    return fit


def tuned_fitter(
    store, tune_classes: str, seed: int = 0, fit_head=fit_kind_head, views=AUG, c: float = DEFAULT_C,
    tune_kinds: tuple[str, ...] = (), memo: dict | None = None,
):  # fmt: skip
    """The shipped recipe (block 11's class path tuned, realorai.class_path) with a kind head fitted on its
    training photos; the path is tuned against real/AI (`tune_classes` "binary") or against the kinds too
    ("kind"), on every AI kind or only on `tune_kinds`' faces (with every real photo). The shipped head,
    levelled on validation real photos, is realorai.tuned_recipe's (`--kind-offsets`). `memo` shares the
    tuned paths between fitters that differ only in the head."""
    from realorai.class_path import Tuning, tune
    from realorai.tuned_recipe import TunedFit

    memo = {} if memo is None else memo

    def fit(train: SplitData, validation: SplitData, keep_train=None, keep_validation=None):
        keep_train = np.ones(len(train.labels), bool) if keep_train is None else keep_train
        keep_validation = np.ones(len(validation.labels), bool) if keep_validation is None else keep_validation
        ids, labels, weights = training_rows(train, views, keep_train, 1.0, AI_COPY_WEIGHT)
        kinds = row_kinds(train, keep_train, views, len(weights))
        tuned_rows = (labels != AI_INDEX) | np.isin(kinds.kinds, tune_kinds) if tune_kinds else np.ones(len(ids), bool)
        key = (keep_train.tobytes(), tune_classes, seed, tune_kinds)
        if key not in memo:
            targets = kinds.classes if tune_classes == "kind" else labels
            memo[key] = tune(store, ids[tuned_rows], targets[tuned_rows], weights[tuned_rows], Tuning(seed=seed))
        path = memo[key]
        head = fit_head(store.features(path, ids), kinds.classes, weights, kinds.names, c)
        tuned_validation = dataclasses.replace(validation, views={"clean": store.features(path, validation.views["clean"])})
        return TunedFit(path, store, calibrated(head, tuned_validation, keep_validation), 0.0)

    return fit


def main(argv: list[str] | None = None) -> int:
    parser = benchmark_arguments(__doc__)
    parser.add_argument("--recipe", choices=("frozen", "tuned"), default="frozen")
    parser.add_argument("--tune-classes", choices=("binary", "kind"), default="binary")
    parser.add_argument(
        "--head",
        choices=tuple(HEADS),
        default="softmax",
        help="one softmax over the kinds, or a soft OR of one binary head per kind",
    )
    parser.add_argument("--seed", type=int, default=0, help="tuned: the tuning's seed (batch order, head start)")
    parser.add_argument("--group-dro", type=float, default=0.0, help="tuned, --kind-offsets: Group DRO's step in the tuning")
    parser.add_argument("--reshare", action="store_true", help="tuned: also score the re-share chains (tokens cached)")
    parser.add_argument(
        "--ai-augment-weight", type=float, default=AI_COPY_WEIGHT, help="--kind-offsets: weight of an AI face's re-shared copy"
    )
    parser.add_argument("--unseen-real-target", type=float, default=0.0, help="cross-fit the threshold (realorai.unseen_reals)")
    parser.add_argument(
        "--pictures",
        nargs="?",
        const=str(EXAMPLES_DIR),
        default="",
        help="tuned: also score the app's examples (benchmarks.pictures)",
    )
    parser.add_argument("--tune-kinds", default="", help="tuned: tune the path on these AI kinds' faces only (e.g. diffusion)")
    parser.add_argument(
        "--kind-offsets",
        default="",
        help="tuned: a soft OR levelled on the validation real photos, one row per ';'-separated set of "
        "KIND=LOGITS offsets, e.g. 'gan=0;gan=1;gan=2'",
    )
    args = parser.parse_args(argv)
    dataset = load_from_disk(args.data)
    if args.recipe == "frozen":
        splits = load_splits(dataset, [f"{BLOCKS}@11"], AUG, Path(args.cache))
        name = "clip-b16 block 11 probe, AI copies at weight 0.5, C=0.02, " + PER_KIND[args.head]
        fits = {name: frozen_fitter(HEADS[args.head])}
    else:
        import torch

        from realorai.backbones import clip_class_path
        from realorai.class_path import Tuning
        from realorai.tuned_recipe import token_splits
        from realorai.tuned_recipe import tuned_fitter as shipped_kinds_fitter

        torch.set_num_threads(2)
        from benchmarks.pictures import fit_scorer, picture_faces
        from realorai.tokens import image_tokens

        wanted = {"train": AUG, "validation": ("clean",), "test": ("clean", *(RESHARE if args.reshare else ()))}
        faces = picture_faces(args.pictures) if args.pictures else []
        store, by_split = token_splits(dataset, wanted, Path("data/tokens"), clip_class_path(11), 11, len(faces))
        splits = tuple(by_split.values())
        picture_ids = store.add(image_tokens([face for *_, face in faces], (10,))[0]) if faces else None
        scored_pictures = fit_scorer(faces, picture_ids, by_split["test"]) if faces else None

        tune_kinds = tuple(k for k in args.tune_kinds.split(",") if k)
        tuned = "tuned against the kinds" if args.tune_classes == "kind" else "tuned real/AI"
        tuned += f" on {' and '.join(tune_kinds)} faces only" if tune_kinds else ""
        seed = f", seed {args.seed}" if args.seed else ""
        seed += f", Group DRO {args.group_dro:g}" if args.group_dro else ""
        seed += f", AI copies at weight {args.ai_augment_weight:g}" if args.ai_augment_weight != AI_COPY_WEIGHT else ""
        name = f"clip-b16 block 11 class path {tuned} (attention-kv, lr 1e-4){seed}, {PER_KIND[args.head]} in the head"
        memo: dict = {}
        if args.kind_offsets:  # one row per offset set, the folds' tuned paths shared
            fits = {}
            for spec in args.kind_offsets.split(";"):
                offsets = parse_kind_offsets(spec)
                described = ", ".join(f"{k} lowered {v:g}" for k, v in offsets.items() if v) or "none lowered"
                head = f"{PER_KIND['soft-or']}, levelled on validation real photos at {LEVEL:.0%} ({described})"
                fits[name.replace(PER_KIND[args.head], head)] = shipped_kinds_fitter(
                    store, Tuning(seed=args.seed, group_dro=args.group_dro), DEFAULT_C, AUG, 1.0, args.ai_augment_weight, memo,
                    tune_kinds=tune_kinds,
                    kind_offsets=offsets,
                )  # fmt: skip
        else:
            fits = {name: tuned_fitter(store, args.tune_classes, args.seed, HEADS[args.head], tune_kinds=tune_kinds, memo=memo)}
    recorded = {"recipe": args.recipe, "tune_classes": args.tune_classes, "head": args.head, "seed": args.seed}
    recorded |= {"group_dro": args.group_dro} if args.group_dro else {}
    recorded |= {"ai_augment_weight": args.ai_augment_weight} if args.ai_augment_weight != AI_COPY_WEIGHT else {}
    recorded |= {"tune_kinds": args.tune_kinds, "kind_offsets": args.kind_offsets} if args.recipe == "tuned" else {}
    out = Path(args.out)
    for name, fit in fits.items():
        if args.unseen_real_target:
            fit = unseen_real_fitter(fit, args.unseen_real_target)
            name += f", threshold for unseen real sources at {args.unseen_real_target:.0%}"
        also = scored_pictures if args.recipe == "tuned" else None
        result = measure(fit, *splits, also=also, combination="a class per AI kind", **recorded)
        print(row(name, result))
        for picture, copies in result.get("pictures", {}).get("rows", {}).items():
            print(f"    {picture:<20} " + " ".join(f"{c['p_ai']:.4f}" for c in copies.values()))
        for group, r in result["leave_one_out"]["rows"].items():
            score = f"recall {r['recall']:.3f}" if r["kind"] == "ai" else f"called AI {r['false_ai_rate']:.3f}"
            print(f"  {group:<40} AUC {r['roc_auc']:.4f}  {score}  (threshold {r['ai_from']:.3f})")
        print("  re-share: " + ", ".join(f"{v} {r['roc_auc']:.4f}" for v, r in result["reshare"].items()), flush=True)
        if args.reshare:  # each held-out source's test faces re-shared, scored by its own fold
            print(held_out_reshare_table(result["leave_one_out"]), flush=True)
        previous = json.loads(out.read_text()) if out.is_file() else {}
        out.write_text(json.dumps(previous | {name: result}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
