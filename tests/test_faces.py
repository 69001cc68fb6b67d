import numpy as np
import pytest
from PIL import Image

from realorai.config import FACE_SIZE
from realorai.faces import centre_square, face_crops, square_around, whole_image_crop


def test_square_around_keeps_centre_and_margin_when_it_fits():
    assert square_around((40, 50, 60, 70), (200, 200), margin=2.0) == (30, 40, 70, 80)


def test_square_around_shifts_and_shrinks_instead_of_padding():
    # near the edge: shifted inside
    left, top, right, bottom = square_around((0, 0, 50, 50), (200, 100), margin=1.5)
    assert (left, top) == (0, 0) and right - left == bottom - top == 75
    # face larger than the picture (UTKFace-style tight crop): the whole short side, never beyond
    assert square_around((-20, -30, 230, 260), (200, 180), margin=1.2) == (15, 0, 195, 180)


def test_centre_square():
    assert centre_square((300, 200)) == (50, 0, 250, 200)


def test_real_portrait_gives_one_face_crop(real_portrait):
    crops = face_crops(real_portrait)
    assert len(crops) == 1
    crop = crops[0]
    assert crop.image.size == (FACE_SIZE, FACE_SIZE)
    assert crop.face.score > 0.95
    x0, y0, x1, y1 = crop.face.box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left, top, right, bottom = crop.crop_box
    assert left <= cx <= right and top <= cy <= bottom  # the face is inside what we cut
    assert 0 <= left < right <= real_portrait.width and 0 <= top < bottom <= real_portrait.height


def test_two_faces_side_by_side(real_portrait, ai_portrait):
    canvas = Image.new("RGB", (2 * 256 + 40, 256), (128, 128, 128))
    canvas.paste(real_portrait.resize((256, 256)), (0, 0))
    canvas.paste(ai_portrait.resize((256, 256)), (256 + 40, 0))
    crops = face_crops(canvas)
    assert len(crops) == 2
    centres = sorted((c.face.box[0] + c.face.box[2]) / 2 for c in crops)
    assert centres[0] < 256 < 296 < centres[1]
    assert len(face_crops(canvas, all_faces=False)) == 1


@pytest.mark.parametrize("kind", ["noise", "flat"])
def test_no_face(kind):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8) if kind == "noise" else np.full((240, 320, 3), 90, np.uint8)
    image = Image.fromarray(pixels)
    assert face_crops(image) == []
    fallback = whole_image_crop(image)
    assert fallback.face is None and fallback.crop_box == (40, 0, 280, 240)


def test_large_photo_is_detected_at_reduced_scale_but_boxes_are_full_scale(real_portrait):
    big = real_portrait.resize((real_portrait.width * 6, real_portrait.height * 6), Image.BICUBIC)
    small_box = face_crops(real_portrait)[0].face.box
    big_box = face_crops(big)[0].face.box
    assert np.allclose(np.asarray(big_box) / 6, small_box, atol=6)


def test_our_mtcnn_finds_the_librarys_faces(real_portrait, ai_portrait):
    # The dataset's faces were found by facenet-pytorch's MTCNN as it ships; serving and the builder now run
    # the same weights through realorai.mtcnn (torch alone, channels-last). Boxes and scores must be the
    # library's, or served crops drift from the training crops.
    import torch
    from facenet_pytorch import MTCNN as LibraryMTCNN

    from realorai.faces import MIN_FACE_PX, default_detector

    library = LibraryMTCNN(keep_all=True, min_face_size=MIN_FACE_PX, post_process=False, device="cpu")
    ours = default_detector()._mtcnn
    assert ours.pnet.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    scene = Image.new("RGB", (640, 480), (120, 120, 120))  # faces of several sizes, one cut by the edge
    for face, side, place in [(real_portrait, 200, (10, 60)), (ai_portrait, 150, (240, 20)), (real_portrait, 60, (450, 300)),
                              (ai_portrait, 120, (560, 400))]:  # fmt: skip
        scene.paste(face.resize((side, side)), place)
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8))
    found = 0
    for picture in (real_portrait, ai_portrait, scene, noise):
        boxes, scores = ours.detect(picture)
        with torch.inference_mode():
            reference_boxes, reference_scores = library.detect(picture)
        if reference_boxes is None:
            assert len(boxes) == len(scores) == 0
            continue
        order, reference_order = np.argsort(scores), np.argsort(np.asarray(reference_scores, dtype=np.float32))
        assert np.allclose(boxes[order], np.asarray(reference_boxes, dtype=np.float32)[reference_order], atol=1e-3)
        assert np.allclose(scores[order], np.asarray(reference_scores, dtype=np.float32)[reference_order], atol=1e-5)
        found += len(boxes)
    assert found >= 5  # one per portrait, three or more in the scene


def test_faces_too_small_for_the_first_search_are_found_by_the_second(real_portrait, ai_portrait):
    """A wide scene whose faces are ~3% of its long side: at 400 px they shrink under MTCNN's 20 px and
    are missed; the second search (only on a big picture with none found) finds every one, boxed in full-scale
    pixels, and cuts crops as for any face."""
    from realorai.faces import FaceDetector, default_detector

    canvas = Image.new("RGB", (3600, 1200), (150, 140, 130))
    places = [(300, 500), (1100, 420), (1900, 560), (2700, 450)]
    for (x, y), face in zip(places, (real_portrait, ai_portrait, real_portrait, ai_portrait)):
        canvas.paste(face.resize((110, 110), Image.BICUBIC), (x, y))
    assert FaceDetector(retry_max_side=0).detect(canvas) == []  # the first search alone
    crops = face_crops(canvas)
    assert len(crops) == 4 and default_detector().retry_max_side == 1200
    for crop, (x, y) in zip(sorted(crops, key=lambda c: c.face.box[0]), places):
        x0, y0, x1, y1 = crop.face.box
        assert x <= (x0 + x1) / 2 <= x + 110 and y <= (y0 + y1) / 2 <= y + 110
        assert crop.image.size == (FACE_SIZE, FACE_SIZE)
    # a big picture with no face at all is searched twice and still has none
    assert face_crops(Image.new("RGB", (3600, 1200), (150, 140, 130))) == []


def test_the_nearest_face_of_a_group_photo_does_not_hide_the_others(group_photo, real_portrait, monkeypatch):
    """One face big enough for the first search and three a little smaller that are not (~3% of the long
    side): the first search finds only the big one, which is small itself, so the second search runs and
    finds all four. Before, any face found stopped the search (group scenes: 56 of 80 real faces found)."""
    from realorai import faces as faces_module
    from realorai.faces import FaceDetector

    assert len(FaceDetector(retry_max_side=0).detect(group_photo)) == 1  # the first search sees the big face only
    found = FaceDetector().detect(group_photo)
    assert len(found) == 4 and sorted(round(f.box[0], -2) // 800 for f in found) == [0, 1, 2, 3]
    monkeypatch.setattr(faces_module, "HIDES_SMALLER_FACES_PX", 0)  # the rule before: only when none was found
    assert len(FaceDetector().detect(group_photo)) == 1
    # A portrait whose face fills the frame is searched once: its face is far over the limit at 400 px.
    big_portrait = real_portrait.resize((1600, 1600), Image.BICUBIC)
    (face,) = FaceDetector(retry_max_side=0).detect(big_portrait)
    assert (face.box[2] - face.box[0]) * 400 / 1600 > 2 * faces_module.HIDES_SMALLER_FACES_PX


def test_labels_of_a_group_photos_faces_fit_their_faces_and_never_cover_each_other():
    from realorai.predict import VERDICT_COLOUR, Analysis, FaceResult, box_labels, draw_boxes

    def face(x, p_ai, verdict, side=60):
        box = [x, 500, x + side, 500 + side]
        return FaceResult(box, box, 0.99, p_ai, 1 - p_ai, verdict, max(p_ai, 1 - p_ai))

    picture = Image.new("RGB", (3200, 1200), (128, 128, 128))
    crowd = Analysis([face(100 + 90 * i, p, v) for i, (p, v) in enumerate([(0.999, "ai"), (0.02, "real"), (0.6, "uncertain")])]
                     + [face(3150, 0.01, "real", side=45)], True, [3200, 1200], "test")  # fmt: skip
    labels = box_labels(crowd, 0.5, (1600, 600))  # as drawn for the page: scaled to 1600 px
    first, *rest = labels
    assert first.font_size < 600 // 12  # sized to a 30 px face, not the picture
    assert [label.text for label in labels[:3]] == ["1", "2", "3"]  # 45 px apart: full labels would cover the next face
    assert rest[2].text == "4: Real photo 99%" and rest[2].rect[2] <= 1600  # at the right edge: moved inside
    assert not any(a.rect[0] < b.rect[2] and b.rect[0] < a.rect[2] for a, b in zip(labels, labels[1:]))
    # alone, the same face has its whole label
    assert box_labels(Analysis(crowd.faces[:1], True, [3200, 1200], "test"), 0.5, (1600, 600))[0].text == "1: AI-generated 99%"
    # a lone uncertain face says its P(AI), not "Uncertain 60%" (the probability of the verdict's side)
    alone = Analysis([face(1000, 0.6, "uncertain", side=300)], True, [3200, 1200], "test")
    assert box_labels(alone, 1.0, (3200, 1200))[0].text == "1: Uncertain P(AI) 60%"
    drawn = np.asarray(draw_boxes(picture, crowd, max_side=1600))
    assert drawn.shape == (600, 1600, 3) and (np.asarray(picture) == 128).all()  # drawn on a copy
    for label in labels:
        x0, y0, *_ = label.rect
        assert tuple(drawn[y0 + 1, x0 + 1]) == VERDICT_COLOUR[crowd.faces[labels.index(label)].verdict]
