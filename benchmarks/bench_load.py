"""Hostile-but-fair load on the real app process: memory must stay bounded and flat, nothing may fail.

    python benchmarks/bench_load.py [--rounds 5] [--callers 30] [--calls-per-caller 3]

Starts `python app.py` (the same launch as production), then
1. a burst: 12 simultaneous requests spread over all six endpoints, each with one 8000x6000 JPEG;
2. a 169-megapixel palette PNG (164 KB) to the webcam endpoints, which must be refused before decoding;
3. `--rounds` rounds of `--callers` gradio_client users x `--calls-per-caller` /predict calls on portraits.
Prints RSS (and the kernel's peak, VmHWM) of the app process after each phase, checks the goals
(peak <= 2.5 GB, RSS after the last round within 10% of after round 1, zero errors) and writes
benchmarks/load.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image

from realorai.config import portraits_dir

REPO = Path(__file__).resolve().parent.parent

PEAK_GOAL_GB = 2.5
DRIFT_GOAL = 0.10


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def memory_gb(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) of a process in GB, from /proc."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return tuple(int(fields[k].split()[0]) / 1e6 for k in ("VmRSS", "VmHWM"))


def big_jpeg(path: Path, portrait: Path) -> Path:
    """An 8000x6000 JPEG with a face in it (a portrait scaled up onto a photo-sized canvas)."""
    face = Image.open(portrait).convert("RGB").resize((3000, 3000))
    canvas = Image.new("RGB", (8000, 6000), (90, 110, 130))
    canvas.paste(face, (2500, 1500))
    canvas.save(path, quality=70)
    return path


def palette_bomb(path: Path, width: int = 13000, height: int = 13000) -> Path:
    """A valid palette PNG of 169 MP that compresses to ~160 KB: decoding it costs ~170 MB."""
    import struct

    raw = zlib.compress(b"".join(b"\0" + bytes(width) for _ in range(height)), 9)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)
    chunks = chunk(b"IHDR", ihdr) + chunk(b"PLTE", bytes(768)) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunks)
    return path


def connect(url: str, server: subprocess.Popen):
    from gradio_client import Client

    started = time.monotonic()
    while True:
        try:
            return Client(url, verbose=False)
        except Exception:
            if server.poll() is not None or time.monotonic() - started > 180:
                raise RuntimeError("the app did not start") from None
            time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--callers", type=int, default=30)
    parser.add_argument("--calls-per-caller", type=int, default=3)
    args = parser.parse_args()
    from gradio_client import Client, handle_file

    portraits = (
        sorted((portraits_dir() / "real" / "ffhq").glob("*.jpg"))[:20]
        + sorted((portraits_dir() / "ai" / "sdfd").glob("*.jpg"))[:10]
    )
    if not portraits:
        sys.exit(f"no portraits under {portraits_dir()}; set PORTRAITS_DIR")
    work = Path(tempfile.mkdtemp(prefix="bench-load-"))
    big = big_jpeg(work / "big.jpg", portraits[0])
    bomb = palette_bomb(work / "palette-bomb.png")
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "REALORAI_SCRATCH": str(work / "scratch")}
    server = subprocess.Popen(
        [sys.executable, "app.py", "--port", str(port)], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}/"
    report = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "big_jpeg_mb": big.stat().st_size / 1e6}
    errors: list[str] = []
    try:
        connect(url, server).predict(handle_file(str(portraits[0])), api_name="/predict")  # model warm
        report["rss_start_gb"] = memory_gb(server.pid)[0]

        calls = [
            ("/predict", lambda: handle_file(str(big))),
            ("/predict_batch", lambda: [handle_file(str(big))]),
            ("/explain", lambda: handle_file(str(big))),
            ("/webcam_frame", lambda: handle_file(str(big))),
            ("/webcam_snapshot", lambda: handle_file(str(big))),
            ("/analyse_upload", lambda: [handle_file(str(big))]),
        ] * 2

        def burst_call(call):
            endpoint, argument = call
            try:
                Client(url, verbose=False).predict(argument(), api_name=endpoint)
            except Exception as err:  # counted and reported, never hidden
                errors.append(f"{endpoint}: {err!r}"[:200])

        started = time.perf_counter()
        with ThreadPoolExecutor(len(calls)) as pool:
            list(pool.map(burst_call, calls))
        report["burst_s"] = time.perf_counter() - started
        report["rss_after_burst_gb"], report["peak_after_burst_gb"] = memory_gb(server.pid)

        client = Client(url, verbose=False)
        html, _ = client.predict(handle_file(str(bomb)), api_name="/webcam_frame")
        report["bomb_refused"] = "limit is" in html
        report["peak_after_bomb_gb"] = memory_gb(server.pid)[1]

        def caller(i: int) -> None:
            user = Client(url, verbose=False)
            for j in range(args.calls_per_caller):
                try:
                    user.predict(handle_file(str(portraits[(i + j) % len(portraits)])), api_name="/predict")
                except Exception as err:
                    errors.append(f"/predict: {err!r}"[:200])

        report["rounds"] = []
        for _ in range(args.rounds):
            started = time.perf_counter()
            with ThreadPoolExecutor(args.callers) as pool:
                list(pool.map(caller, range(args.callers)))
            rss, peak = memory_gb(server.pid)
            report["rounds"].append({"wall_s": time.perf_counter() - started, "rss_gb": rss, "peak_gb": peak})
            print(f"round {len(report['rounds'])}: RSS {rss:.2f} GB (peak so far {peak:.2f} GB)", flush=True)
    finally:
        server.terminate()
        server.wait(60)
    rounds = report["rounds"]
    report["peak_gb"] = max(r["peak_gb"] for r in rounds) if rounds else report.get("peak_after_bomb_gb")
    report["drift"] = rounds[-1]["rss_gb"] / rounds[0]["rss_gb"] - 1 if rounds else None
    report["errors"] = len(errors)
    report["error_samples"] = errors[:5]
    report["scratch_left_after_sigterm"] = sorted(str(p) for p in (work / "scratch").rglob("*"))
    report["goals_met"] = {
        "peak": report["peak_gb"] <= PEAK_GOAL_GB,
        "flat": report["drift"] is not None and abs(report["drift"]) <= DRIFT_GOAL,
        "no_errors": not errors,
        "bomb_refused": report["bomb_refused"],
        "scratch_empty_after_stop": not report["scratch_left_after_sigterm"],
    }
    (REPO / "benchmarks" / "load.json").write_text(json.dumps(report, indent=1))
    print(f"\nmachine: {report['machine']}")
    print(f"RSS at start (model warm)            {report['rss_start_gb']:.2f} GB")
    print(
        f"burst: 12 x 8000x6000 JPEG over 6 endpoints   {report['burst_s']:.1f} s, "
        f"RSS after {report['rss_after_burst_gb']:.2f} GB, peak {report['peak_after_burst_gb']:.2f} GB"
    )
    print(f"169 MP palette PNG to /webcam_frame   refused: {report['bomb_refused']}, peak {report['peak_after_bomb_gb']:.2f} GB")
    if rounds:
        print(
            f"{len(rounds)} rounds x {args.callers} callers x {args.calls_per_caller}: RSS after round 1 "
            f"{rounds[0]['rss_gb']:.2f} GB, after round {len(rounds)} {rounds[-1]['rss_gb']:.2f} GB ({report['drift']:+.1%})"
        )
    print(f"peak RSS {report['peak_gb']:.2f} GB (goal <= {PEAK_GOAL_GB}), errors {len(errors)}, goals {report['goals_met']}")


if __name__ == "__main__":
    main()
