"""Per-metric analysis settings: a YAML file keyed by metric name patterns, read at start."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from vigil.server.config import Settings
from vigil.server.domain import User
from vigil.server.domain.analysis_settings import AnalysisRule, MetricAnalysisSettings
from vigil.server.domain.regressions import Regression, RegressionFilter, SubscriptionDraft
from vigil.server.exceptions import AnalysisSettingsError
from vigil.server.factory import Factory, ProcessContext
from vigil.server.main import create_app
from vigil.server.services.analysis_settings import (
    load_analysis_settings,
    parse_analysis_settings,
)

from ._support import METRICS, SmtpServer, WebhookReceiver, history, ingest, make_job

DOCS = Path(__file__).resolve().parents[3] / "docs" / "regressions.md"

# PA1 is strict; AM1, which no pattern names, keeps the defaults.
RULES = """\
validate_drp.PA1:
  alpha: 0.000001
"validate_drp.AM*":
  alert: false
  min_points: 5
"""


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "analysis.yaml"
    path.write_text(RULES)
    return path


@pytest.fixture
def settings(
    make_settings: Callable[..., Settings],
    smtp: SmtpServer,
    webhook: WebhookReceiver,
    rules_file: Path,
) -> Settings:
    """The regression tests' settings, with the analysis settings file."""
    return make_settings(
        webhook_allowed_hosts=[f"127.0.0.1:{webhook.port}"],
        background_worker=False,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_from="vigil@example.org",
        notify_authors=False,
        outbox_backoff_seconds=0.0,
        base_url="http://vigil.example.org",
        analysis_settings_file=rules_file,
    )


def _records(factory: Factory, metric: str) -> list[Regression]:
    found = factory.create_regression_service().list_regressions(
        RegressionFilter(metric=metric), limit=100
    )
    return found.items


def _small_step() -> list[dict[str, Any]]:
    # A 2 % step on both metrics (noise 1 %): found at the default alpha (0.001), with
    # p-values between 1e-6 and 1e-3.
    return history(baseline=20, after=10, regressed=list(METRICS), factor=1.02)


def test_a_pattern_makes_one_metric_quieter_and_leaves_the_others(
    factory: Factory, run_worker: Callable[[], Any], tester: User, smtp: SmtpServer
) -> None:
    factory.create_subscription_service().create(tester, SubscriptionDraft(channel="email"))
    ingest(factory, _small_step())
    run_worker()
    assert _records(factory, "validate_drp.PA1") == [], "alpha 1e-6 finds nothing"
    [am1] = _records(factory, "validate_drp.AM1")
    assert am1.kind == "regression" and am1.p_value is not None and am1.p_value > 1e-6
    # alert: false: AM1's record is kept, and nobody is told.
    assert smtp.messages == []


def test_without_the_file_both_changes_are_found_and_told(
    make_settings: Callable[..., Settings], smtp: SmtpServer, tmp_path: Path
) -> None:
    settings = make_settings(
        background_worker=False,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_from="vigil@example.org",
        notify_authors=False,
    )
    with Factory.standalone(settings) as factory:
        service = factory.create_user_service()
        service.create_user("ann", "ann@example.org")
        ann = factory.create_auth_service().authenticate(service.create_token("ann").text)
        factory.create_subscription_service().create(ann, SubscriptionDraft(channel="email"))
        ingest(factory, _small_step())
        factory.create_worker_service().run_once()
        assert len(_records(factory, "validate_drp.PA1")) == 1
        assert len(_records(factory, "validate_drp.AM1")) == 1
    [mail] = smtp.messages
    assert "2 regressions after job" in mail["Subject"]


def test_the_metric_page_shows_the_settings(
    factory: Factory, run_worker: Callable[[], Any], client: TestClient
) -> None:
    ingest(factory, history(baseline=12, after=0))
    pa1 = client.get("/metrics/validate_drp.PA1", params={"format": "json"}).json()["analysis"]
    assert pa1["pattern"] == "validate_drp.PA1" and pa1["line"] == 1
    assert pa1["given"] == ["alpha"]
    assert pa1["alpha"] == pa1["gate_alpha"] == 1e-6
    assert pa1["min_points"] == 5 and pa1["direction"] == "lower" and pa1["alert"] is True
    am1 = client.get("/metrics/validate_drp.AM1", params={"format": "json"}).json()["analysis"]
    assert am1["pattern"] == "validate_drp.AM*" and am1["alert"] is False
    assert am1["alpha"] == 0.001 and am1["gate_alpha"] == 0.01
    page = client.get("/metrics/validate_drp.AM1").text
    card = page[page.index('data-testid="analysis-settings"') :]
    assert "validate_drp.AM*" in card and "not notified" in card


def test_the_most_specific_pattern_wins() -> None:
    rules = parse_analysis_settings(
        """\
"*":
  alpha: 0.01
"validate_drp.*":
  alpha: 0.002
"validate_drp.PA?":
  alpha: 0.003
validate_drp.PA1:
  direction: higher
"validate_*.PA?":
  alpha: 0.004
""",
        "rules.yaml",
    )
    pa1 = rules.for_metric("validate_drp.PA1")
    assert (pa1.pattern, pa1.alpha, pa1.direction) == ("validate_drp.PA1", None, "higher")
    assert rules.for_metric("validate_drp.PA2").pattern == "validate_drp.PA?"
    assert rules.for_metric("validate_drp.AM1").alpha == 0.002
    assert rules.for_metric("other.thing").alpha == 0.01
    # Equally specific: the first written wins.
    assert AnalysisRule("a*", MetricAnalysisSettings()).matches("abc")
    tie = parse_analysis_settings('"a?c":\n  alpha: 0.1\n"ab?":\n  alpha: 0.2\n', "tie.yaml")
    assert tie.for_metric("abc").alpha == 0.1


def test_the_documented_example_loads(tmp_path: Path) -> None:
    text = DOCS.read_text()
    section = text[text.index("## Per-metric analysis settings") :]
    example = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert example is not None
    path = tmp_path / "analysis.yaml"
    path.write_text(example.group(1))
    rules = load_analysis_settings(path)
    assert rules.for_metric("validate_drp.PA1").min_points == 8
    assert rules.for_metric("validate_drp.PA2").alpha == 0.0001
    assert rules.for_metric("deblend.n_blends").direction == "higher"
    assert rules.for_metric("validate_drp.TE2").alert is False
    assert rules.for_metric("other").pattern is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "validate_drp.*:\n  alpha: [0.1\n",
            r"^bad\.yaml, line 3: not valid YAML \(.+\)\.$",
        ),
        (
            "validate_drp.*:\n  alpha: 0.01\n  sigma: 3\n",
            r"^bad\.yaml, line 3, validate_drp\.\* → sigma: unknown setting 'sigma'; the"
            r" settings are alpha, .*alert\.$",
        ),
        (
            "validate_drp.*:\n  alpha: 5\n",
            r"^bad\.yaml, line 2, validate_drp\.\* → alpha: alpha must be between 0 and 1"
            r" \(exclusive\), not 5\.$",
        ),
        (
            "x:\n  alpha: 0.01\nvalidate_drp.PA1:\n  direction: smaller\n",
            r"^bad\.yaml, line 4, validate_drp\.PA1 → direction: direction must be lower or"
            r" higher \(which way is better\), not 'smaller'\.$",
        ),
        ("- validate_drp.*\n", r"^bad\.yaml, line 1: the file must map metric name patterns"),
        ("validate_drp.PA1: 0.01\n", r"^bad\.yaml, line 1, validate_drp\.PA1: the settings"),
        ("x:\n  alert: 'no'\n", r"^bad\.yaml, line 2, x → alert: alert must be true or false"),
        ("x:\n  min_points: 1\n", r"min_points must be a whole number from 2 to 1000, not 1\."),
        ("x:\n  min_effect: true\n", r"min_effect must be a number, not True\."),
    ],
)
def test_a_bad_file_gives_one_clear_error(text: str, message: str) -> None:
    with pytest.raises(AnalysisSettingsError) as caught:
        parse_analysis_settings(text, "bad.yaml")
    assert re.search(message, caught.value.message), caught.value.message


def test_the_server_refuses_to_start_on_a_bad_file(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    path = tmp_path / "analysis.yaml"
    path.write_text("validate_drp.*:\n  direction: sideways\n")
    settings = make_settings(analysis_settings_file=path)
    with pytest.raises(AnalysisSettingsError, match=re.escape(f"{path}, line 2")):
        ProcessContext.from_settings(settings)
    with (
        pytest.raises(AnalysisSettingsError, match="direction must be lower or higher"),
        TestClient(create_app(settings)),
    ):
        pass
    missing = make_settings(analysis_settings_file=tmp_path / "nope.yaml")
    with pytest.raises(AnalysisSettingsError, match="nope.yaml .* cannot be read"):
        ProcessContext.from_settings(missing)


def test_the_gate_uses_the_settings(factory: Factory) -> None:
    ingest(factory, history(after=0))
    # 4 sigmas up on both metrics: a regression at the gate's default alpha (0.01).
    branch = make_job(25, {"validate_drp.PA1": 10.4, "validate_drp.AM1": 8.32}, noise=0.0)
    branch["meta"]["git"]["branch"] = "tickets/DM-3"
    report = factory.create_gate_service().check(documents=[branch], baseline="main")
    verdicts = {v.metric: v.verdict for v in report.verdicts}
    assert verdicts == {"validate_drp.PA1": "no change", "validate_drp.AM1": "regression"}
