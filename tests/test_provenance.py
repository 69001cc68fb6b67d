"""Provenance read from the original bytes: C2PA (signed, and altered after signing), IPTC source type in
XMP, an Automatic1111 PNG and a stripped copy; directly and through the running app."""

import csv

import pytest
from gradio_client import handle_file

from realorai.provenance import NONE_FOUND, combine, read_provenance
from tests import provenance_files as made
from tests.conftest import needs_portraits

pytestmark = needs_portraits


@pytest.fixture(scope="module")
def files(real_portrait, tmp_path_factory):
    """Each kind of file, made from a real photo (so the pixels alone lean 'real')."""
    folder = tmp_path_factory.mktemp("provenance")
    signed = made.c2pa_signed(real_portrait)
    contents = {
        "signed.jpg": signed,
        "signed.png": made.c2pa_signed(real_portrait, "PNG"),
        "altered.jpg": made.altered_after_signing(signed),
        "xmp.jpg": made.with_xmp_source_type(real_portrait),
        "a1111.png": made.automatic1111_png(real_portrait),
        "stripped.jpg": made.stripped(signed),
    }
    for name, data in contents.items():
        (folder / name).write_bytes(data)
    return {name: folder / name for name in contents}


@pytest.mark.parametrize("name", ["signed.jpg", "signed.png"])
def test_a_signed_c2pa_declaration_is_read_and_validates(files, name):
    (evidence,) = read_provenance(files[name].read_bytes()).evidence
    assert evidence.kind == "c2pa" and evidence.declares == "ai" and evidence.signed
    assert evidence.validation in ("valid", "valid-untrusted") and evidence.signer == "Test Generator Inc"
    assert "TestGen AI" in evidence.detail and "trainedAlgorithmicMedia" in evidence.detail


def test_pixels_changed_after_signing_read_as_altered_and_never_count(files):
    provenance = read_provenance(files["altered.jpg"].read_bytes())
    (evidence,) = provenance.evidence
    assert evidence.validation == "altered" and provenance.signed_ai is None and "ALTERED" in provenance.summary
    pixels = {"verdict": "real", "p_ai": 0.1}
    assert combine(pixels, provenance)["verdict"] == "real"  # reported, but does not move the verdict


def test_xmp_source_type_png_parameters_and_a_stripped_copy(files):
    (xmp,) = read_provenance(files["xmp.jpg"].read_bytes()).evidence
    assert (xmp.kind, xmp.declares, xmp.signed) == ("xmp", "ai", False)
    (a1111,) = read_provenance(files["a1111.png"].read_bytes()).evidence
    assert a1111.kind == "png-text" and "Automatic1111" in a1111.detail
    stripped = read_provenance(files["stripped.jpg"].read_bytes())
    assert not stripped.evidence and stripped.summary == NONE_FOUND


def test_a_signed_declaration_sets_the_headline_and_keeps_the_pixel_verdict(files):
    pixels = {"verdict": "real", "p_ai": 0.1}
    combined = combine(pixels, read_provenance(files["signed.jpg"].read_bytes()))
    assert combined["verdict"] == "ai" and combined["pixel_verdict"] == "real"
    assert combined["verdict_reason"].startswith("signed declaration")
    unsigned = combine(pixels, read_provenance(files["xmp.jpg"].read_bytes()))
    assert unsigned["verdict"] == "real" and unsigned["provenance"]["found"]  # shown, never decisive


def test_through_the_app_from_the_uploaded_bytes(client, files, tmp_path):
    signed = client.predict(handle_file(str(files["signed.jpg"])), api_name="/predict")
    assert signed["verdict"] == "ai" and signed["provenance"]["signed_ai_declaration"]
    assert signed["pixel_verdict"] in {"real", "uncertain", "ai"} and signed["faces"]
    altered = client.predict(handle_file(str(files["altered.jpg"])), api_name="/predict")
    assert altered["verdict"] == altered["pixel_verdict"] and "ALTERED" in altered["provenance"]["summary"]
    a1111 = client.predict(handle_file(str(files["a1111.png"])), api_name="/predict")
    assert a1111["provenance"]["found"] and a1111["verdict"] == a1111["pixel_verdict"]
    stripped = client.predict(handle_file(str(files["stripped.jpg"])), api_name="/predict")
    assert not stripped["provenance"]["found"] and "Absence proves nothing" in stripped["provenance"]["summary"]

    _, csv_path = client.predict([handle_file(str(p)) for p in files.values()], api_name="/predict_batch")
    with open(csv_path, newline="") as handle:
        rows = {row["file"]: row for row in csv.DictReader(handle)}
    assert "C2PA manifest declares AI-generated" in rows["signed.png"]["provenance"]
    assert rows["signed.png"]["verdict"] == "AI-generated"
    assert "XMP metadata says AI-generated" in rows["xmp.jpg"]["provenance"]

    *_, panel, _, details, _, _ = client.predict([handle_file(str(files["signed.jpg"]))], api_name="/analyse_upload")
    assert "data-kind='c2pa'" in panel and details["verdict"] == "ai"
