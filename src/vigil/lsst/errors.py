"""The error of `vigil.lsst`: a Butler input that cannot be used, said in one sentence."""

from __future__ import annotations

from vigil.compute.errors import ComputeError

__all__ = ["ButlerError"]


class ButlerError(ComputeError):
    """A Butler repository, collection, query or dataset Vigil cannot use.

    A `ComputeError`, so that the explorer, ``vigil compute`` and the server show it as
    they show any other repository error.
    """

    code = "butler_error"
