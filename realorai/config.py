"""Settings that the dataset builder, training and the app must agree on.

Everything here is read by more than one side; change it once, here.
"""

from __future__ import annotations

import os
from pathlib import Path

# Class index -> name. The dataset's ClassLabel, the model's label_names and the app all come from this.
LABELS: tuple[str, ...] = ("real", "ai")
AI_INDEX = LABELS.index("ai")
REAL_INDEX = LABELS.index("real")
# A model may split "ai" into a class per kind of AI image ("ai-diffusion", "ai-gan": realorai.kinds); every
# class but "real" is then a kind of AI image and P(AI) = 1 - P(real) (realorai.calibration.ai_probability).

REPO_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_MODEL_DIR = REPO_ROOT / "model"  # the shipped default model, in Hub layout
EXAMPLES_DIR = REPO_ROOT / "examples"  # pictures whose licences let them ship with the app (see its README)
# The plots training writes next to the model (realorai.plots) and the Insights tab shows: named here so the
# app finds them without importing matplotlib and scikit-learn (~2.5 s of its cold start).
PLOT_FILES = {
    "roc": "roc.png",
    "reliability": "reliability.png",
    "robustness": "robustness.png",
    "leave_one_out": "leave_one_out.png",
    "held_out_reshare": "leave_one_out_reshared.png",
    "reshare": "reshare.png",
    "per_group": "per_source.png",
}


def portraits_dir() -> Path:
    """Where the labelled portraits live: $PORTRAITS_DIR, else ../shared/data/portraits."""
    return Path(os.environ.get("PORTRAITS_DIR", REPO_ROOT.parent / "shared" / "data" / "portraits"))


# Face crop: square around the detected face box, grown by this factor. Framing differs by source
# (UTKFace faces overflow the frame, FFHQ faces fill ~75% of it); 1.15 is the widest margin every
# source can give without padding, so all crops show the same face-filling framing.
FACE_MARGIN = 1.15
FACE_SIZE = 256  # side of the stored/served face crop; the model's own transform takes it from here

# Input guards.
MAX_PIXELS = 50_000_000  # refuse larger images before decoding them (decompression bombs)
MIN_SIDE = 32  # smaller images hold too little detail to judge
MAX_FILE_MB = 40  # per uploaded file (a 48 MP phone JPEG is ~15 MB)
MAX_REQUEST_MB = 100  # per request, all files together: a batch of phone photos fits, a flood does not

# Calibrated P(ai) inside this band is reported as "uncertain" rather than forced to a side.
UNCERTAIN_BAND = (0.35, 0.65)
