"""A hostile-but-fair tester against the running app: fuzzed and odd files never sink a batch, cells are
spreadsheet-safe, nothing of a user's outlives its use, limits hold per request and per app."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from realorai import scratch
from realorai.config import MAX_REQUEST_MB
from realorai.images import ImageLoadError, load_image
from tests.bad_inputs import encodings, header_mutants, metadata_bombs, strips
from tests.conftest import REPO, free_port, needs_portraits, portrait_files, wait_for_app

pytestmark = needs_portraits
GENERIC = ("could not be analysed", "Traceback", "Error\n")


def write_all(folder: Path, files: dict[str, bytes]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in files.items():
        (folder / name).write_bytes(data)
        paths.append(folder / name)
    return paths


@pytest.mark.filterwarnings("ignore::UserWarning:PIL.TiffImagePlugin")  # what a damaged TIFF header should say
def test_no_header_mutant_escapes_the_loader_as_a_crash(real_portrait):
    """600 seeded mutants of JPEG/PNG/BMP/TIFF/WebP/GIF headers: each loads or gets a plain ImageLoadError.
    (Before the loader caught every decoder error, 54 of these escaped as OSError/ValueError.)"""
    escaped = []
    for name, data in header_mutants(real_portrait, per_format=100, seed=1).items():
        try:
            load_image(data)
        except ImageLoadError:
            pass
        except Exception as err:  # noqa: BLE001 - the point is to catch anything else
            escaped.append(f"{name}: {type(err).__name__}: {err}")
    assert not escaped, escaped[:5]


@pytest.mark.filterwarnings("ignore::UserWarning:PIL.TiffImagePlugin")
def test_predict_batch_gives_one_plain_row_per_fuzzed_or_odd_file(client, tmp_path, real_portrait):
    files = header_mutants(real_portrait, per_format=5, seed=3) | metadata_bombs(real_portrait) | strips(real_portrait)
    good = encodings(real_portrait)
    paths = write_all(tmp_path, files | good)
    rows = []
    for start in range(0, len(paths), 40):  # MAX_BATCH is 50
        batch, _ = client.predict([handle_file(str(p)) for p in paths[start : start + 40]], api_name="/predict_batch")
        rows += batch
    assert [r["file"] for r in rows] == [p.name for p in paths]
    by_name = {r["file"]: r for r in rows}
    for row in by_name.values():
        assert bool(row["verdict"]) != bool(row["error"]), row  # a verdict or a reason, never neither or both
        assert not any(g in row["error"] for g in GENERIC), row
    for name in good:
        assert by_name[name]["verdict"] in {"Real photo", "AI-generated", "Uncertain"} and by_name[name]["face_found"], name
    for name in strips(real_portrait):
        assert by_name[name]["verdict"] == "Uncertain" and not by_name[name]["face_found"], name
    for name in metadata_bombs(real_portrait):
        assert "too large" in by_name[name]["error"], by_name[name]


@pytest.mark.parametrize("payload", [b"", b"\xff\xd8\xff\xe0 not really a jpeg"])
def test_webcam_endpoints_give_a_plain_message_on_empty_or_corrupt_frames(client, tmp_path, payload):
    frame = tmp_path / "frame.jpg"
    frame.write_bytes(payload)
    live = client.predict(handle_file(str(frame)), api_name="/webcam_frame")
    assert live["verdict"] == "none" and "Cannot use this frame" in live["message"]
    with pytest.raises(AppError, match="Cannot use this picture: .*(empty|not an image|malformed|truncated|corrupt)"):
        client.predict(handle_file(str(frame)), api_name="/webcam_snapshot")


def test_csv_cells_cannot_run_as_formulas(client, served_app, tmp_path):
    portrait = portrait_files("real", "yonsei", 1, seed=2)[0].read_bytes()
    names = ["=1+2.jpg", "@SUM(A1).jpg", "+1.jpg", "-1.jpg", "=HYPERLINK(httpx,y).jpg", "plain.jpg"]
    paths = write_all(tmp_path, dict.fromkeys(names, portrait))
    _, csv_path = client.predict([handle_file(str(p)) for p in paths], api_name="/predict_batch")
    with open(csv_path, newline="") as handle:
        cells = [row["file"] for row in csv.DictReader(handle)]
    assert cells == ["'" + n for n in names[:-1]] + ["plain.jpg"]


def test_results_carry_no_server_paths(client, served_app):
    path = portrait_files("ai", "sdfd", 1, seed=3)[0]
    text = json.dumps(client.predict(handle_file(str(path)), api_name="/predict"))
    assert str(REPO) not in text and str(served_app["scratch"]) not in text and "bundled model" in text


def test_a_webcam_snapshot_leaves_no_picture_on_disk(client, served_app):
    folder = served_app["scratch"]
    before = scratch.files_in(folder)
    frame = portrait_files("ai", "tpdne", 1, seed=8)[0]
    snapshot = client.predict(handle_file(str(frame)), api_name="/webcam_snapshot")
    assert snapshot["annotated"].startswith("data:image/jpeg;base64,") and snapshot["result"]["faces"]
    client.predict(handle_file(str(frame)), api_name="/webcam_frame")
    new = scratch.files_in(folder) - before
    # Nothing the app made from the frame (boxed picture, heat maps) is written: only the upload itself, swept
    # like every upload, and Gradio's emptied upload spool files (swept within a minute).
    made = [p for p in new if p.stat().st_size > 0 and p.read_bytes() != frame.read_bytes()]
    assert not made, sorted(made)


def test_a_request_over_the_total_cap_is_refused(served_app):
    """Each file is under the 40 MB per-file cap, together they are over the per-request cap."""
    url = served_app["url"] + "gradio_api/upload"
    part = os.urandom(30_000_000)
    declared = httpx.post(url, files=[("files", (f"f{i}.jpg", part)) for i in range(4)], timeout=60)
    assert declared.status_code == 413 and f"{MAX_REQUEST_MB} MB" in declared.text

    def chunks():  # no Content-Length: the cap must hold while the body streams in
        boundary = b"--xyz\r\n"
        for i in range(4):
            yield boundary + f'Content-Disposition: form-data; name="files"; filename="c{i}.jpg"\r\n\r\n'.encode()
            yield part
            yield b"\r\n"
        yield b"--xyz--\r\n"

    streamed = httpx.post(url, content=chunks(), headers={"content-type": "multipart/form-data; boundary=xyz"}, timeout=60)
    assert streamed.status_code == 413
    small = httpx.post(url, files=[("files", ("ok.jpg", part[:1000]))], timeout=60)
    assert small.status_code == 200


def test_sweep_removes_expired_and_abandoned_files_but_keeps_the_apps_own(tmp_path):
    own = tmp_path / "abc" / "roc.png"
    own.parent.mkdir()
    own.write_bytes(b"plot")
    keep = scratch.files_in(tmp_path)
    spool = tmp_path / "tmpabandoned"
    spool.write_bytes(b"half an upload")
    upload = tmp_path / "def" / "face.jpg"
    upload.parent.mkdir()
    upload.write_bytes(b"picture")
    now = time.time()
    assert scratch.sweep(tmp_path, keep=keep, now=now) == 0  # all fresh
    assert scratch.sweep(tmp_path, keep=keep, now=now + scratch.IDLE_SPOOL_S + 1) == 1 and not spool.exists()
    assert scratch.sweep(tmp_path, keep=keep, now=now + scratch.MAX_AGE_S + 1) == 1 and not upload.parent.exists()
    assert own.exists()


def test_sigterm_empties_the_scratch_folder_and_a_restart_clears_leftovers(tmp_path):
    folder = tmp_path / "scratch"
    leftover = folder / "killed-run" / "upload.jpg"  # what a SIGKILLed run would leave behind
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"an old upload")
    port = free_port()
    env = {**os.environ, "REALORAI_SCRATCH": str(folder), "HF_HUB_OFFLINE": "1"}
    server = subprocess.Popen(
        [sys.executable, "app.py", "--port", str(port)], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        client = wait_for_app(f"http://127.0.0.1:{port}/", server, timeout=120)
        assert not leftover.exists()
        client.predict(handle_file(str(portrait_files("real", "ffhq", 1, seed=4)[0])), api_name="/predict")
        assert any(p.suffix == ".jpg" for p in scratch.files_in(folder))  # the upload is there while running
        server.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        server.send_signal(signal.SIGTERM)  # as `timeout` or a process manager may forward a second one
        output = server.communicate(timeout=60)[0].decode(errors="replace")
    finally:
        server.kill()
    assert server.returncode == 0 and "Traceback" not in output, output[-2000:]
    assert folder.is_dir() and not any(folder.iterdir()), sorted(folder.rglob("*"))


@needs_portraits
def test_an_app_served_in_process_gives_back_its_folder_its_sweeper_and_the_upload_folder(served_app, tmp_path, monkeypatch):
    """The tests and benchmarks start the app with `app.serving`: what it leaves running or lying around after
    the block would pile up over a session (a sweeper thread, uploads) or break an app beside it."""
    import threading

    from gradio_client import Client

    import app as app_module

    monkeypatch.setenv("REALORAI_SCRATCH", str(tmp_path / "scratch"))
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "the-other-apps-uploads"))
    threads_before, port = set(threading.enumerate()), free_port()
    with app_module.serving(served_app["detector"], "test", port) as (_, folder):  # the session's model, loaded once
        assert os.environ["GRADIO_TEMP_DIR"] == str(folder)
        sweepers = [t for t in set(threading.enumerate()) - threads_before if t.name == "scratch-sweeper"]
        assert len(sweepers) == 1 and sweepers[0].is_alive()
        picture = handle_file(str(portrait_files("real", "ffhq", 1, seed=6)[0]))
        Client(f"http://127.0.0.1:{port}/", verbose=False).predict(picture, api_name="/predict")
        assert any(p.suffix == ".jpg" for p in scratch.files_in(folder))
    assert folder.is_dir() and not any(folder.iterdir()), sorted(folder.rglob("*"))
    assert not sweepers[0].is_alive()
    assert os.environ["GRADIO_TEMP_DIR"] == str(tmp_path / "the-other-apps-uploads")


def test_heic_photos_are_read(tmp_path, real_portrait):
    path = tmp_path / "phone.heic"
    real_portrait.save(path, format="HEIF")
    assert load_image(path).size == real_portrait.size
    assert Image.open(path).format == "HEIF"
