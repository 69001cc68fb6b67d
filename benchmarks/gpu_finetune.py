"""Leave-one-source-out for fine-tuning deeper into CLIP than the CPU recipe can: a GPU experiment.

The shipped recipe tunes only block 11's class path (what two CPU cores can afford). This asks whether
tuning more of the network ranks generators it never saw better, by the same leave-one-out the recipe
was chosen by. Every variant, the CPU recipe's own tuning ("attn-last") included, runs here on the same
inputs, so the comparison is inside this table:

- attn-last: block 11's attention (qkv, proj) and the head; the CPU recipe's trainable set
- lora-attn: low-rank (r=16) updates of every block's attention, and the head
- last-3: blocks 9-11 whole, and the head
- full: every weight (lr 1e-5), and the head

Inputs are the originals and crop boxes that `benchmarks.gpu_pack` packs (a GPU machine here has no face
detector and takes ~50 MB per call); faces are cut with `realorai.faces.cut`, the training copies are the
CPU recipe's `augment-1` view (seeded per face, `realorai.features.view_function`), weighted like the
recipe (classes equal, sources/families equal inside each, an AI face's copy half).

    python -m benchmarks.gpu_finetune --index orig/index.json --originals orig \
        --onnx orig/clip_encoder.int8.onnx --out results/ --budget-s 480

Results (one H200, 2026-11-30: the two worst folds, four sets, seed 0): benchmarks/gpu_finetune.jsonl and
README "Deeper fine-tuning on a GPU".
"""

from __future__ import annotations

import argparse
import json
import math
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score as roc_auc
from torch import nn
from torch.nn import functional as F

from realorai.backbones import CLIP_ARCHITECTURE, clip_model_args, timm_transform
from realorai.faces import cut
from realorai.features import view_function
from realorai.images import load_image
from realorai.onnx_weights import clip_vit_state_dict
from realorai.probe import balanced_weights, group_names, real_first_decision
from realorai.reshare import RESHARE

DEPTH = 11  # the shipped cut
VIEWS = {"train": ("clean", "augment-1"), "validation": ("clean",), "test": ("clean", *RESHARE)}
AI_COPY_WEIGHT = 0.5


# ---- data -------------------------------------------------------------------------------------------


def _faces(job, transform):
    """One original -> its face under each view of its split, as the model's input tensor (fp16)."""
    path, box, split, index = job
    face = cut(load_image(path), tuple(box))
    return [transform(view_function(view, split)(face, index)).half().numpy() for view in VIEWS[split]]


def load_faces(rows: list[dict], originals: Path, workers: int) -> dict[tuple[str, str], torch.Tensor]:
    """(split, view) -> N x 3 x 224 x 224 fp16 tensor, rows in index order inside each split.

    Threads, not processes: decoding, resizing and re-encoding run in PIL, which releases the GIL, and
    nothing is pickled (a process pool stalled on a 16-core GPU machine, for reasons not found).
    """
    transform = timm_transform(CLIP_ARCHITECTURE, crop_pct=1.0)
    jobs = [(str(originals / r["file"]), r["box"], r["split"], r["index"]) for r in rows]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    out, started = [], time.time()
    with ThreadPoolExecutor(workers) as pool:
        for i, faces in enumerate(pool.map(lambda job: _faces(job, transform), jobs)):
            out.append(faces)
            if i % 2000 == 0:
                print(f"  {i}/{len(jobs)} faces, {time.time() - started:.0f} s", flush=True)
    torch.set_num_threads(threads)
    tensors = {}
    for split, views in VIEWS.items():
        picked = [o for o, r in zip(out, rows) if r["split"] == split]
        for v, view in enumerate(views):
            tensors[split, view] = torch.from_numpy(np.stack([p[v] for p in picked]))
    return tensors


def group(row: dict) -> str:
    """Weighting and leave-one-out unit: a real source, or a generator family."""
    return row["source"] if row["label"] == 0 else row["generator"]


def sample_weights(rows: list[dict]) -> np.ndarray:
    """The recipe's weights: classes equal, and inside each class every group equal (mean 1)."""
    labels = [r["label"] for r in rows]
    return balanced_weights(labels, group_names(labels, [r["source"] for r in rows], [r["generator"] for r in rows]))


# ---- model ------------------------------------------------------------------------------------------


class LoRA(nn.Module):
    def __init__(self, base: nn.Linear, rank: int = 16, alpha: float = 16.0):
        super().__init__()
        self.base, self.scale = base, alpha / rank
        self.down = nn.Parameter(torch.randn(rank, base.in_features, device=base.weight.device) / math.sqrt(base.in_features))
        self.up = nn.Parameter(torch.zeros(base.out_features, rank, device=base.weight.device))

    def forward(self, x):
        return self.base(x) + F.linear(F.linear(x, self.down), self.up) * self.scale

    def merged(self) -> torch.Tensor:
        return self.base.weight + (self.up @ self.down) * self.scale


def build(state: dict, variant: str, device) -> tuple[nn.Module, list[nn.Parameter]]:
    import timm

    model = timm.create_model(CLIP_ARCHITECTURE, pretrained=False, num_classes=2, **clip_model_args(DEPTH))
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert set(missing) == {"head.weight", "head.bias"} and not unexpected, (missing, unexpected)
    nn.init.zeros_(model.head.weight), nn.init.zeros_(model.head.bias)
    model.to(device)
    for p in model.parameters():
        p.requires_grad_(False)
    tuned: list[nn.Parameter] = []
    if variant == "attn-last":
        tuned = [*model.blocks[-1].attn.qkv.parameters(), *model.blocks[-1].attn.proj.parameters()]
    elif variant == "lora-attn":
        for block in model.blocks:
            block.attn.qkv, block.attn.proj = LoRA(block.attn.qkv), LoRA(block.attn.proj)
            tuned += [block.attn.qkv.down, block.attn.qkv.up, block.attn.proj.down, block.attn.proj.up]
    elif variant == "last-3":
        tuned = [p for b in model.blocks[-3:] for p in b.parameters()] + list(model.norm.parameters())
    elif variant == "full":
        tuned = [p for n, p in model.named_parameters() if not n.startswith("head.")]
    else:
        raise ValueError(variant)
    for p in tuned:
        p.requires_grad_(True)
    model.head.requires_grad_(True)
    return model, tuned


LR = {"attn-last": 1e-4, "lora-attn": 3e-4, "last-3": 2e-5, "full": 1e-5}


def train(model, tuned, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, variant: str, head_epochs=1, epochs=3, batch=256):
    """Head alone first (a linear probe on frozen features), then head and tuned weights, cosine decay."""
    steps = epochs * math.ceil(len(x) / batch)
    head_opt = torch.optim.AdamW(model.head.parameters(), lr=1e-3, weight_decay=1e-4)
    for _ in range(head_epochs):
        _epoch(model, x, y, w, [head_opt], None, batch)
    opt = torch.optim.AdamW(
        [{"params": tuned, "lr": LR[variant]}, {"params": model.head.parameters(), "lr": 1e-3}], weight_decay=0.05
    )
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    for _ in range(epochs):
        _epoch(model, x, y, w, [opt], sched, batch)


def _epoch(model, x, y, w, optimisers, sched, batch):
    model.train()
    order = torch.randperm(len(x), device=x.device)
    for start in range(0, len(x), batch):
        idx = order[start : start + batch]
        xb = x[idx].float()
        flip = torch.rand(len(idx), device=x.device) < 0.5
        xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
        with _bf16(x):
            logits = model(xb).float()
        loss = (F.cross_entropy(logits, y[idx], reduction="none") * w[idx]).mean()
        for o in optimisers:
            o.zero_grad(set_to_none=True)
        loss.backward()
        for o in optimisers:
            o.step()
        if sched is not None:
            sched.step()


def _bf16(x: torch.Tensor):
    """bfloat16 autocast on the GPU; plain float on the CPU (the smoke test)."""
    return torch.autocast("cuda" if x.is_cuda else "cpu", dtype=torch.bfloat16, enabled=x.is_cuda)


@torch.no_grad()
def p_ai(model, x: torch.Tensor, batch=512) -> np.ndarray:
    model.eval()
    out = []
    for start in range(0, len(x), batch):
        with _bf16(x):
            out.append(model(x[start : start + batch].float()).float().softmax(-1)[:, 1])
    return torch.cat(out).cpu().numpy()


def real_first_threshold(p: np.ndarray, sources: list[str], labels: np.ndarray) -> float:
    """The recipe's "AI from" threshold: every real source of validation at most 1% called AI (never below 0.5)."""
    return real_first_decision(p, labels, sources).ai_from  # the 1% rule, before the recipe's cross-fit


# ---- leave one out ----------------------------------------------------------------------------------


def run_fold(state, faces, rows_by_split, left_out: str | None, variant: str, device, seed=0, epochs=3) -> tuple[dict, nn.Module]:
    torch.manual_seed(seed)
    keep = lambda r: left_out is None or group(r) != left_out  # noqa: E731
    train_rows = rows_by_split["train"]
    mask = np.array([keep(r) for r in train_rows])
    kept = [r for r, k in zip(train_rows, mask) if k]
    mask = torch.from_numpy(mask).to(device)
    base_w = sample_weights(kept)
    labels = np.array([r["label"] for r in kept])
    xs, ys, ws = [], [], []
    for view in VIEWS["train"]:
        xs.append(faces["train", view][mask])
        ys.append(labels)
        ws.append(base_w * (np.where(labels == 1, AI_COPY_WEIGHT, 1.0) if view != "clean" else 1.0))
    x = torch.cat(xs)
    y = torch.from_numpy(np.concatenate(ys)).long().to(device)
    w = torch.from_numpy(np.concatenate(ws)).float().to(device)
    w = w / w.mean()
    model, tuned = build(state, variant, device)
    t0 = time.time()
    train(model, tuned, x, y, w, variant, epochs=epochs)
    del x
    train_s = time.time() - t0

    val = [r for r in rows_by_split["validation"] if keep(r)]
    val_mask = torch.from_numpy(np.array([keep(r) for r in rows_by_split["validation"]])).to(device)
    p_val = p_ai(model, faces["validation", "clean"][val_mask])
    threshold = real_first_threshold(p_val, [r["source"] for r in val], np.array([r["label"] for r in val]))

    test = rows_by_split["test"]
    test_labels = np.array([r["label"] for r in test])
    test_keep = np.array([keep(r) for r in test])
    p_test = {view: p_ai(model, faces["test", view]) for view in VIEWS["test"]}
    clean_auc = roc_auc(test_labels[test_keep], p_test["clean"][test_keep])
    result = dict(
        variant=variant,
        left_out=left_out or "-",
        train_s=round(train_s, 1),
        threshold=threshold,
        test_auc=clean_auc,
        test_reals_called_ai=float((p_test["clean"][test_keep & (test_labels == 0)] > threshold).mean()),
        worst_reshare_drop=max(clean_auc - roc_auc(test_labels[test_keep], p_test[v][test_keep]) for v in RESHARE),
    )
    if left_out is not None:
        held = {split: [i for i, r in enumerate(rows) if group(r) == left_out] for split, rows in rows_by_split.items()}
        parts = [p_ai(model, faces[split, "clean"][torch.tensor(ids, device=device)]) for split, ids in held.items() if ids]
        if not parts:  # a --limit sample without the fold's faces
            return result, model
        p_held = np.concatenate(parts)
        held_label = next(r["label"] for rows in rows_by_split.values() for r in rows if group(r) == left_out)
        if held_label == 1:
            reals = p_test["clean"][test_labels == 0]
            result.update(
                held_auc=roc_auc(np.r_[np.zeros(len(reals)), np.ones(len(p_held))], np.r_[reals, p_held]),
                held_caught=float((p_held > threshold).mean()),
                n=len(p_held),
            )
        else:
            result.update(held_reals_called_ai=float((p_held > threshold).mean()), n=len(p_held))
    return result, model


def save_tuned(model: nn.Module, variant: str, path: Path) -> None:
    """The tensors a variant trained (LoRA factors, or block 11's attention), and the head."""
    from safetensors.torch import save_file

    trained = (".down", ".up") if variant == "lora-attn" else (f"blocks.{DEPTH - 1}.attn.",)
    state = {
        k: v.detach().float().cpu().contiguous()
        for k, v in model.state_dict().items()
        if k.startswith("head.") or any(t in k for t in trained)
    }
    save_file(state, str(path))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--originals", type=Path, required=True)
    parser.add_argument("--onnx", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--variants", default="attn-last,lora-attn,last-3,full")
    parser.add_argument(
        "--folds",
        default="ai;save;real",
        help="ai, real, save (the --save runs) or named groups, in order, ';'-separated (names hold commas)",
    )
    parser.add_argument("--save", default="", help="variants to train on everything and save (tuned tensors only)")
    parser.add_argument("--budget-s", type=float, default=1e9, help="stop starting new runs after this long")
    parser.add_argument(
        "--limit", type=int, default=0, help="use only about this many faces per split, evenly spread (a smoke test)"
    )
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=3, help="tuning epochs after the head's one")
    args = parser.parse_args(argv)
    start = time.time()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    args.out.mkdir(parents=True, exist_ok=True)
    rows = json.loads(args.index.read_text())
    rows_by_split = {split: [r for r in rows if r["split"] == split] for split in VIEWS}
    if args.limit:  # every k-th face: the index is sorted by source, so a prefix would hold one source
        rows_by_split = {split: got[:: max(1, len(got) // args.limit)] for split, got in rows_by_split.items()}
        rows = [r for got in rows_by_split.values() for r in got]
    faces = {key: t.to(device) for key, t in load_faces(rows, args.originals, args.workers).items()}
    torch.backends.cuda.matmul.allow_tf32 = True
    print(f"faces ready in {time.time() - start:.0f} s", flush=True)
    state = {
        k: v
        for k, v in clip_vit_state_dict(args.onnx).items()
        if not k.startswith("head.") and not (k.startswith("blocks.") and int(k.split(".")[1]) >= DEPTH)
    }

    ai_groups = sorted({group(r) for r in rows if r["label"] == 1})
    real_groups = sorted({group(r) for r in rows if r["label"] == 0})
    folds = []
    for f in args.folds.split(";"):
        folds += {"ai": ai_groups, "real": real_groups}.get(f, [f])
    variants = args.variants.split(",")
    results_path = args.out / "gpu_finetune.jsonl"

    def record(result):
        result["elapsed_s"] = round(time.time() - start)
        print(json.dumps(result), flush=True)
        with results_path.open("a") as f:
            f.write(json.dumps(result) + "\n")

    for fold in folds:
        if fold == "save":
            for name in [v for v in args.save.split(",") if v]:
                if time.time() - start > args.budget_s:
                    print(f"budget spent, not saving {name}", flush=True)
                    continue
                result, model = run_fold(state, faces, rows_by_split, None, name, device, epochs=args.epochs)
                record(result)
                save_tuned(model, name, args.out / f"{name}.safetensors")
            continue
        for variant in variants:
            if time.time() - start > args.budget_s:
                print(f"budget spent, skipping {variant} without {fold}", flush=True)
                continue
            result, _ = run_fold(state, faces, rows_by_split, fold, variant, device, epochs=args.epochs)
            record(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
