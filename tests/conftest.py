"""Shared fixtures: real portraits from ../shared/data/portraits (or $PORTRAITS_DIR) and a tiny model."""

from __future__ import annotations

import os
import random
import shutil
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no test may reach the network; set before any HF import

import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from realorai.config import portraits_dir  # noqa: E402

PORTRAITS = portraits_dir()
needs_portraits = pytest.mark.skipif(not (PORTRAITS / "real").is_dir(), reason=f"no portraits at {PORTRAITS}")
DATA_FIXTURES = {"real_portrait", "ai_portrait", "input_tree", "small_dataset", "trained", "served_app", "client"}


def pytest_collection_modifyitems(items):
    """`needs_data` on every test that reads the portraits, however it gets them (fixture or skipif)."""
    for item in items:
        reads_portraits = DATA_FIXTURES & set(getattr(item, "fixturenames", ())) or any(
            str(mark.kwargs.get("reason", "")).startswith("no portraits at") for mark in item.iter_markers("skipif")
        )
        if reads_portraits:
            item.add_marker(pytest.mark.needs_data)


# `make test` runs two workers (pytest -n 2). Test files that share a costly session fixture run in the same
# worker, so it is built once: the tiny dataset and models trained from it, and the served app. A file left
# out only builds its fixtures again in the other worker.
WORKER_GROUPS = {
    "training": ("test_train.py", "test_hub_push.py", "test_train_probe.py"),
    "app": ("test_app.py", "test_browser.py", "test_hostile.py"),
}


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist
def pytest_xdist_make_scheduler(config, log):
    # xdist's own grouping (--dist loadgroup) renames test ids, which pytest 9.2 no longer allows
    # (pytest-dev/pytest-xdist#1386): group whole files instead. Only for plain -n (--dist load).
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadFileScheduling

    group_of = {name: group for group, names in WORKER_GROUPS.items() for name in names}

    class SharedFixtureScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return group_of.get(Path(path).name, path)

    return SharedFixtureScheduling(config, log)


def portrait_files(label: str, source: str, n: int, seed: int = 0) -> list[Path]:
    files = sorted((PORTRAITS / label / source).glob("*.jpg"))
    random.Random(seed).shuffle(files)
    return files[:n]


@pytest.fixture(scope="session")
def real_portrait() -> Image.Image:
    if not (PORTRAITS / "real").is_dir():
        pytest.skip(f"no portraits at {PORTRAITS}")
    return Image.open(portrait_files("real", "ffhq", 1)[0]).convert("RGB")


@pytest.fixture(scope="session")
def ai_portrait() -> Image.Image:
    if not (PORTRAITS / "ai").is_dir():
        pytest.skip(f"no portraits at {PORTRAITS}")
    return Image.open(portrait_files("ai", "tpdne", 1)[0]).convert("RGB")


@pytest.fixture(scope="session")
def group_photo(real_portrait, ai_portrait) -> Image.Image:
    """A wide scene (3600x1200): the nearest face (250 px, left) is big enough for the detector's 400-px search,
    the three beside it (110 px, ~3% of the long side; AI, real, AI) are not."""
    canvas = Image.new("RGB", (3600, 1200), (150, 140, 130))
    canvas.paste(real_portrait.resize((250, 250), Image.BICUBIC), (200, 450))
    for x, face in zip((1200, 2000, 2800), (ai_portrait, real_portrait, ai_portrait)):
        canvas.paste(face.resize((110, 110), Image.BICUBIC), (x, 520))
    return canvas


@pytest.fixture(scope="session")
def input_tree(tmp_path_factory) -> Path:
    """A small LABEL/SOURCE tree copied (into a temp dir, never the repo) from the real portraits."""
    if not (PORTRAITS / "real").is_dir():
        pytest.skip(f"no portraits at {PORTRAITS}")
    root = tmp_path_factory.mktemp("portraits")
    for label, source in [("real", "ffhq"), ("real", "utkface"), ("ai", "sdfd"), ("ai", "tpdne")]:
        (root / label / source).mkdir(parents=True)
        for path in portrait_files(label, source, 14):
            shutil.copy(path, root / label / source / path.name)
    (root / "manifest.csv").write_text(
        "file,generator\n"
        + "".join(
            f"{p.relative_to(root).as_posix()},{'stable-diffusion-2.1' if 'sdfd' in str(p) else 'stylegan2'}\n"
            for p in sorted((root / "ai").rglob("*.jpg"))
        )
    )
    return root


@pytest.fixture(scope="session")
def small_dataset(input_tree, tmp_path_factory) -> Path:
    """A dataset built by the real builder from the small tree (one process, as in CI)."""
    from dataset_builder.build import BuildOptions, build

    out = tmp_path_factory.mktemp("small-dataset") / "ds"
    build(BuildOptions(inputs=[input_tree], out=out, workers=1))
    return out


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def app_served(detector, note: str):
    """The real app around `detector` on a free loopback port, launched as `python app.py` launches it (the real
    upload and request limits, scratch folder and work slots; `app.serving`), closed and emptied after."""
    import app as app_module

    port = free_port()
    with app_module.serving(detector, note, port) as (_, folder):
        yield {"url": f"http://127.0.0.1:{port}/", "detector": detector, "note": note, "scratch": folder, "port": port}


@pytest.fixture(scope="session")
def served_app():
    """The real app (bundled model unless $MODEL_ID says otherwise), for the whole session."""
    import app as app_module

    with app_served(*app_module.load_detector(os.environ.get("MODEL_ID"))) as served:
        yield served


def wait_for_app(url: str, server, timeout: float = 180):
    """A gradio_client Client once `python app.py` (the `server` subprocess) answers; its output if it died."""
    import time

    from gradio_client import Client

    deadline = time.monotonic() + timeout
    while True:
        try:
            return Client(url, verbose=False)
        except Exception:  # not listening yet
            if server.poll() is not None:
                output = server.stdout.read()
                raise AssertionError((output.decode(errors="replace") if isinstance(output, bytes) else output)[-3000:]) from None
            assert time.monotonic() < deadline, f"the app did not come up in {timeout:.0f} s"
            time.sleep(0.5)


@pytest.fixture(scope="session")
def client(served_app):
    from gradio_client import Client

    return Client(served_app["url"], verbose=False)


REPO = Path(__file__).resolve().parent.parent
FAST_TRAIN = ["--recipe", "finetune", "--epochs", "1", "--batch-size", "16", "--workers", "0", "--warmup-steps", "2"]
FAST_TRAIN += ["--max-train-samples", "48"]


def run_python(*args, env=None, timeout=600) -> str:
    """Run `python ARGS` in the repo as a user would; fail with its output if it fails."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


@pytest.fixture(scope="session")
def trained(small_dataset, tmp_path_factory):
    """A model trained for one short epoch by the real train.py, in Hub layout."""
    out = tmp_path_factory.mktemp("model") / "tiny"
    stdout = run_python("train.py", "--data", str(small_dataset), "--out", str(out), *FAST_TRAIN)
    return out, stdout
