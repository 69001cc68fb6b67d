"""What a picture's own file says about where it came from, read from the original bytes.

Three kinds of declaration, strongest first:
- C2PA manifests (OpenAI, Adobe Firefly, Microsoft, ... sign them), read and validated with `c2pa-python`;
- the IPTC digital source type in XMP (Google, Meta, Midjourney write `trainedAlgorithmicMedia`);
- generator metadata: PNG text chunks (Automatic1111, ComfyUI, NovelAI) and EXIF Software/Make/Model.

Only a C2PA manifest is signed; everything else can be added or removed by anyone, and most platforms strip
all of it, so absence proves nothing. No Gradio here: the app, the scanner and tests call `read_provenance`.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import asdict, dataclass, field

from PIL import Image

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
# IPTC digital source types -> what they declare (https://cv.iptc.org/newscodes/digitalsourcetype/).
SOURCE_TYPES = {
    "trainedAlgorithmicMedia": "ai",
    "compositeWithTrainedAlgorithmicMedia": "ai-edited",
    "algorithmicallyEnhanced": "edited",
    "compositeSynthetic": "ai-edited",
    "algorithmicMedia": "computer-generated",
    "digitalCapture": "capture",
    "negativeFilm": "capture",
    "positiveFilm": "capture",
    "print": "capture",
    "minorHumanEdits": "capture",
    "composite": "edited",
    "compositeCapture": "capture",
    "digitalCreation": "computer-generated",
    "screenCapture": "screen-capture",
}
DECLARES_TEXT = {
    "ai": "AI-generated",
    "ai-edited": "edited with AI",
    "edited": "edited",
    "computer-generated": "computer-generated (not by a trained model)",
    "capture": "captured by a camera",
    "screen-capture": "a screen capture",
    "generator": "made by an image generator",
}
# Image generators and front ends, as they name themselves in metadata (lower case, matched as words).
GENERATORS = (
    "midjourney", "dall-e", "dall·e", "openai", "chatgpt", "gpt-4o", "stable diffusion", "stability ai", "sdxl",
    "automatic1111", "comfyui", "invokeai", "fooocus", "novelai", "adobe firefly", "firefly", "imagen", "gemini",
    "google ai", "meta ai", "flux", "black forest labs", "leonardo.ai", "ideogram", "bing image creator",
    "microsoft designer", "grok", "aurora", "runway", "playground ai", "dreamstudio", "nightcafe", "craiyon",
)  # fmt: skip
PNG_GENERATOR_KEYS = {  # PNG text chunk -> the front end that writes it
    "parameters": "Automatic1111 / Forge (Stable Diffusion)",
    "prompt": "ComfyUI",
    "workflow": "ComfyUI",
    "sd-metadata": "InvokeAI",
    "invokeai_metadata": "InvokeAI",
    "dream": "InvokeAI",
    "fooocus_scheme": "Fooocus",
}
NONE_FOUND = "No provenance found. Absence proves nothing: most platforms strip metadata when a picture is shared."


@dataclass
class Evidence:
    kind: str  # c2pa | xmp | png-text | exif
    declares: str  # a key of DECLARES_TEXT
    detail: str  # what exactly says so, in words
    signed: bool = False
    signer: str | None = None
    validation: str | None = None  # c2pa only: valid | valid-untrusted | altered | invalid
    problems: list[str] = field(default_factory=list)


@dataclass
class Provenance:
    evidence: list[Evidence]

    @property
    def valid_c2pa(self) -> list[Evidence]:
        return [e for e in self.evidence if e.kind == "c2pa" and e.validation in ("valid", "valid-untrusted")]

    @property
    def signed_ai(self) -> Evidence | None:
        """A validly signed declaration of AI generation (or AI editing), if any."""
        return next((e for e in self.valid_c2pa if e.declares in ("ai", "ai-edited")), None)

    @property
    def signed_capture(self) -> Evidence | None:
        return next((e for e in self.valid_c2pa if e.declares == "capture"), None)

    @property
    def summary(self) -> str:
        if not self.evidence:
            return NONE_FOUND
        return " · ".join(describe(e) for e in self.evidence)

    def to_dict(self) -> dict:
        return {
            "found": bool(self.evidence),
            "summary": self.summary,
            "signed_ai_declaration": self.signed_ai is not None,
            "evidence": [asdict(e) for e in self.evidence],
        }


def describe(evidence: Evidence) -> str:
    what = DECLARES_TEXT.get(evidence.declares, evidence.declares)
    if evidence.kind == "c2pa":
        state = {
            "valid": "signature valid",
            "valid-untrusted": "signature valid, signer not on a trust list",
            "altered": "CONTENT ALTERED after signing",
            "invalid": "SIGNATURE INVALID",
        }[evidence.validation or "invalid"]
        return f"C2PA manifest declares {what} ({evidence.detail}; signed by {evidence.signer or 'unknown'}; {state})"
    origin = {"xmp": "XMP metadata", "png-text": "PNG text chunk", "exif": "EXIF"}[evidence.kind]
    return f"{origin} says {what} ({evidence.detail}; unsigned: anyone can add or remove it)"


def read_provenance(data: bytes) -> Provenance:
    """Every declaration found in a file's bytes. Never raises: unreadable metadata is simply not evidence."""
    evidence = _c2pa(data)
    evidence += _xmp(data)
    evidence += _embedded_metadata(data)
    return Provenance(evidence)


def _mime(data: bytes) -> str | None:
    signatures = [
        (b"\xff\xd8\xff", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"GIF8", "image/gif"),
        (b"II*\x00", "image/tiff"),
        (b"MM\x00*", "image/tiff"),
    ]
    for magic, mime in signatures:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        return "image/avif" if brand in (b"avif", b"avis") else "image/heic"
    return None


def _c2pa(data: bytes) -> list[Evidence]:
    mime = _mime(data)
    if mime is None or b"c2pa" not in data:  # no JUMBF label anywhere: skip the reader
        return []
    try:
        import c2pa
    except ImportError:
        return []
    try:
        with c2pa.Reader(mime, io.BytesIO(data)) as reader:
            manifest = reader.get_active_manifest() or {}
            state = reader.get_validation_state()
            results = reader.get_validation_results() or {}
    except Exception:  # no manifest, or one too broken to parse: nothing to report as a declaration
        return []
    failures = [f.get("code", "") for f in results.get("activeManifest", {}).get("failure", [])]
    if any("hash" in code.lower() and "mismatch" in code.lower() for code in failures):  # e.g. assertion.dataHash.mismatch
        validation = "altered"
    elif str(state).lower() in ("valid", "trusted"):
        validation = "valid" if "signingCredential.untrusted" not in failures else "valid-untrusted"
    else:
        validation = "invalid"
    generator = ", ".join(
        " ".join(str(g.get(k, "")) for k in ("name", "version")).strip() for g in manifest.get("claim_generator_info", [])
    ) or str(manifest.get("claim_generator", "unknown tool"))
    signature = manifest.get("signature_info") or {}
    signer = signature.get("issuer") or signature.get("common_name")
    declared = []
    for assertion in manifest.get("assertions", []):
        if assertion.get("label", "").startswith("c2pa.actions"):
            for action in assertion.get("data", {}).get("actions", []):
                source_type = str(action.get("digitalSourceType", "")).removeprefix(IPTC)
                if source_type in SOURCE_TYPES:
                    declared.append((SOURCE_TYPES[source_type], f"{action.get('action', 'action')}: {source_type}"))
    if not declared:  # a manifest that declares no source type still names the tool that made it
        declared = [("generator" if _names_generator(generator) else "edited", "no digital source type")]
    order = ["ai", "ai-edited", "computer-generated", "generator", "edited", "screen-capture", "capture"]
    declares, action_text = min(declared, key=lambda d: order.index(d[0]))
    return [
        Evidence(
            "c2pa",
            declares,
            f"{action_text}, by {generator}",
            signed=True,
            signer=signer,
            validation=validation,
            problems=failures,
        )
    ]


_XMP_SOURCE_TYPE = re.compile(rb"DigitalSourceType(?:>|=\")\s*(?:<[^>]*>\s*)?([^<\"\s]+)")


def _xmp(data: bytes) -> list[Evidence]:
    found = []
    for match in _XMP_SOURCE_TYPE.finditer(data):
        value = match.group(1).decode("utf-8", "replace").removeprefix(IPTC).rsplit("/", 1)[-1]
        if value in SOURCE_TYPES and value not in {e.detail.split(": ")[-1] for e in found}:
            found.append(Evidence("xmp", SOURCE_TYPES[value], f"Iptc4xmpExt:DigitalSourceType: {value}"))
    return found


def _embedded_metadata(data: bytes) -> list[Evidence]:
    try:
        with Image.open(io.BytesIO(data)) as image:
            text = dict(getattr(image, "text", {}) or {}) if image.format == "PNG" else {}
            exif = image.getexif()
    except Exception:  # a file PIL cannot parse has no PNG text or EXIF we could trust
        return []
    found = []
    for key, value in text.items():
        # ComfyUI's "prompt" is a JSON graph; a plain "prompt" text alone says nothing about the tool.
        if (key in PNG_GENERATOR_KEYS and key != "prompt") or (key == "prompt" and _looks_like_json(value)):
            found.append(Evidence("png-text", "generator", f"'{key}' chunk written by {PNG_GENERATOR_KEYS[key]}"))
        elif key in ("Software", "Comment", "Description", "Source") and _names_generator(str(value)):
            found.append(Evidence("png-text", "generator", f"{key}: {_short(value)}"))
    for tag, name in ((0x0131, "Software"), (0x010E, "ImageDescription"), (0x010F, "Make"), (0x0110, "Model")):
        value = exif.get(tag)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if value and _names_generator(str(value)):
            found.append(Evidence("exif", "generator", f"{name}: {_short(value)}"))
    return found


def _names_generator(text: str) -> bool:
    lowered = text.lower()
    return any(re.search(rf"(?<![a-z]){re.escape(name)}(?![a-z])", lowered) for name in GENERATORS)


def _looks_like_json(value: str) -> bool:
    try:
        return isinstance(json.loads(value), dict)
    except (ValueError, TypeError):
        return False


def _short(value, limit: int = 80) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def combine(result: dict, provenance: Provenance) -> dict:
    """The headline verdict from pixels and provenance together; the pixel verdict always stays beside it.

    A validly signed C2PA declaration of AI generation makes the headline AI; a validly signed capture claim
    makes it real. Anything unsigned, and any manifest that fails validation, is reported but never moves the
    verdict (and an altered or invalid manifest never counts towards "real").
    """
    result = dict(result, pixel_verdict=result["verdict"], provenance=provenance.to_dict(), verdict_reason="pixels")
    if (declared := provenance.signed_ai) is not None:
        result.update(verdict="ai", verdict_reason=f"signed declaration: {describe(declared)}")
    elif (captured := provenance.signed_capture) is not None:
        result.update(verdict="real", verdict_reason=f"signed declaration: {describe(captured)}")
    return result
