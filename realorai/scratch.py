"""The one folder where the running app keeps anything of a user's: uploads, results, Gradio's cache.

Gradio is pointed at it (GRADIO_TEMP_DIR), it is emptied when the app starts and when it stops
(SIGTERM/SIGINT), and a sweeper removes what has outlived its use while it runs:
- files older than `max_age_s` (uploads and CSVs are needed for one request and its download);
- upload spool files left at the top level that nobody has written to for `idle_spool_s` (an aborted upload).
The app's own files that Gradio copied there when the page was built (plots, sample faces) are kept.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

log = logging.getLogger("real-or-ai")

MAX_AGE_S = 600  # ten minutes: long enough to download a batch's CSV, short enough to promise
IDLE_SPOOL_S = 60  # an upload in progress writes every few milliseconds; a minute of silence means it was dropped
SWEEP_EVERY_S = 30


def scratch_dir(port: int) -> Path:
    """$REALORAI_SCRATCH, else a folder per port under the system temp dir (two apps never share one)."""
    return Path(os.environ.get("REALORAI_SCRATCH") or Path(tempfile.gettempdir()) / "real-or-ai" / str(port))


def empty(folder: Path) -> None:
    """Remove everything in `folder` (the folder itself stays)."""
    if not folder.is_dir():
        return
    for entry in folder.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def prepare(folder: Path) -> Path:
    """Empty the folder (whatever a killed run left) and make Gradio keep its uploads and cache there."""
    folder.mkdir(parents=True, exist_ok=True)
    empty(folder)
    os.environ["GRADIO_TEMP_DIR"] = str(folder)  # read by Gradio when components and the server are built
    return folder


def files_in(folder: Path) -> frozenset[Path]:
    return frozenset(p for p in folder.rglob("*") if p.is_file())


def sweep(
    folder: Path,
    max_age_s: float = MAX_AGE_S,
    idle_spool_s: float = IDLE_SPOOL_S,
    keep: frozenset[Path] = frozenset(),
    now: float | None = None,
) -> int:
    """Remove expired files (and the folders they leave empty), except `keep`; the number of files removed."""
    now = time.time() if now is None else now
    removed = 0
    for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):  # deepest first
        if path in keep:
            continue
        try:
            if path.is_dir():
                if path != folder and not any(path.iterdir()):
                    path.rmdir()
                continue
            age = now - path.stat().st_mtime
            if age > max_age_s or (path.parent == folder and age > idle_spool_s):
                path.unlink(missing_ok=True)
                removed += 1
        except FileNotFoundError:  # removed meanwhile by Gradio's own cache cleaning
            continue
    return removed


class Sweeper(threading.Thread):
    """Sweeps the folder every `every_s` seconds until stopped; files there when it was built are the app's own."""

    def __init__(self, folder: Path, every_s: float = SWEEP_EVERY_S, **limits) -> None:
        super().__init__(name="scratch-sweeper", daemon=True)
        self.folder, self.every_s = folder, every_s
        self.limits = {"keep": files_in(folder)} | limits
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.every_s):
            try:
                if removed := sweep(self.folder, **self.limits):
                    log.info("swept %d expired file(s) from %s", removed, self.folder)
            except OSError as err:  # a sweep that fails once must not stop the next
                log.warning("sweep failed: %s", err)

    def stop(self) -> None:
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout=self.every_s)  # at most one sweep in progress to finish

    def __enter__(self) -> Sweeper:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()
