"""The Hugging Face Space: its config agrees with the Dockerfile, and the Dockerfile's command serves the app.

No Docker engine runs here, so the image is not built; what can drift is checked instead: the install is
`make install` (the one CI runs from a clean clone), and the container's exact command line is started
against this checkout and answered through gradio_client.
"""

import fnmatch
import json
import re
import subprocess
import sys

import yaml
from gradio_client import handle_file

from tests.conftest import REPO, free_port, needs_portraits, portrait_files, wait_for_app


def front_matter() -> dict:
    text = (REPO / "README.md").read_text()
    match = re.match(r"---\n(.*?)\n---\n", text, re.S)
    assert match, "README.md must start with the Space's YAML front matter"
    return yaml.safe_load(match.group(1))


def dockerfile_instructions() -> list[tuple[str, str]]:
    lines = [ln for ln in (REPO / "Dockerfile").read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    return [tuple(ln.split(maxsplit=1)) for ln in lines]


def container_command() -> list[str]:
    commands = [json.loads(arg) for op, arg in dockerfile_instructions() if op == "CMD"]
    assert len(commands) == 1, "the Dockerfile needs exactly one CMD, in exec (JSON) form"
    return commands[0]


def test_space_config_matches_the_dockerfile():
    config = front_matter()
    assert config["sdk"] == "docker"
    command = container_command()
    assert command[:2] == [".venv/bin/python", "app.py"]
    assert command[command.index("--port") + 1] == str(config["app_port"])
    assert command[command.index("--host") + 1] == "0.0.0.0"  # a Space routes to the container, not to loopback
    runs = [arg for op, arg in dockerfile_instructions() if op == "RUN"]
    assert "make install" in runs, "the image must install the way the README and CI do"


def test_image_leaves_out_local_state_but_keeps_the_bundled_model():
    patterns = [ln.strip() for ln in (REPO / ".dockerignore").read_text().splitlines() if ln.strip() and not ln.startswith("#")]

    def ignored(path: str) -> bool:  # a path is left out when it or any folder above it matches a pattern
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        return any(fnmatch.fnmatch(prefix, pattern.rstrip("/")) for pattern in patterns for prefix in prefixes)

    for local in (".venv/bin/python", "data/portraits-faces", "runs/x", "test-artifacts/a.png", "model/checkpoint/last.pt"):
        assert ignored(local), local
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    needed = [f for f in tracked if f.startswith(("model/", "realorai/", "examples/")) or f in ("app.py", "Makefile")]
    assert "model/trained.safetensors" in needed and "model/config.json" in needed
    # The app's examples ship with their attribution: a Space has no ../shared beside it.
    assert "examples/README.md" in needed and len([f for f in needed if f.startswith("examples/") and f.endswith(".jpg")]) == 6
    assert not [f for f in needed if ignored(f)]


@needs_portraits
def test_the_container_command_serves_predictions():
    """The CMD line as the Space runs it (interpreter of this checkout's venv, a free port) answers /predict."""
    command = container_command()
    command[0] = sys.executable  # .venv/bin/python in CI, the same interpreter the image builds
    port = free_port()
    command[command.index("--port") + 1] = str(port)
    server = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        client = wait_for_app(f"http://127.0.0.1:{port}/", server)
        portrait = portrait_files("ai", "sdfd", 1, seed=3)[0]
        result = client.predict(handle_file(str(portrait)), api_name="/predict")
        # P(AI) on the side of its label; the verdict may be "uncertain" (thresholds favour real photos)
        assert result["face_found"] and result["p_ai"] > 0.5 and result["verdict"] in {"ai", "uncertain"}, result
    finally:
        server.terminate()
        server.wait(timeout=30)
