"""CLIP's residual stream (every token) after a block, from the wheel's INT8 graph, cached on disk: what the
class path of the next block is tuned on (realorai.class_path).

    python -m realorai.tokens --splits train,validation,test --views clean
    python -m realorai.tokens --splits train --views augment-1
    python -m realorai.tokens --splits test --views reshare --blocks 10,11

fp16 memmaps under <cache>/<split>-<fingerprint>/<view>-b<N>-single.npy, (n, 197, 768); written under a temporary
name and renamed when complete, so an interrupted run never leaves a file that looks finished.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .backbones import CACHE_TAG, CLIP_ARCHITECTURE, CLIP_ONNX, clip_block_output, cut_int8_session, int8_outputs, timm_transform
from .class_path import TOKENS, WIDTH
from .features import file_safe, view_function
from .onnx_weights import package_file
from .reshare import RESHARE


def token_path(cache: Path, split, split_name: str, view: str, blocks: int) -> Path:
    return Path(cache) / f"{split_name}-{split._fingerprint}" / f"{file_safe(view)}-b{blocks}-{CACHE_TAG}.npy"


def int8_session(blocks: tuple[int, ...]):
    """The INT8 graph cut after the last of `blocks`, returning the residual stream after each of them."""
    import onnx

    model = onnx.load(str(package_file(*CLIP_ONNX)))
    outputs = [clip_block_output(b - 1) for b in blocks]
    return cut_int8_session(model, outputs), outputs


def split_tokens(
    split, split_name: str, view: str, cache: Path, blocks: tuple[int, ...] = (10,), batch_size: int = 32
) -> list[np.ndarray]:
    """Tokens after each of `blocks` for every image of `split` under `view` (memmaps), computed if not cached."""
    paths = [token_path(cache, split, split_name, view, b) for b in blocks]
    if not all(p.is_file() for p in paths):
        session, outputs = int8_session(blocks)
        transform = timm_transform(CLIP_ARCHITECTURE)
        see = view_function(view, split_name, split)
        for p in paths:
            p.parent.mkdir(parents=True, exist_ok=True)
        shape = (len(split), TOKENS, WIDTH)
        partial = [np.lib.format.open_memmap(p.with_suffix(".part.npy"), "w+", np.float16, shape) for p in paths]
        for start in tqdm(range(0, len(split), batch_size), desc=f"tokens {split_name} {view}", leave=False):
            rows = split[start : start + batch_size]["image"]
            batch = torch.stack([transform(see(image.convert("RGB"), start + i)) for i, image in enumerate(rows)])
            for out, tokens in zip(partial, int8_outputs(session, outputs, batch.numpy())):
                out[start : start + len(rows)] = tokens.astype(np.float16)
        for out, p in zip(partial, paths):
            out.flush()
            p.with_suffix(".part.npy").replace(p)
    return [np.load(p, mmap_mode="r") for p in paths]


def image_tokens(images: list, blocks: tuple[int, ...] = (10,), batch_size: int = 32) -> list[np.ndarray]:
    """Tokens after each of `blocks` for face crops outside the dataset (a folder's pictures), computed as
    `split_tokens` computes a split's: the same graph, transform and precision."""
    session, outputs = int8_session(blocks)
    transform = timm_transform(CLIP_ARCHITECTURE)
    parts = []
    for start in range(0, len(images), batch_size):
        batch = torch.stack([transform(image.convert("RGB")) for image in images[start : start + batch_size]])
        parts.append(int8_outputs(session, outputs, batch.numpy()))
    return [np.concatenate([p[k] for p in parts]).astype(np.float16) for k in range(len(blocks))]


def main(argv=None) -> int:
    from datasets import load_from_disk

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="data/portraits-faces")
    parser.add_argument("--cache", default="data/tokens")
    parser.add_argument("--splits", default="train")
    parser.add_argument("--views", default="clean", help="comma-separated: clean, augment-N, or 'reshare' for all chains")
    parser.add_argument("--blocks", default="10", help="comma-separated: the residual stream after this many blocks")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args(argv)
    dataset = load_from_disk(args.data)
    blocks = tuple(int(b) for b in args.blocks.split(","))
    views = [v for spec in args.views.split(",") for v in (RESHARE if spec == "reshare" else [spec])]
    for split_name in args.splits.split(","):
        for view in views:
            split_tokens(dataset[split_name], split_name, view, Path(args.cache), blocks, args.batch_size)
            print(split_name, view, "done", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
