"""The tuned class path of block 11 (benchmarks/tuned_block.py) is a plain timm ViT with new weights.

The benchmark trains only the class token's path through block 11, on frozen keys and values. Its claim
that the result is still one timm model rests on two equalities checked here on real CLIP weights: the
untouched path reproduces timm's block, and a changed path written back as timm tensors gives timm's model
exactly the path's output.
"""

import numpy as np
import pytest
import timm
import torch

from benchmarks.tuned_block import BLOCK, ClassPath, block_state, frozen_block, interpolated, keys_values
from realorai.backbones import CLIP_ARCHITECTURE, clip_backbone_state, clip_model_args

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _tokens_into_block(model, images: torch.Tensor) -> torch.Tensor:
    tokens = model.norm_pre(model._pos_embed(model.patch_embed(images)))
    for block in model.blocks[:BLOCK]:
        tokens = block(tokens)
    return tokens


def _class_output(path: ClassPath, tokens: torch.Tensor) -> torch.Tensor:
    return path(tokens[:, 0], torch.from_numpy(keys_values(tokens.numpy(), frozen_block()[0])))


@pytest.fixture(scope="module")
def cut_model():
    model = timm.create_model(CLIP_ARCHITECTURE, pretrained=False, num_classes=0, **clip_model_args(BLOCK + 1))
    loaded = model.load_state_dict(clip_backbone_state(BLOCK + 1), strict=False)
    assert not loaded.missing_keys and not loaded.unexpected_keys  # num_classes=0: no head to load
    return model.eval()


@torch.inference_mode()
def test_untouched_path_is_clips_block(cut_model):
    images = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    tokens = _tokens_into_block(cut_model, images)
    path = ClassPath(*frozen_block()).eval()
    ours = _class_output(path, tokens)
    theirs = cut_model.forward_head(cut_model.forward_features(images), pre_logits=True)
    assert torch.allclose(ours, theirs, atol=2e-3), (ours - theirs).abs().max()


@torch.inference_mode()
def test_changed_path_loads_into_timm(cut_model):
    generator = torch.Generator().manual_seed(1)
    path = ClassPath(*frozen_block())
    for parameter in path.parameters():
        if parameter.requires_grad:  # norm1 is frozen: it also makes the keys and values
            parameter.add_(0.02 * torch.randn(parameter.shape, generator=generator))
    model = timm.create_model(CLIP_ARCHITECTURE, pretrained=False, num_classes=0, **clip_model_args(BLOCK + 1))
    loaded = model.load_state_dict(clip_backbone_state(BLOCK + 1) | block_state(path), strict=False)
    assert not loaded.missing_keys and not loaded.unexpected_keys
    model.eval()
    images = torch.randn(2, 3, 224, 224, generator=generator)
    tokens = _tokens_into_block(model, images)
    ours = _class_output(path.eval(), tokens)
    theirs = model.forward_head(model.forward_features(images), pre_logits=True)
    assert torch.allclose(ours, theirs, atol=2e-3), (ours - theirs).abs().max()
    untouched = _class_output(ClassPath(*frozen_block()).eval(), tokens)
    assert not torch.allclose(ours, untouched, atol=1e-2)  # the change is visible, so the equality above means something
    halfway = _class_output(interpolated(path, 0.5), tokens)
    assert np.isfinite(halfway.numpy()).all() and not torch.allclose(halfway, ours, atol=1e-3)
