"""Backbone features of a dataset split, under a view (clean, a re-share chain, a random augmentation),
cached on disk so that every probe, fold and candidate reuses one forward pass per image and view.

    python -m realorai.features --backbone clip-b16-int8 --data data/portraits-faces
"""

from __future__ import annotations

import argparse
import random
import re
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .backbones import BACKBONES, CACHE_TAG, Backbone, block_features, build_backbone, derivable, recorded_pools
from .backdrops import random_backdrop
from .config import AI_INDEX
from .edits import EDITS, random_edit
from .generalisation import UPSCALED_PREFIX, is_reconstruction
from .reshare import RESHARE, random_reshare

AUGMENT_PREFIX = "augment-"  # view "augment-1": every image through its own seeded random re-share chain
EDIT_PREFIX = "edit-"  # view "edit-1": every image through its own seeded random edit (realorai.edits)
BACKDROP_PREFIX = "backdrop-"  # view "backdrop-1": a plain backdrop swapped for a seeded random one (realorai.backdrops)


def view_function(view: str, split_name: str, split=None):
    """image, index -> image as this view sees it. Given the split, a view of remade photos leaves its AI faces
    as they are, since training drops remade copies of AI faces (`training_rows`)."""
    if view == "clean":
        return lambda image, index: image
    if view in RESHARE:
        chain = RESHARE[view]
        return lambda image, index: chain(image)
    if view.startswith(AUGMENT_PREFIX):
        # Seeded per image and view: a rerun computes the same augmented copy (and hits the cache).
        return lambda image, index: random_reshare(image, random.Random(f"{view}/{split_name}/{index}"))
    if view.startswith(EDIT_PREFIX):
        return lambda image, index: random_edit(image, random.Random(f"{view}/{split_name}/{index}"))
    if view.startswith(BACKDROP_PREFIX):
        return lambda image, index: random_backdrop(image, random.Random(f"{view}/{split_name}/{index}"))
    if is_reconstruction(view):
        remake = _remaker(view)
        ai = None if split is None else np.asarray(split["label"]) == AI_INDEX
        return lambda image, index: image if ai is not None and ai[index] else remake(image)
    if view in EDITS:
        edit = EDITS[view]
        return lambda image, index: edit(image)
    raise ValueError(f"unknown view {view!r}")


def _remaker(view: str):
    """image -> the same picture remade by the view's decoder: the GAN upscaler or the autoencoder trained here."""
    if view.startswith(UPSCALED_PREFIX):
        from .upscaler import upscaled

        return upscaled
    from .autoencoder import autoencoder_file, reconstruct, trained_autoencoder

    model = trained_autoencoder(autoencoder_file(view))
    return lambda image: reconstruct(model, image)


def file_safe(view: str) -> str:
    """A view's name as a file name: "0.5x bicubic + JPEG q60" -> "0.5x_bicubic___JPEG_q60"."""
    return "".join(c if c.isalnum() or c in "-." else "_" for c in view)


def cache_path(cache_dir: Path, backbone: str, split, split_name: str, view: str) -> Path:
    return Path(cache_dir) / backbone / f"{split_name}-{split._fingerprint}" / f"{file_safe(view)}-{CACHE_TAG}.npy"


def cached_features(cache_dir: Path, backbone: str, split, split_name: str, view: str) -> np.ndarray | None:
    """Features already computed for this backbone, split and view, or None."""
    path = cache_path(cache_dir, backbone, split, split_name, view)
    return np.load(path) if path.is_file() else None


def split_features(
    backbone: Backbone, split, split_name: str, view: str = "clean", cache_dir: Path | None = None, batch_size: int = 32
) -> np.ndarray:
    """Features (len(split), d) of every image of `split` under `view`; read from / written to the cache."""
    path = cache_path(cache_dir, backbone.name, split, split_name, view) if cache_dir else None
    if path is not None and path.is_file():
        return np.load(path)
    if cache_dir and (reused := cut_from_all_blocks(cache_dir, backbone.name, split, split_name, view)) is not None:
        return reused
    see = view_function(view, split_name, split)
    chunks = []
    for start in tqdm(range(0, len(split), batch_size), desc=f"{backbone.name} {split_name} {view}", leave=False):
        rows = split[start : start + batch_size]["image"]
        chunks.append(backbone.features([see(image.convert("RGB"), start + i) for i, image in enumerate(rows)]))
    features = np.concatenate(chunks)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path.with_suffix(".tmp.npy"), features)
        path.with_suffix(".tmp.npy").replace(path)  # never leave a half-written cache file behind
    return features


def cut_from_all_blocks(cache_dir: Path, name: str, split, split_name: str, view: str) -> np.ndarray | None:
    """A cut CLIP's features (name as `clip_runtime_name` writes it, clip-b16-int8-dN[-POOL][-crop]) from any
    all-blocks pass that was cached and recorded its pool: the same INT8 tensors, computed once."""
    cut = re.fullmatch(r"clip-b16-int8-d(\d+)(?:-(avg|max|avgmax))?(-crop)?", name)
    if not cut:
        return None
    depth, pool, crop = int(cut.group(1)), cut.group(2) or "token", cut.group(3) or ""
    for pools_recorded in ("-token-avg-max", "-token-avg", ""):
        source = f"clip-b16-int8-blocks{pools_recorded}{crop}"
        pools = recorded_pools(source)
        if not derivable(pool, pools):
            continue
        blocks = cached_features(cache_dir, source, split, split_name, view)
        if blocks is not None:
            return block_features(blocks, depth, pool, pools)
    return None


def main(argv: list[str] | None = None) -> int:
    from datasets import load_from_disk

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", choices=list(BACKBONES), required=True)
    parser.add_argument("--data", default="data/portraits-faces")
    parser.add_argument("--cache", default="data/features")
    parser.add_argument("--splits", default="train,validation,test")
    parser.add_argument("--views", default="clean", help="comma-separated: clean, augment-N, or 'reshare' for all chains")
    parser.add_argument("--depth", type=int, default=0, help="CLIP runtimes: blocks kept (default: all)")
    args = parser.parse_args(argv)
    dataset = load_from_disk(args.data)
    backbone = build_backbone(args.backbone, **({"depth": args.depth} if args.depth else {}))
    views = [v for spec in args.views.split(",") for v in (RESHARE if spec == "reshare" else [spec])]
    for split_name in args.splits.split(","):
        for view in views:
            features = split_features(backbone, dataset[split_name], split_name, view, Path(args.cache))
            print(f"{backbone.name} {split_name} {view}: {features.shape}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
