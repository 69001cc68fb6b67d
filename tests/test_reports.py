"""Wrong-verdict reports: nothing is kept without consent; with it, the picture and result land in a folder
the dataset builder reads as a source; the folder has a size cap."""

import csv

import pytest
from gradio_client import handle_file

from dataset_builder.collect import collect
from realorai.reports import ReportRefused, save_report
from tests.conftest import needs_portraits, portrait_files

pytestmark = needs_portraits
RESULT = {"verdict": "real", "p_ai": 0.12, "model": "bundled model"}


def test_nothing_is_kept_without_consent_a_label_or_a_result(tmp_path):
    picture = portrait_files("ai", "sfhq-t2i", 1, seed=5)[0]
    for consent, label, result in [(False, "ai", RESULT), (True, "maybe", RESULT), (True, "ai", {})]:
        with pytest.raises(ReportRefused, match="nothing was kept"):
            save_report(picture, label, result, consent, folder=tmp_path / "reports")
    assert not (tmp_path / "reports").exists()


def test_a_consented_report_is_a_builder_source_with_its_manifest(tmp_path):
    folder = tmp_path / "reports"
    picture = portrait_files("ai", "sfhq-t2i", 1, seed=5)[0]
    saved = save_report(picture, "ai", RESULT, True, note="=made with a phone app", folder=folder)
    assert saved.read_bytes() == picture.read_bytes() and saved.parent == folder / "ai" / "reports"
    with (folder / "manifest.csv").open(newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    assert row["model_verdict"] == "real" and row["note"] == "'=made with a phone app" and row["generator"]
    records, skipped = collect([folder])
    assert [(r.label, r.source, r.generator) for r in records] == [("ai", "reports", "unknown (user report)")] and not skipped


def test_the_folder_has_a_size_cap(tmp_path):
    picture = portrait_files("real", "pixabay", 1, seed=5)[0]
    with pytest.raises(ReportRefused, match="full"):
        save_report(picture, "real", RESULT, True, folder=tmp_path, max_total_mb=0)
    assert not any(tmp_path.iterdir())


def test_reporting_through_the_app_needs_consent(client, tmp_path, monkeypatch):
    monkeypatch.setenv("REALORAI_REPORTS", str(tmp_path / "reports"))
    picture = handle_file(str(portrait_files("real", "utkface", 1, seed=6)[0]))
    details = client.predict(picture, api_name="/predict")
    refused = client.predict([picture], None, details, "ai", "", False, api_name="/report_wrong_verdict")
    assert "nothing was kept" in refused and not (tmp_path / "reports").exists()
    kept = client.predict([picture], None, details, "ai", "a face swap app", True, api_name="/report_wrong_verdict")
    assert "Thank you" in kept and len(list((tmp_path / "reports" / "ai" / "reports").iterdir())) == 1


def test_a_reported_phone_photo_is_collected_by_the_builder(tmp_path, real_portrait):
    """Reports keep the upload's suffix; the builder reads every suffix the app's loader reads (HEIC too)."""
    phone = tmp_path / "phone.heic"
    real_portrait.save(phone, format="HEIF")
    save_report(phone, "real", RESULT, True, folder=tmp_path / "reports")
    records, skipped = collect([tmp_path / "reports"])
    assert [r.path.suffix for r in records] == [".heic"] and not skipped
