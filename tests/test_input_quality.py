"""What the app says about a picture's compression and its faces' size, from real encoders' files."""

import io

import numpy as np
import pytest
from PIL import Image

from realorai.input_quality import (
    RECOMPRESSED_JPEG_QUALITY,
    SMALL_FACE_PX,
    Compression,
    compression_note,
    input_notes,
    lossy_compression,
    small_face_note,
)


def picture(seed: int = 0) -> Image.Image:
    """A smooth picture with some texture: what an encoder sees in a photo, not flat colour."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:96, 0:128]
    base = np.stack([x * 2, y * 2, (x + y)], axis=-1) + rng.normal(0, 12, (96, 128, 3))
    return Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def test_the_jpeg_quality_a_file_was_saved_at_is_read_back():
    """libjpeg's own tables at every quality, and chroma subsampling or progressive coding do not confuse it."""
    image = picture()
    for quality in range(1, 101):
        assert lossy_compression(encoded(image, "JPEG", quality=quality)) == Compression("JPEG", quality)
    assert lossy_compression(encoded(image, "JPEG", quality=60, subsampling=0, progressive=True)).quality == 60


def test_an_encoder_with_its_own_tables_reads_as_the_nearest_libjpeg_quality():
    fine = [2] * 64  # a camera's near-lossless table: no re-share
    coarse = [40] * 64  # about as coarse, in log steps, as libjpeg's quality 64
    assert lossy_compression(encoded(picture(), "JPEG", qtables=[fine, fine])).quality > 90
    assert 60 <= lossy_compression(encoded(picture(), "JPEG", qtables=[coarse, coarse])).quality <= 68


def test_webp_is_lossy_or_not_by_its_image_chunk_and_lossless_formats_have_no_compression_note():
    opaque, with_alpha = picture(), picture().convert("RGBA")
    with_alpha.putalpha(Image.linear_gradient("L").resize(with_alpha.size))  # an extended file: VP8X, ALPH, VP8
    lossy = encoded(with_alpha, "WEBP", quality=80)
    assert lossy[12:16] == b"VP8X"
    assert lossy_compression(lossy) == lossy_compression(encoded(opaque, "WEBP", quality=50)) == Compression("WebP", None)
    for lossless in (encoded(with_alpha, "WEBP", lossless=True), encoded(opaque, "PNG"), encoded(opaque, "BMP")):
        assert lossy_compression(lossless) is None
    for junk in (b"", b"\xff\xd8\xff\xe0 not really a jpeg", b"RIFF\x10\x00\x00\x00WEBPVP8", b"plain text"):
        assert lossy_compression(junk) is None


def test_a_compression_note_only_for_a_copy_compressed_like_a_re_share():
    image = picture()
    assert compression_note(lossy_compression(encoded(image, "JPEG", quality=92))) is None  # the data's and examples'
    at_limit = compression_note(lossy_compression(encoded(image, "JPEG", quality=RECOMPRESSED_JPEG_QUALITY)))
    assert at_limit.kind == "recompressed" and at_limit.label == f"compressed (JPEG at quality ~{RECOMPRESSED_JPEG_QUALITY})"
    webp = compression_note(Compression("WebP", None))
    assert webp.label == "compressed (lossy WebP)" and "Real photo or Uncertain verdict" in webp.text


@pytest.mark.parametrize(
    ("sides", "label", "opening"),
    [
        ([200], None, None),
        ([SMALL_FACE_PX + 1, 300], None, None),
        ([SMALL_FACE_PX], f"small face ({SMALL_FACE_PX} px)", "The face is small"),
        ([300, 40, 56], "small face (40 px)", "2 of 3 faces are small (40 px across"),
        ([300, 50], "small face (50 px)", "1 of 2 faces is small"),
        ([], None, None),  # no face found: the whole-picture judgement has its own message
    ],
)
def test_a_small_face_note_names_the_smallest_face(sides, label, opening):
    note = small_face_note(sides)
    assert (note and note.label) == label
    assert note is None or note.text.startswith(opening)


def test_notes_come_in_order_and_a_decoded_picture_has_no_file_to_read():
    re_shared = encoded(picture(), "JPEG", quality=55)
    assert [note.kind for note in input_notes(re_shared, [48])] == ["recompressed", "small_face"]
    assert [note.kind for note in input_notes(None, [48])] == ["small_face"]
    assert input_notes(encoded(picture(), "PNG"), [224]) == []
