"""benchmarks/pictures.py's pieces that a candidate benchmark reuses: a folder's pictures cropped as the app
crops them, their tokens computed as a split's are, and each copy's headline verdict."""

import shutil

import numpy as np
import pytest
from datasets import Dataset, Features, Image

from benchmarks.pictures import COPIES, picture_faces, picture_verdicts
from realorai.config import EXAMPLES_DIR, FACE_SIZE
from realorai.tokens import image_tokens, split_tokens


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """One real and one AI example, a README and a picture whose name gives no class (left out)."""
    root = tmp_path_factory.mktemp("pictures")
    for name in ("real-london-1.jpg", "ai-sfhq-t2i-1.jpg"):
        shutil.copy(EXAMPLES_DIR / name, root / name)
    shutil.copy(EXAMPLES_DIR / "real-london-2.jpg", root / "unlabelled.jpg")
    (root / "real-notes.md").write_text("not a picture")
    return root


@pytest.fixture(scope="module")
def faces(folder):
    return picture_faces(folder)


def test_every_copy_of_every_labelled_picture_gives_its_face(faces):
    assert len(faces) == 2 * len(COPIES)  # one face per copy, the unlabelled picture and the notes left out
    assert {(picture, label) for picture, label, *_ in faces} == {("real-london-1.jpg", "real"), ("ai-sfhq-t2i-1.jpg", "ai")}
    assert [name for picture, _, name, _ in faces if picture == "real-london-1.jpg"] == list(COPIES)
    assert all(face.size == (FACE_SIZE, FACE_SIZE) for *_, face in faces)


def test_a_pictures_tokens_are_the_tokens_its_split_would_cache(faces, tmp_path):
    crops = [face for *_, face in faces[:3]]
    split = Dataset.from_dict({"image": crops}, features=Features({"image": Image()}))
    (cached,) = split_tokens(split, "pictures", "clean", tmp_path)
    (computed,) = image_tokens(split["image"])
    assert computed.shape == cached.shape == (3, 197, 768) and computed.dtype == np.float16
    assert np.array_equal(computed, np.asarray(cached))


def test_a_copy_is_judged_by_its_most_ai_looking_face_and_wrong_verdicts_are_counted():
    faces = [
        ("real-a.jpg", "real", "as uploaded", None),
        ("real-a.jpg", "real", "as uploaded", None),  # a second face in the same copy
        ("real-a.jpg", "real", "0.5x", None),
        ("ai-b.jpg", "ai", "as uploaded", None),
        ("ai-b.jpg", "ai", "0.5x", None),
    ]
    reference = np.array([0.0, 0.3, 0.5, 0.7])  # known real photos' P(AI)
    table = picture_verdicts(faces, np.array([0.1, 0.995, 0.5, 0.01, 0.999]), (0.2, 0.99), reference)
    assert table["rows"]["real-a.jpg"] == {
        "as uploaded": {"p_ai": 0.995, "verdict": "ai", "reals_as_high": 0.0},  # above every known real photo
        "0.5x": {"p_ai": 0.5, "verdict": "uncertain", "reals_as_high": 0.5},
    }
    assert table["rows"]["ai-b.jpg"]["as uploaded"] == {"p_ai": 0.01, "verdict": "real", "reals_as_high": 0.75}
    assert table["wrong"] == {"real": 1, "ai": 1} and table["of"] == {"real": 2, "ai": 2}
    assert table["thresholds"] == [0.2, 0.99]
