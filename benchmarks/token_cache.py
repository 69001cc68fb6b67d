"""Cache every token of CLIP's residual stream after blocks 10 and 11 (INT8 graph), for training the class
token's path through a block on top of frozen tokens (benchmarks/tuned_block.py).

    python -m benchmarks.token_cache --splits train --views clean,augment-1

fp16 memmaps under data/tokens/<split>-<fingerprint>/<view>-b<N>.npy, (n, 197, 768); written in place,
renamed when complete, so a rerun resumes at the first missing file.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from datasets import load_from_disk
from tqdm import tqdm

from realorai.backbones import CLIP_ARCHITECTURE, CLIP_ONNX, clip_block_output, onnx_session, timm_transform
from realorai.features import file_safe, view_function
from realorai.onnx_weights import package_file
from realorai.reshare import RESHARE

BLOCKS = (10, 11)  # residual stream after this many blocks


def token_path(cache: Path, split, split_name: str, view: str, blocks: int) -> Path:
    return Path(cache) / f"{split_name}-{split._fingerprint}" / f"{file_safe(view)}-b{blocks}.npy"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="data/portraits-faces")
    parser.add_argument("--cache", default="data/tokens")
    parser.add_argument("--splits", default="train")
    parser.add_argument("--views", default="clean")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args(argv)
    dataset = load_from_disk(args.data)
    names = [clip_block_output(b - 1) for b in BLOCKS]
    session = onnx_session(package_file(*CLIP_ONNX), names)
    transform = timm_transform(CLIP_ARCHITECTURE)
    views = [v for spec in args.views.split(",") for v in (RESHARE if spec == "reshare" else [spec])]
    for split_name in args.splits.split(","):
        split = dataset[split_name]
        for view in views:
            paths = [token_path(args.cache, split, split_name, view, b) for b in BLOCKS]
            if all(p.is_file() for p in paths):
                continue
            for p in paths:
                p.parent.mkdir(parents=True, exist_ok=True)
            partial = [
                np.lib.format.open_memmap(p.with_suffix(".part.npy"), "w+", np.float16, (len(split), 197, 768)) for p in paths
            ]
            see = view_function(view, split_name)
            for start in tqdm(range(0, len(split), args.batch_size), desc=f"{split_name} {view}"):
                rows = split[start : start + args.batch_size]["image"]
                batch = torch.stack([transform(see(im.convert("RGB"), start + i)) for i, im in enumerate(rows)])
                for out, tokens in zip(partial, session.run(names, {"pixel_values": batch.numpy()})):
                    out[start : start + len(rows)] = tokens.astype(np.float16)
            for out, p in zip(partial, paths):
                out.flush()
                p.with_suffix(".part.npy").replace(p)
            print(split_name, view, "done", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
