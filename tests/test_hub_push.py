"""--push-to-hub for real, against a loopback Hub-compatible server: the exact files a push uploads,
and nothing leaves the machine without the flag."""

import io
import json
import shutil

import pyarrow.parquet as pq
import pytest
from datasets import load_from_disk

from tests.conftest import run_python
from tests.fake_hub import FakeHub

pytestmark = pytest.mark.slow  # trains or builds datasets: out of `make test-fast`


@pytest.fixture()
def hub():
    server = FakeHub()
    yield server
    server.close()


def hub_env(hub, tmp_path):
    # Read by huggingface_hub at import, hence subprocesses. The token is a dummy the fake Hub accepts.
    return {
        "HF_ENDPOINT": hub.url,
        "HF_TOKEN": "hf_test_token",
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_OFFLINE": "0",
        "HF_HUB_CACHE": str(tmp_path / "cache"),
        "HF_DATASETS_CACHE": str(tmp_path / "ds-cache"),
    }


def test_dataset_push_uploads_parquet_splits_and_our_card(hub, input_tree, tmp_path):
    out = tmp_path / "ds"
    run_python(
        "-m",
        "dataset_builder",
        str(input_tree),
        "--out",
        str(out),
        "--workers",
        "1",
        "--push-to-hub",
        "real-or-ai/portraits-test",
        env=hub_env(hub, tmp_path),
    )
    files = hub.repos["datasets/real-or-ai/portraits-test"]["files"]
    local = load_from_disk(str(out))
    assert set(files) == {"README.md"} | {f"data/{s}-00000-of-00001.parquet" for s in local}
    assert files["README.md"] == (out / "README.md").read_bytes()
    for split, dataset in local.items():
        table = pq.read_table(io.BytesIO(files[f"data/{split}-00000-of-00001.parquet"]))
        assert table.num_rows == len(dataset)
        assert table.column("file").to_pylist() == dataset["file"]
        assert table.column("label").to_pylist() == dataset["label"]


def test_without_the_flag_nothing_is_sent(hub, input_tree, tmp_path):
    run_python(
        "-m",
        "dataset_builder",
        str(input_tree),
        "--out",
        str(tmp_path / "ds"),
        "--workers",
        "1",
        "--limit-per-source",
        "3",
        env=hub_env(hub, tmp_path),
    )
    assert hub.log == []


def test_model_push_then_timm_loads_it_back_from_the_hub(hub, trained, small_dataset, tmp_path):
    model_dir = tmp_path / "model"  # a copy: evaluating in place must not change the shared fixture
    shutil.copytree(trained[0], model_dir)
    env = hub_env(hub, tmp_path)
    run_python(
        "train.py",
        "--eval-only",
        "--model",
        str(model_dir),
        "--data",
        str(small_dataset),
        "--no-robustness",
        "--push-to-hub",
        "real-or-ai/tiny-detector",
        env=env,
    )
    files = hub.repos["models/real-or-ai/tiny-detector"]["files"]
    # evaluating in place kept how the model was trained
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics["training"]["history"] and metrics["training"]["command"].startswith("python train.py")
    assert metrics["command"].startswith("python train.py --eval-only")
    assert {"config.json", "model.safetensors", "README.md", "metrics.json", "roc.png"} <= set(files)
    assert not any(name.startswith("checkpoint/") for name in files)  # optimiser state stays home
    assert files["model.safetensors"] == (model_dir / "model.safetensors").read_bytes()
    assert json.loads(files["config.json"])["label_names"] == ["real", "ai"]
    code = (
        "import timm, torch\n"
        "hub = timm.create_model('hf-hub:real-or-ai/tiny-detector', pretrained=True).eval()\n"
        f"local = timm.create_model('local-dir:{model_dir}', pretrained=True).eval()\n"
        "x = torch.randn(1, 3, 224, 224)\n"
        "assert torch.equal(hub(x), local(x)); print('downloaded and identical')\n"
    )
    assert "downloaded and identical" in run_python("-c", code, env=env)
