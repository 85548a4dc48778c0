"""docs/lsst.md, run as a user would: each console line in order in a scratch folder (a
real ``butler``, a real server for ``vigil ingest-butler``, ``vigil explore`` served and
fetched), each Python block executed, the YAML block read as a Butler configuration."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from monitor.conftest import ServerThread, free_port

from .conftest import MEASUREMENT_RUN, ingest_measurements

pytest.importorskip("lsst.daf.butler", reason="needs vigil[lsst]")

DOC = Path(__file__).resolve().parents[2] / "docs" / "lsst.md"
BIN = Path(sys.executable).parent
DOC_URL = "http://127.0.0.1:8000"
SETUP = "<!-- a repository where the pipelines wrote metricvalue_* datasets"

pytestmark = pytest.mark.slow


def _blocks() -> list[tuple[str, str]]:
    """(kind, text) of every fenced block, and the set-up comments, in order."""
    text = DOC.read_text()
    found = []
    for match in re.finditer(r"^```(\w+)\n(.*?)^```$|^(<!-- .*? -->)$", text, re.M | re.S):
        if match[3]:
            found.append(("comment", match[3]))
        else:
            found.append((match[1], match[2]))
    return found


def _explore(argv: list[str], cwd: Path, env: dict[str, str]) -> None:
    """Serve the explorer as the line asks, fetch its page, stop it."""
    port = free_port()
    log = cwd / "explore.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*argv, "--no-show", "--port", str(port)],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, log.read_text()
            with contextlib.suppress(httpx.HTTPError):
                page = httpx.get(f"http://127.0.0.1:{port}/explorer", timeout=10)
                if page.status_code == 200:
                    break
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=20)


def test_every_example_runs(
    tmp_path: Path, live_server: ServerThread, token: str, conformance: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env['PATH']}"
    env["VIGIL_SPOOL_DIR"] = str(tmp_path / "spool")
    kinds = []
    for kind, text in _blocks():
        kinds.append(kind)
        if kind == "comment" and text.startswith(SETUP):
            ingest_measurements(tmp_path / "repo", conformance, MEASUREMENT_RUN)
        elif kind == "yaml":
            config = yaml.safe_load(text)
            chained = config["datastore"]["datastores"]
            assert chained[1]["datastore"]["restProxyUrl"].endswith("/sasquatch")
        elif kind == "python":
            out = io.StringIO()
            cwd = Path.cwd()
            os.chdir(tmp_path)
            try:
                with contextlib.redirect_stdout(out):
                    exec(compile(text, str(DOC), "exec"), {})
            finally:
                os.chdir(cwd)
            assert "stars; median" in out.getvalue()
        elif kind == "console":
            for line in text.splitlines():
                command = line.removeprefix("$ ")
                if command.startswith("pip install"):
                    continue  # the suite runs with the extra installed
                if command.startswith("export VIGIL_TOKEN="):
                    env["VIGIL_TOKEN"] = token
                    continue
                argv = shlex.split(command.replace(DOC_URL, live_server.url))
                if argv[:2] == ["vigil", "explore"]:
                    _explore([sys.executable, "-m", "vigil", *argv[1:]], tmp_path, env)
                    continue
                if argv[0] == "vigil":
                    argv = [sys.executable, "-m", "vigil", *argv[1:]]
                done = subprocess.run(
                    argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
                )
                assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    assert kinds.count("console") == 4 and "python" in kinds and "yaml" in kinds
    # What the examples did, checked on the server and on disk.
    jobs = httpx.get(f"{live_server.url}/api/jobs").json()["items"]
    assert len(jobs) == 1
    lines = (tmp_path / "detector12.jsonl").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["measurements"][0]["data_id"]["detector"] == 12
