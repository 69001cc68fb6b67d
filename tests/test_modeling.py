import numpy as np
import pytest
import skimage.data as skimage_data  # natural photos: a cat and a coffee cup
import torch
import torchvision
from PIL import Image

from realorai.modeling import (
    BACKBONE,
    ServingConfig,
    imagenet_model,
    load_classifier,
    map_by_order,
    new_classifier,
    offline_weights_path,
    save_hub_folder,
)
from realorai.preprocess import data_config, eval_transform

# ImageNet classes: 281-285 domestic cats; 967 espresso, 968 cup, 504 coffee mug.
CATS = set(range(281, 286))
COFFEE = {967, 968, 504}


def test_every_tensor_of_the_file_maps_with_matching_shape():
    state = torch.load(offline_weights_path(BACKBONE), map_location="cpu", weights_only=True)
    target = imagenet_model(BACKBONE).state_dict()
    mapped = map_by_order(state, target)  # any mismatch in count or shape raises
    assert len(mapped) == len([k for k in state if not k.endswith("num_batches_tracked")]) == 262
    assert set(mapped) == {k for k in target if not k.endswith("num_batches_tracked")}


def test_mapped_timm_model_equals_torchvision_reference():
    reference = torchvision.models.mobilenet_v2()
    reference.load_state_dict(torch.load(offline_weights_path(BACKBONE), weights_only=True))
    ours = imagenet_model(BACKBONE)
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(ours.eval()(x), reference.eval()(x), atol=1e-5)


def test_mapping_refuses_misaligned_weights():
    state = torch.load(offline_weights_path(BACKBONE), map_location="cpu", weights_only=True)
    state.pop(next(iter(state)))
    with pytest.raises(ValueError, match="count mismatch"):
        map_by_order(state, imagenet_model(BACKBONE).state_dict())


@pytest.mark.parametrize("architecture", ["mobilenetv2_100", "tf_efficientnet_lite0"])
@pytest.mark.parametrize(("photo", "classes"), [("chelsea", CATS), ("coffee", COFFEE)])
def test_sane_imagenet_prediction_on_natural_photos(architecture, photo, classes):
    model = imagenet_model(architecture).eval()
    image = Image.fromarray(getattr(skimage_data, photo)())
    with torch.no_grad():
        top5 = model(eval_transform(data_config(model))(image).unsqueeze(0)).topk(5).indices[0].tolist()
    assert top5[0] in classes, top5


def test_hub_folder_round_trip(tmp_path):
    model = new_classifier().eval()
    save_hub_folder(model, tmp_path, ServingConfig(temperature=1.7))
    assert {p.name for p in tmp_path.iterdir()} == {"config.json", "model.safetensors"}
    loaded, serving = load_classifier(tmp_path)
    assert serving.temperature == pytest.approx(1.7) and serving.labels == ("real", "ai")
    assert loaded.pretrained_cfg["label_names"] == ["real", "ai"]
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert np.allclose(loaded(x).numpy(), model(x).numpy(), atol=1e-5)
