"""The client classes' earlier names still import, as the same classes."""

from __future__ import annotations

import vigil.client
from vigil.client import Client, ReadClient, SubmitClient, VigilClient


def test_earlier_names_are_the_same_classes() -> None:
    assert Client is ReadClient
    assert VigilClient is SubmitClient
    assert {"Client", "ReadClient", "SubmitClient", "VigilClient"} <= set(vigil.client.__all__)
