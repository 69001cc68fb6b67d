"""The INT8 graph's products are exact on any CPU: with VNNI as the wheel ships them, without it (AVX2's
saturating VPMADDUBSW) through weights shifted into uint8 (realorai.int8_products)."""

import numpy as np
import onnx
from onnx import numpy_helper

from realorai import int8_products
from realorai.backbones import onnx_session
from realorai.int8_products import matmul_integer, matmul_integer_model, saturating_case, with_unsigned_weights


def exact(activations, weights, zero_point=0):
    return activations.astype(np.int64) @ (weights.astype(np.int64) - np.asarray(zero_point, np.int64))


def with_weight_zero_point(model, zero_point: np.ndarray):
    """The probe graph with a stored per-column int8 zero point for its weights."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    node = model.graph.node[0]
    node.input.extend(["", "w_zero_point"])
    model.graph.initializer.append(numpy_helper.from_array(zero_point, "w_zero_point"))
    return model


def test_unsigned_weights_multiply_exactly_where_the_signed_kernel_may_saturate():
    activations, weights = saturating_case()
    shifted = with_unsigned_weights(matmul_integer_model(weights, len(activations)))
    stored = {i.name: numpy_helper.to_array(i) for i in shifted.graph.initializer}
    assert stored["w"].dtype == np.uint8 and int(stored["w"][0, 0]) == 127 + 128
    assert int(stored["w_unsigned_zero_point"]) == 128  # an absent zero point is 0, shifted
    np.testing.assert_array_equal(matmul_integer(shifted, activations), exact(activations, weights))


def test_a_stored_zero_point_is_shifted_with_its_weights():
    activations, weights = saturating_case(seed=1)
    zero_point = np.arange(-8, 8, dtype=np.int8) * 9
    model = with_weight_zero_point(matmul_integer_model(weights, len(activations)), zero_point)
    shifted = with_unsigned_weights(model)
    assert len(shifted.graph.node[0].input) == 4 and len(shifted.graph.initializer) == 2
    np.testing.assert_array_equal(matmul_integer(shifted, activations), exact(activations, weights, zero_point))


def test_every_session_multiplies_exactly_on_this_cpu():
    """What the app relies on, whatever CPU runs it: before the shift, AVX2 without VNNI gave clipped sums."""
    activations, weights = saturating_case(seed=2)
    session = onnx_session(matmul_integer_model(weights, len(activations)))
    np.testing.assert_array_equal(session.run(["y"], {"a": activations})[0], exact(activations, weights))


def test_the_shift_is_applied_only_where_signed_products_are_inexact(monkeypatch):
    model = matmul_integer_model(saturating_case()[1], 4)
    monkeypatch.setattr(int8_products, "signed_products_exact", lambda: True)
    assert int8_products.exact_on_this_cpu(model) is model
    monkeypatch.setattr(int8_products, "signed_products_exact", lambda: False)
    shifted = int8_products.exact_on_this_cpu(model)
    assert shifted is not model and shifted.graph.initializer[0].data_type == onnx.TensorProto.UINT8
    assert model.graph.initializer[0].data_type == onnx.TensorProto.INT8  # the caller's graph is not changed
