"""The GPU experiment's pieces that decide its numbers: LoRA's update, the recipe's weights, the threshold
rule and the faces it cuts from originals."""

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from benchmarks.gpu_finetune import LoRA, _faces, real_first_threshold, sample_weights
from realorai.backbones import CLIP_ARCHITECTURE, timm_transform
from realorai.config import portraits_dir
from realorai.faces import centre_square, cut
from realorai.images import load_image


def test_lora_starts_as_the_base_layer_and_merges_to_one_weight():
    torch.manual_seed(0)
    base = torch.nn.Linear(12, 6)
    lora = LoRA(base, rank=3, alpha=6.0)
    x = torch.randn(4, 12)
    assert torch.equal(lora(x), base(x))  # up starts at zero: tuning starts from CLIP itself
    with torch.no_grad():
        lora.up.normal_()
    assert not torch.allclose(lora(x), base(x))
    assert torch.allclose(lora(x), F.linear(x, lora.merged(), base.bias), atol=1e-5)


def test_the_experiment_weighs_and_thresholds_as_the_recipe_does():
    rows = [dict(label=0, source="a", generator="camera")] * 30 + [dict(label=0, source="b", generator="camera")] * 10
    rows += [dict(label=1, source="x", generator="gan")] * 5 + [dict(label=1, source="y", generator="gan")] * 15
    rows += [dict(label=1, source="z", generator="diffusion")] * 40
    w = sample_weights(rows)
    share = lambda pick: w[[i for i, r in enumerate(rows) if pick(r)]].sum() / w.sum()  # noqa: E731
    assert share(lambda r: r["label"] == 0) == pytest.approx(0.5)
    assert share(lambda r: r["source"] == "a") == pytest.approx(share(lambda r: r["source"] == "b"))
    # tpdne and tpdne-b style: two sources of one family are one group, as in the leave-one-out
    assert share(lambda r: r["generator"] == "gan") == pytest.approx(share(lambda r: r["generator"] == "diffusion"))
    rng = np.random.default_rng(0)
    p = np.r_[rng.uniform(0, 0.6, 300), rng.uniform(0.2, 0.99, 200), rng.uniform(0.5, 1, 100)]
    sources, labels = ["easy"] * 300 + ["hard"] * 200 + ["fake"] * 100, np.r_[np.zeros(500), np.ones(100)]
    t = real_first_threshold(p, sources, labels)
    assert all((p[np.array(sources) == s] >= t).mean() <= 0.01 for s in ("easy", "hard"))
    assert 0.95 < t < 0.99  # set by the hard source's top 1%, not by the easy one or the fakes


def test_faces_cut_from_the_original_are_the_models_input_under_each_view():
    path = next((portraits_dir() / "real" / "ffhq").glob("*.jpg"))
    image = load_image(path)
    box = centre_square(image.size)
    transform = timm_transform(CLIP_ARCHITECTURE, crop_pct=1.0)
    clean, augmented = _faces((str(path), box, "train", 7), transform)
    expected = transform(cut(image, box)).half().numpy()
    assert clean.shape == (3, 224, 224) and np.array_equal(clean, expected)
    assert augmented.shape == clean.shape and not np.array_equal(augmented, clean)
    again = _faces((str(path), box, "train", 7), transform)[1]
    assert np.array_equal(again, augmented)  # the copy is seeded per face: the CPU recipe's augment-1
    (test_view,) = _faces((str(path), box, "validation", 7), transform)
    assert np.array_equal(test_view, expected)
