"""Serving benchmarks on this machine: cold start, /predict latency, webcam frame rate, concurrent callers.

    python benchmarks/bench_app.py [--model PATH_OR_HUB_ID] [--runs 60] [--callers 20] [--calls-per-caller 5]

Prints a table and writes benchmarks/results.json. Uses real portraits from $PORTRAITS_DIR
(default ../shared/data/portraits). Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from realorai.config import BUNDLED_MODEL_DIR, portraits_dir
from realorai.int8_products import int8_machine

REPO = Path(__file__).resolve().parent.parent


def portraits(n: int) -> list[Path]:
    files = []
    for label, source in [("real", "ffhq"), ("real", "yonsei"), ("real", "utkface"), ("ai", "sdfd"), ("ai", "tpdne")]:
        files += sorted((portraits_dir() / label / source).glob("*.jpg"))[: n // 5 + 1]
    if not files:
        sys.exit(f"no portraits under {portraits_dir()}; set PORTRAITS_DIR")
    return files[:n]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def bench_cold_start(model: str) -> float:
    """Seconds from `python app.py` to the first answered /predict."""
    from gradio_client import Client, handle_file

    port = free_port()
    started = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, "app.py", "--model", model, "--port", str(port)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            try:
                Client(f"http://127.0.0.1:{port}/", verbose=False).predict(handle_file(str(portraits(1)[0])), api_name="/predict")
                return time.perf_counter() - started
            except Exception:
                if server.poll() is not None or time.perf_counter() - started > 180:
                    raise RuntimeError("the app did not start") from None
                time.sleep(0.25)
    finally:
        server.terminate()
        server.wait(30)


def bench_in_process(model: str, runs: int) -> dict:
    """Latency of one /predict's work (decode + face crop + model + calibration), and webcam frame rate."""
    from realorai.images import load_image
    from realorai.predict import Detector

    detector = Detector(model)
    files = portraits(runs)
    for path in files[:5]:  # warm-up
        detector.analyse(load_image(path))
    latencies = []
    for path in files:
        started = time.perf_counter()
        detector.analyse(load_image(path))
        latencies.append((time.perf_counter() - started) * 1000)
    # Webcam: a 640x480 frame with a face, as the browser streams it (already decoded).
    face = Image.open(files[0]).convert("RGB").resize((400, 400))
    frame = Image.new("RGB", (640, 480), (120, 120, 120))
    frame.paste(face, (120, 40))
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < 10:
        detector.analyse(frame)
        count += 1
    return {
        "predict_p50_ms": statistics.median(latencies),
        "predict_p95_ms": percentile(latencies, 95),
        "predict_runs": len(latencies),
        "webcam_fps": count / (time.perf_counter() - started),
    }


def bench_concurrent(model: str, callers: int, calls: int) -> dict:
    """`callers` gradio_client users at once against one app process; every call must succeed."""
    from gradio_client import Client, handle_file

    import app as app_module

    detector, note = app_module.load_detector(model)
    port = free_port()
    files = portraits(callers)
    errors, done = [], []

    def caller(i: int) -> None:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        for _ in range(calls):
            try:
                client.predict(handle_file(str(files[i % len(files)])), api_name="/predict")
                done.append(1)
            except Exception as err:  # counted and reported, never hidden
                errors.append(repr(err))

    with app_module.serving(detector, note, port):
        started = time.perf_counter()
        with ThreadPoolExecutor(callers) as pool:
            list(pool.map(caller, range(callers)))
        elapsed = time.perf_counter() - started
    return {
        "callers": callers,
        "calls": callers * calls,
        "ok": len(done),
        "errors": len(errors),
        "requests_per_s": len(done) / elapsed,
        "wall_s": elapsed,
        "error_samples": errors[:3],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(BUNDLED_MODEL_DIR))
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--callers", type=int, default=20)
    parser.add_argument("--calls-per-caller", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    results = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores", "model": args.model}
    results["int8"] = int8_machine()  # without VNNI the INT8 graph runs slower, exact (realorai.int8_products)
    results["cold_start_s"] = bench_cold_start(args.model)
    results |= bench_in_process(args.model, args.runs)
    results["concurrent"] = bench_concurrent(args.model, args.callers, args.calls_per_caller)
    (REPO / "benchmarks" / "results.json").write_text(json.dumps(results, indent=1))
    c = results["concurrent"]
    print(f"\nmachine: {results['machine']}   model: {args.model}")
    print(f"cold start to first /predict   {results['cold_start_s']:.1f} s")
    print(
        f"/predict in-process, 1 face    p50 {results['predict_p50_ms']:.0f} ms   p95 {results['predict_p95_ms']:.0f} ms"
        f"   ({results['predict_runs']} portraits)"
    )
    print(f"webcam frames (640x480)        {results['webcam_fps']:.1f} frames/s")
    print(
        f"{c['callers']} concurrent callers         {c['ok']}/{c['calls']} ok, {c['errors']} errors, "
        f"{c['requests_per_s']:.1f} requests/s"
    )


if __name__ == "__main__":
    main()
