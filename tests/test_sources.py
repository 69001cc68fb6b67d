"""Facts about the data's sources live once, in realorai.sources; the cards and the app read them."""

import csv

import pytest

from realorai.config import portraits_dir
from realorai.sources import SOURCES, licence_lines, licence_summary, names_by_family, training_sources


@pytest.mark.skipif(not (portraits_dir() / "manifest.csv").is_file(), reason=f"no portraits at {portraits_dir()}")
def test_every_source_in_the_data_is_described_with_its_label():
    # A new source in the data without facts here would reach the cards as "licence unknown".
    with open(portraits_dir() / "manifest.csv", newline="") as f:
        labels = {(row["source"], row["label"]) for row in csv.DictReader(f)}
    assert {source for source, _ in labels} <= set(SOURCES)
    assert all(SOURCES[source].label == label for source, label in labels)


def test_licences_are_never_silently_free():
    assert licence_summary(["sfhq-t2i", "ffhq", "yonsei", "sdfd"]) == (
        "FFHQ: CC BY-NC-SA 4.0 (non-commercial, share-alike); SFHQ-T2I: MIT; no licence stated by SDFD, Yonsei"
    )
    # A folder of one's own, or the app's wrong-verdict reports: unknown, and said so.
    (line,) = licence_lines(["reports"])
    assert "unknown" in line and "check the source" in line
    families = names_by_family(["tpdne", "sdfd", "ffhq", "sfhq-t2i"])
    assert families == {"camera": ["FFHQ"], "diffusion": ["SDFD", "SFHQ-T2I"], "gan": ["tpdne"]}


def test_the_model_card_and_the_app_list_the_training_sources_licences():
    import json

    from realorai.config import BUNDLED_MODEL_DIR

    metrics = json.loads((BUNDLED_MODEL_DIR / "metrics.json").read_text())
    sources = training_sources(metrics)
    assert sources == sorted(SOURCES)  # the bundled model saw every source
    card = (BUNDLED_MODEL_DIR / "README.md").read_text()
    assert all(line in card for line in licence_lines(sources))
