"""The live webcam as a visitor gets it: frames analysed per second in a real browser.

`bench_app.py` times a webcam frame's work in-process (face detection + model on 640x480). In the page,
Gradio's camera sends a frame every `stream_every` seconds whatever happens to it, and the server keeps only
the newest while it works on one, so the live rate is bounded by both the work and that cadence. This starts
the app in-process (`app.serving`: built and launched as `python app.py` does it), opens the webcam tab in
headless Chromium (Debian's) with a fake camera showing a portrait, presses Record and counts, over
`--seconds`, the frames the page sends and the frames the server analyses.

    python benchmarks/bench_webcam_browser.py [--seconds 30] [--stream-every 0.1 0.09]

Prints one line per cadence and writes benchmarks/webcam_browser.json; run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def write_y4m(image: Image.Image, path: Path, frames: int = 20, size: tuple[int, int] = (640, 480)) -> Path:
    """A YUV4MPEG2 (4:2:0) clip of `image` centred on grey, as Chromium's fake camera reads it."""
    canvas = Image.new("RGB", size, (128, 128, 128))
    face = image.resize((size[1], size[1]))
    canvas.paste(face, ((size[0] - size[1]) // 2, 0))
    ycbcr = np.asarray(canvas.convert("YCbCr"))
    y = ycbcr[..., 0].tobytes()
    u = np.asarray(Image.fromarray(ycbcr[..., 1]).resize((size[0] // 2, size[1] // 2))).tobytes()
    v = np.asarray(Image.fromarray(ycbcr[..., 2]).resize((size[0] // 2, size[1] // 2))).tobytes()
    with path.open("wb") as handle:
        handle.write(f"YUV4MPEG2 W{size[0]} H{size[1]} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            handle.write(b"FRAME\n" + y + u + v)
    return path


def launch_chromium(playwright, camera: Path):
    """Headless Chromium whose camera is `camera` (a .y4m clip), permission granted without a prompt."""
    return playwright.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={camera}",
        ],
    )


class FrameCounter:
    """Counts the pictures a Detector analyses (every live frame is one) while in use, wrapping its `analyse`."""

    def __init__(self, detector) -> None:
        self.count = 0
        self._detector = detector
        self._lock = threading.Lock()

    def __enter__(self) -> FrameCounter:
        analyse = self._detector.analyse

        def counted(image, *args, **kwargs):
            result = analyse(image, *args, **kwargs)
            with self._lock:
                self.count += 1
            return result

        self._detector.analyse = counted  # an instance attribute, shadowing the method
        return self

    def __exit__(self, *exc) -> None:
        del self._detector.analyse


def live_rate(detector, stream_every: float, seconds: float, camera: Path) -> dict:
    """Frames sent by the page and analysed by the server per second, with this streaming cadence."""
    from playwright.sync_api import sync_playwright

    import app as app_module

    port = free_port()
    # Read when the page is built; given back after, so a later page in this process gets the shipped cadence.
    shipped, app_module.WEBCAM_STREAM_EVERY_S = app_module.WEBCAM_STREAM_EVERY_S, stream_every
    try:
        with app_module.serving(detector, "benchmark", port):
            with FrameCounter(detector) as counter, sync_playwright() as p:
                browser = launch_chromium(p, camera)
                page = browser.new_context(permissions=["camera"]).new_page()
                page.goto(f"http://127.0.0.1:{port}/", wait_until="domcontentloaded")
                page.get_by_role("tab", name="Predict — webcam").click()
                camera_box = page.locator("#camera")
                camera_box.get_by_text("Click to Access Webcam").click(timeout=60_000)
                camera_box.locator("button", has_text="Record").click(timeout=30_000)
                page.locator("#live-verdict .verdict").wait_for(timeout=120_000)
                page.wait_for_timeout(2000)  # past the first frames' warm-up
                sent = []
                page.on("request", lambda r: sent.append(1) if "/gradio_api/stream/" in r.url else None)
                analysed_before, started = counter.count, time.perf_counter()
                page.wait_for_timeout(seconds * 1000)
                elapsed = time.perf_counter() - started
                analysed = counter.count - analysed_before
                verdict = page.locator("#live-verdict .verdict").inner_text().splitlines()[0]
                browser.close()
    finally:
        app_module.WEBCAM_STREAM_EVERY_S = shipped
    return {
        "stream_every_s": stream_every,
        "seconds": round(elapsed, 1),
        "frames_sent_per_s": len(sent) / elapsed,
        "frames_analysed_per_s": analysed / elapsed,
        "last_verdict": verdict,
    }


def free_port() -> int:  # each benchmark has its own: they run as scripts, where `benchmarks` is not importable
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--stream-every", type=float, nargs="+", default=None, help="cadences to try (s); default: the app's")
    parser.add_argument("--model", default=None, help="model folder or hf-hub id; default: the bundled model")
    parser.add_argument("--out", default=str(Path(__file__).with_name("webcam_browser.json")))
    args = parser.parse_args(argv)

    import app as app_module
    from realorai.config import portraits_dir

    detector, _ = app_module.load_detector(args.model)
    portrait = sorted((portraits_dir() / "ai" / "tpdne").glob("*.jpg"))[0]
    machine = f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores"
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        camera = write_y4m(Image.open(portrait).convert("RGB"), Path(tmp) / "face.y4m")
        print(f"machine: {machine}; camera: {portrait.name}")
        for every in args.stream_every or [app_module.WEBCAM_STREAM_EVERY_S]:
            runs.append(live_rate(detector, every, args.seconds, camera))
            r = runs[-1]
            print(
                f"stream_every {every:.3f} s: {r['frames_sent_per_s']:.1f} frames/s sent, "
                f"{r['frames_analysed_per_s']:.1f} analysed over {r['seconds']} s ({r['last_verdict']})",
                flush=True,
            )
    shipped = app_module.WEBCAM_STREAM_EVERY_S
    result = {"machine": machine, "model": args.model or "bundled model", "shipped_stream_every_s": shipped, "runs": runs}
    Path(args.out).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
