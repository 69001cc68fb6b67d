"""The served runtime's parts derived from the wheel once and kept (realorai.prepared): a later start loads
them without the onnx package and computes exactly what a runtime derived afresh does; a damaged or unwritable
cache costs the derivation again, never the start."""

import json
import shutil

import numpy as np
import pytest

from tests.conftest import run_python

# Features of a fixed batch from the served runtime (block 11's class path after the INT8 graph), in a fresh
# interpreter as every start is, with whether it had to import onnx.
FEATURES = """
import json, sys
import numpy as np, torch
from realorai.backbones import clip_int8_class_path
runtime = clip_int8_class_path(11)
pixels = torch.from_numpy(np.random.default_rng(0).normal(size=(2, 3, 224, 224)).astype(np.float32))
print(json.dumps({"onnx": "onnx" in sys.modules, "name": runtime.name, "features": runtime.run(pixels).tolist()}))
"""


def features_in_a_fresh_process(cache) -> dict:
    return json.loads(run_python("-c", FEATURES, env={"REALORAI_CACHE": str(cache)}).strip().splitlines()[-1])


@pytest.fixture(scope="module")
def first_start(tmp_path_factory):
    """A first start: derives the parts into an empty cache."""
    cache = tmp_path_factory.mktemp("prepared") / "cache"
    return cache, features_in_a_fresh_process(cache)


def test_a_later_start_loads_the_prepared_files_without_onnx_and_computes_the_same(first_start):
    cache, first = first_start
    kept = sorted(p.name for p in (cache / "prepared").iterdir())
    assert len(kept) == 3 and kept[0].startswith("v") and not [n for n in kept if n.endswith(".partial")], kept
    assert any("-to-block10-" in n for n in kept) and any(n.endswith("-block11.safetensors") for n in kept)
    later = features_in_a_fresh_process(cache)
    assert first["onnx"] and not later["onnx"]  # the 1.3 s import (and the graph surgery) skipped
    assert later["name"] == first["name"] and np.array_equal(later["features"], first["features"])


def run_graph(session) -> np.ndarray:
    pixels = np.random.default_rng(0).normal(size=(1, 3, 224, 224)).astype(np.float32)
    return session.run(None, {session.get_inputs()[0].name: pixels})[0]


def test_a_damaged_or_unwritable_cache_costs_the_derivation_not_the_start(first_start, tmp_path, monkeypatch):
    """The cache's two failures, on the graph the runtime keeps and the loader it uses (in-process: the fresh
    starts are the test above)."""
    from realorai.backbones import ort_session
    from realorai.prepared import PREPARATION, prepared

    kept = next((first_start[0] / "prepared").glob("*-to-block10-*.onnx"))
    cache = tmp_path / "cache"
    graph = cache / "prepared" / kept.name
    graph.parent.mkdir(parents=True)
    shutil.copyfile(kept, graph)
    name, whole = graph.name.removeprefix(f"v{PREPARATION}-"), graph.read_bytes()
    expected = run_graph(ort_session(str(graph)))
    monkeypatch.setenv("REALORAI_CACHE", str(cache))
    derived = []

    def derive() -> bytes:
        derived.append(1)
        return whole

    # A damaged file (cut short): ONNX Runtime refuses it, so it is derived again and kept whole.
    graph.write_bytes(whole[:1000])
    assert np.array_equal(run_graph(prepared(name, derive, ort_session)), expected) and derived == [1]
    assert graph.read_bytes() == whole
    assert np.array_equal(run_graph(prepared(name, derive, ort_session)), expected) and derived == [1]  # kept
    # A cache that cannot be written (a file where its folder should be): used from memory, no crash.
    (tmp_path / "not-a-folder").write_text("")
    monkeypatch.setenv("REALORAI_CACHE", str(tmp_path / "not-a-folder"))
    assert np.array_equal(run_graph(prepared(name, derive, ort_session)), expected) and derived == [1, 1]


def test_serving_imports_neither_timm_nor_torchvision():
    """torchvision imports torch._dynamo (timm and facenet-pytorch's detector import torchvision): ~2 s of every
    start on 2 cores. The bundled model's analysis of a portrait needs none of them."""
    script = (
        "import sys; from PIL import Image; from realorai.predict import Detector; "
        "analysis = Detector().analyse(Image.open('examples/real-london-1.jpg')); "
        "heavy = ('timm', 'torchvision', 'torch._dynamo', 'facenet_pytorch'); "
        "print(len(analysis.faces), sorted(m for m in heavy if m in sys.modules))"
    )
    assert run_python("-c", script).strip().splitlines()[-1] == "1 []"
