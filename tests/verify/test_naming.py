from __future__ import annotations

import pytest

from vigil.verify import InvalidNameError, Name


def test_metric_and_spec_names_parse() -> None:
    metric = Name.parse("validate_drp.PA1")
    assert (metric.package, metric.metric, metric.spec) == ("validate_drp", "PA1", None)
    assert metric.is_metric and metric.is_fq
    spec = Name.parse("validate_drp.PA1.design_gri")
    assert spec.is_spec and spec.is_fq and spec.metric_name == metric


def test_partial_spec_name_is_completed_from_context() -> None:
    name = Name(package="validate_drp", spec="PA1.design")
    assert name.fqn == "validate_drp.PA1.design"
    assert Name(package="p", metric="m", spec="s") in Name(package="p")
    assert Name(package="p", metric="m", spec="s") in Name(package="p", metric="m")
    assert Name(package="q", metric="m") not in Name(package="p")


def test_long_names_are_fine() -> None:
    long_metric = "pipe_analysis." + "x" * 120
    assert Name.parse(long_metric).fqn == long_metric


@pytest.mark.parametrize("bad", ["", "a..b", "a.b.c.d", "a b.c", "pkg.met/ric"])
def test_malformed_names_are_rejected(bad: str) -> None:
    with pytest.raises(InvalidNameError):
        Name.parse(bad)


def test_conflicting_components_are_rejected() -> None:
    with pytest.raises(InvalidNameError, match="disagrees"):
        Name(package="a", spec="b.c.d")
