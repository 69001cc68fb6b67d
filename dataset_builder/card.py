"""Render the dataset card (README.md with Hub YAML metadata) from the counts of the built dataset."""

from __future__ import annotations

from collections import Counter

import yaml

from realorai.config import FACE_MARGIN, LABELS
from realorai.sources import licence_lines, names_by_family


def generators_line(sources: list[str]) -> str:
    """Which kinds of generator the data holds, so the card never claims more (or less) than it has."""
    families = names_by_family(sources)
    kinds = [
        f"{kind} ({', '.join(families[key])})"
        for key, kind in (("diffusion", "diffusion / text-to-image"), ("gan", "GAN"))
        if families.get(key)
    ]
    return (
        "- AI sources: " + ("; ".join(kinds) or "none described") + ". Results on other generators are not implied; "
        "report per source and per generator, and leave one out to estimate an unseen one."
    )


def counts_table(rows: list[tuple[str, str, str, str]]) -> list[tuple[str, str, str, str, int]]:
    """(split, label, source, generator) rows -> sorted count rows."""
    counts = Counter(rows)
    return [(*key, n) for key, n in sorted(counts.items())]


def render_card(
    rows: list[tuple[str, str, str, str]],
    settings: dict,
    dedupe_counts: dict[str, int],
    skipped: Counter,
    splits: list[str],
) -> str:
    table = counts_table(rows)
    split_sizes = Counter(r[0] for r in rows)
    sources = sorted({r[2] for r in rows})
    metadata = {
        "license": "other",
        "license_name": "mixed-non-commercial",
        "license_details": "Mixed sources; see 'Licences'. Non-commercial research use only.",
        "task_categories": ["image-classification"],
        "tags": ["deepfake-detection", "ai-generated-images", "faces", "real-or-ai"],
        "pretty_name": "Real or AI? portrait faces",
        "size_categories": ["1K<n<10K"],
        "configs": [{"config_name": "default", "data_files": [{"split": s, "path": f"data/{s}-*"} for s in splits]}],
    }
    lines = [
        "---",
        yaml.safe_dump(metadata, sort_keys=False).strip(),
        "---",
        "",
        "# Real or AI? portrait faces",
        "",
        "Face crops labelled `real` (camera photographs) or `ai` (GAN or diffusion generated), each tagged "
        "with its `source` (collection) and `generator`. Built by `python -m dataset_builder` in the "
        "[Real or AI?](https://github.com/) project.",
        "",
        "## Columns",
        "",
        f"- `image`: {settings['size']}x{settings['size']} RGB face crop ({settings['format'].upper()})",
        f"- `label`: ClassLabel {list(LABELS)}",
        "- `source`: where the picture comes from; `generator`: `camera` for real photos, else the model",
        "- `face_found`: false when no face was detected and the centre square was kept",
        "- `file`: the input file (`label/source/name`), for tracing",
        "",
        "## Counts",
        "",
        "| split | " + " | ".join(splits) + " |",
        "|---|" + "---:|" * len(splits),
        "| images | " + " | ".join(str(split_sizes[s]) for s in splits) + " |",
        "",
        "| split | label | source | generator | images |",
        "|---|---|---|---|---:|",
        *[f"| {s} | {lab} | {src} | {gen} | {n} |" for s, lab, src, gen, n in table],
        "",
        "## How it was built",
        "",
        "1. Every image is decoded the same way (EXIF orientation applied, first frame of animations, "
        "CMYK/16-bit/palette/alpha converted to 8-bit RGB).",
        f"2. The main face is found with MTCNN (facenet-pytorch) and cut as a square of {FACE_MARGIN}x the face "
        f"box, shifted and shrunk to stay inside the picture (never padded), then resized to "
        f"{settings['size']} px. Images without a face were "
        f"{'kept as their centre square' if settings['keep_faceless'] else 'dropped'}. The app crops the same way "
        "(one shared function).",
        f"3. Duplicates are dropped: identical files, and near duplicates whose {settings['hash_size'] ** 2}-bit "
        "perceptual hash "
        f"(of the crop or of the whole picture) differs in at most {settings['near_duplicate_bits']} bits, "
        f"within and across sources. Removed: "
        + (", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in sorted(dedupe_counts.items())) or "none")
        + ".",
        f"4. Look-alikes (hashes within {settings['group_bits']} bits) are grouped and each group stays in one split; "
        f"splits are stratified by label and source with seed {settings['seed']} "
        f"(fractions {settings['fractions']})."
        + (
            f" Held-out sources ({', '.join(settings['holdout'])}) form the `holdout` split: generators the model never sees."
            if settings["holdout"]
            else ""
        ),
        "5. Skipped inputs: " + (", ".join(f"{reason}: {n}" for reason, n in sorted(skipped.items())) or "none") + ".",
        "",
        "## Known biases and shortcuts",
        "",
        generators_line(sources),
        "- Classes are unbalanced (more real than AI): use balanced sampling or class weights and balanced metrics.",
        "- Original resolutions differ by source (200 px UTKFace up to 1024 px StyleGAN); the upstream data "
        "was resized to 256 px and re-encoded as JPEG q92 for every source. Augment with resize and blur.",
        "- Demographics follow the sources and are not balanced.",
        "",
        "## Licences",
        "",
        *licence_lines(sources),
        "",
        "Non-commercial research use only. The images are not redistributed by the code repository.",
        "",
    ]
    return "\n".join(lines)
