"""What we know about each data source, kept here once: the dataset card, the model card and the app's
text all read it. Per-image facts (label, source, generator) stay in the data's manifest.

A source not listed (a folder of one's own, the app's wrong-verdict reports) is shown with its licence as
unknown, never silently as free to use.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    name: str  # as people write it
    label: str  # real | ai
    family: str  # camera | diffusion | gan
    what: str  # what the pictures are, in a few words
    licence: str  # "" = the source states none


SOURCES = {
    "ffhq": Source("FFHQ", "real", "camera", "Flickr photos, FFHQ-aligned", "CC BY-NC-SA 4.0 (non-commercial, share-alike)"),
    "utkface": Source("UTKFace", "real", "camera", "in-the-wild tight crops", "non-commercial research use only"),
    "yonsei": Source("Yonsei", "real", "camera", "real half of the 'real and fake face' set, studio-like head shots", ""),
    "pixabay": Source("Pixabay", "real", "camera", "portrait photos uploaded before 2022", "Pixabay content licence"),
    "sdfd": Source("SDFD", "ai", "diffusion", "Stable Diffusion 2.1 portraits", ""),
    "sfhq-t2i": Source("SFHQ-T2I", "ai", "diffusion", "text-to-image portraits: FLUX.1 pro/dev/schnell, SDXL, DALL-E 3", "MIT"),
    "genphotos": Source("genphotos", "ai", "gan", "StyleGAN-style stock faces, generated-photos look, generator not stated", ""),
    "tpdne": Source("tpdne", "ai", "gan", "StyleGAN2 faces scraped from thispersondoesnotexist", ""),
    "tpdne-b": Source("tpdne-b", "ai", "gan", "StyleGAN2 faces, a second thispersondoesnotexist scrape", ""),
}


def generator_short_name(generator: str) -> str:
    """A generator family as the manifest names it, without its description in brackets:
    "text-to-image" for "text-to-image (FLUX.1 pro/dev/schnell, SDXL, DALL-E 3)"."""
    return generator.split(" (")[0]


def source_facts(key: str) -> Source:
    return SOURCES.get(key) or Source(key, "", "", "not described here", "unknown: check the source before use")


def licence_lines(keys) -> list[str]:
    """One Markdown bullet per source: name, what it is, its licence."""
    lines = []
    for key in sorted(set(keys)):
        source = source_facts(key)
        licence = source.licence or "no licence stated by the source"
        lines.append(f"- {source.name} ({source.label or 'label unknown'}; {source.what}): {licence}.")
    return lines


def licence_summary(keys) -> str:
    """The licences of `keys` in one sentence, sources that state none grouped at the end."""
    sources = [source_facts(key) for key in sorted(set(keys))]
    stated = [f"{s.name}: {s.licence}" for s in sources if s.licence]
    silent = [s.name for s in sources if not s.licence]
    return "; ".join(stated) + (f"; no licence stated by {', '.join(silent)}" if silent else "")


def names_by_family(keys) -> dict[str, list[str]]:
    """The sources among `keys` grouped by family (camera, diffusion, gan; "" for sources not described)."""
    families: dict[str, list[str]] = {}
    for source in map(source_facts, sorted(set(keys))):
        families.setdefault(source.family, []).append(source.name)
    return families


def training_sources(metrics: dict, label: str = "") -> list[str]:
    """The sources a model was trained on (of `label` only, if given), from the dataset counts in its
    metrics.json ("label/source/generator" keys)."""
    keys = metrics.get("dataset", {}).get("train", {})
    return sorted({key.split("/")[1] for key in keys if "/" in key and key.startswith(f"{label}/" if label else "")})
