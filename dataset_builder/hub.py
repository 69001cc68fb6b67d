"""Publish a built dataset to the Hugging Face Hub. Only called behind --push-to-hub."""

from __future__ import annotations

from pathlib import Path

from datasets import load_from_disk
from huggingface_hub import HfApi


def push_dataset(out: Path, repo_id: str, private: bool = False) -> str:
    """Upload the splits as Parquet (DatasetDict.push_to_hub), then our card as README.md.

    The token comes from HF_TOKEN or `hf auth login`, never from code. Our card already carries the
    `configs` metadata the Hub viewer needs, so uploading it last keeps both the text and the viewer.
    """
    dataset = load_from_disk(str(out))
    dataset.push_to_hub(repo_id, private=private, commit_message="Upload portrait face crops")
    api = HfApi()
    info = api.upload_file(
        path_or_fileobj=str(out / "README.md"),
        path_in_repo="README.md",
        repo_id=repo_id,
        repo_type="dataset",
        commit_message="Dataset card",
    )
    return str(info)
