"""Read and check the per-metric analysis settings file (``VIGIL_ANALYSIS_SETTINGS_FILE``).

The file is a YAML mapping from metric name patterns to settings::

    "validate_drp.*":
      alpha: 0.0001
    validate_drp.PA1:
      min_relative: 5
      alert: false

It is read once when the process starts; any mistake stops the start with one error
naming the file, the line, the pattern and key, and what is wrong.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml

from ..domain.analysis_settings import (
    SETTING_KEYS,
    AnalysisRule,
    AnalysisSettings,
    MetricAnalysisSettings,
)
from ..exceptions import AnalysisSettingsError

__all__ = ["load_analysis_settings", "parse_analysis_settings"]

_DIRECTIONS = ("lower", "higher")


def load_analysis_settings(path: Path | None) -> AnalysisSettings:
    """The rules of the file at *path* (``None``: no file, defaults everywhere).

    Raises
    ------
    AnalysisSettingsError
        The file cannot be read, is not YAML, or a rule is wrong; the message names the
        file, the line, the pattern and key, and what is wrong.
    """
    if path is None:
        return AnalysisSettings()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AnalysisSettingsError(
            f"The analysis settings file {path} (VIGIL_ANALYSIS_SETTINGS_FILE) cannot be"
            f" read: {exc.strerror if isinstance(exc, OSError) else exc}."
        ) from None
    return parse_analysis_settings(text, str(path))


def parse_analysis_settings(text: str, source: str) -> AnalysisSettings:
    """The rules of the YAML *text* of the file *source* (see `load_analysis_settings`)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise AnalysisSettingsError(f"{source}{where}: not valid YAML ({problem}).") from None
    if data is None:
        return AnalysisSettings(source=source)
    if not isinstance(data, dict) or not isinstance(root, yaml.MappingNode):
        raise AnalysisSettingsError(
            f"{source}, line 1: the file must map metric name patterns to settings"
            f" (`validate_drp.*: {{alpha: 0.0001}}`), not a {type(data).__name__}."
        )
    lines = {key.value: (key.start_mark.line + 1, value) for key, value in root.value}
    rules = []
    for order, (pattern, entry) in enumerate(data.items()):
        line, node = lines.get(str(pattern), (None, None))
        where = f"{source}, line {line}" if line else source
        if not isinstance(pattern, str) or not pattern.strip():
            raise AnalysisSettingsError(
                f"{where}: a pattern must be a metric name or a glob, not {pattern!r}."
            )
        if not isinstance(entry, dict):
            raise AnalysisSettingsError(
                f"{where}, {pattern}: the settings must be a mapping of {', '.join(SETTING_KEYS)},"
                f" not {entry!r}."
            )
        key_lines = (
            {k.value: k.start_mark.line + 1 for k, _ in node.value}
            if isinstance(node, yaml.MappingNode)
            else {}
        )
        values: dict[str, Any] = {}
        for key, value in entry.items():
            at = f"{source}, line {key_lines.get(str(key), line)}, {pattern} → {key}"
            values[str(key)] = _check(at, str(key), value)
        rules.append(
            AnalysisRule(
                pattern,
                MetricAnalysisSettings(**values, pattern=pattern, line=line),
                order,
            )
        )
    return AnalysisSettings(tuple(rules), source)


def _number(at: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise AnalysisSettingsError(f"{at}: {key} must be a number, not {value!r}.")
    return float(value)


def _check(at: str, key: str, value: Any) -> Any:
    """The checked value of setting *key*; *at* says where it is."""
    if key not in SETTING_KEYS:
        raise AnalysisSettingsError(
            f"{at}: unknown setting {key!r}; the settings are {', '.join(SETTING_KEYS)}."
        )
    if key == "alpha":
        number = _number(at, key, value)
        if not 0.0 < number < 1.0:
            raise AnalysisSettingsError(
                f"{at}: alpha must be between 0 and 1 (exclusive), not {value!r}."
            )
        return number
    if key in ("min_effect", "min_relative", "min_absolute"):
        number = _number(at, key, value)
        if number < 0:
            raise AnalysisSettingsError(f"{at}: {key} must be 0 or more, not {value!r}.")
        return number
    if key == "min_points":
        if isinstance(value, bool) or not isinstance(value, int) or not 2 <= value <= 1000:
            raise AnalysisSettingsError(
                f"{at}: min_points must be a whole number from 2 to 1000, not {value!r}."
            )
        return value
    if key == "direction":
        if value not in _DIRECTIONS:
            raise AnalysisSettingsError(
                f"{at}: direction must be lower or higher (which way is better), not {value!r}."
            )
        return value
    if not isinstance(value, bool):
        raise AnalysisSettingsError(f"{at}: alert must be true or false, not {value!r}.")
    return value
