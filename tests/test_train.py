"""train.py end to end on a tiny dataset: a real (short) training run, resume, eval-only, Hub loading."""

import json

import numpy as np
import pytest

from realorai.metrics import binary_metrics
from tests.conftest import FAST_TRAIN as FAST
from tests.conftest import run_python as run
from tests.hub_cache import add_to_hub_cache

pytestmark = pytest.mark.slow  # trains or builds datasets: out of `make test-fast`


def test_training_writes_a_complete_hub_folder(trained):
    out, stdout = trained
    for name in ("config.json", "model.safetensors", "metrics.json", "README.md", "roc.png", "reliability.png", "robustness.png"):
        assert (out / name).is_file(), name
    config = json.loads((out / "config.json").read_text())
    assert config["architecture"] == "mobilenetv2_100" and config["label_names"] == ["real", "ai"]
    assert config["num_classes"] == 2 and config["realorai"]["temperature"] > 0
    assert "temperature fitted on validation" in stdout and "### Test split" in stdout


def test_metrics_match_the_saved_predictions_and_the_card(trained):
    out, _ = trained
    metrics = json.loads((out / "metrics.json").read_text())
    predictions = json.loads((out / "test_predictions.json").read_text())["test"]
    recomputed = binary_metrics(np.array(predictions["labels"]), np.array(predictions["p_ai"]))
    assert recomputed == metrics["splits"]["test"]["overall"]
    assert set(metrics["splits"]["test"]["per_source"]) == {"ffhq", "utkface", "sdfd", "tpdne"}
    assert set(metrics["splits"]["test"]["robustness"]) >= {"jpeg_q50", "resize_0.25x", "blur_sigma1"}
    card = (out / "README.md").read_text()
    assert card.startswith("---\n") and "model-index:" in card
    assert f"value: {metrics['splits']['test']['overall']['roc_auc']:.4f}" in card
    assert metrics["command"].startswith("python train.py") and metrics["command"] in card
    assert "non-commercial" in card.lower() and "$" not in card.split("```")[0]  # every placeholder filled


def test_resume_continues_from_the_checkpoint(trained, small_dataset):
    out, _ = trained
    stdout = run(
        "train.py", "--data", str(small_dataset), "--out", str(out), *FAST[:2], *FAST[4:],
        "--epochs", "2", "--resume", "--no-robustness",
    )
    assert "resumed after epoch 1" in stdout
    history = json.loads((out / "metrics.json").read_text())["training"]["history"]
    assert [h["epoch"] for h in history] == [1, 2]
    assert all(h["val_worst_group"].startswith(("real/", "ai/")) for h in history)
    # Both checkpoints say what they are without the run folder.
    import torch
    from safetensors import safe_open

    checkpoint = torch.load(out / "checkpoint" / "last.pt", map_location="cpu", weights_only=False)
    assert checkpoint["config"]["architecture"] == "mobilenetv2_100" and checkpoint["config"]["epochs"] == 2
    assert checkpoint["progress"]["epoch"] == 2 and len(checkpoint["progress"]["history"]) == 2
    with safe_open(out / "checkpoint" / "best.safetensors", "pt") as best:
        assert json.loads(best.metadata()["config"])["data"] == str(small_dataset)


def test_eval_only_and_offline_hub_load(trained, small_dataset, tmp_path):
    out, _ = trained
    cache = tmp_path / "hub-cache"
    add_to_hub_cache(out, "real-or-ai/tiny-test", cache)
    offline = {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache)}
    # timm's own loader, as a user would call it, must give the same logits as the local folder.
    code = (
        "import sys, timm, torch\n"
        "hub = timm.create_model('hf-hub:real-or-ai/tiny-test', pretrained=True).eval()\n"
        f"local = timm.create_model('local-dir:{out}', pretrained=True).eval()\n"
        "x = torch.randn(2, 3, 224, 224)\n"
        "assert hub.pretrained_cfg['label_names'] == ['real', 'ai'], hub.pretrained_cfg\n"
        "assert torch.allclose(hub(x), local(x)); print('same logits')\n"
    )
    assert "same logits" in run("-c", code, env=offline)
    report = tmp_path / "evaluated"
    run(
        "train.py",
        "--eval-only",
        "--model",
        "hf-hub:real-or-ai/tiny-test",
        "--data",
        str(small_dataset),
        "--out",
        str(report),
        "--no-robustness",
        env=offline,
    )
    assert json.loads((report / "metrics.json").read_text())["splits"]["test"]["overall"]["n"] > 0
    assert (report / "model.safetensors").is_file()


def test_holdout_is_scored_on_unseen_sources_against_test_reals():
    from datasets import Dataset, DatasetDict

    from train import evaluation_split

    dataset = DatasetDict(
        {
            "train": Dataset.from_dict({"label": [0, 1], "source": ["ffhq", "tpdne"]}),
            "test": Dataset.from_dict({"label": [0, 1, 0], "source": ["ffhq", "tpdne", "yonsei"]}),
            # a tpdne look-alike followed its SDFD group into holdout: seen generator, so not scored
            "holdout": Dataset.from_dict({"label": [1, 1, 1], "source": ["sdfd", "sdfd", "tpdne"]}),
        }
    )
    scored = evaluation_split(dataset, "holdout")
    assert sorted(zip(scored["source"], scored["label"])) == [("ffhq", 0), ("sdfd", 1), ("sdfd", 1), ("yonsei", 0)]
    assert evaluation_split(dataset, "test") is dataset["test"]


def test_sampling_schemes_give_the_shares_they_promise():
    import torch
    from torch.utils.data import WeightedRandomSampler

    from realorai.finetune import sampling_weights
    from realorai.probe import group_names as sampling_groups

    # Unequal counts like the real set; tpdne and tpdne-b are two scrapes of one generator.
    rows = [(0, "ffhq", "camera")] * 10 + [(0, "utkface", "camera")] * 60 + [(1, "tpdne", "stylegan2")] * 9
    rows += [(1, "tpdne-b", "stylegan2")] * 3 + [(1, "sdfd", "stable-diffusion-2.1")] * 25
    labels, sources, generators = map(list, zip(*rows))
    groups = sampling_groups(labels, sources, generators)
    assert set(groups) == {"real/ffhq", "real/utkface", "ai/stylegan2", "ai/stable-diffusion-2.1"}
    weights = sampling_weights(labels, sources, generators, "group")
    share = {g: float(sum(w for w, h in zip(weights, groups) if h == g) / weights.sum()) for g in set(groups)}
    assert all(abs(s - 0.25) < 1e-6 for s in share.values()), share
    # FFHQ and the StyleGAN2 faces that imitate it are drawn 1:1 by the real sampler, too.
    drawn = [groups[i] for i in WeightedRandomSampler(weights, 20_000, generator=torch.Generator().manual_seed(0))]
    ratio = drawn.count("real/ffhq") / drawn.count("ai/stylegan2")
    assert 0.93 < ratio < 1.07, ratio
    # The shipped recipe: half per class, then per source -> StyleGAN2's two scrapes outweigh FFHQ 2:1.
    weights = sampling_weights(labels, sources, generators, "class-source")
    share = {s: float(sum(w for w, t in zip(weights, sources) if t == s) / weights.sum()) for s in set(sources)}
    assert share["ffhq"] == pytest.approx(0.25) and share["tpdne"] + share["tpdne-b"] == pytest.approx(1 / 3)


def test_early_stopping_watches_the_worst_source():
    from realorai.finetune import worst_group_auc

    labels = np.array([1, 1, 0, 0, 0, 0])
    p_ai = np.array([0.9, 0.8, 0.1, 0.2, 0.85, 0.1])
    groups = ["ai/x", "ai/x", "real/a", "real/a", "real/b", "real/b"]
    # real/a is separated perfectly; real/b's 0.85 beats one of the two AI scores: AUC 3/4.
    # ai/x against all four reals: 0.9 beats 4, 0.8 beats 3 -> 7/8.
    assert worst_group_auc(labels, p_ai, groups) == (0.75, "real/b")
    assert worst_group_auc(np.array([0, 0]), np.array([0.1, 0.2]), ["real/a", "real/a"]) == (0.0, "none")


def test_unknown_recipe_options_fail_before_any_work():
    from train import parse_args

    for flag in ("--sampling", "--select-on"):
        with pytest.raises(ValueError, match=f"unknown {flag} 'typo'"):
            parse_args([flag, "typo"])
    with pytest.raises(ValueError, match="write GROUP=W"):  # a source named without its kind would weigh nothing
        parse_args(["--group-weights", "stylegan2=0.1"])
    assert parse_args(["--group-weights", "ai/stylegan2=0.1"]).group_weights == "ai/stylegan2=0.1"


def test_the_flags_make_one_probe_recipe_that_refuses_contradictions():
    from realorai.kinds import KindRecipe
    from realorai.probe_training import ProbeRecipe
    from train import parse_args, probe_recipe

    shipped = probe_recipe(parse_args([]))
    assert shipped.tuning.train == "attention-kv" and shipped.kinds == KindRecipe() and shipped.views == ("clean", "augment-1")
    assert shipped.unseen_real_target == 0.01 and "at most 1% of its photos called AI" in shipped.decision_rule()
    # what the report's folds record: the head's settings, the per-kind head and the tuning, in metrics.json's keys
    record = shipped.record(shipped.views)
    assert record["train_views"] == ["clean", "augment-1"] and record["kind_offsets"] == {"gan": 3.0}
    assert record["tuning"]["train"] == "attention-kv" and record["ai_augment_weight"] == 0.5
    frozen = probe_recipe(parse_args(["--tune", "none", "--head", "binary", "--also-fit-on", "clip-b16"]))
    assert frozen.tuning is None and frozen.kinds is None and frozen.also_fit_on == ("clip-b16",)
    assert "tuning" not in frozen.record(frozen.views) and "kind_offsets" not in frozen.record(frozen.views)
    # a folder evaluated with --eval-only is refitted as it was made: untuned, one real/AI head
    assert probe_recipe(parse_args([]), tuned=False, per_kind=False).tuning is None
    with pytest.raises(ValueError, match="tuned class path"):
        ProbeRecipe(kinds=KindRecipe())
    with pytest.raises(ValueError, match="one runtime"):
        probe_recipe(parse_args(["--also-fit-on", "clip-b16"]))


def test_the_epoch_loop_follows_its_schedule_and_resume_refuses_another_network(tmp_path):
    import torch

    from realorai.finetune import Schedule, load_checkpoint, save_checkpoint, train_one_epoch

    schedule = Schedule(lr=1e-2, total_steps=10, warmup_steps=2)
    assert [round(schedule.at(s), 6) for s in (0, 1, 2, 10)] == [0.005, 0.01, 0.01, 0.0]
    torch.manual_seed(0)
    # Separable toy data: the label is the sign of the mean pixel.
    images = torch.randn(64, 3, 8, 8) + torch.repeat_interleave(torch.tensor([-1.0, 1.0]), 32)[:, None, None, None]
    labels = (images.mean(dim=(1, 2, 3)) > 0).long()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images, labels), batch_size=16, shuffle=True)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(192, 2))
    optimizer = torch.optim.AdamW(model.parameters(), lr=schedule.lr)
    first = train_one_epoch(model, loader, optimizer, schedule, step=0, progress=False)
    second = train_one_epoch(model, loader, optimizer, schedule, step=first["step"], progress=False)
    assert (first["step"], second["step"]) == (4, 8)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(schedule.at(7))
    assert second["train_loss"] < first["train_loss"]

    path = tmp_path / "last.pt"
    config = {"architecture": "toy", "img_size": 8, "crop_pct": 1.0, "data": "d", "epochs": 2}
    save_checkpoint(path, model, optimizer, {"epoch": 2, "step": 8}, config)
    fresh = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(192, 2))
    fresh_optimizer = torch.optim.AdamW(fresh.parameters())
    assert load_checkpoint(path, fresh, fresh_optimizer, config | {"epochs": 5}) == {"epoch": 2, "step": 8}  # more epochs: fine
    assert torch.equal(fresh[1].weight, model[1].weight)
    with pytest.raises(ValueError, match="img_size: checkpoint 8, now 16"):
        load_checkpoint(path, fresh, fresh_optimizer, config | {"img_size": 16})
    torch.save({"model": model.state_dict(), "epoch": 1}, tmp_path / "old.pt")  # the format before configs
    with pytest.raises(ValueError, match="start a fresh --out"):
        load_checkpoint(tmp_path / "old.pt", fresh, fresh_optimizer, config)


def test_a_group_weight_names_a_group_the_data_has():
    from realorai.generalisation import SplitData

    labels = np.array([0, 1, 1])
    sources, generators = np.array(["ffhq", "genphotos", "tpdne"]), np.array(["camera", "unknown-gan (genphotos)", "stylegan2"])
    split = SplitData(labels, sources, generators, {})
    # a generator by the name before its description, or whole
    named = SplitData(labels, sources, generators, {}, {"ai/unknown-gan": 0.3, "ai/stylegan2": 0.1})
    assert named.group_weights == {"ai/unknown-gan (genphotos)": 0.3, "ai/stylegan2": 0.1}
    # a misspelt or absent group would have weighed nothing and changed nothing: refused, with the names
    with pytest.raises(ValueError, match=r"'ai/genphotos': no such group.*ai/unknown-gan \(genphotos\)"):
        SplitData(labels, sources, generators, {}, {"ai/genphotos": 0.3})
    assert split.group_weights == {}
