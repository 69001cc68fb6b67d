"""`realorai scan` on a folder of good and bad files (and a rerun that resumes), and the same scanning core
inside `datasets.Dataset.map` and Ray Data, giving the CLI's results."""

import csv
import json
import shutil
import subprocess
import sys

import pytest
from PIL import Image

from tests.bad_inputs import write_bad_files
from tests.conftest import REPO, needs_portraits, portrait_files, run_python

pytestmark = [needs_portraits, pytest.mark.needs_data]


@pytest.fixture(scope="module")
def pictures(tmp_path_factory, real_portrait):
    """A folder with portraits (one in a subfolder) and three bad files."""
    root = tmp_path_factory.mktemp("pictures")
    (root / "nested").mkdir()
    for i, path in enumerate(portrait_files("real", "ffhq", 2, seed=3) + portrait_files("ai", "sfhq-t2i", 1, seed=3)):
        shutil.copy(path, (root / "nested" if i == 2 else root) / f"portrait{i}.jpg")
    Image.open(root / "portrait1.jpg").save(root / "portrait1.jpg", quality=60)  # a re-shared copy
    bad = write_bad_files(tmp_path_factory.mktemp("bad"), real_portrait)
    for name in ("empty.jpg", "not_an_image.jpg", "truncated.jpg"):
        shutil.copy(bad[name], root / name)
    return root


def scan_cli(*args) -> subprocess.CompletedProcess:
    run = subprocess.run(
        [sys.executable, "-m", "realorai", "scan", *map(str, args), "--quiet"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return run


def read_rows(path):
    if str(path).endswith(".jsonl"):
        return [json.loads(line) for line in path.read_text().splitlines()]
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def cli_rows(pictures, tmp_path_factory):
    out = tmp_path_factory.mktemp("scan") / "results.jsonl"
    scan_cli(pictures, "--out", out, "--workers", "2")
    return out, read_rows(out)


def test_scan_writes_one_row_per_face_and_an_error_row_per_bad_file(cli_rows, pictures):
    _, rows = cli_rows
    by_file = {}
    for row in rows:
        by_file.setdefault(row["file"], []).append(row)
    assert set(by_file) == {str(p) for p in pictures.rglob("*.jpg")}  # recursive, nothing twice
    for name in ("empty.jpg", "not_an_image.jpg", "truncated.jpg"):
        (row,) = by_file[str(pictures / name)]
        assert row["error"] and row["p_ai"] is None
    for path in pictures.rglob("portrait*.jpg"):
        (row,) = by_file[str(path)]
        assert row["error"] is None and row["face_found"] and len(row["box"]) == 4 and 0 <= row["p_ai"] <= 1
        assert row["verdict"] in {"real", "ai", "uncertain"} and row["provenance"].startswith("No provenance found")
        # the files are JPEGs at quality 92 (the data's), one re-saved at 60: only that one is noted
        assert row["input_notes"] == ("compressed (JPEG at quality ~60)" if path.name == "portrait1.jpg" else ""), row


def test_a_rerun_resumes_and_a_killed_scan_loses_only_its_last_partial_line(pictures, tmp_path):
    out = tmp_path / "results.csv"
    first = scan_cli(pictures / "portrait0.jpg", pictures / "empty.jpg", "--out", out)
    assert "2 file(s) scanned" in first.stdout
    with out.open("a") as handle:
        handle.write(f"{pictures / 'portrait1.jpg'},0,[1,2")  # a scan killed mid-row
    second = scan_cli(pictures, "--out", out)
    assert "4 file(s) scanned, 2 already" in second.stdout, second.stdout
    rows = read_rows(out)
    assert len({r["file"] for r in rows}) == 6 and len(rows) == 6
    assert scan_cli(pictures, "--out", out).stdout.startswith("0 file(s) scanned, 6 already")


def test_scan_never_writes_next_to_its_inputs(pictures):
    run = subprocess.run(
        [sys.executable, "-m", "realorai", "scan", str(pictures), "--out", str(pictures / "results.csv")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2 and "next to the pictures" in run.stderr and not (pictures / "results.csv").exists()


def same_results(rows, reference):
    key = lambda r: (r["file"], r["face"] if r["face"] is not None else -1)  # noqa: E731
    ours = sorted(rows, key=key)
    theirs = sorted(reference, key=key)
    assert [key(r) for r in ours] == [key(r) for r in theirs]
    for a, b in zip(ours, theirs):
        assert a["verdict"] == b["verdict"] and a["error"] == b["error"]
        assert (a["p_ai"] is None and b["p_ai"] is None) or abs(a["p_ai"] - b["p_ai"]) < 1e-4


# Both run in a fresh interpreter, as a user's script would: forking the test process (which already runs
# torch threads and a server) is not what either library is made for.
DATASETS_SCRIPT = """
import json, sys
from datasets import Dataset
from realorai.scan import COLUMNS, scan_batch
files = json.loads(sys.argv[1])
dataset = Dataset.from_dict({"file": files, "image": files})
scanned = dataset.map(scan_batch, batched=True, batch_size=4, num_proc=2, remove_columns=["image"])
assert scanned.column_names == COLUMNS, scanned.column_names
print(json.dumps(scanned.to_list()))
"""

RAY_SCRIPT = """
import json, math, sys
import ray
from realorai.scan import scan_batch
files = json.loads(sys.argv[1])
ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
rows = ray.data.from_items([{"file": f, "image": f} for f in files]).map_batches(scan_batch, batch_size=4).take_all()
plain = lambda v: None if v is None or (isinstance(v, float) and math.isnan(v)) else v.tolist() if hasattr(v, "tolist") else v
print(json.dumps([{k: plain(v) for k, v in row.items()} for row in rows]))
ray.shutdown()
"""


def test_datasets_map_runs_the_same_scan(cli_rows, pictures):
    files = sorted(str(p) for p in pictures.rglob("*.jpg"))
    rows = json.loads(run_python("-c", DATASETS_SCRIPT, json.dumps(files)).strip().splitlines()[-1])
    same_results(rows, cli_rows[1])


@pytest.mark.slow
def test_ray_data_map_batches_runs_the_same_scan(cli_rows, pictures):
    pytest.importorskip("ray")
    files = sorted(str(p) for p in pictures.rglob("*.jpg"))
    rows = json.loads(run_python("-c", RAY_SCRIPT, json.dumps(files)).strip().splitlines()[-1])
    same_results(rows, cli_rows[1])
