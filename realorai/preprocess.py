"""Image -> tensor transforms, derived from the model's own timm data config, plus the photo degradations.

The degradations (JPEG, down-up resize, blur) are pure functions used both as training augmentation and
as the robustness tests in evaluation, so "robust to JPEG q50" means the same JPEG in both places.

timm and torchvision are imported only where needed: torchvision imports `torch._dynamo`, ~2 s of every
start on 2 cores, and serving needs neither (`eval_transform` computes timm's evaluation transform itself).
"""

from __future__ import annotations

import io
import math
import random

import numpy as np
import torch
from PIL import Image, ImageFilter
from torch import nn

RESAMPLING = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR}


def data_config(model: nn.Module) -> dict:
    """input_size, mean, std, interpolation, crop_pct: from the model's pretrained_cfg, never restated."""
    from timm.data import resolve_data_config

    return resolve_data_config({}, model=model)


def eval_transform(config: dict):
    """timm's evaluation transform for a data config: resize the short side to size / crop_pct, cut the
    centre, scale to [0, 1] and normalise. Computed here, with the same PIL and torch operations, where the
    config asks for a square input and a centre crop (every model here; tests/test_preprocess.py checks it
    is timm's to the bit); anything else is timm's own `create_transform`."""
    channels, height, width = config["input_size"]
    crop_pct = config.get("crop_pct") or 0.875  # timm's default
    if (
        height != width
        or channels != 3
        or crop_pct > 1
        or config.get("crop_mode", "center") not in (None, "center")
        or config.get("crop_border_pixels")
        or config.get("interpolation") not in RESAMPLING
    ):
        from timm.data import create_transform

        return create_transform(**config, is_training=False)
    return CentreCropTransform(
        math.floor(height / crop_pct), height, RESAMPLING[config["interpolation"]], config["mean"], config["std"]
    )


class CentreCropTransform:
    """A PIL RGB image -> normalised (3, size, size) float tensor, as timm's centre-crop eval transform."""

    def __init__(self, resize_to: int, size: int, resample: int, mean, std) -> None:
        self.resize_to, self.size, self.resample = resize_to, size, resample
        self.mean = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)

    def __call__(self, image: Image.Image) -> torch.Tensor:
        image = image if image.mode == "RGB" else image.convert("RGB")
        width, height = image.size
        short, long = min(width, height), max(width, height)
        resized_long = int(self.resize_to * long / short)
        resized = (self.resize_to, resized_long) if width <= height else (resized_long, self.resize_to)
        if resized != image.size:
            image = image.resize(resized, self.resample)
        left = int(round((image.width - self.size) / 2.0))
        top = int(round((image.height - self.size) / 2.0))
        image = image.crop((left, top, left + self.size, top + self.size))
        pixels = torch.from_numpy(np.array(image, np.uint8, copy=True)).permute(2, 0, 1).contiguous()
        return pixels.to(torch.float32).div(255).sub_(self.mean).div_(self.std)


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=int(quality))
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def down_up(image: Image.Image, factor: float) -> Image.Image:
    """Shrink by `factor` then enlarge back: the detail loss of a resized-and-reshared photo."""
    small = (max(8, round(image.width * factor)), max(8, round(image.height * factor)))
    return image.resize(small, Image.BILINEAR).resize(image.size, Image.BICUBIC)


def blur(image: Image.Image, sigma: float) -> Image.Image:
    return image.filter(ImageFilter.GaussianBlur(radius=sigma))


class PhotoDegradation:
    """Random blur, down-up resize and JPEG re-compression, in the order a shared photo meets them."""

    def __init__(self, p_blur=0.2, p_resize=0.3, p_jpeg=0.5, quality=(30, 95), scale=(0.25, 0.9), sigma=(0.2, 1.5)):
        self.p_blur, self.p_resize, self.p_jpeg = p_blur, p_resize, p_jpeg
        self.quality, self.scale, self.sigma = quality, scale, sigma

    def __call__(self, image: Image.Image) -> Image.Image:
        if random.random() < self.p_blur:
            image = blur(image, random.uniform(*self.sigma))
        if random.random() < self.p_resize:
            image = down_up(image, random.uniform(*self.scale))
        if random.random() < self.p_jpeg:
            image = jpeg(image, random.randint(*self.quality))
        return image


def train_transform(config: dict):
    """Augmentation for both classes; ends with the same tensor conversion and normalisation as eval."""
    from torchvision import transforms as T

    size = config["input_size"][-1]
    return T.Compose(
        [
            T.RandomResizedCrop(size, scale=(0.6, 1.0), ratio=(0.85, 1.18), interpolation=T.InterpolationMode.BICUBIC),
            T.RandomHorizontalFlip(),
            T.RandomApply([T.ColorJitter(0.3, 0.3, 0.25, 0.03)], p=0.5),
            PhotoDegradation(),
            T.RandomGrayscale(p=0.05),
            T.ToTensor(),
            T.Normalize(config["mean"], config["std"]),
        ]
    )
