"""Serving computes timm's evaluation transform itself (importing timm costs ~2 s of every start): it must be
timm's to the bit, or served features drift from the cached ones the head was trained on."""

import pytest
import timm
import torch
from PIL import Image
from timm.data import create_transform, resolve_data_config

from realorai.backbones import CLIP_ARCHITECTURE, CLIP_DATA_CONFIG, clip_transform
from realorai.preprocess import CentreCropTransform, eval_transform

# the fine-tuned CNN recipe's backbone: crop 0.875, ImageNet's mean and std
IMAGENET_CNN = resolve_data_config({}, pretrained_cfg=timm.models.get_pretrained_cfg("mobilenetv2_100").to_dict())


@pytest.mark.parametrize(
    "config",
    [
        CLIP_DATA_CONFIG,
        CLIP_DATA_CONFIG | {"crop_pct": 0.875},
        IMAGENET_CNN,
        IMAGENET_CNN | {"input_size": (3, 256, 256), "interpolation": "bilinear"},
    ],
    ids=["clip", "clip-crop", "cnn", "cnn-256-bilinear"],
)
def test_eval_transform_is_timms_to_the_bit(config, real_portrait, ai_portrait):
    ours, timms = eval_transform(config), create_transform(**config, is_training=False)
    assert isinstance(ours, CentreCropTransform)  # computed here, not handed to timm
    pictures = [
        real_portrait.resize((256, 256)),  # a served face crop
        real_portrait.resize((300, 260)),  # wider than tall, odd margins
        ai_portrait.resize((181, 397)),  # taller than wide
        ai_portrait.resize((50, 40)),  # enlarged
        ai_portrait.resize((224, 224)),  # already the input size: no resampling
    ]
    for picture in pictures:
        assert torch.equal(ours(picture), timms(picture)), picture.size


def test_other_crops_are_left_to_timm():
    squash = eval_transform(CLIP_DATA_CONFIG | {"crop_mode": "squash"})
    assert not isinstance(squash, CentreCropTransform)
    picture = Image.new("RGB", (300, 200), (10, 200, 30))
    assert squash(picture).shape == (3, 224, 224)


def test_clips_stated_data_config_is_timms():
    pretrained_cfg = timm.models.get_pretrained_cfg(CLIP_ARCHITECTURE).to_dict()
    for crop_pct in (1.0, 0.875):
        resolved = resolve_data_config({"crop_pct": crop_pct}, pretrained_cfg=pretrained_cfg)
        assert CLIP_DATA_CONFIG | {"crop_pct": crop_pct} == resolved
        assert isinstance(clip_transform(crop_pct), CentreCropTransform)
