"""How ``schema-0001.sqlite`` was made: a database of the first schema release, with rows.

The fixture is kept as it is: ``tests/reliability/test_upgrade.py`` copies it and runs
``vigil db upgrade`` on the copy. It holds, at Alembic revision ``0001``:

- user ``ada`` (admin) and one API token of hers (its text is in ``schema-0001.json``);
- two real jobs from ``../shared/conformance/squash``: ``verify_job.json`` (as
  dispatch_verify sent it, bare NaN included) and ``Cfht_output_r.json``, each cut to
  its first 3 blobs (arrays to 20 values) and 30 specifications to keep the file small;
- one artifact row (a PNG) on the first job.

It must run with the code of that release (later code writes tables that revision 0001
does not have), for instance the tree of commit 06aaf3b:

    git archive 06aaf3b src | tar -x -C /tmp/vigil-0001
    PYTHONPATH=/tmp/vigil-0001/src .venv/bin/python tests/server/data/make_schema_0001.py
"""

from __future__ import annotations

import io
import json
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import make_url

from vigil.server.config import Settings
from vigil.server.database import create_database_engine
from vigil.server.factory import Factory
from vigil.server.migration import upgrade

HERE = Path(__file__).resolve().parent
CONFORMANCE = HERE.parents[2].parent / "shared" / "conformance" / "squash"
TARGET = HERE / "schema-0001.sqlite"
FACTS = HERE / "schema-0001.json"
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


def _trimmed(path: Path, identifier: str) -> dict[str, Any]:
    job: dict[str, Any] = json.loads(path.read_text())
    job["identifier"] = identifier
    job["blobs"] = job["blobs"][:3]
    for blob in job["blobs"]:
        for datum in blob["data"].values():
            if isinstance(datum.get("value"), list):
                datum["value"] = datum["value"][:20]
    job["specs"] = job["specs"][:30]
    return job


def main() -> None:
    """Write the fixture and its facts."""
    TARGET.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=Path(tmp), database_url=f"sqlite:///{TARGET}", artifact_url=tmp
        )
        engine = create_database_engine(settings, make_url(settings.database_url or ""))
        upgrade(engine, "0001")
        engine.dispose()
        with Factory.standalone(settings) as factory:
            users = factory.create_user_service()
            ada = users.create_user("ada", "ada@example.org", is_admin=True)
            token = users.create_token("ada", "ci").text
            jobs = factory.create_job_service()
            first = jobs.ingest(
                _trimmed(CONFORMANCE / "verify_job.json", "fixture-verify-job"), ada
            )
            jobs.ingest(_trimmed(CONFORMANCE / "Cfht_output_r.json", "fixture-cfht-job"), ada)
            factory.create_artifact_service().upload(
                first.id, "plots/residuals.png", io.BytesIO(PNG), "image/png"
            )
    with sqlite3.connect(TARGET) as connection:
        connection.execute("PRAGMA journal_mode=DELETE")
        connection.execute("VACUUM")
    FACTS.write_text(
        json.dumps({"revision": "0001", "user": "ada", "token": token}, indent=2) + "\n"
    )
    print(f"{TARGET.name}: {TARGET.stat().st_size} bytes")


if __name__ == "__main__":
    main()
