"""MTCNN (Zhang et al., 2016), the face detector, in torch alone, with the weights shipped in facenet-pytorch.

facenet-pytorch's own detector imports torchvision for its NMS, and torchvision imports `torch._dynamo`:
about 2 s of every start on 2 cores, for a cascade of three small nets. This is the same cascade and
arithmetic (the library's, checked box for box in tests/test_faces.py), reading the wheel's weight files
without importing the package.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

PASS_SCORES = (0.6, 0.7, 0.7)  # a window goes on to the next net at this face probability (P, R, O)
PYRAMID_FACTOR = 0.709  # each scale of the image pyramid is this times the last
P_NET_WINDOW = 12  # P-Net sees 12 px windows with a stride of 2
# Window overlap (IoU) above which the weaker of two windows is dropped: within a scale, across scales, and
# after R-Net; O-Net's faces are compared by intersection over the smaller one.
NMS_IN_SCALE, NMS_ACROSS, NMS_FINAL = 0.5, 0.7, 0.7


def weights_file(net: str) -> Path:
    """`pnet.pt`, `rnet.pt` or `onet.pt` inside the installed facenet-pytorch, located without importing it."""
    spec = importlib.util.find_spec("facenet_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "facenet-pytorch (the face detector's weights) is missing: install it without its outdated pins, "
            "`pip install --no-deps -r requirements-weights.txt` (see README)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data" / f"{net}.pt"


def caffe_flatten(x: torch.Tensor) -> torch.Tensor:
    # The weights come from Caffe, which flattens (width, height, channel): R- and O-Net's dense layers need it.
    return x.permute(0, 3, 2, 1).contiguous().view(x.shape[0], -1)


class PNet(nn.Module):
    """Proposal net, fully convolutional: a face probability and box offsets per 12 px window."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 10, 3), nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(10, 16, 3), nn.PReLU(16)
        self.conv3, self.prelu3 = nn.Conv2d(16, 32, 3), nn.PReLU(32)
        self.conv4_1, self.conv4_2 = nn.Conv2d(32, 2, 1), nn.Conv2d(32, 4, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return self.conv4_2(x), F.softmax(self.conv4_1(x), dim=1)


class RNet(nn.Module):
    """Refinement net on 24 px crops."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 28, 3), nn.PReLU(28)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(28, 48, 3), nn.PReLU(48)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = nn.Conv2d(48, 64, 2), nn.PReLU(64)
        self.dense4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
        self.dense5_1, self.dense5_2 = nn.Linear(128, 2), nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu4(self.dense4(caffe_flatten(self.prelu3(self.conv3(x)))))
        return self.dense5_2(x), F.softmax(self.dense5_1(x), dim=1)


class ONet(nn.Module):
    """Output net on 48 px crops (its landmark layer is loaded with the weights and left unused)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 32, 3), nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(32, 64, 3), nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = nn.Conv2d(64, 64, 3), nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4, self.prelu4 = nn.Conv2d(64, 128, 2), nn.PReLU(128)
        self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.dense6_1, self.dense6_2, self.dense6_3 = nn.Linear(256, 2), nn.Linear(256, 4), nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu5(self.dense5(caffe_flatten(self.prelu4(self.conv4(x)))))
        return self.dense6_2(x), F.softmax(self.dense6_1(x), dim=1)


def loaded(net: nn.Module, name: str) -> nn.Module:
    net.load_state_dict(torch.load(weights_file(name), map_location="cpu", weights_only=True))
    # Channels-last: torch's CPU max-pooling is several times faster that way, detection ~30% faster,
    # the same boxes (to 1e-4 px; tests/test_faces.py checks them against the library's plain layout).
    return net.eval().to(memory_format=torch.channels_last)


def normalised(pixels: torch.Tensor) -> torch.Tensor:
    return (pixels - 127.5) * 0.0078125


def nms(boxes: torch.Tensor, scores: torch.Tensor, threshold: float) -> torch.Tensor:
    """Greedy non-maximum suppression by IoU, strongest first (ties in input order): indices kept, in that
    order. Every pair's IoU is computed at once (P-Net proposes up to a few hundred windows): a loop of array
    calls per kept window cost ~6 ms of a webcam frame."""
    x0, y0, x1, y1 = boxes.numpy().T
    areas = (x1 - x0) * (y1 - y0)
    width = np.maximum(np.minimum(x1[:, None], x1) - np.maximum(x0[:, None], x0), 0)
    height = np.maximum(np.minimum(y1[:, None], y1) - np.maximum(y0[:, None], y0), 0)
    inter = width * height
    with np.errstate(divide="ignore", invalid="ignore"):  # two empty boxes: 0 / 0, no overlap (as torchvision)
        overlaps = inter / (areas[:, None] + areas - inter) > threshold
    suppressed = np.zeros(len(areas), dtype=bool)
    keep = []
    for i in torch.sort(scores, descending=True, stable=True).indices.tolist():
        if not suppressed[i]:
            keep.append(i)
            suppressed |= overlaps[i]
    return torch.tensor(keep, dtype=torch.long)


def nms_by_smaller(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """The last stage's suppression: overlap over the smaller box's area, pixel-inclusive sides."""
    x0, y0, x1, y1 = boxes.T
    areas = (x1 - x0 + 1) * (y1 - y0 + 1)
    remaining = np.argsort(scores)  # weakest first: the strongest is taken from the end
    keep = []
    while remaining.size:
        i, rest = remaining[-1], remaining[:-1]
        keep.append(i)
        width = np.maximum(0.0, np.minimum(x1[i], x1[rest]) - np.maximum(x0[i], x0[rest]) + 1)
        height = np.maximum(0.0, np.minimum(y1[i], y1[rest]) - np.maximum(y0[i], y0[rest]) + 1)
        remaining = rest[width * height / np.minimum(areas[i], areas[rest]) <= threshold]
    return np.asarray(keep, dtype=np.int64)


def squared(boxes: torch.Tensor) -> torch.Tensor:
    """Each box made square on its longer side, about its centre (columns beyond the 4th kept)."""
    boxes = boxes.clone()
    height, width = boxes[:, 3] - boxes[:, 1], boxes[:, 2] - boxes[:, 0]
    side = torch.maximum(width, height)
    boxes[:, 0] = boxes[:, 0] + width * 0.5 - side * 0.5
    boxes[:, 1] = boxes[:, 1] + height * 0.5 - side * 0.5
    boxes[:, 2:4] = boxes[:, :2] + side[:, None]
    return boxes


def refined(boxes: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Boxes moved by a net's offsets, in units of their pixel-inclusive width and height."""
    boxes = boxes.clone()
    width = boxes[:, 2] - boxes[:, 0] + 1
    height = boxes[:, 3] - boxes[:, 1] + 1
    boxes[:, :4] = boxes[:, :4] + offsets * torch.stack([width, height, width, height], dim=1)
    return boxes


def windows(image: torch.Tensor, boxes: torch.Tensor, side: int) -> tuple[torch.Tensor | None, torch.Tensor]:
    """The boxes' pixels (clipped to the image, truncated to whole pixels), each resampled to side x side,
    and which boxes they are (a box wholly outside the image has none)."""
    height, width = image.shape[2:]
    x0, y0, x1, y1 = boxes[:, :4].trunc().int().numpy().T
    x0, y0 = np.maximum(x0, 1) - 1, np.maximum(y0, 1) - 1
    x1, y1 = np.minimum(x1, width), np.minimum(y1, height)
    inside = [k for k in range(len(boxes)) if y1[k] > y0[k] and x1[k] > x0[k]]
    crops = [F.interpolate(image[:, :, y0[k] : y1[k], x0[k] : x1[k]], size=(side, side), mode="area") for k in inside]
    return normalised(torch.cat(crops)) if crops else None, torch.tensor(inside, dtype=torch.long)


class MTCNN:
    """The three-net cascade for one picture at a time. Build once: loading reads ~2 MB of weights."""

    def __init__(self, min_face_px: int) -> None:
        self.min_face_px = min_face_px
        self.pnet, self.rnet, self.onet = loaded(PNet(), "pnet"), loaded(RNet(), "rnet"), loaded(ONet(), "onet")

    def scales(self, height: int, width: int) -> list[float]:
        """The image pyramid: the first scale maps min_face_px to P-Net's window, the last keeps one window."""
        scale = P_NET_WINDOW / self.min_face_px
        short_side = min(height, width) * scale
        scales = []
        while short_side >= P_NET_WINDOW:
            scales.append(scale)
            scale, short_side = scale * PYRAMID_FACTOR, short_side * PYRAMID_FACTOR
        return scales

    def proposals(self, image: torch.Tensor) -> torch.Tensor:
        """P-Net over the pyramid: rows (x0, y0, x1, y1, score, 4 offsets) in image pixels."""
        height, width = image.shape[2:]
        kept = [torch.zeros((0, 9))]
        for scale in self.scales(height, width):
            resized = F.interpolate(image, size=(int(height * scale + 1), int(width * scale + 1)), mode="area")
            offsets, probabilities = self.pnet(normalised(resized))
            face = probabilities[0, 1] >= PASS_SCORES[0]
            cells = face.nonzero().flip(1).to(offsets.dtype)  # (x, y) of each window in P-Net's output grid
            corners = torch.cat([((2 * cells + 1) / scale).floor(), ((2 * cells + P_NET_WINDOW) / scale).floor()], dim=1)
            rows = torch.cat([corners, probabilities[0, 1][face][:, None], offsets[0][:, face].T], dim=1)
            kept.append(rows[nms(rows[:, :4], rows[:, 4], NMS_IN_SCALE)])
        rows = torch.cat(kept)
        rows = rows[nms(rows[:, :4], rows[:, 4], NMS_ACROSS)]
        box_width, box_height = rows[:, 2] - rows[:, 0], rows[:, 3] - rows[:, 1]
        moved = rows[:, :4] + rows[:, 5:9] * torch.stack([box_width, box_height, box_width, box_height], dim=1)
        return squared(torch.cat([moved, rows[:, 4:5]], dim=1))

    def detect(self, picture) -> tuple[np.ndarray, np.ndarray]:
        """Faces in a PIL image: boxes (n, 4) as (x0, y0, x1, y1) pixels and their scores (n,), strongest
        first; both empty when there is none."""
        pixels = torch.from_numpy(np.asarray(picture.convert("RGB"), dtype=np.uint8).copy())
        image = pixels[None].permute(0, 3, 1, 2).float()
        nothing = np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        with torch.inference_mode():
            boxes = self.proposals(image)
            crops, inside = windows(image, boxes, 24)
            if crops is None:
                return nothing
            offsets, probabilities = self.rnet(crops)
            passed = probabilities[:, 1] > PASS_SCORES[1]
            boxes = torch.cat([boxes[inside][passed, :4], probabilities[passed, 1:2]], dim=1)
            pick = nms(boxes[:, :4], boxes[:, 4], NMS_ACROSS)
            boxes = squared(refined(boxes[pick], offsets[passed][pick]))
            crops, inside = windows(image, boxes, 48)
            if crops is None:
                return nothing
            offsets, probabilities = self.onet(crops)
            passed = probabilities[:, 1] > PASS_SCORES[2]
            boxes = torch.cat([boxes[inside][passed, :4], probabilities[passed, 1:2]], dim=1)
            boxes = refined(boxes, offsets[passed]).numpy()
        pick = nms_by_smaller(boxes[:, :4], boxes[:, 4], NMS_FINAL)
        return boxes[pick, :4], boxes[pick, 4]
