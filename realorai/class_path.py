"""The last block of a cut CLIP as the class token sees it, and how the shipped recipe tunes it on CPU.

The model reads only the class token after its last block. That token depends on the block through its
own path: its query, the keys and values of every token, the attention's output projection, the MLP and
the norms. One query needs no per-token keys or values (`ClassPath._attend`), so with the tokens entering
the block normalised once per image, the whole path trains about as fast as a small MLP: partial
fine-tuning of an 86 M ViT on two cores. The result is still a plain timm ViT with new tensors in
its last block (`ClassPath.model_state`); serving runs the INT8 graph up to that block and this path after it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .config import AI_INDEX

WIDTH, HEADS, TOKENS = 768, 12, 197  # CLIP ViT-B/16 at 224: 196 patches and the class token


@dataclass(frozen=True)
class Tuning:
    """How the class path is tuned; the shipped values were chosen by leave-one-out (README, "Tried")."""

    # attention: query and output projection | attention-kv: also keys and values | all: attention, MLP, norms
    train: str = "attention-kv"
    lr: float = 1e-4  # AdamW, cosine decay over the tuning epochs
    epochs: int = 3
    head_lr: float = 1e-3
    head_epochs: int = 2  # a linear head alone first, so the block is not pulled by a random head
    batch: int = 128
    head_l2: float = 1e-3
    mix: float = 1.0  # how far from CLIP's block to move towards the tuned one (WiSE-FT; 1: all the way)
    seed: int = 0
    token_drop: float = 0.0  # share of patch tokens hidden from the class token per tuning step
    soup: int = 1  # paths tuned with seeds seed, seed + 1, ... whose weights are averaged (a "model soup")
    soup_over: str = "seeds"  # seeds | generators: one path per AI generator, each tuned without it, averaged
    # logistic | one-class: real photos pulled within `real_margin` cosine of one direction, AI faces pushed
    # under `ai_margin` (OC-Softmax, Zhang et al., IEEE SPL 2021: built to catch spoofing attacks unseen in training)
    loss: str = "logistic"
    real_margin: float = 0.9
    ai_margin: float = 0.2
    scale: float = 20.0
    # > 0: Group DRO's step size (Sagawa et al., ICLR 2020): each (class, source) group's weight grows with
    # its running loss, each class keeping its total, so the tuning serves its worst-fitted groups
    group_dro: float = 0.0
    group_dro_over: str = "all"  # which groups Group DRO reweights (DRO_OVER); the rest keep the recipe's weights

    def __post_init__(self) -> None:
        if self.train not in TRAINED:
            raise ValueError(f"unknown tuning {self.train!r}; use one of {', '.join(TRAINED)}")
        if not 0.0 <= self.mix <= 1.0:
            raise ValueError(f"mix {self.mix} is outside 0..1")
        if self.soup_over not in SOUPS:
            raise ValueError(f"unknown soup {self.soup_over!r}; use one of {', '.join(SOUPS)}")
        if self.soup < 1:
            raise ValueError(f"soup {self.soup}: at least one path")
        if self.group_dro_over not in DRO_OVER:
            raise ValueError(f"unknown group_dro_over {self.group_dro_over!r}; use one of {', '.join(DRO_OVER)}")
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; use one of {', '.join(LOSSES)}")
        if self.loss == "one-class" and not -1.0 <= self.ai_margin < self.real_margin <= 1.0:
            raise ValueError(f"one-class margins {self.real_margin} (real) and {self.ai_margin} (AI) need -1 <= AI < real <= 1")
        if not 0.0 <= self.token_drop < 1.0:
            raise ValueError(f"token_drop {self.token_drop} is outside 0..1")

    def to_dict(self) -> dict:
        return asdict(self)


SOUPS = ("seeds", "generators")
LOSSES = ("logistic", "one-class")
DRO_OVER = ("all", "real")  # Tuning.group_dro_over: every group, or the real sources only

# What each `Tuning.train` moves (ClassPath parameter names); everything else keeps CLIP's weights.
TRAINED = {
    "attention": ("q", "proj"),
    "attention-kv": ("q", "kv_weight", "kv_bias", "proj"),
    "all": ("q", "proj", "norm2", "fc1", "fc2", "norm"),
}


def quick_gelu(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(1.702 * x)  # OpenAI CLIP's activation (timm's QuickGELU)


class ClassPath(nn.Module):
    """(class token entering the block, every token after the block's first norm) -> the model's pre-logits.

    Built from timm tensors of the block (names without the `blocks.N.` prefix) and the final norm
    (`norm.*`). The rows of qkv that make keys and values are one parameter (`kv_weight`, `kv_bias`);
    norm1 stays frozen, so the normalised tokens can be computed once per image (`TokenStore`).
    """

    def __init__(self, state: dict[str, torch.Tensor]):
        super().__init__()
        self.norm1, self.norm2, self.norm = nn.LayerNorm(WIDTH), nn.LayerNorm(WIDTH), nn.LayerNorm(WIDTH)
        self.q, self.proj = nn.Linear(WIDTH, WIDTH), nn.Linear(WIDTH, WIDTH)
        self.fc1, self.fc2 = nn.Linear(WIDTH, 4 * WIDTH), nn.Linear(4 * WIDTH, WIDTH)
        qkv_weight, qkv_bias = state["attn.qkv.weight"], state["attn.qkv.bias"]
        self.kv_weight = nn.Parameter(qkv_weight[WIDTH:].clone(), requires_grad=False)
        self.kv_bias = nn.Parameter(qkv_bias[WIDTH:].clone(), requires_grad=False)
        with torch.no_grad():
            self.q.weight.copy_(qkv_weight[:WIDTH])
            self.q.bias.copy_(qkv_bias[:WIDTH])
            for name in ("norm1", "norm2", "norm", "proj", "fc1", "fc2"):
                key = {"proj": "attn.proj", "fc1": "mlp.fc1", "fc2": "mlp.fc2"}.get(name, name)
                getattr(self, name).weight.copy_(state[f"{key}.weight"])
                getattr(self, name).bias.copy_(state[f"{key}.bias"])
        self.norm1.requires_grad_(False)  # it normalises the tokens the store keeps, computed once per image

    @classmethod
    def from_model_state(cls, state: dict[str, torch.Tensor], index: int) -> ClassPath:
        """From a timm state dict holding `blocks.<index>.*` and `norm.*`."""
        prefix = f"blocks.{index}."
        own = {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}
        return cls(own | {k: v for k, v in state.items() if k.startswith("norm.")}).eval()

    def normalised(self, tokens: torch.Tensor) -> torch.Tensor:
        """(n, 197, 768) tokens entering the block -> the same after norm1, what keys and values are made from."""
        return self.norm1(tokens.float())

    def forward(self, cls: torch.Tensor, x: torch.Tensor, visible: torch.Tensor | None = None) -> torch.Tensor:
        """From the class token and the normalised tokens (training: kept in a TokenStore); `visible` (n, 197)
        bool: the tokens the class token may attend to (all when None)."""
        return self._after_attention(cls, self._attend(cls, x.float(), visible))

    def _attend(self, cls: torch.Tensor, x: torch.Tensor, visible: torch.Tensor | None = None) -> torch.Tensor:
        """The class token's attention output (before the output projection), as timm's block computes it.

        One query needs no keys or values: q.(W_k x) = (W_k^T q).x and sum_t a_t W_v x_t = W_v (sum_t a_t x_t),
        so the key and value projections act on 12 vectors per image instead of 197 tokens (~50x fewer
        multiplications), in training too. The key bias adds the same score to every token of a head,
        which softmax ignores; the value bias passes through because the weights sum to 1.
        """
        n, head = cls.shape[0], WIDTH // HEADS
        q = self.q(self.norm1(cls)).view(n, HEADS, head)
        w_k, w_v = self.kv_weight[:WIDTH].view(HEADS, head, WIDTH), self.kv_weight[WIDTH:].view(HEADS, head, WIDTH)
        scores = torch.einsum("ntc,nhc->nht", x, torch.einsum("nhd,hdc->nhc", q, w_k)) / math.sqrt(head)
        if visible is not None:
            scores = scores.masked_fill(~visible[:, None, :], float("-inf"))
        mixed = torch.einsum("nht,ntc->nhc", scores.softmax(-1), x)
        return (torch.einsum("nhc,hdc->nhd", mixed, w_v) + self.kv_bias[WIDTH:].view(HEADS, head)).reshape(n, WIDTH)

    def _after_attention(self, cls: torch.Tensor, attended: torch.Tensor) -> torch.Tensor:
        x = cls + self.proj(attended)
        return self.norm(x + self.fc2(quick_gelu(self.fc1(self.norm2(x)))))

    @torch.inference_mode()
    def features(self, tokens: torch.Tensor) -> torch.Tensor:
        """Pre-logits from the tokens entering the block, as timm's cut ViT computes them (serving)."""
        return self(tokens[:, 0].float(), self.normalised(tokens))

    def model_state(self, index: int) -> dict[str, torch.Tensor]:
        """The path as timm tensors of a ViT whose last block is `index`: loaded into that model, they give it
        exactly this path's class token."""
        state = {
            "attn.qkv.weight": torch.cat([self.q.weight, self.kv_weight]),
            "attn.qkv.bias": torch.cat([self.q.bias, self.kv_bias]),
        }
        for name, key in (("norm1", "norm1"), ("norm2", "norm2"), ("proj", "attn.proj"), ("fc1", "mlp.fc1"), ("fc2", "mlp.fc2")):
            state |= {f"{key}.weight": getattr(self, name).weight, f"{key}.bias": getattr(self, name).bias}
        named = {f"blocks.{index}.{k}": v for k, v in state.items()}
        named |= {"norm.weight": self.norm.weight, "norm.bias": self.norm.bias}
        return {k: v.detach().clone().contiguous() for k, v in named.items()}


def interpolated(start: ClassPath, tuned: ClassPath, mix: float) -> ClassPath:
    """`start` moved `mix` of the way to `tuned` (weight-space ensembling, "WiSE-FT", Wortsman et al., CVPR
    2022: it keeps much of the pretrained model's robustness to shifts the tuning data lacks)."""
    import copy

    path = copy.deepcopy(start)
    tuned_parameters = dict(tuned.named_parameters())
    with torch.no_grad():
        for name, value in path.named_parameters():
            value.add_(mix * (tuned_parameters[name] - value))
    return path.eval()


class TokenStore:
    """Class tokens and normalised tokens (`ClassPath.normalised`) of many images in two preallocated arrays,
    by row id. fp16 tokens: 197 x 768 x 2 bytes = 0.3 MB per image and view.
    """

    def __init__(self, size: int, path: ClassPath):
        self.cls_all = np.empty((size, WIDTH), np.float32)
        self.x_all = np.empty((size, TOKENS, WIDTH), np.float16)
        self.path, self.size = path, 0

    @torch.inference_mode()
    def add(self, tokens: np.ndarray, chunk: int = 64) -> np.ndarray:
        """Tokens entering the block (n, 197, 768), e.g. a memmap: their row ids."""
        n = len(tokens)
        for start in range(0, n, chunk):
            x = torch.from_numpy(np.asarray(tokens[start : start + chunk], dtype=np.float32))
            self.cls_all[self.size + start : self.size + start + len(x)] = x[:, 0].numpy()
            self.x_all[self.size + start : self.size + start + len(x)] = self.path.normalised(x).half().numpy()
        ids = np.arange(self.size, self.size + n)
        self.size += n
        return ids

    def batch(self, ids: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(self.cls_all[ids]), torch.from_numpy(self.x_all[ids])

    @torch.inference_mode()
    def features(self, path: ClassPath, ids: np.ndarray, chunk: int = 512) -> np.ndarray:
        """Pre-logits of the rows `ids` through `path` (whose frozen norm1 made the store's tokens)."""
        path.eval()
        ids = np.asarray(ids).reshape(-1)
        parts = [path(*self.batch(ids[s : s + chunk])).numpy() for s in range(0, len(ids), chunk)]
        return np.concatenate(parts) if parts else np.zeros((0, WIDTH), np.float32)


def tune(
    store: TokenStore, ids: np.ndarray, labels: np.ndarray, weights: np.ndarray, tuning: Tuning, groups: np.ndarray | None = None
) -> ClassPath:
    """The store's path tuned with a linear head (weighted logistic or one-class loss) on the rows `ids`; `weights` are
    the shipped recipe's row weights (class x source balance, re-shared copies). The head is discarded: the
    shipped head is refitted on the tuned features by the recipe every probe uses.

    `labels`: 0/1 (real/AI), or 0 for real and 1..K-1 for kinds of AI image: then the head has a softmax
    output per class (see realorai.probe.MulticlassHead). `groups`: each row's source group, which
    `tuning.group_dro` reweights."""
    import copy

    torch.manual_seed(tuning.seed)
    start = store.path
    path = copy.deepcopy(start)
    for name, parameter in path.named_parameters():
        parameter.requires_grad_(name.split(".")[0] in TRAINED[tuning.train])
    x0 = store.features(path, ids)  # standardise the head's input as the shipped logistic fit does
    mean, std = torch.from_numpy(x0.mean(0)), torch.from_numpy(x0.std(0) + 1e-6)
    classes = int(labels.max()) + 1
    binary = classes <= 2
    one_class = tuning.loss == "one-class"
    if one_class and not binary:
        raise ValueError("the one-class loss tells real from AI; it takes 0/1 labels")
    head = nn.Linear(WIDTH, 1 if binary else classes, bias=not one_class)
    if one_class:  # a cosine needs a direction to start from; the logistic head starts at zero
        nn.init.normal_(head.weight, std=WIDTH**-0.5)
    else:
        nn.init.zeros_(head.weight)
        nn.init.zeros_(head.bias)
    trainable = [p for p in path.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(
        [{"params": trainable, "lr": tuning.lr}, {"params": list(head.parameters()), "lr": tuning.head_lr}], weight_decay=0.0
    )
    y = torch.from_numpy((labels == AI_INDEX).astype(np.float32) if binary else labels.astype(np.int64))
    w = torch.from_numpy((weights / weights.mean()).astype(np.float32))
    reweighting = None
    if tuning.group_dro:
        only = None if tuning.group_dro_over == "all" else 1 - AI_INDEX
        reweighting = GroupReweighting(labels, groups, w, tuning.group_dro, only)
    per_epoch = math.ceil(len(ids) / tuning.batch)
    warm, steps = tuning.head_epochs * per_epoch, tuning.epochs * per_epoch
    rng = np.random.default_rng(tuning.seed)
    step = 0
    for _ in range(tuning.head_epochs + tuning.epochs):
        order = rng.permutation(len(ids))
        path.train()
        for s in range(0, len(ids), tuning.batch):
            rows = order[s : s + tuning.batch]
            tuning_block = step >= warm
            visible = None
            if tuning_block and tuning.token_drop:  # evidence spread over the face, not a few patches
                visible = torch.rand(len(rows), TOKENS) >= tuning.token_drop
                visible[:, 0] = True
            with torch.set_grad_enabled(tuning_block):
                z = path(*store.batch(ids[rows]), visible)
            u = (z - mean) / std
            if one_class:
                loss = one_class_loss(F.cosine_similarity(u, head.weight, dim=1), y[rows], tuning)
            elif binary:
                out = head(u)
                loss = F.binary_cross_entropy_with_logits(out.squeeze(1), y[rows], reduction="none")
            else:
                loss = F.cross_entropy(head(u), y[rows], reduction="none")
            if reweighting is not None:
                loss = loss * reweighting.step(rows, loss.detach(), w[rows])
            loss = (loss * w[rows]).mean()
            if not one_class:  # a cosine does not grow with the weights
                loss = loss + tuning.head_l2 * head.weight.pow(2).sum()
            if tuning_block:
                optimiser.param_groups[0]["lr"] = tuning.lr * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, steps)))
            optimiser.zero_grad()
            loss.backward()
            if tuning_block:
                torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimiser.step()
            step += 1
    return path.eval()


class GroupReweighting:
    """Online Group DRO weights: a group's log-weight rises by `step` x its weighted mean loss in each batch
    that holds it (`only`: for one class's groups); multipliers on the row weights keep each class's total
    weight."""

    def __init__(
        self, labels: np.ndarray, groups: np.ndarray | None, weights: torch.Tensor, step: float, only: int | None = None
    ):
        if groups is None:
            raise ValueError("group_dro needs each row's group")
        keys = [f"{label}/{group}" for label, group in zip(labels.tolist(), np.asarray(groups).tolist())]
        names, codes = np.unique(keys, return_inverse=True)
        self.codes = torch.from_numpy(codes.astype(np.int64))
        self.classes = torch.from_numpy(np.array([int(name.split("/")[0]) for name in names]))
        self.totals = torch.zeros(len(names)).index_add_(0, self.codes, weights)
        self.log_weight = torch.zeros(len(names))
        self.step_size = step
        # the groups whose weights move: all, or those of one class (`only`: its label)
        self.moving = torch.ones(len(names), dtype=torch.bool) if only is None else self.classes == only

    def multipliers(self) -> torch.Tensor:
        """Per group: exp(log-weight), scaled so that each class's total weight is what it was."""
        scaled = self.totals * self.log_weight.exp()
        out = torch.empty_like(scaled)
        for c in self.classes.unique():
            in_class = self.classes == c
            out[in_class] = self.log_weight[in_class].exp() * self.totals[in_class].sum() / scaled[in_class].sum()
        return out

    def step(self, rows: np.ndarray, loss: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Update on one batch's per-row losses; the batch rows' multipliers."""
        codes = self.codes[rows]
        summed = torch.zeros_like(self.log_weight).index_add_(0, codes, loss * weights)
        mass = torch.zeros_like(self.log_weight).index_add_(0, codes, weights)
        present = (mass > 0) & self.moving
        self.log_weight[present] += self.step_size * summed[present] / mass[present]
        self.log_weight -= self.log_weight.max()  # a shift every group shares cancels in the multipliers; keeps exp finite
        return self.multipliers()[codes]


def one_class_loss(cosine: torch.Tensor, is_ai: torch.Tensor, tuning: Tuning) -> torch.Tensor:
    """Per row: a real photo pays for a cosine under `real_margin`, an AI face for one over `ai_margin`."""
    margin = torch.where(is_ai > 0, cosine - tuning.ai_margin, tuning.real_margin - cosine)
    return F.softplus(tuning.scale * margin)


def averaged(paths) -> ClassPath:
    """The weight-by-weight mean of the paths (an iterable, consumed one path at a time: a running mean)."""
    soup = None
    for n, path in enumerate(paths):
        soup = path if soup is None else interpolated(soup, path, 1 / (n + 1))
    return soup


def tuned_soup(
    store: TokenStore, ids: np.ndarray, labels: np.ndarray, weights: np.ndarray, tuning: Tuning, groups: np.ndarray | None = None
) -> ClassPath:
    """`tuning.soup` paths tuned alike but for their seeds, their weights averaged (a uniform "model soup",
    Wortsman et al., ICML 2022: averaged fine-tunings from one start often hold up better off their data)."""
    return averaged(tune(store, ids, labels, weights, replace(tuning, seed=tuning.seed + n), groups) for n in range(tuning.soup))
