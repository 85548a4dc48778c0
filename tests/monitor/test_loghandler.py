"""`VigilLogHandler` on the root logger ships the pipeline's lines, never its own."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import httpx

from .conftest import ServerThread

# A pipeline as a user writes it: the handler on the root logger at DEBUG, a few lines,
# idle seconds in between (the handler keeps sending meanwhile), one HTTP request of its
# own, and the ending.
_PIPELINE = textwrap.dedent(
    """
    import logging
    import sys
    import time

    import httpx

    from vigil.monitor.loghandler import VigilLogHandler

    url, token, spool = sys.argv[1:4]
    handler = VigilLogHandler(url, token, run="idle/1", spool_dir=spool)
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    log = logging.getLogger("pipeline")
    log.info("starting the reduction")
    for i in range(3):
        time.sleep(1)
        log.debug("waiting for the next frame %d", i)
    httpx.get(url + "/api/logs/runs")
    log.warning("no frame came")
    handler.finish("succeeded", exit_status=0)
    root.removeHandler(handler)
    handler.close()
    """
)


def test_the_handler_on_the_root_logger_ships_only_the_real_lines(
    live_server: ServerThread, token: str, tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PIPELINE, live_server.url, token, str(tmp_path / "spool")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    runs = httpx.get(f"{live_server.url}/api/logs/runs").json()["items"]
    assert [(r["key"], r["status"]) for r in runs] == [("idle/1", "succeeded")]
    lines = httpx.get(
        f"{live_server.url}/api/logs/lines", params={"run": runs[0]["id"], "limit": 1000}
    ).json()["items"]
    shipped = [(line["logger"], line["message"]) for line in lines]
    # The pipeline's own request is one of its lines (httpcore's DEBUG records of it too);
    # the handler's batches (one every 0.2 s while lines come, then its last) left none.
    assert [item for item in shipped if not item[0].startswith("httpcore.")] == [
        ("pipeline", "starting the reduction"),
        ("pipeline", "waiting for the next frame 0"),
        ("pipeline", "waiting for the next frame 1"),
        ("pipeline", "waiting for the next frame 2"),
        ("httpx", f'HTTP Request: GET {live_server.url}/api/logs/runs "HTTP/1.1 200 OK"'),
        ("pipeline", "no frame came"),
    ]
    requests = [m for name, m in shipped if name == "httpcore.http11" and "request=" in m]
    assert requests and all("b'GET'" in m for m in requests), requests
