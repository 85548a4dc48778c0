"""Serving the explorer: ``vigil explore`` and the server's ``/explore`` pages.

- `serve_explorer` runs the app of one repository (and an optional second) on a Bokeh
  server, as ``vigil explore`` does: on 127.0.0.1 unless told another address, and
  accepting browsers of other machines only for the hosts given as allowed websocket
  origins (Bokeh refuses a page's websocket from any other host).
- `list_repositories` and `resolve_repository` find the repositories under the configured
  roots (``VIGIL_EXPLORE_ROOTS``): a repository is a folder directly under a root that
  holds ``vigil-repo.yaml``, ``objects/`` or ``sources/``. A name is one path segment; a
  name whose resolved folder is not directly under its root (``..``, an absolute path, a
  symbolic link pointing elsewhere) is refused.
- `ExplorerServer` is the Bokeh server behind ``/explore/{name}``: started on first use
  in a background thread on 127.0.0.1, under the path `PROXY_PREFIX`; the tracking
  server relays that path (HTTP and websocket) to it, so that a browser anywhere reaches
  the app through the tracking server's own address, port and access rules. It serves
  ``{PROXY_PREFIX}/explorer?repo=<name>`` and checks the name against the roots again.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "APP_PATH",
    "PROXY_PREFIX",
    "ExplorerServer",
    "RepositoryEntry",
    "RepositoryNotFoundError",
    "list_repositories",
    "resolve_repository",
    "serve_explorer",
]

APP_PATH = "explorer"
"""Path of the app on the Bokeh server."""

PROXY_PREFIX = "/explore/app"
"""The path under which the tracking server relays the explorer's Bokeh server."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_MARKERS = ("vigil-repo.yaml", "objects", "sources")


class RepositoryNotFoundError(LookupError):
    """A repository name that is not a repository directly under a configured root."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"no data repository {name!r} under the explorer's roots: {reason}")
        self.name = name
        self.message = str(self)


@dataclass(frozen=True)
class RepositoryEntry:
    """A repository found under a root."""

    name: str
    path: Path
    root: Path


def _is_repository(path: Path) -> bool:
    return path.is_dir() and any((path / marker).exists() for marker in _MARKERS)


def _inside(path: Path, root: Path) -> bool:
    """Whether *path*, resolved, is a folder directly under *root*, resolved."""
    try:
        resolved = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return False
    return resolved.parent == root.resolve()


def list_repositories(roots: Sequence[Path]) -> list[RepositoryEntry]:
    """The repositories directly under *roots*, by name (the first root wins a name)."""
    found: dict[str, RepositoryEntry] = {}
    for root in roots:
        if not root.is_dir():
            continue
        for child in sorted(root.iterdir()):
            name = child.name
            if name in found or not _NAME.match(name) or not _inside(child, root):
                continue
            if _is_repository(child):
                found[name] = RepositoryEntry(name, child.resolve(), root)
    return sorted(found.values(), key=lambda e: e.name)


def resolve_repository(roots: Sequence[Path], name: str) -> Path:
    """The folder of repository *name* under *roots*.

    Raises
    ------
    RepositoryNotFoundError
        When *name* is not one path segment, or no root holds a repository of that name
        whose resolved folder stays directly under the root.
    """
    if not _NAME.match(name):
        raise RepositoryNotFoundError(name, "a name is one folder name (letters, digits, . _ -)")
    for root in roots:
        candidate = root / name
        if _inside(candidate, root) and _is_repository(candidate):
            return candidate.resolve()
    raise RepositoryNotFoundError(name, "see /explore for the repositories available")


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_explorer(
    repo: Path,
    compare: Path | None = None,
    *,
    port: int = 5006,
    show: bool = True,
    address: str = "127.0.0.1",
    allow_websocket_origin: Sequence[str] = (),
) -> None:
    """Serve the explorer of *repo* (compared with *compare*) until stopped.

    Parameters
    ----------
    repo, compare
        The repository, and one to compare it with.
    port, address
        Where the Bokeh server listens (``0.0.0.0``: every interface).
    show
        Open a browser tab.
    allow_websocket_origin
        ``host[:port]`` values a browser may load the app from besides 127.0.0.1 and
        localhost (the name or address the other machines use for this one).

    Resources (BokehJS, Panel's bundle) come from the installed packages; nothing loads
    from the network. The URL's ``metric``, ``band``, ``tract``, ``patch``, ``visit`` and
    ``detector`` arguments open a metric at a dataId.
    """
    import panel as pn

    from vigil.explorer._panel import serve
    from vigil.explorer._warm import warm
    from vigil.explorer.app import create_explorer, selection_from_args
    from vigil.explorer.query import Repository

    opened = Repository(repo)
    other = Repository(compare) if compare is not None else None
    opened.summary()
    # Before the first page rather than beside it: a click made while the
    # aggregations compile would wait for them (seconds).
    warm(opened)

    def app() -> Any:
        return create_explorer(opened, other, selection_from_args(pn.state.session_args))

    origins = [f"127.0.0.1:{port}", f"localhost:{port}", *allow_websocket_origin]
    pn.extension(inline=True)
    serve(
        {APP_PATH: app},
        port=port,
        address=address,
        show=show,
        title=f"Vigil explorer: {opened.name}",
        websocket_origin=origins,
        print_url=True,
    )


class ExplorerServer:
    """A Bokeh server in a thread serving the explorer of repositories under *roots*.

    It listens on 127.0.0.1 only, under `PROXY_PREFIX`, and accepts websockets only with
    the origin `origin` (the tracking server's relay sends it after its own checks).

    Parameters
    ----------
    roots
        The configured repository roots.
    """

    def __init__(self, roots: Sequence[Path]) -> None:
        self.roots = list(roots)
        self.port: int | None = None
        self._server: Any = None
        self._lock = threading.Lock()

    def base(self) -> str:
        """The Bokeh server's ``http://127.0.0.1:PORT`` (starts it on first use)."""
        with self._lock:
            if self._server is None:
                self._start()
        return f"http://127.0.0.1:{self.port}"

    @property
    def origin(self) -> str:
        """The websocket origin the Bokeh server accepts."""
        return f"http://127.0.0.1:{self.port}"

    def _app(self) -> Any:
        import panel as pn

        from vigil.explorer._panel import alert
        from vigil.explorer.app import create_explorer, selection_from_args

        raw = pn.state.session_args.get("repo", [b""])[0]
        name = raw.decode() if isinstance(raw, bytes) else str(raw)
        try:
            path = resolve_repository(self.roots, name)
        except RepositoryNotFoundError as exc:
            return alert(exc.message, alert_type="danger")
        return create_explorer(path, selection=selection_from_args(pn.state.session_args))

    def _start(self) -> None:
        import panel as pn

        from vigil.explorer._panel import serve

        pn.extension(inline=True)
        self.port = free_port()
        self._server = serve(
            {APP_PATH: self._app},
            port=self.port,
            address="127.0.0.1",
            prefix=PROXY_PREFIX,
            show=False,
            start=True,
            threaded=True,
            websocket_origin=[f"127.0.0.1:{self.port}"],
        )

    def stop(self) -> None:
        """Stop the server (when it was started)."""
        with self._lock:
            if self._server is not None:
                self._server.stop()
                self._server = None
