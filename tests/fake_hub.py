"""A loopback stand-in for the Hugging Face Hub's HTTP API, enough for create_repo, upload_file,
upload_folder and DatasetDict.push_to_hub (files sent inline, "regular" upload mode).

It stores what a real Hub would store (path -> bytes per repo), so tests assert on the exact files
uploaded. Run: `python -m tests.fake_hub PORT` or start `FakeHub()` in-process.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse


class FakeHub:
    def __init__(self) -> None:
        self.repos: dict[str, dict] = {}  # "datasets/org/name" -> {"files": {path: bytes}, "sha": str}
        self.lfs: dict[str, bytes] = {}  # sha256 -> content uploaded through the LFS batch API
        self.log: list[str] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _send(self, code: int, body=None, headers: dict | None = None):
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_HEAD(self):
                hub._route(self, "HEAD", b"")

            def do_GET(self):
                hub._route(self, "GET", b"")

            def do_POST(self):
                hub._route(self, "POST", self._body())

            def do_PUT(self):
                hub._route(self, "PUT", self._body())

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()

    def _route(self, h, method: str, body: bytes) -> None:
        path = unquote(urlparse(h.path).path)
        self.log.append(f"{method} {path}")
        if path == "/api/validate-yaml" and method == "POST":  # the Hub checks card metadata: so do we
            import yaml

            content = json.loads(body)["content"]
            try:
                front = re.match(r"\A---\n(.*?)\n---\n", content, re.S)
                assert front, "README.md has no YAML front matter"
                meta = yaml.safe_load(front[1])
                assert isinstance(meta, dict), "metadata must be a mapping"
            except Exception as err:
                return h._send(400, {"errors": [{"message": f"invalid metadata: {err}"}]})
            return h._send(200, {"errors": [], "warnings": []})
        m = re.fullmatch(r"/(datasets/|spaces/)?([^/]+/[^/]+)\.git/info/lfs/objects/batch", path)
        if m and method == "POST":  # Git LFS batch API: where to PUT each object
            objects = json.loads(body)["objects"]
            return h._send(
                200,
                {
                    "transfer": "basic",
                    "objects": [
                        {
                            "oid": o["oid"],
                            "size": o["size"],
                            "actions": {"upload": {"href": f"{self.url}/lfs-upload/{o['oid']}", "header": {}}},
                        }
                        for o in objects
                        if o["oid"] not in self.lfs
                    ],
                },
            )
        m = re.fullmatch(r"/lfs-upload/([0-9a-f]{64})", path)
        if m and method == "PUT":
            if hashlib.sha256(body).hexdigest() != m[1]:
                return h._send(400, {"error": "sha256 mismatch"})
            self.lfs[m[1]] = body
            return h._send(200, {})
        m = re.fullmatch(r"/api/repos/create", path)
        if m and method == "POST":
            req = json.loads(body)
            kind = req.get("type", "model")
            repo_id = f"{req['organization']}/{req['name']}" if req.get("organization") else req["name"]
            key = f"{kind}s/{repo_id}"
            self.repos.setdefault(key, {"files": {}, "sha": "0" * 40})
            return h._send(200, {"url": f"{self.url}/{'' if kind == 'model' else kind + 's/'}{repo_id}", "name": repo_id})
        m = re.fullmatch(r"/api/(models|datasets|spaces)/([^/]+/[^/]+)(?:/revision/([^/]+))?", path)
        if m and method == "GET":
            key = f"{m[1]}/{m[2]}"
            if key not in self.repos:
                return h._send(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
            repo = self.repos[key]
            siblings = [{"rfilename": p} for p in sorted(repo["files"])]
            return h._send(200, {"id": m[2], "sha": repo["sha"], "siblings": siblings, "private": False})
        m = re.fullmatch(r"/api/(models|datasets|spaces)/([^/]+/[^/]+)/preupload/([^/]+)", path)
        if m and method == "POST":
            files = json.loads(body)["files"]
            # Like the Hub: binary data (parquet, safetensors, images) goes through LFS, text inline.
            lfs = re.compile(r"\.(parquet|safetensors|bin|png|jpg|arrow)$")
            return h._send(
                200,
                {
                    "files": [
                        {"path": f["path"], "uploadMode": "lfs" if lfs.search(f["path"]) else "regular", "shouldIgnore": False}
                        for f in files
                    ]
                },
            )
        m = re.fullmatch(r"/api/(models|datasets|spaces)/([^/]+/[^/]+)/commit/([^/]+)", path)
        if m and method == "POST":
            repo = self.repos[f"{m[1]}/{m[2]}"]
            for line in body.decode().splitlines():
                item = json.loads(line)
                if item["key"] == "file":
                    repo["files"][item["value"]["path"]] = base64.b64decode(item["value"]["content"])
                elif item["key"] == "lfsFile":
                    repo["files"][item["value"]["path"]] = self.lfs[item["value"]["oid"]]
                elif item["key"] == "deletedFile":
                    repo["files"].pop(item["value"]["path"], None)
            repo["sha"] = hashlib.sha1(json.dumps(sorted(repo["files"])).encode() + body).hexdigest()
            return h._send(200, {"commitUrl": f"{self.url}/{m[2]}/commit/{repo['sha']}", "commitOid": repo["sha"]})
        m = re.fullmatch(r"/api/(models|datasets|spaces)/([^/]+/[^/]+)/(tree|paths-info)/([^/]+)(/.*)?", path)
        if m:
            repo = self.repos.get(f"{m[1]}/{m[2]}", {"files": {}})
            prefix = (m[5] or "").strip("/")
            if m[3] == "paths-info":
                wanted = [p for p in re.findall(r"paths=([^&]+)", unquote(body.decode()))] or json.loads(body or b"{}").get(
                    "paths", []
                )
                return h._send(
                    200,
                    [
                        {"type": "file", "path": p, "size": len(repo["files"][p]), "oid": "0" * 40}
                        for p in wanted
                        if p in repo["files"]
                    ],
                )
            entries = [
                {"type": "file", "path": p, "size": len(b), "oid": "0" * 40}
                for p, b in sorted(repo["files"].items())
                if p.startswith(prefix + "/" if prefix else "")
            ]
            if prefix and not entries:  # like the Hub: listing a folder that does not exist is a 404
                return h._send(404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound"})
            if "recursive" not in h.path:  # one level: files here, folders once
                folders = sorted(
                    {
                        e["path"][len(prefix) + bool(prefix) :].split("/")[0]
                        for e in entries
                        if "/" in e["path"][len(prefix) + bool(prefix) :]
                    }
                )
                entries = [e for e in entries if "/" not in e["path"][len(prefix) + bool(prefix) :]] + [
                    {"type": "directory", "path": f"{prefix}/{f}" if prefix else f, "oid": "0" * 40} for f in folders
                ]
            return h._send(200, entries)
        m = re.fullmatch(r"/(datasets/|spaces/)?([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
        if m:
            kind = (m[1] or "models/").rstrip("/")
            files = self.repos.get(f"{kind}/{m[2]}", {"files": {}})["files"]
            if m[4] not in files:
                return h._send(404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound"})
            data = files[m[4]]
            h.send_response(200)
            h.send_header("Content-Length", str(len(data)))
            h.send_header("ETag", f'"{hashlib.sha1(data).hexdigest()}"')
            h.send_header("X-Repo-Commit", self.repos[f"{kind}/{m[2]}"]["sha"])
            h.end_headers()
            if method != "HEAD":
                h.wfile.write(data)
            return None
        return h._send(404, {"error": f"fake hub: no route for {method} {path}"})


if __name__ == "__main__":
    hub = FakeHub()
    print(hub.url, flush=True)
    hub.thread.join()
