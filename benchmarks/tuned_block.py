"""Partial fine-tuning of CLIP on CPU: train the class token's path through block 11, on frozen tokens.

The shipped model reads only the class token after block 11. That token depends on block 11's weights
through its own path alone: its query, the attention output projection, the MLP and the norms; the keys
and values come from every token. With the keys and values frozen, they are computed once per image
(benchmarks/token_cache.py caches the tokens entering block 11), and training the rest of the block costs
about as much as a small MLP: a whole leave-one-out run fits on 2 cores. The result is still a plain timm
ViT cut after block 11: only block 11's weights change (its patch-token outputs are never read).

The protocol is the benchmark's: per fold the block is tuned without the held-out source, then the head,
temperature and thresholds are fitted by the shipped recipe (`fit_recipe`) on the tuned features.

    python -m benchmarks.token_cache --splits train,validation,test --views clean   # ~30 min for all three
    python -m benchmarks.token_cache --splits train --views augment-1
    python -m benchmarks.token_cache --splits test --views reshare
    python -m benchmarks.tuned_block --reshare --train attention            # one row, ~10 min on 2 cores
    python -m benchmarks.tuned_block --reshare --mix 0.25,0.5,1             # weight interpolation, one tuning per fold

Rows go to benchmarks/candidates.json next to the frozen-head candidates.
"""

from __future__ import annotations

import copy
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from datasets import load_from_disk
from torch import nn

from benchmarks.candidates import benchmark_arguments, measure, row
from benchmarks.token_cache import token_path
from realorai.backbones import clip_timm_model
from realorai.config import AI_INDEX
from realorai.generalisation import AI_COPY_WEIGHT, DEFAULT_C, SplitData, fit_recipe, training_rows
from realorai.reshare import RESHARE

BLOCK = 10  # 0-based: the 11th block, the last one the shipped model keeps
WIDTH, HEADS, TOKENS = 768, 12, 197


class ClassPath(nn.Module):
    """Block 11 as seen from the class token, then CLIP's final norm: (class token in, keys, values) -> features."""

    def __init__(self, block: nn.Module, norm: nn.Module):
        super().__init__()
        self.norm1, self.norm2, self.mlp, self.norm = (copy.deepcopy(m) for m in (block.norm1, block.norm2, block.mlp, norm))
        self.q = nn.Linear(WIDTH, WIDTH)
        self.q.weight.data.copy_(block.attn.qkv.weight.data[:WIDTH])
        self.q.bias.data.copy_(block.attn.qkv.bias.data[:WIDTH])
        self.proj = copy.deepcopy(block.attn.proj)
        self.norm1.requires_grad_(False)  # it also normalises the tokens the frozen keys and values are made from

    def forward(self, cls: torch.Tensor, kv: torch.Tensor) -> torch.Tensor:
        n = cls.shape[0]
        q = self.q(self.norm1(cls)).view(n, HEADS, 1, WIDTH // HEADS)
        k, v = kv.float().view(n, TOKENS, 2, HEADS, WIDTH // HEADS).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(q, k, v).reshape(n, WIDTH)
        x = cls + self.proj(attended)
        return self.norm(x + self.mlp(self.norm2(x)))


def block_state(path: ClassPath, prefix: str = f"blocks.{BLOCK}.") -> dict[str, torch.Tensor]:
    """The tuned path as timm tensors of a ViT cut after block 11: loading them into that model gives it
    exactly the path's class token (the keys' and values' rows of qkv stay CLIP's)."""
    block, norm = frozen_block()
    qkv_weight, qkv_bias = block.attn.qkv.weight.detach().clone(), block.attn.qkv.bias.detach().clone()
    qkv_weight[:WIDTH], qkv_bias[:WIDTH] = path.q.weight.detach(), path.q.bias.detach()
    state = {"attn.qkv.weight": qkv_weight, "attn.qkv.bias": qkv_bias}
    for name, module in (("attn.proj", path.proj), ("norm1", path.norm1), ("norm2", path.norm2), ("mlp", path.mlp)):
        state |= {f"{name}.{k}": v.detach().clone() for k, v in module.state_dict().items()}
    return {prefix + k: v for k, v in state.items()} | {
        f"norm.{k}": v.detach().clone() for k, v in path.norm.state_dict().items()
    }


def frozen_block():
    model = clip_timm_model()
    return model.blocks[BLOCK], model.norm


@torch.inference_mode()
def keys_values(tokens: np.ndarray, block: nn.Module, chunk: int = 64) -> np.ndarray:
    """(n, 197, 2*768) fp16: the frozen keys and values of block 11 for every token."""
    weight, bias = block.attn.qkv.weight[WIDTH:], block.attn.qkv.bias[WIDTH:]
    out = np.empty((len(tokens), TOKENS, 2 * WIDTH), np.float16)
    for start in range(0, len(tokens), chunk):
        x = torch.from_numpy(np.asarray(tokens[start : start + chunk], dtype=np.float32))
        out[start : start + chunk] = F.linear(block.norm1(x), weight, bias).half().numpy()
    return out


class Store:
    """Class tokens and frozen keys/values of every (split, view) in one preallocated array, by global row id."""

    def __init__(self, size: int):
        self.cls_all = np.empty((size, WIDTH), np.float32)
        self.kv_all = np.empty((size, TOKENS, 2 * WIDTH), np.float16)
        self.size = 0

    def add(self, key: tuple[str, str], tokens: np.ndarray, block) -> np.ndarray:
        started, n = time.time(), len(tokens)
        self.cls_all[self.size : self.size + n] = tokens[:, 0]
        self.kv_all[self.size : self.size + n] = keys_values(tokens, block)
        ids = np.arange(self.size, self.size + n)
        self.size += n
        print(f"  {key}: {n} rows, keys/values in {time.time() - started:.0f}s", flush=True)
        return ids

    def batch(self, ids: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(self.cls_all[ids]), torch.from_numpy(self.kv_all[ids])


@torch.inference_mode()
def features(path: ClassPath, store: Store, ids: np.ndarray, chunk: int = 512) -> np.ndarray:
    path.eval()
    ids = np.asarray(ids).reshape(-1)
    return np.concatenate(
        [path(*store.batch(ids[s : s + chunk])).numpy() for s in range(0, len(ids), chunk)] or [np.zeros((0, WIDTH), np.float32)]
    )


def tune(store: Store, ids: np.ndarray, labels: np.ndarray, weights: np.ndarray, settings: dict, seed: int = 0) -> ClassPath:
    """The class path trained with a linear head (weighted logistic loss), pulled towards CLIP's weights (L2-SP)."""
    torch.manual_seed(seed)
    block, norm = frozen_block()
    path = ClassPath(block, norm)
    if settings.get("train") == "attention":  # only how the class token attends: query and output projection
        for module in (path.norm2, path.mlp, path.norm):
            module.requires_grad_(False)
    start = {k: v.detach().clone() for k, v in path.named_parameters()}
    x0 = features(path, store, ids)  # warm start: the head a logistic fit would give on the untuned features
    mean, std = x0.mean(0), x0.std(0) + 1e-6
    head = nn.Linear(WIDTH, 1)
    with torch.no_grad():
        head.weight.zero_()
        head.bias.zero_()
    scale = (torch.from_numpy(mean), torch.from_numpy(std))
    optimiser = torch.optim.AdamW(
        [
            {"params": [p for p in path.parameters() if p.requires_grad], "lr": settings["lr"]},
            {"params": list(head.parameters()), "lr": settings["head_lr"]},
        ],
        weight_decay=0.0,
    )
    y = torch.from_numpy((labels == AI_INDEX).astype(np.float32))
    w = torch.from_numpy((weights / weights.mean()).astype(np.float32))
    batch, epochs = settings["batch"], settings["epochs"]
    steps = epochs * math.ceil(len(ids) / batch)
    warm = settings["head_epochs"] * math.ceil(len(ids) / batch)  # head alone first, so the block is not pulled by a random head
    rng = np.random.default_rng(seed)
    step = 0
    for _ in range(settings["head_epochs"] + epochs):
        order = rng.permutation(len(ids))
        path.train()
        for s in range(0, len(ids), batch):
            rows = order[s : s + batch]
            cls, kv = store.batch(ids[rows])
            tuning = step >= warm
            with torch.set_grad_enabled(tuning):
                z = path(cls, kv)
            margin = head((z - scale[0]) / scale[1]).squeeze(1)
            loss = (F.binary_cross_entropy_with_logits(margin, y[rows], reduction="none") * w[rows]).mean()
            loss = loss + settings["head_l2"] * head.weight.pow(2).sum()
            if tuning:
                loss = loss + settings["l2sp"] * sum(
                    (p - start[n]).pow(2).sum() for n, p in path.named_parameters() if p.requires_grad
                )
                progress = (step - warm) / max(1, steps)
                optimiser.param_groups[0]["lr"] = settings["lr"] * 0.5 * (1 + math.cos(math.pi * progress))
            optimiser.zero_grad()
            loss.backward()
            if tuning:  # before, the path ran without gradients: only the head moves
                torch.nn.utils.clip_grad_norm_([p for p in path.parameters() if p.requires_grad], 1.0)
            optimiser.step()
            step += 1
    return path.eval()


class Tuned:
    """A fold's tuned class path and its shipped-recipe head: p_ai of global row ids."""

    def __init__(self, path: ClassPath, store: Store, fitted):
        self.path, self.store, self.fitted = path, store, fitted
        self.decision = fitted.decision

    def p_ai(self, ids: np.ndarray) -> np.ndarray:
        return self.fitted.p_ai(features(self.path, self.store, ids))


def interpolated(tuned: ClassPath, mix: float) -> ClassPath:
    """CLIP's block moved `mix` of the way to the tuned one (weight-space ensembling, "WiSE-FT", Wortsman et
    al., CVPR 2022: it keeps much of the pretrained model's robustness to shifts the tuning data lacks)."""
    if mix == 1.0:
        return tuned
    path = ClassPath(*frozen_block())
    start = dict(path.named_parameters())
    with torch.no_grad():
        for name, value in tuned.named_parameters():
            start[name].copy_(start[name] + mix * (value - start[name]))
    return path.eval()


def fitter(
    store: Store, settings: dict, views=("clean", "augment-1"), c: float = DEFAULT_C,
    ai_copy_weight: float = AI_COPY_WEIGHT, mix: float = 1.0, memo: dict | None = None,
):  # fmt: skip
    """`memo` (fold -> tuned path) lets several `mix` values share one tuning per fold."""
    memo = {} if memo is None else memo

    def fit(train: SplitData, validation: SplitData, keep_train=None, keep_validation=None) -> Tuned:
        keep_train = np.ones(len(train.labels), bool) if keep_train is None else keep_train
        started = time.time()
        fold = keep_train.tobytes()
        if fold not in memo:  # the rows and weights the shipped head is fitted with, as ids into the store
            ids, labels, weights = training_rows(train, tuple(views), keep_train, 1.0, ai_copy_weight)
            memo[fold] = (
                tune(store, ids, labels, weights, settings, settings.get("seed", 0))
                if settings["epochs"]
                else ClassPath(*frozen_block()).eval()
            )
        path = interpolated(memo[fold], mix)
        tuned_train = SplitData(
            train.labels, train.sources, train.generators, {v: features(path, store, train.views[v]) for v in views}
        )
        tuned_val = SplitData(
            validation.labels,
            validation.sources,
            validation.generators,
            {"clean": features(path, store, validation.views["clean"])},
        )
        fitted = fit_recipe(tuned_train, tuned_val, c, tuple(views), keep_train, keep_validation, 1.0, ai_copy_weight)
        print(f"    fold fitted in {time.time() - started:.0f}s", flush=True)
        return Tuned(path, store, fitted)

    return fit


def load(dataset, cache: Path, train_views, test_views) -> tuple[Store, tuple[SplitData, SplitData, SplitData]]:
    block, _ = frozen_block()
    wanted = {"train": train_views, "validation": ("clean",), "test": test_views}
    store = Store(sum(len(dataset[name]) * len(views) for name, views in wanted.items()))

    def split_data(name: str, views) -> SplitData:
        split = dataset[name]
        ids = {}
        for view in views:
            path = token_path(cache, split, name, view, BLOCK)
            if not path.is_file():
                raise SystemExit(f"missing {path}: run python -m benchmarks.token_cache first")
            ids[view] = store.add((name, view), np.load(path, mmap_mode="r"), block)
        return SplitData.from_split(split, ids)

    return store, tuple(split_data(name, views) for name, views in wanted.items())


def candidate_name(settings: dict, views: tuple[str, ...]) -> str:
    """The README's name for a run: what was tuned, how fast, on which views."""
    tuned = (
        f"tuned ({settings['train']}, lr {settings['lr']:.0e})".replace("e-0", "e-")
        if settings["epochs"]
        else "untuned (float block on INT8 tokens)"
    )
    seed = f", seed {settings['seed']}" if settings.get("seed") else ""
    return f"clip-b16 block 11 class path {tuned}" + ("" if "augment-1" in views else ", no augmentation") + seed


def main(argv=None) -> int:
    parser = benchmark_arguments(__doc__)
    parser.set_defaults(cache="data/tokens")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--head-lr", type=float, default=1e-3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--head-epochs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--l2sp", type=float, default=0.0)
    parser.add_argument("--head-l2", type=float, default=1e-3)
    parser.add_argument("--train", choices=("all", "attention"), default="all", help="what of the class path is tuned")
    parser.add_argument("--views", default="clean,augment-1")
    parser.add_argument("--reshare", action="store_true", help="also score the re-share chains (their tokens cached)")
    parser.add_argument("--mix", default="1", help="comma-separated: how far to move from CLIP's block to the tuned one")
    parser.add_argument("--seed", type=int, default=0, help="batch order and head start of every fold's tuning")
    parser.add_argument("--name", default="")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    names = ("lr", "head_lr", "epochs", "head_epochs", "batch", "l2sp", "head_l2", "train", "seed")
    settings = {k: getattr(args, k) for k in names}
    views = tuple(args.views.split(","))
    dataset = load_from_disk(args.data)
    store, splits = load(dataset, Path(args.cache), views, ("clean", *(RESHARE if args.reshare else ())))
    base = args.name or candidate_name(settings, views)
    memo, results = {}, {}
    for mix in [float(m) for m in args.mix.split(",")]:
        name = base + ("" if mix == 1.0 else f", weights {mix:g} of the way")
        result = measure(
            fitter(store, settings, views, mix=mix, memo=memo), *splits, settings=settings | {"mix": mix},
            train_views=list(views), combination="class path of block 11 tuned",  # kept by candidates.py's merge
        )  # fmt: skip
        results[name] = result
        caught = min(r["ai_recall"] for v, r in result["reshare"].items() if v != "clean") if args.reshare else float("nan")
        print(row(name, result)[:-1] + f"| worst re-shared AI caught {caught:.3f} |")
        for group, r in result["leave_one_out"]["rows"].items():
            score = (
                f"recall {r['recall']:.3f}" if r["kind"] == "ai" else f"called AI {r['false_ai_rate']:.3f} {r.get('p_ai_at', '')}"
            )
            print(f"  {group:<40} AUC {r['roc_auc']:.3f}  {score}  (threshold {r['ai_from']:.3f})")
        print("  re-share: " + ", ".join(f"{v} {r['roc_auc']:.3f}" for v, r in result["reshare"].items()), flush=True)
    out = Path(args.out)
    previous = json.loads(out.read_text()) if out.is_file() else {}
    out.write_text(json.dumps(previous | results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
