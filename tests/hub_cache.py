"""Build a Hugging Face Hub cache on disk from a model folder, so `hf-hub:` ids resolve with HF_HUB_OFFLINE=1.

This is the layout huggingface_hub itself writes (models--ORG--NAME/refs/main -> snapshots/<commit>/...).
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path


def add_to_hub_cache(folder: Path, repo_id: str, cache: Path) -> Path:
    files = sorted(p for p in folder.iterdir() if p.is_file())
    commit = hashlib.sha1(b"".join(p.read_bytes() for p in files)).hexdigest()
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True, exist_ok=True)
    (repo / "blobs").mkdir(exist_ok=True)
    for path in files:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        shutil.copy(path, repo / "blobs" / digest)
        (snapshot / path.name).symlink_to(Path("../../blobs") / digest)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    return snapshot
