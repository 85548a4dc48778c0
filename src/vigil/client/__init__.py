"""What runs beside a pipeline: send lsst.verify Jobs to a Vigil server.

`dispatch` does everything ``vigil dispatch`` does from a script: merge Job JSON
files, add where and from which code they ran (CI, git, packages), send them with
retries, and keep them in an on-disk spool when the server is unavailable.
`SubmitClient` sends jobs and log batches; `ReadClient` reads series and jobs back
into DataFrames (``Client`` and ``VigilClient`` are their earlier names).
"""

from vigil.client.api import Client, ReadClient
from vigil.client.dispatch import JobSender, dispatch, prepare_job, send_or_spool
from vigil.client.environment import ENVIRONMENTS, detect_environment, detect_environment_name
from vigil.client.errors import (
    AuthenticationError,
    BatchUnsupportedError,
    ClientError,
    JobFileError,
    RejectedJobError,
    ServerUnavailableError,
)
from vigil.client.git import git_metadata
from vigil.client.jobs import dump_job, ensure_identifier, load_job, merge_jobs, without_blobs
from vigil.client.packages import installed_packages, packages_from_file
from vigil.client.spool import FlushReport, Rejection, Spool, default_spool_dir
from vigil.client.transport import DispatchResult, Outcome, SubmitClient, VigilClient

__all__ = [
    "ENVIRONMENTS",
    "AuthenticationError",
    "BatchUnsupportedError",
    "Client",
    "ClientError",
    "DispatchResult",
    "FlushReport",
    "JobFileError",
    "JobSender",
    "Outcome",
    "ReadClient",
    "RejectedJobError",
    "Rejection",
    "ServerUnavailableError",
    "Spool",
    "SubmitClient",
    "VigilClient",
    "default_spool_dir",
    "detect_environment",
    "detect_environment_name",
    "dispatch",
    "dump_job",
    "ensure_identifier",
    "git_metadata",
    "installed_packages",
    "load_job",
    "merge_jobs",
    "packages_from_file",
    "prepare_job",
    "send_or_spool",
    "without_blobs",
]
