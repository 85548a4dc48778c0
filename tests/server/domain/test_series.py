"""Series identity: one function, stable across releases."""

from __future__ import annotations

from vigil.server.domain import series_key


def test_key_is_stable() -> None:
    # Changing this value orphans every stored series: it must never change silently.
    key = series_key("validate_drp.PA1", "validation_data_cfht", "CFHT", {"band": "r"})
    assert key == "1251ae0ba0a6c61c29b7bd2052cf4ad94747a7da53c3ce7db5cf33bc5b503a29"


def test_data_id_order_does_not_matter() -> None:
    a = series_key("p.m", "ds", "HSC", {"tract": 9813, "patch": 40, "band": "i"})
    b = series_key("p.m", "ds", "HSC", {"band": "i", "patch": 40, "tract": 9813})
    assert a == b


def test_each_component_matters() -> None:
    base = series_key("p.m", "ds", "HSC", {"band": "i"})
    assert base != series_key("p.n", "ds", "HSC", {"band": "i"})
    assert base != series_key("p.m", "other", "HSC", {"band": "i"})
    assert base != series_key("p.m", "ds", "LSSTCam", {"band": "i"})
    assert base != series_key("p.m", "ds", "HSC", {"band": "r"})
    assert base != series_key("p.m", "ds", None, {"band": "i"})
    assert series_key("p.m", "ds", "HSC", {"tract": 1}) != series_key(
        "p.m", "ds", "HSC", {"tract": "1"}
    )
