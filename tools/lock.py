"""The lock of tested versions: write it from an environment, or compare one against it.

    python tools/lock.py write PYTHON > requirements.lock
    python tools/lock.py diff requirements.lock PYTHON

``write`` prints every distribution installed in PYTHON's environment (Vigil itself
excepted) as ``name==version``, sorted, under a header saying how to refresh the file.
``diff`` prints which installed versions differ from the lock, so a test failure in the
newest-releases pass names the release that caused it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HEADER = """\
# The versions the whole suite passed with (`make test` and `make demo` install these).
# Refresh: `make lock`, then `make test`, then commit this file.
# `pip install vigil` itself keeps the open lower bounds of pyproject.toml.
"""


def installed(python: str) -> dict[str, str]:
    """Name (normalised) to version of every distribution in *python*'s environment."""
    out = subprocess.run(  # noqa: S603 - the interpreter the Makefile names
        [python, "-m", "pip", "freeze", "--all", "--exclude-editable"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return _parse(out.splitlines())


def _parse(lines: list[str]) -> dict[str, str]:
    versions = {}
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#") or "==" not in line:
            continue
        name, version = line.split("==", 1)
        versions[_normalise(name)] = version.split(";")[0].strip()
    return versions


def _normalise(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def write(python: str) -> None:
    versions = installed(python)
    versions.pop("vigil", None)
    sys.stdout.write(HEADER)
    for name in sorted(versions):
        sys.stdout.write(f"{name}=={versions[name]}\n")


def diff(lock: Path, python: str) -> None:
    locked = _parse(lock.read_text().splitlines())
    now = installed(python)
    changed = [
        (name, locked.get(name, "-"), version)
        for name, version in sorted(now.items())
        if name != "vigil" and locked.get(name) != version
    ]
    if not changed:
        print(f"newest releases: identical to {lock}")
        return
    print(f"newest releases differing from {lock} (package: locked -> now):")
    for name, old, new in changed:
        print(f"  {name}: {old} -> {new}")


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "write":
        write(argv[1])
        return 0
    if len(argv) == 3 and argv[0] == "diff":
        diff(Path(argv[1]), argv[2])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
