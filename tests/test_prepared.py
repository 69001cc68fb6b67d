"""The served runtime's parts derived from the wheel once and kept (realorai.prepared): a later start loads
them without the onnx package and computes exactly what a runtime derived afresh does; a damaged or unwritable
cache costs the derivation again, never the start."""

import json

import numpy as np

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


def test_a_later_start_loads_the_prepared_files_without_onnx_and_computes_the_same(tmp_path):
    first = features_in_a_fresh_process(tmp_path / "cache")
    kept = sorted(p.name for p in (tmp_path / "cache" / "prepared").iterdir())
    assert len(kept) == 3 and kept[0].startswith("v") and not [n for n in kept if n.endswith(".partial")], kept
    assert any("-to-block10-" in n for n in kept) and any(n.endswith("-block11.safetensors") for n in kept)
    later = features_in_a_fresh_process(tmp_path / "cache")
    assert first["onnx"] and not later["onnx"]  # the 1.3 s import (and the graph surgery) skipped
    assert later["name"] == first["name"] and np.array_equal(later["features"], first["features"])
    # A damaged file (cut short): derived again at the next start, not a start that fails.
    graph = next((tmp_path / "cache" / "prepared").glob("*-to-block10-*.onnx"))
    graph.write_bytes(graph.read_bytes()[:1000])
    repaired = features_in_a_fresh_process(tmp_path / "cache")
    assert repaired["onnx"] and np.array_equal(repaired["features"], first["features"])
    assert graph.stat().st_size > 1000
    # A cache that cannot be written: derived in memory every time, the same numbers, a warning and no crash.
    (tmp_path / "not-a-folder").write_text("")
    unwritable = features_in_a_fresh_process(tmp_path / "not-a-folder")
    assert unwritable["name"] == first["name"] and np.array_equal(unwritable["features"], first["features"])
