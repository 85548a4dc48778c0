from __future__ import annotations

import doctest

import vigil.analysis


def test_the_documented_example_runs() -> None:
    failed, attempted = doctest.testmod(vigil.analysis)
    assert attempted > 0 and failed == 0


def test_public_names_exist() -> None:
    for name in vigil.analysis.__all__:
        assert hasattr(vigil.analysis, name), name
