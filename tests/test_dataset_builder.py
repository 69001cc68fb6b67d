"""End-to-end builds on a small tree of real portraits, with planted duplicates and bad files."""

import hashlib
import io
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from datasets import load_dataset, load_from_disk
from PIL import Image

from dataset_builder.build import BuildOptions, build
from dataset_builder.dedupe import close_pairs
from dataset_builder.prepare import perceptual_hash
from tests.bad_inputs import convertible_images, write_bad_files
from tests.conftest import portrait_files

pytestmark = pytest.mark.slow  # trains or builds datasets: out of `make test-fast`

REPO = Path(__file__).resolve().parent.parent


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def planted_tree(input_tree, tmp_path_factory):
    """The sample tree plus: an exact copy across sources, a re-encoded near copy, bad and odd files."""
    root = tmp_path_factory.mktemp("planted")
    shutil.copytree(input_tree, root, dirs_exist_ok=True)
    tpdne = sorted((root / "ai" / "tpdne").glob("*.jpg"))
    shutil.copy(tpdne[0], root / "ai" / "sdfd" / "zz_exact_copy.jpg")
    ffhq = sorted((root / "real" / "ffhq").glob("*.jpg"))
    buffer = io.BytesIO()
    Image.open(ffhq[0]).save(buffer, format="JPEG", quality=80)
    (root / "real" / "ffhq" / "zz_near_copy.jpg").write_bytes(buffer.getvalue())
    portrait = Image.open(ffhq[1]).convert("RGB")
    write_bad_files(root / "real" / "ffhq", portrait)
    (root / "real" / "ffhq" / "notes.txt").write_text("not a picture")
    unused = next(p for p in portrait_files("real", "ffhq", 40) if not (root / "real" / "ffhq" / p.name).exists())
    convertible_images(Image.open(unused).convert("RGB"))["cmyk.jpg"].save(root / "real" / "ffhq" / "zz_cmyk.jpg")
    return root


@pytest.fixture(scope="module")
def built(planted_tree, tmp_path_factory):
    """Built once through the real command line (two worker processes), as a user would."""
    out = tmp_path_factory.mktemp("built") / "ds"
    before = tree_digest(planted_tree)
    run = subprocess.run(
        [sys.executable, "-m", "dataset_builder", str(planted_tree), "--out", str(out), "--workers", "2"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert tree_digest(planted_tree) == before  # inputs untouched
    return out, run.stdout


def test_summary_card_and_dataset_agree(built):
    out, stdout = built
    dataset = load_from_disk(str(out))
    actual = Counter()
    for split, ds in dataset.items():
        names = ds.features["label"].names
        for label, source, generator in zip(ds["label"], ds["source"], ds["generator"]):
            actual[(split, names[label], source, generator)] += 1
    printed = Counter({tuple(m[:4]): int(m[4]) for m in re.findall(r"^(\w+)\s+(real|ai)\s+(\S+)\s+(\S+)\s+(\d+)$", stdout, re.M)})
    card = (out / "README.md").read_text()
    in_card = Counter(
        {tuple(m[:4]): int(m[4]) for m in re.findall(r"^\| (\w+) \| (real|ai) \| (\S+) \| (\S+) \| (\d+) \|$", card, re.M)}
    )
    assert actual == printed == in_card
    assert card.startswith("---\n") and "configs:" in card and "license" in card
    # Each source's licence and the generator kinds come from realorai.sources, for these sources only.
    assert "- FFHQ (real; Flickr photos, FFHQ-aligned): CC BY-NC-SA 4.0" in card and "UTKFace (real;" in card
    assert "diffusion / text-to-image (SDFD); GAN (tpdne)" in card
    assert "SFHQ-T2I" not in card and "unknown" not in card.split("## Licences")[1]
    assert dataset["train"].features["label"].names == ["real", "ai"]
    assert {"train", "validation", "test"} == set(dataset)


def test_generator_comes_from_manifest(built):
    dataset = load_from_disk(str(built[0]))
    pairs = {(s, g) for ds in dataset.values() for s, g in zip(ds["source"], ds["generator"])}
    assert ("sdfd", "stable-diffusion-2.1") in pairs and ("tpdne", "stylegan2") in pairs and ("ffhq", "camera") in pairs


def test_planted_duplicates_are_dropped_and_reported(built):
    out, stdout = built
    files = [f for ds in load_from_disk(str(out)).values() for f in ds["file"]]
    twin = "ai/tpdne/" + sorted(p.name for p in (built_inputs(out) / "ai" / "tpdne").glob("*.jpg"))[0]
    assert ("ai/sdfd/zz_exact_copy.jpg" in files) + (twin in files) == 1  # one copy kept, in one split only
    assert "real/ffhq/zz_near_copy.jpg" not in files  # its original sorts first and is kept
    assert re.search(r"exact_cross_source 1", stdout) and re.search(r"near_same_source [1-9]", stdout)


def built_inputs(out: Path) -> Path:
    import json

    return Path(json.loads((out / "build_report.json").read_text())["settings"]["inputs"][0])


def test_no_lookalike_crosses_splits(built):
    """Any two crops closer than the grouping distance must share a split."""
    out, _ = built
    dataset = load_from_disk(str(out))
    hashes, splits = [], []
    for split, ds in dataset.items():
        hashes += [perceptual_hash(image, BuildOptions.hash_size) for image in ds["image"]]
        splits += [split] * len(ds)
    for i, j in close_pairs(np.array(hashes, dtype=np.uint64), BuildOptions.group_bits):
        assert splits[i] == splits[j]


def test_bad_files_are_skipped_with_reasons_and_odd_ones_converted(built):
    out, _ = built
    import json

    report = json.loads((out / "build_report.json").read_text())
    reasons = {Path(path).name: why for path, why in report["skipped"]}
    assert "empty" in reasons["empty.jpg"]
    assert "not an image" in reasons["not_an_image.jpg"]
    assert "truncated" in reasons["truncated.jpg"]
    assert "limit" in reasons["bomb.png"]
    assert "at least" in reasons["tiny.png"]
    assert "extension" in reasons["notes.txt"]
    files = [f for ds in load_from_disk(str(out)).values() for f in ds["file"]]
    assert "real/ffhq/zz_cmyk.jpg" in files  # CMYK converted, kept


def test_imagefolder_export_loads_with_the_same_counts(built):
    out, _ = built
    dataset = load_from_disk(str(out))
    folder = load_dataset("imagefolder", data_dir=str(out / "imagefolder"))
    assert {k: len(v) for k, v in folder.items()} == {k: len(v) for k, v in dataset.items()}
    assert set(folder["train"]["source"]) == set(dataset["train"]["source"])


def test_same_inputs_and_seed_give_the_same_split(built, planted_tree, tmp_path):
    out, _ = built
    again = tmp_path / "again"
    build(BuildOptions(inputs=[planted_tree], out=again, workers=1))
    first, second = load_from_disk(str(out)), load_from_disk(str(again))
    assert {s: sorted(first[s]["file"]) for s in first} == {s: sorted(second[s]["file"]) for s in second}


def test_holdout_source(planted_tree, tmp_path):
    out = tmp_path / "holdout"
    build(BuildOptions(inputs=[planted_tree], out=out, holdout=["sdfd"], workers=1))
    dataset = load_from_disk(str(out))
    assert set(dataset["holdout"]["source"]) == {"sdfd"}
    for split in ("train", "validation", "test"):
        assert "sdfd" not in set(dataset[split]["source"])
    assert "holdout" in (out / "README.md").read_text()


def test_refuses_to_overwrite_and_to_write_into_inputs(built, planted_tree):
    out, _ = built
    marker = out / "dataset_dict.json"
    stamp = marker.stat().st_mtime_ns
    run = subprocess.run(
        [sys.executable, "-m", "dataset_builder", str(planted_tree), "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2 and "--overwrite" in run.stderr
    assert marker.stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match="overlaps the input"):
        build(BuildOptions(inputs=[planted_tree], out=planted_tree / "out", overwrite=True))
    with pytest.raises(ValueError, match="overlaps the input"):
        build(BuildOptions(inputs=[planted_tree / "real"], out=planted_tree, overwrite=True))
    with pytest.raises(ValueError, match="hash-size must be at least 2"):
        build(BuildOptions(inputs=[planted_tree], out=out, overwrite=True, hash_size=1))
    assert marker.stat().st_mtime_ns == stamp  # refused before the old build was touched
