"""One held-out AI family's fold, trained on each of two builds of the dataset, scored against the real
test photos both builds share.

A leave-one-out row ranks the held-out family against its build's own test real photos, so two builds with
different splits (the 64-bit and the 256-bit pHash builds, README "Why 256 bits") differ in what they are
measured on as well as in what they learn from. Here each build's fold (the recipe shipped when this was
measured, 2026-12-07: the class path tuned on real and diffusion faces, a head per kind, GAN lowered 2
logits) is also scored on the real photos that sit in the test split of both, so that only the training
data differs.

    python -m benchmarks.build_compare --builds data/portraits-faces,data/portraits-faces-256   # 2 seeds, ~7 min on 2 cores

Needs each build's tokens cached (`python -m realorai.tokens --data BUILD ...`, README "Results").
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from datasets import load_from_disk
from sklearn.metrics import roc_auc_score

from benchmarks.candidates import AUG
from realorai.config import AI_INDEX
from realorai.sources import generator_short_name


def family_generators(generators: np.ndarray, family: str) -> np.ndarray:
    """Which rows belong to `family`, named as the manifest names it or by its short name ("text-to-image")."""
    return (generators == family) | (np.array([generator_short_name(g) for g in generators]) == family)


def fold_scores(dataset, family: str, seeds: list[int], cache: Path):
    """Per seed: P(AI) of the held-out family's faces (every split), and of each test real photo by file name.
    The build's tokens are loaded once for all its seeds."""
    import torch

    from realorai.backbones import clip_class_path
    from realorai.class_path import Tuning
    from realorai.generalisation import AI_COPY_WEIGHT, DEFAULT_C
    from realorai.tuned_recipe import token_splits, tuned_fitter

    torch.set_num_threads(2)
    wanted = {"train": AUG, "validation": ("clean",), "test": ("clean",)}
    store, by_split = token_splits(dataset, wanted, cache, clip_class_path(11), 11)
    train, validation, test = by_split["train"], by_split["validation"], by_split["test"]
    in_family = [family_generators(s.generators, family) for s in (train, validation, test)]
    if not any(rows.any() for rows in in_family):
        raise SystemExit(f"no faces of the family {family!r} in this build")
    held_out = np.concatenate([s.views["clean"][rows] for s, rows in zip((train, validation, test), in_family)])
    real = test.labels != AI_INDEX
    files = np.asarray(dataset["test"]["file"])[real].tolist()
    delta_2_kinds = {"tune_kinds": ("diffusion",), "kind_offsets": {"gan": 2}}  # as recorded in build_compare.json
    for seed in seeds:
        fit = tuned_fitter(store, Tuning(seed=seed), DEFAULT_C, AUG, 1.0, AI_COPY_WEIGHT, {}, **delta_2_kinds)
        fold = fit(train, validation, ~in_family[0], ~in_family[1])
        yield seed, fold.p_ai(held_out), dict(zip(files, fold.p_ai(test.views["clean"][real]).tolist()))


def aucs(p_held_out: np.ndarray, p_real: dict[str, float], files: list[str], source_of: dict[str, str]) -> dict[str, float]:
    """ROC-AUC of the held-out faces against these real photos, all and per source."""
    by_source: dict[str, list[str]] = {"all": files}
    for file in files:
        by_source.setdefault(source_of[file], []).append(file)
    result = {}
    for source, chosen in sorted(by_source.items()):
        scores = np.r_[p_held_out, [p_real[f] for f in chosen]]
        labels = np.r_[np.ones(len(p_held_out)), np.zeros(len(chosen))]
        result[source] = round(float(roc_auc_score(labels, scores)), 4)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--builds", default="data/portraits-faces,data/portraits-faces-256")
    parser.add_argument("--family", default="text-to-image", help="the AI generator family held out (short name or full)")
    parser.add_argument("--seeds", default="0,1", help="comma-separated tuning seeds, one fold each")
    parser.add_argument("--cache", default="data/tokens")
    parser.add_argument("--out", default="benchmarks/build_compare.json")
    args = parser.parse_args(argv)
    builds = {name: load_from_disk(name) for name in args.builds.split(",")}
    shared = sorted(set.intersection(*(set(d["test"]["file"]) for d in builds.values())))
    results: dict[str, dict] = {}
    for name, dataset in builds.items():
        source_of = dict(zip(dataset["test"]["file"], dataset["test"]["source"]))
        seeds = [int(s) for s in args.seeds.split(",")]
        for seed, p_held_out, p_real in fold_scores(dataset, args.family, seeds, Path(args.cache)):
            shared_reals = [f for f in shared if f in p_real]
            own = aucs(p_held_out, p_real, sorted(p_real), source_of)
            both = aucs(p_held_out, p_real, shared_reals, source_of)
            row = {"own_test_reals": own, "shared_test_reals": both, "n_own": len(p_real), "n_shared": len(shared_reals)}
            results.setdefault(name, {})[f"seed {seed}"] = row
            print(f"{name}, seed {seed}: {args.family} held out: own test reals {own}; shared test reals {both}", flush=True)
    Path(args.out).write_text(json.dumps({"family": args.family, "builds": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
