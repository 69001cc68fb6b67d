"""The tuned class path of the last block (realorai.class_path) is a plain timm ViT with new weights.

Training only the class token's path through block 11, on tokens normalised once per image, still gives one timm
model; that rests on equalities checked here on CLIP's real weights: the untouched path reproduces timm's
block, a changed path written back as timm tensors gives timm's model exactly the path's output, and the
serving runtime (INT8 graph, then the path) agrees with timm's float model carrying the same tensors.
"""

from dataclasses import replace

import numpy as np
import pytest
import timm
import torch

from realorai.backbones import CLIP_ARCHITECTURE, clip_backbone_state, clip_class_path, clip_int8_class_path, clip_model_args
from realorai.class_path import (
    ClassPath,
    GroupReweighting,
    TokenStore,
    Tuning,
    interpolated,
    one_class_loss,
    tune,
    tuned_soup,
)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
DEPTH = 11


def _tokens_into_last_block(model, images: torch.Tensor) -> torch.Tensor:
    tokens = model.norm_pre(model._pos_embed(model.patch_embed(images)))
    for block in model.blocks[:-1]:
        tokens = block(tokens)
    return tokens


def _cut_model(state: dict | None = None):
    model = timm.create_model(CLIP_ARCHITECTURE, pretrained=False, num_classes=0, **clip_model_args(DEPTH))
    loaded = model.load_state_dict(clip_backbone_state(DEPTH) | (state or {}), strict=False)
    assert not loaded.missing_keys and not loaded.unexpected_keys  # num_classes=0: no head to load
    return model.eval()


def _nudged(path: ClassPath, seed: int) -> ClassPath:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in path.parameters():
            if parameter.requires_grad:  # norm1 is frozen: it normalises the stored tokens
                parameter.add_(0.02 * torch.randn(parameter.shape, generator=generator))
    return path.eval()


@pytest.fixture(scope="module")
def clip_path() -> ClassPath:
    return clip_class_path(DEPTH)


@torch.inference_mode()
def test_untouched_path_is_clips_block(clip_path):
    model = _cut_model()
    images = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    ours = clip_path.features(_tokens_into_last_block(model, images))
    theirs = model.forward_head(model.forward_features(images), pre_logits=True)
    assert torch.allclose(ours, theirs, atol=2e-3), (ours - theirs).abs().max()
    # Its timm tensors are CLIP's own, bit for bit: nothing is lost going through the path.
    wheel = clip_backbone_state(DEPTH)
    assert all(torch.equal(v, wheel[k]) for k, v in clip_path.model_state(DEPTH - 1).items())


@torch.inference_mode()
def test_changed_path_loads_into_timm(clip_path):
    path = _nudged(interpolated(clip_path, clip_path, 0.0), 1)
    model = _cut_model(path.model_state(DEPTH - 1))
    images = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(2))
    tokens = _tokens_into_last_block(model, images)
    ours = path.features(tokens)
    theirs = model.forward_head(model.forward_features(images), pre_logits=True)
    assert torch.allclose(ours, theirs, atol=2e-3), (ours - theirs).abs().max()
    untouched = clip_path.features(tokens)
    assert not torch.allclose(ours, untouched, atol=1e-2)  # the change is visible, so the equality above means something
    halfway = interpolated(clip_path, path, 0.5).features(tokens)
    assert torch.allclose(halfway, interpolated(path, clip_path, 0.5).features(tokens), atol=1e-4)
    assert not torch.allclose(halfway, ours, atol=1e-3) and not torch.allclose(halfway, untouched, atol=1e-3)


@torch.inference_mode()
def test_serving_runtime_is_the_int8_tokens_through_the_path(clip_path, real_portrait, ai_portrait):
    """The app's runtime for a tuned model: INT8 blocks 1-10 (the tokens training cached), then the path in
    float; against timm's float model carrying the same tensors it differs only by INT8 activations."""
    from realorai.backbones import int8_outputs
    from realorai.tokens import int8_session

    path = _nudged(interpolated(clip_path, clip_path, 0.0), 3)
    runtime = clip_int8_class_path(DEPTH, trained=path.model_state(DEPTH - 1))
    assert runtime.name != clip_int8_class_path(DEPTH).name  # the feature cache keys on the tuned weights
    images = [real_portrait, ai_portrait]
    batch = torch.stack([runtime.transform(image) for image in images])
    session, outputs = int8_session((DEPTH - 1,))
    tokens = torch.from_numpy(int8_outputs(session, outputs, batch.numpy())[0])
    served = runtime.features(images)
    assert np.abs(served - path.features(tokens).numpy()).max() < 1e-4 * np.abs(served).max()
    model = _cut_model(path.model_state(DEPTH - 1))
    floating = model.forward_head(model.forward_features(batch), pre_logits=True).numpy()
    cosine = (served * floating).sum(1) / np.linalg.norm(served, axis=1) / np.linalg.norm(floating, axis=1)
    assert (cosine > 0.85).all(), cosine  # as the untuned INT8 runtime against timm (test_onnx_weights)


def test_tuning_moves_only_what_it_is_told_to(clip_path):
    rng = np.random.default_rng(0)
    tokens = torch.from_numpy(rng.normal(size=(24, 197, 768)).astype(np.float32))
    store = TokenStore(24, clip_path)
    ids = store.add(tokens.numpy())
    assert np.allclose(store.features(clip_path, ids), clip_path.features(tokens).numpy(), atol=5e-2)  # fp16 tokens
    labels, weights = np.arange(24) % 2, np.ones(24)
    start = dict(clip_path.named_parameters())
    attention = {"q.weight", "q.bias", "proj.weight", "proj.bias"}
    for train, moved in (("attention", attention), ("attention-kv", attention | {"kv_weight", "kv_bias"})):
        tuned = tune(store, ids, labels, weights, Tuning(train=train, epochs=1, head_epochs=1, batch=8, lr=1e-3))
        after = dict(tuned.named_parameters())
        assert {name for name in start if not torch.equal(start[name], after[name])} == moved, train
    # a soup of two seeds is the mean of the two tunings, weight by weight
    one = Tuning(train="attention-kv", epochs=1, head_epochs=1, batch=8, lr=1e-3)
    first, second = (tune(store, ids, labels, weights, replace(one, seed=s)) for s in (0, 1))
    soup = dict(tuned_soup(store, ids, labels, weights, replace(one, soup=2)).named_parameters())
    for name, value in first.named_parameters():
        mean = (value + dict(second.named_parameters())[name]) / 2
        assert torch.allclose(soup[name], mean, atol=1e-6), name
    assert not torch.equal(dict(first.named_parameters())["q.weight"], dict(second.named_parameters())["q.weight"])
    # a soup over generators: one path per AI generator, tuned on the rows without its faces, averaged
    from realorai.generalisation import SplitData, training_rows
    from realorai.tuned_recipe import generator_soup

    generators = np.where(labels == 1, np.array(["g1", "g2", "g3"])[np.arange(24) // 2 % 3], "camera")
    train = SplitData(labels, np.where(labels == 1, generators, "cam"), generators, {"clean": ids})
    keep = np.ones(24, bool)
    soup = dict(generator_soup(store, train, ("clean",), keep, 1.0, None, one).named_parameters())
    ingredients = []
    for left_out in ("g1", "g2", "g3"):
        rows, row_labels, row_weights = training_rows(train, ("clean",), generators != left_out)
        assert len(rows) == 20 and left_out not in set(generators[np.isin(ids, rows)].tolist())
        ingredients.append(dict(tune(store, rows, row_labels, row_weights, one).named_parameters()))
    for name, value in soup.items():
        assert torch.allclose(value, sum(i[name] for i in ingredients) / 3, atol=1e-5), name


@torch.inference_mode()
def test_hidden_tokens_are_out_of_the_class_tokens_reach(clip_path):
    """Token dropout in tuning (`Tuning.token_drop`): the path then sees only the visible tokens, as if
    the hidden ones were not in the image at all."""
    rng = np.random.default_rng(1)
    tokens = torch.from_numpy(rng.normal(size=(3, 197, 768)).astype(np.float32))
    cls, kv = tokens[:, 0], clip_path.normalised(tokens)
    everything = clip_path(cls, kv)
    assert torch.allclose(clip_path(cls, kv, torch.ones(3, 197, dtype=torch.bool)), everything, atol=1e-5)
    visible = torch.ones(3, 197, dtype=torch.bool)
    visible[:, 50:150] = False
    hidden = clip_path(cls, kv, visible)
    kept = torch.cat([torch.arange(50), torch.arange(150, 197)])  # the class token (0) stays visible
    subset = clip_path.features(tokens[:, kept])
    assert torch.allclose(hidden, subset, atol=1e-4), (hidden - subset).abs().max()
    assert not torch.allclose(hidden, everything, atol=1e-2)


def test_the_path_can_be_tuned_with_other_group_weights_than_the_head(clip_path, monkeypatch):
    """`tuned_fitter(tune_group_weights=...)` (benchmarks/tuned_block.py --tune-group-weight): the path is
    tuned with those weights, the head still with the training split's own."""
    from dataclasses import replace

    from realorai import tuned_recipe
    from realorai.generalisation import SplitData

    rng = np.random.default_rng(2)
    store = TokenStore(12, clip_path)
    ids = store.add(rng.normal(size=(12, 197, 768)).astype(np.float32))
    labels = np.arange(12) % 2
    generators = np.where(labels == 1, np.array(["gan", "sd"])[np.arange(12) // 2 % 2], "camera")
    train = SplitData(labels, np.where(labels == 1, generators, "cam"), generators, {"clean": ids}, {"ai/gan": 0.1})
    seen = {}

    def tuned_soup(store, rows, row_labels, weights, tuning, groups):
        gan = generators[np.searchsorted(ids, rows)] == "gan"
        assert groups.tolist() == train.groups[np.searchsorted(ids, rows)].tolist()  # each row's group, for Group DRO
        seen.setdefault("tuned", []).append(weights[gan].sum() / weights[(row_labels == 1) & ~gan].sum())
        return store.path

    def fit_recipe(train, validation, *rest):
        seen.setdefault("head", []).append(train.group_weights)
        return type("Fitted", (), {"decision": None})()

    monkeypatch.setattr(tuned_recipe, "tuned_soup", tuned_soup)
    monkeypatch.setattr(tuned_recipe, "fit_recipe", fit_recipe)
    for tune_weights in (None, {"ai/gan": 1.0}):
        fit = tuned_recipe.tuned_fitter(store, replace(Tuning(), epochs=1), 0.02, ("clean",), tune_group_weights=tune_weights)
        fit(train, train)
    assert np.allclose(seen["tuned"], [0.1, 1.0])  # GAN rows' share against the other generator's
    assert seen["head"] == [{"ai/gan": 0.1}] * 2


def test_group_dro_raises_the_worse_fitted_groups_and_keeps_each_class_total():
    """`Tuning.group_dro`: within a class, the group with the higher loss gains weight; the class's total
    weight stays, so the balance of real and AI is the recipe's."""
    labels = np.array([0, 0, 0, 1, 1, 1, 1])
    groups = np.array(["real/a", "real/a", "real/b", "ai/x", "ai/x", "ai/y", "ai/z"])
    weights = torch.tensor([1.0, 1.0, 2.0, 1.0, 1.0, 2.0, 1.0])
    reweighting = GroupReweighting(labels, groups, weights, step=0.5)
    losses = torch.tensor([0.1, 0.1, 1.0, 0.2, 0.2, 2.0, 0.5])
    for _ in range(2):
        multipliers = reweighting.step(np.arange(7), losses, weights)
        assert torch.isclose((multipliers * weights)[:3].sum(), weights[:3].sum())
        assert torch.isclose((multipliers * weights)[3:].sum(), weights[3:].sum())
        assert multipliers[2] > 1 > multipliers[0] and multipliers[5] > multipliers[6] > multipliers[3]
    # a batch without a group leaves that group's log-weight where it was
    before = reweighting.log_weight.clone()
    reweighting.step(np.array([0, 3]), losses[[0, 3]], weights[[0, 3]])
    changed = (reweighting.log_weight != before).nonzero().flatten().tolist()
    assert len(changed) == 2
    with pytest.raises(ValueError, match="group"):
        GroupReweighting(labels, None, weights, step=0.5)
    # over the real sources only: the AI groups keep the recipe's weights
    real_only = GroupReweighting(labels, groups, weights, step=0.5, only=0)
    multipliers = real_only.step(np.arange(7), losses, weights)
    assert torch.allclose(multipliers[3:], torch.ones(4)) and multipliers[2] > 1 > multipliers[0]


def test_the_one_class_loss_charges_real_photos_outside_their_margin_and_ai_faces_inside_theirs(clip_path):
    tuning = Tuning(loss="one-class", real_margin=0.9, ai_margin=0.2, scale=20.0)
    cosine = torch.tensor([0.95, 0.0, 0.1, 0.5])
    loss = one_class_loss(cosine, torch.tensor([0.0, 0.0, 1.0, 1.0]), tuning)
    assert loss[0] < 0.5 < 10 < loss[1] and loss[2] < 0.5 < 5 < loss[3]
    with pytest.raises(ValueError, match="margins"):
        Tuning(loss="one-class", real_margin=0.2, ai_margin=0.5)
    rng = np.random.default_rng(3)
    store = TokenStore(12, clip_path)
    ids = store.add(rng.normal(size=(12, 197, 768)).astype(np.float32))
    tuned = tune(store, ids, np.arange(12) % 2, np.ones(12), replace(tuning, epochs=1, head_epochs=1, batch=4, lr=1e-3))
    assert not torch.equal(tuned.q.weight, clip_path.q.weight)
    with pytest.raises(ValueError, match="0/1"):
        tune(store, ids, np.arange(12) % 3, np.ones(12), tuning)


def test_a_faces_features_do_not_depend_on_the_other_faces_run_with_it(real_portrait, ai_portrait):
    """The INT8 graph quantizes activations with one scale per batch (DynamicQuantizeLinear): run as one
    batch, a face's tokens would move with its batchmates (cosine 0.91-0.97), so the same face would score
    differently alone, in a group photo, or in the training cache's batches of 32. Runtimes and token
    caches run it one image at a time."""
    from realorai.backbones import int8_outputs
    from realorai.tokens import int8_session

    runtime = clip_int8_class_path(DEPTH)
    others = [real_portrait.transpose(0), ai_portrait.rotate(90), real_portrait.resize((64, 64))]
    alone = runtime.features([real_portrait])
    together = runtime.features([real_portrait, *others])
    assert np.allclose(alone[0], together[0], atol=1e-5)  # float rounding of the torch part only
    session, outputs = int8_session((DEPTH - 1,))
    pixels = torch.stack([runtime.transform(image.convert("RGB")) for image in [real_portrait, *others]]).numpy()
    batched = session.run(outputs, {"pixel_values": pixels})[0][0]  # what the runtimes did before
    one = int8_outputs(session, outputs, pixels[:1])[0][0]
    assert np.array_equal(one, int8_outputs(session, outputs, pixels)[0][0])
    assert not np.allclose(batched, one, atol=1e-2)  # the graph does depend on the batch: the reason for the above
