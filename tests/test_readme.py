"""README.md, run as a reader would: its Python block and its offline commands, in order, in
a scratch folder.

Every command line of the README is either run here or listed in `NOT_RUN` with the
reason (it serves until stopped, sends to a server, or runs the whole suite), so a new
example is run, or explicitly set aside, as soon as it is written.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vigil.verify import Job

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[1] / "README.md"

NOT_RUN = {
    "make demo": "installs, generates six months of data and serves until stopped",
    "make test": "the whole suite, this test among it",
    "make lint": "ruff and mypy over the tree, checked apart",
    "make bench": "the benchmarks, minutes long",
    "make lock": "resolves every dependency afresh from the package index",
    "make test-latest": "installs the newest releases from the package index",
    "pip install": "the suite runs with Vigil installed",
    "vigil verify check --fail-on-spec": "reads a validate_drp output the tests do not have",
    "vigil dispatch": "sends to a running server (tests/client runs it against one)",
    "vigil check": "asks a running server (tests/commands/test_check.py)",
    "vigil serve": "serves until stopped",
    "vigil worker": "runs until stopped",
}
"""Commands of the README this test does not run, by prefix, with the reason."""

SCRATCH_URLS = {
    "VIGIL_DATABASE_URL": lambda folder: f"sqlite:///{folder / 'vigil.sqlite3'}",
    "VIGIL_ARTIFACT_URL": lambda folder: str(folder / "artifacts"),
}
"""The README's deployment URLs, replaced by ones in the scratch folder."""


def blocks() -> list[tuple[str, str]]:
    """(kind, text) of every code block of the README in order: fenced blocks by their
    language, indented blocks as ``console``."""
    found = []
    fenced = re.compile(r"^```(\w+)\n(.*?)^```$", re.M | re.S)
    text = README.read_text()
    position = 0
    for match in fenced.finditer(text):
        found.extend(_indented(text[position : match.start()]))
        found.append((match[1], match[2]))
        position = match.end()
    found.extend(_indented(text[position:]))
    return found


def _indented(text: str) -> list[tuple[str, str]]:
    pattern = re.compile(r"(?:^\n)((?:^    \S.*\n)+)", re.M)
    return [("console", re.sub(r"^    ", "", m[1], flags=re.M)) for m in pattern.finditer(text)]


def commands(block: str) -> list[str]:
    """The commands of a console block: ``$ `` lines of a transcript, else every line;
    trailing comments removed, ``&&`` chains split."""
    lines = block.splitlines()
    if any(line.startswith("$ ") for line in lines):
        lines = [line.removeprefix("$ ") for line in lines if line.startswith("$ ")]
    found: list[str] = []
    for line in lines:
        words = shlex.split(line, comments=True)
        command = shlex.join(words)
        found.extend(part.strip() for part in command.split(" '&&' "))
    return [c for c in found if c]


def _not_run(command: str) -> str | None:
    return next((why for prefix, why in NOT_RUN.items() if command.startswith(prefix)), None)


def test_readme_examples_run(tmp_path: Path, conformance: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env["VIGIL_DATA_DIR"] = str(tmp_path / "data")
    shutil.copytree(conformance / "lsst-verify" / "verify_metrics", tmp_path / "verify_metrics")
    ran: list[str] = []
    outputs: dict[str, str] = {}
    for kind, text in blocks():
        if kind == "python":
            cwd = Path.cwd()
            os.chdir(tmp_path)
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    exec(compile(text, str(README), "exec"), {})
            finally:
                os.chdir(cwd)
            ran.append("python")
            continue
        assert kind == "console", kind
        for command in commands(text):
            if _not_run(command):
                continue
            if command.startswith("export "):
                name, _, _ = command.removeprefix("export ").partition("=")
                assert name in SCRATCH_URLS, command
                env[name] = SCRATCH_URLS[name](tmp_path)
                continue
            argv = shlex.split(command)
            assert argv[0] == "vigil", f"{command}: run it here or list it in NOT_RUN"
            done = subprocess.run(
                [sys.executable, "-m", "vigil", *argv[1:]],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=240,
            )
            assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
            ran.append(command)
            outputs[command] = done.stdout
    assert ran == [
        "vigil verify check verify_metrics/",
        "python",
        "vigil db upgrade",
        "vigil user create alice --admin",
        "vigil token create alice",
    ]
    # What the examples say they do, they did.
    documented = re.search(r"\$ vigil verify check verify_metrics/\n(.*)\n", README.read_text())
    assert documented is not None
    # The command wraps its message at the terminal's width.
    assert documented[1] in " ".join(outputs["vigil verify check verify_metrics/"].split())
    job = Job.read(tmp_path / "PA1.verify.json")
    assert [m.metric for m in job.measurements] == ["validate_drp.PA1"]
    assert "vgl_" in outputs["vigil token create alice"]
    assert (tmp_path / "vigil.sqlite3").is_file()


def test_every_skipped_command_is_still_in_the_readme() -> None:
    written = [c for kind, text in blocks() if kind == "console" for c in commands(text)]
    for prefix in NOT_RUN:
        assert any(c.startswith(prefix) for c in written), f"{prefix!r} is no longer there"
