from __future__ import annotations

import math

import pytest

from vigil.verify import UnitError
from vigil.verify.units import convert, convertible, parse_unit


@pytest.mark.parametrize("text", ["mmag", "marcsec", "%", "", "nJy", "pix", "Gbyte", "ct"])
def test_units_of_the_real_files_parse(text: str) -> None:
    parse_unit(text)


def test_conversion() -> None:
    assert convert(16.7, "mmag", "mag") == pytest.approx(0.0167)
    assert convert(1.0, "arcsec", "marcsec") == pytest.approx(1000.0)
    assert math.isnan(convert(math.nan, "mmag", "mag"))
    assert convertible("", "%")  # both dimensionless
    assert not convertible("mmag", "arcsec")


def test_bad_units_name_themselves() -> None:
    with pytest.raises(UnitError, match="'furlongs_per_fortnight'"):
        parse_unit("furlongs_per_fortnight")
    with pytest.raises(UnitError, match="'mmag' does not convert to 'arcsec'"):
        convert(1.0, "mmag", "arcsec")
