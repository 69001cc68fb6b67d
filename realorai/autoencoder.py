"""A small latent autoencoder shaped like a latent-diffusion model's (8x down to a 16-channel latent, back up
by nearest-neighbour upsampling and convolutions), trained on real faces only.

A real photo passed through it keeps its face, light, pose and backdrop, and gains the traces a generator's
decoder leaves. Labelled AI (the "recon-N" training view), such pairs tell the model what an AI face is
without telling it who or what is in it: the idea of training on real images and their autoencoder
reconstructions (Rajan et al., "Aligned Datasets Improve Detection of Latent Diffusion-Generated Images",
ICLR 2025, who used the generators' own autoencoder; no such weights are reachable here, so this one is
trained from scratch on our real training faces). Tried, not adopted: README "Tried".

    python -m realorai.autoencoder                                   # 1,500 steps, ~8 min on 2 cores
    python -m realorai.tokens --splits train --views recon-1         # ~11 min
    python -m benchmarks.tuned_block --train attention-kv --mix 1 --group-weight ai/stylegan2=0.1 \
        --views clean,augment-1,recon-1 --pictures
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

LATENT_CHANNELS = 16  # FLUX and SD 3 decode 16 channels at 1/8 of the size; SD 1/2 and SDXL 4
CROP = 96  # trained on random crops: the net is fully convolutional


def _conv(n_in: int, n_out: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(n_in, n_out, 3, stride=stride, padding=1)


class LatentAutoencoder(nn.Module):
    def __init__(self, width: int = 48, latent: int = LATENT_CHANNELS, downsamplings: int = 3):
        super().__init__()
        act = nn.SiLU
        down = [m for _ in range(downsamplings - 1) for m in (_conv(width, width, 2), act())]
        self.encoder = nn.Sequential(
            _conv(3, width // 2), act(), _conv(width // 2, width, 2), act(), *down, nn.Conv2d(width, latent, 1)
        )
        up = nn.Upsample(scale_factor=2, mode="nearest")
        ups = [m for _ in range(downsamplings - 1) for m in (up, _conv(width, width), act())]
        self.decoder = nn.Sequential(
            _conv(latent, width), act(), _conv(width, width), act(), *ups,
            up, _conv(width, width // 2), act(), _conv(width // 2, width // 2), act(),
            _conv(width // 2, 3),
        )  # fmt: skip
        self.downsamplings = downsamplings

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """pixels in [-1, 1], sides a multiple of 2 ** downsamplings."""
        return self.decoder(self.encoder(pixels))


def to_tensor(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image.convert("RGB"), np.float32) / 127.5 - 1.0).permute(2, 0, 1)


def to_image(pixels: torch.Tensor) -> Image.Image:
    array = ((pixels.clamp(-1, 1) + 1.0) * 127.5).round().byte().permute(1, 2, 0).numpy()
    return Image.fromarray(array)


def _edges(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x[..., 1:, :] - x[..., :-1, :], x[..., :, 1:] - x[..., :, :-1]


def train_autoencoder(
    images: list[Image.Image], steps: int = 1500, batch: int = 16, seed: int = 0, downsamplings: int = 3
) -> LatentAutoencoder:
    """Fit on random crops of `images` (L1 on pixels and on their differences, so that it keeps detail
    instead of blurring it away)."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    tensors = [to_tensor(image) for image in images]
    model = LatentAutoencoder(downsamplings=downsamplings)
    optimiser = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=2e-3, total_steps=steps, pct_start=0.1)
    started = time.time()
    for step in range(steps):
        crops = []
        for _ in range(batch):
            t = tensors[rng.randrange(len(tensors))]
            top, left = rng.randrange(t.shape[1] - CROP + 1), rng.randrange(t.shape[2] - CROP + 1)
            crop = t[:, top : top + CROP, left : left + CROP]
            crops.append(crop.flip(2) if rng.random() < 0.5 else crop)
        x = torch.stack(crops)
        y = model(x)
        loss = (y - x).abs().mean() + sum((a - b).abs().mean() for a, b in zip(_edges(y), _edges(x)))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        if step % 200 == 0 or step == steps - 1:
            print(f"  autoencoder step {step}: loss {loss.item():.4f} ({time.time() - started:.0f}s)", flush=True)
    return model.eval()


@torch.no_grad()
def reconstruct(model: LatentAutoencoder, image: Image.Image) -> Image.Image:
    """`image` through the autoencoder, same size (padded by reflection to a multiple of 2 ** downsamplings,
    then cut back)."""
    x = to_tensor(image)[None]
    h, w = x.shape[-2:]
    side = 2**model.downsamplings
    x = nn.functional.pad(x, (0, -w % side, 0, -h % side), mode="reflect")
    return to_image(model(x)[0, :, :h, :w])


AUTOENCODER_DIR = Path("data/autoencoder")  # trained once on the train split's real faces


def autoencoder_file(view: str) -> Path:
    """View "recon-1" -> recon.pt (the default autoencoder), "recon-x4-1" -> recon-x4.pt."""
    return AUTOENCODER_DIR / (view.rsplit("-", 1)[0] + ".pt")


def save(model: LatentAutoencoder, path: Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save({"downsamplings": model.downsamplings, "state": model.state_dict()}, path)


def trained_autoencoder(path: Path) -> LatentAutoencoder:
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: train it first (python -m realorai.autoencoder --out {path})")
    saved = torch.load(path, weights_only=True)
    model = LatentAutoencoder(downsamplings=saved["downsamplings"])
    model.load_state_dict(saved["state"])
    return model.eval()


def main(argv=None) -> int:
    import argparse

    from datasets import load_from_disk

    from .config import AI_INDEX

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="data/portraits-faces")
    parser.add_argument("--out", type=Path, default=autoencoder_file("recon-1"))
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--downsamplings", type=int, default=3, help="3: the latent is 1/8 of the size, 2: 1/4")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    train = load_from_disk(args.data)["train"]
    reals = [train[i]["image"].convert("RGB") for i, label in enumerate(train["label"]) if label != AI_INDEX]
    save(train_autoencoder(reals, steps=args.steps, downsamplings=args.downsamplings), args.out)
    print(f"{args.out}: trained on {len(reals)} real training faces")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
