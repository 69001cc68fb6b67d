"""Image -> tensor transforms, derived from the model's own timm data config, plus the photo degradations.

The degradations (JPEG, down-up resize, blur) are pure functions used both as training augmentation and
as the robustness tests in evaluation, so "robust to JPEG q50" means the same JPEG in both places.
"""

from __future__ import annotations

import io
import random

from PIL import Image, ImageFilter
from timm.data import create_transform, resolve_data_config
from torch import nn
from torchvision import transforms as T


def data_config(model: nn.Module) -> dict:
    """input_size, mean, std, interpolation, crop_pct: from the model's pretrained_cfg, never restated."""
    return resolve_data_config({}, model=model)


def eval_transform(config: dict):
    return create_transform(**config, is_training=False)


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
