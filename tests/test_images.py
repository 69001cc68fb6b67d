import numpy as np
import pytest
from PIL import Image, ImageFile

from realorai.images import ImageLoadError, load_image
from tests.bad_inputs import animated_gif, convertible_images, decompression_bomb, exif_rotated, save, write_bad_files

EXPECTED_MESSAGES = {
    "empty.jpg": "empty",
    "not_an_image.jpg": "not an image",
    "truncated.jpg": "truncated",
    "bomb.png": "limit is",
    "tiny.png": "at least",
}


@pytest.mark.parametrize("name", sorted(EXPECTED_MESSAGES))
def test_bad_files_raise_a_clear_error(tmp_path, real_portrait, name):
    files = write_bad_files(tmp_path, real_portrait)
    with pytest.raises(ImageLoadError, match=EXPECTED_MESSAGES[name]):
        load_image(files[name])


@pytest.mark.parametrize("side", [8000, 30000])  # 64 MP: our cap; 900 MP: PIL's guard fires first
def test_bomb_is_refused_before_decoding(side, monkeypatch):
    decoded = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(self.size))
    with pytest.raises(ImageLoadError, match="limit is 50 MP"):
        load_image(decompression_bomb(side, side))
    assert not decoded  # refused from the header: no pixel data was read


@pytest.mark.parametrize("name", sorted(convertible_images(Image.new("RGB", (64, 64)))))
def test_unusual_encodings_become_8bit_rgb_of_the_same_picture(tmp_path, real_portrait, name):
    path = save(convertible_images(real_portrait)[name], tmp_path / name)
    image = load_image(path)
    assert image.mode == "RGB" and image.size == real_portrait.size
    reference = np.asarray(real_portrait.convert("L"), dtype=float)
    gray = np.asarray(image.convert("L"), dtype=float)
    # Same picture, not a black/white/garbled frame: strongly correlated with the original.
    assert np.corrcoef(reference.ravel(), gray.ravel())[0, 1] > 0.9


def test_alpha_is_composited_on_white(tmp_path):
    transparent = Image.new("RGBA", (64, 64), (255, 0, 0, 0))
    image = load_image(save(transparent, tmp_path / "clear.png"))
    assert image.getpixel((5, 5)) == (255, 255, 255)


def test_exif_rotation_is_applied(tmp_path, real_portrait):
    wide = real_portrait.crop((0, 0, real_portrait.width, real_portrait.height // 2))  # landscape
    image = load_image(exif_rotated(wide, tmp_path / "rotated.jpg"))
    assert image.size == wide.size  # stored portrait-wise, shown upright again
    diff = np.abs(np.asarray(image, dtype=float) - np.asarray(wide, dtype=float)).mean()
    assert diff < 12  # only JPEG noise, not a rotated picture


def test_animated_gif_uses_first_frame(tmp_path, real_portrait):
    image = load_image(animated_gif(real_portrait, tmp_path / "anim.gif"))
    assert image.mode == "RGB"
    first = np.asarray(real_portrait, dtype=float)
    assert np.abs(np.asarray(image, dtype=float) - first).mean() < 20  # palette error only, not the flipped frame


def test_missing_file(tmp_path):
    with pytest.raises(ImageLoadError, match="no such file"):
        load_image(tmp_path / "nope.jpg")
