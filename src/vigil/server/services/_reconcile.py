"""Keeping the records of one series in step with what its data now show.

`Reconciler` turns the change points `vigil.analysis` finds into records that are
created, moved, dissolved, or the fix of the change they undo, and each specification's
`Episode` (where it stands at the latest values) into failures named inside the change
that explains them, else inside the one failure record of the series.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from vigil.analysis import ChangePoint, Suspicion, suspect

from ..domain.analysis_settings import MetricAnalysisSettings
from ..domain.regressions import RegressionStatus, SeriesValue, StoredChange
from ..storage.regressions import RegressionStore

__all__ = [
    "MATCH_TOLERANCE",
    "REVERT_TOLERANCE",
    "SPEC_PERSISTENCE",
    "AnalysisReport",
    "Episode",
    "EpisodeState",
    "Reconciler",
    "detector_settings",
    "early_warning",
    "finite",
]


@dataclass(slots=True)
class AnalysisReport:
    """What analysing series did to the records."""

    series: int = 0
    created: int = 0
    moved: int = 0
    dissolved: int = 0
    fixed: int = 0

    def add(self, other: AnalysisReport) -> None:
        """Add *other*'s counts to these."""
        self.series += other.series
        self.created += other.created
        self.moved += other.moved
        self.dissolved += other.dissolved
        self.fixed += other.fixed


MATCH_TOLERANCE = 5
"""How many points a change point may move and still be the same record."""

SPEC_PERSISTENCE = 2
"""How many values in a row must fail (or pass) a specification to open (or close) a failure."""


def _trailing_run(verdicts: list[tuple[SeriesValue, bool]]) -> int:
    """How many of the last verdicts agree with the very last one."""
    if not verdicts:
        return 0
    last = verdicts[-1][1]
    count = 0
    for _, passed in reversed(verdicts):
        if passed != last:
            break
        count += 1
    return count


def _failure_start(verdicts: list[tuple[SeriesValue, bool]]) -> int | None:
    """Where the failing episode at the end began: after the last long passing run."""
    i = len(verdicts) - 1
    start = i
    while i >= 0:
        if not verdicts[i][1]:
            start = i
            i -= 1
            continue
        j = i
        while j >= 0 and verdicts[j][1]:
            j -= 1
        if i - j >= SPEC_PERSISTENCE:
            return start
        i = j
    return None


def finite(value: float | None) -> float | None:
    """*value* if it is a finite number, else None."""
    return value if value is not None and math.isfinite(value) else None


class EpisodeState(StrEnum):
    """Where a specification stands at the latest values of a series."""

    FAILING = "failing"
    """A failure at the end, begun after a passing stretch."""
    PASSING = "passing"
    """`SPEC_PERSISTENCE` passing values at the end."""
    GOAL = "goal"
    """Failing and never met: opens nothing."""
    UNSETTLED = "unsettled"
    """Too few agreeing values at the end to say."""


@dataclass(slots=True)
class Episode:
    """Where one specification stands at the latest values of a series (``state``); a
    failure at the end began at ``first_bad``, after ``last_good``."""

    name: str
    state: EpisodeState
    first_bad: SeriesValue | None = None
    last_good: SeriesValue | None = None
    latest: SeriesValue | None = None

    @classmethod
    def of(cls, name: str, verdicts: list[tuple[SeriesValue, bool]]) -> Episode:
        """The episode of *verdicts*, (value, passed) in time order."""
        if not verdicts or _trailing_run(verdicts) < SPEC_PERSISTENCE:
            return cls(name, EpisodeState.UNSETTLED)
        latest, passed = verdicts[-1]
        if passed:
            return cls(name, EpisodeState.PASSING, latest=latest)
        start = _failure_start(verdicts)
        if start is None:
            return cls(name, EpisodeState.GOAL, latest=latest)
        return cls(name, EpisodeState.FAILING, verdicts[start][0], verdicts[start - 1][0], latest)


@dataclass(slots=True)
class _Level:
    """A standing change-of-level record as this analysis sees it."""

    id: int
    index: int
    before: float | None
    size: float | None
    specifications: list[str]
    fixed_at: int | None = None


def detector_settings(tuned: MetricAnalysisSettings) -> dict[str, Any]:
    """The arguments of `change_points` that a metric's settings give."""
    found: dict[str, Any] = {}
    if tuned.alpha is not None:
        found["alpha"] = tuned.alpha
    if tuned.min_effect is not None:
        found["min_effect"] = tuned.min_effect
    if tuned.min_points is not None:
        found["min_segment"] = tuned.min_points
    return found


def early_warning(
    values: list[float | None],
    direction: str | None,
    found: list[ChangePoint],
    tuned: MetricAnalysisSettings | None = None,
) -> ChangePoint | None:
    """The suspicion on the newest *values* (`vigil.analysis.suspect`) as a change point
    to record as suspected, unless a change point *found* already stands near it or it
    is smaller than the metric's minimums (*tuned*)."""
    tuned = tuned or MetricAnalysisSettings()
    options = {"min_segment": tuned.min_points} if tuned.min_points is not None else {}
    suspicion = suspect(values, direction, **options)
    if suspicion is None or not tuned.large_enough(suspicion.size, suspicion.level):
        return None
    if tuned.min_effect is not None and abs(suspicion.effect_size) < tuned.min_effect:
        return None
    if any(abs(cp.index - suspicion.index) <= MATCH_TOLERANCE for cp in found):
        return None
    early = _as_change_point(suspicion, values)
    if tuned.alpha is not None and early.p_value > tuned.alpha:
        # A metric made stricter is stricter in its early warnings too.
        return None
    return early


def _as_change_point(suspicion: Suspicion, values: list[float | None]) -> ChangePoint:
    """A suspicion in the shape of a change point: from its level to its newest values."""
    previous = suspicion.index - 1
    while previous > 0 and finite(values[previous]) is None:
        previous -= 1
    return ChangePoint(
        index=suspicion.index,
        previous_index=max(previous, 0),
        before=suspicion.level,
        after=suspicion.value,
        size=suspicion.size,
        relative_size=suspicion.size / abs(suspicion.level) if suspicion.level else None,
        effect_size=suspicion.effect_size,
        # Two-sided normal p-value of the suspicion's z.
        p_value=math.erfc(abs(suspicion.z) / math.sqrt(2.0)),
        kind=suspicion.kind,
    )


REVERT_TOLERANCE = 0.5
"""A later change undoes an earlier one when it goes the other way and ends within this
fraction of the earlier change's size from the earlier level."""


def _reverts(level: _Level, cp: ChangePoint) -> bool:
    """Whether change point *cp* brings the series back to the level before *level*."""
    if level.size is None or level.before is None or not level.size:
        return False
    if math.copysign(1.0, cp.size) == math.copysign(1.0, level.size):
        return False
    return abs(cp.after - level.before) <= REVERT_TOLERANCE * abs(level.size)


class Reconciler:
    """Brings the stored records of one series in step with what the data now show."""

    def __init__(
        self,
        store: RegressionStore,
        series_id: int,
        values: list[SeriesValue],
        trigger: int | None,
        now: datetime,
        report: AnalysisReport,
        *,
        alert: bool = True,
    ) -> None:
        self._store = store
        # Records are announced when a job's analysis makes them and the metric alerts.
        self._announce = trigger is not None and alert
        self._series_id = series_id
        self._position = {v.job_id: i for i, v in enumerate(values)}
        self._values = values
        self._trigger = trigger
        self._now = now
        self._report = report

    def change_points(
        self,
        found: list[ChangePoint],
        stored: list[StoredChange],
        unit: str,
        early: ChangePoint | None = None,
    ) -> list[_Level]:
        """Create, move, fix or dissolve change-point records to match *found*.

        A change point that brings the series back to the level before the previous one
        is not a record of its own: it fixes that record (``fixed_by``). *early*, a
        suspicion on the newest values, is a record marked ``suspected``: when a change
        point is later found there it is the same record, confirmed; when later values
        no longer show it, it dissolves. Returns the standing records (suspicions left
        out) in time order.
        """
        unmatched = list(stored)
        levels: list[_Level] = []
        fixed_ids: set[int] = set()
        for cp, suspected in [(cp, False) for cp in found] + (
            [(early, True)] if early is not None else []
        ):
            previous = levels[-1] if levels else None
            if previous is not None and previous.fixed_at is None and _reverts(previous, cp):
                if suspected:
                    # A suspected move back: the change it would fix is judged when
                    # the move back is confirmed.
                    continue
                record = next(r for r in stored if r.id == previous.id)
                self._fix(record, cp)
                previous.fixed_at = cp.index
                fixed_ids.add(record.id)
                continue
            first_bad = self._values[cp.index].job_id
            last_good = self._values[cp.previous_index].job_id
            match = self._closest(cp.index, cp.kind, unmatched)
            values = {
                "kind": cp.kind,
                "first_bad_job_id": first_bad,
                "last_good_job_id": last_good,
                "before": finite(cp.before),
                "after": finite(cp.after),
                "size": finite(cp.size),
                "relative_size": finite(cp.relative_size),
                "effect_size": finite(cp.effect_size),
                "p_value": finite(cp.p_value),
                "unit": unit,
                "dissolved": False,
                "suspected": suspected,
            }
            if match is None:
                new_id = self._create(values)
                record = StoredChange(
                    new_id,
                    cp.kind,
                    RegressionStatus.OPEN,
                    None,
                    first_bad,
                    last_good,
                    False,
                    [],
                    None,
                )
                stored.append(record)
            else:
                unmatched.remove(match)
                self._follow(match, values)
                record = match
            if suspected:
                continue
            levels.append(
                _Level(
                    record.id,
                    cp.index,
                    finite(cp.before),
                    finite(cp.size),
                    list(record.specifications),
                )
            )
        for record in unmatched:
            if not record.dissolved:
                self._dissolve(record, "Later data no longer show it.")
        for record in stored:
            if record.fixed_by_job_id is not None and record.id not in fixed_ids:
                if record not in unmatched:
                    self._unfix(record)
        return levels

    def _fix(self, record: StoredChange, cp: ChangePoint) -> None:
        """Record that change point *cp* undid *record*: fixed by its first job."""
        job_id = self._values[cp.index].job_id
        if record.fixed_by_job_id == job_id:
            return
        changes: dict[str, Any] = {"fixed_by_job_id": job_id, "updated_at": self._now}
        note = f"Back to the earlier level from job {job_id} on: a later change undid this one."
        if record.fixed_by_job_id is not None:
            self._store.update(record.id, changes)
            self._store.add_event(
                record.id,
                self._now,
                "moved",
                note=f"Fixed by job {record.fixed_by_job_id} → {job_id}.",
            )
            return
        if record.status in (RegressionStatus.OPEN, RegressionStatus.ACKNOWLEDGED):
            changes["status"] = RegressionStatus.FIXED
            self._store.update(record.id, changes)
            self._store.add_event(
                record.id,
                self._now,
                "status",
                from_status=record.status,
                to_status=RegressionStatus.FIXED,
                note=note,
            )
        else:
            self._store.update(record.id, changes)
            self._store.add_event(record.id, self._now, "fixed", note=note)
        self._report.fixed += 1

    def _unfix(self, record: StoredChange) -> None:
        """The change back that fixed *record* is no longer seen: it stands again."""
        changes: dict[str, Any] = {"fixed_by_job_id": None, "updated_at": self._now}
        reopen = record.status == RegressionStatus.FIXED and not record.dissolved
        if reopen:
            changes["status"] = RegressionStatus.OPEN
        self._store.update(record.id, changes)
        self._store.add_event(
            record.id,
            self._now,
            "status" if reopen else "moved",
            from_status=RegressionStatus.FIXED if reopen else None,
            to_status=RegressionStatus.OPEN if reopen else None,
            note=f"Later data no longer show the change back at job {record.fixed_by_job_id}.",
        )

    def _closest(
        self, index: int, kind: str, candidates: list[StoredChange]
    ) -> StoredChange | None:
        best: tuple[int, int, StoredChange] | None = None
        for record in candidates:
            where = self._position.get(record.first_bad_job_id)
            if where is None or record.kind != kind:
                continue
            distance = abs(where - index)
            # Prefer the nearest; among equals, a standing record over a dissolved one.
            rank = (distance, int(record.dissolved))
            if distance <= MATCH_TOLERANCE and (best is None or rank < best[:2]):
                best = (distance, int(record.dissolved), record)
        return best[2] if best is not None else None

    def _create(self, values: dict[str, Any]) -> int:
        new_id = self._store.insert(
            {
                **values,
                "series_id": self._series_id,
                "status": RegressionStatus.OPEN,
                "trigger_job_id": self._trigger,
                # A re-analysis of history (no job asked) records without notifying, and
                # so do metrics set not to alert.
                "announced": not self._announce,
                "created_at": self._now,
                "updated_at": self._now,
            }
        )
        note = (
            "Suspected from the newest values: later data will confirm or dissolve it."
            if values.get("suspected")
            else None
        )
        self._store.add_event(
            new_id, self._now, "created", to_status=RegressionStatus.OPEN, note=note
        )
        self._report.created += 1
        return new_id

    def _follow(self, record: StoredChange, values: dict[str, Any]) -> None:
        moved = (record.first_bad_job_id, record.last_good_job_id) != (
            values["first_bad_job_id"],
            values["last_good_job_id"],
        )
        changes = {**values, "updated_at": self._now}
        confirmed = record.suspected and values.get("suspected") is False
        if confirmed and self._announce:
            # Announced again, to the subscribers who wait for confirmed changes, in the
            # digest of the job that confirmed it.
            changes.update(announced=False, trigger_job_id=self._trigger)
        self._store.update(record.id, changes)
        if confirmed and not record.dissolved:
            self._store.add_event(
                record.id,
                self._now,
                "confirmed",
                note=f"Later data confirm the change (first bad job {values['first_bad_job_id']}).",
            )
        elif not record.suspected and values.get("suspected") and not record.dissolved:
            self._store.add_event(
                record.id,
                self._now,
                "suspected",
                note="Only the newest values show it now: later data will confirm or dissolve it.",
            )
        if record.dissolved:
            self._store.add_event(
                record.id, self._now, "reappeared", note="Later data show it again."
            )
        elif moved:
            self._store.add_event(
                record.id,
                self._now,
                "moved",
                note=(
                    f"First bad job {record.first_bad_job_id} → {values['first_bad_job_id']},"
                    f" last good job {record.last_good_job_id} → {values['last_good_job_id']}."
                ),
            )
            self._report.moved += 1

    def _explaining(self, episode: Episode, levels: list[_Level]) -> _Level | None:
        """The change of level in force when *episode*'s failure began, if any.

        A change point found up to `MATCH_TOLERANCE` values after the failure began
        counts too: the detector places a change where the levels differ best.
        """
        assert episode.first_bad is not None
        start = self._position[episode.first_bad.job_id]
        explaining = None
        for level in levels:
            if level.index <= start + MATCH_TOLERANCE and (
                level.fixed_at is None or level.fixed_at > start
            ):
                explaining = level
        return explaining

    def specifications(
        self, episodes: list[Episode], levels: list[_Level], stored: list[StoredChange]
    ) -> None:
        """List failing specifications inside the records that explain them.

        A failure that began with a change of level goes into that change's record. The
        others are one ``spec_failure`` record per series holding all of them: opened
        when the first fails, followed while any fails, ``fixed`` when every one passes
        again (`SPEC_PERSISTENCE` values), dissolved when a change of level turns out to
        explain them.
        """
        unexplained: list[Episode] = []
        for episode in episodes:
            if episode.state != EpisodeState.FAILING:
                continue
            level = self._explaining(episode, levels)
            if level is None:
                unexplained.append(episode)
            elif episode.name not in level.specifications:
                level.specifications.append(episode.name)
                level.specifications.sort()
                self._store.update(
                    level.id, {"specifications": level.specifications, "updated_at": self._now}
                )
        states = {e.name: e.state for e in episodes}
        standing = [
            s
            for s in stored
            if s.status in (RegressionStatus.OPEN, RegressionStatus.ACKNOWLEDGED)
            and not s.dissolved
        ]
        current = standing[-1] if standing else None
        for older in standing[:-1]:
            # Records of one specification each, from before records were grouped.
            self._dissolve(older, f"Merged into #{current.id}." if current else "")
        if unexplained:
            self._spec_record(unexplained, states, current, stored, standing)
        elif current is not None:
            names = set(current.specifications) | {n for s in standing for n in s.specifications}
            if any(states.get(n) in (EpisodeState.FAILING, EpisodeState.UNSETTLED) for n in names):
                if all(states.get(n) != EpisodeState.UNSETTLED for n in names):
                    # Every failure it held is now explained by a change of level.
                    self._dissolve(current, "Part of a change of level of the series.")
                return
            passing = [e for e in episodes if e.name in names and e.state == EpisodeState.PASSING]
            latest = max(
                (e.latest for e in passing if e.latest), key=lambda v: v.time, default=None
            )
            self._store.update(
                current.id, {"status": RegressionStatus.FIXED, "updated_at": self._now}
            )
            self._store.add_event(
                current.id,
                self._now,
                "status",
                from_status=current.status,
                to_status=RegressionStatus.FIXED,
                note=(
                    f"Job {latest.job_id if latest else '?'} passes"
                    f" {', '.join(sorted(names))} again."
                ),
            )
            self._report.fixed += 1

    def _spec_record(
        self,
        unexplained: list[Episode],
        states: dict[str, EpisodeState],
        current: StoredChange | None,
        stored: list[StoredChange],
        standing: list[StoredChange],
    ) -> None:
        """Open or follow the series' record of the failures no level change explains."""
        held = {n for s in standing for n in s.specifications}
        names = {e.name for e in unexplained} | {
            n for n in held if states.get(n) == EpisodeState.UNSETTLED
        }
        first = min(
            unexplained, key=lambda e: self._position[e.first_bad.job_id if e.first_bad else 0]
        )
        first_bad, last_good = first.first_bad, first.last_good
        latest = max((e.latest for e in unexplained if e.latest), key=lambda v: v.time)
        assert first_bad is not None and last_good is not None
        values = {
            "first_bad_job_id": first_bad.job_id,
            "last_good_job_id": last_good.job_id,
            "before": last_good.value,
            "after": latest.value,
            "size": (latest.value or 0.0) - (last_good.value or 0.0),
            "relative_size": (
                ((latest.value or 0.0) - last_good.value) / abs(last_good.value)
                if last_good.value
                else None
            ),
            "unit": latest.unit,
            "specifications": sorted(names),
        }
        same = [s for s in stored if s.first_bad_job_id == first_bad.job_id and not s.dissolved]
        record = current or (same[0] if same else None)
        if record is None:
            self._create({**values, "kind": "spec_failure"})
            return
        self._follow(record, values)

    def _dissolve(self, record: StoredChange, note: str) -> None:
        self._store.update(record.id, {"dissolved": True, "updated_at": self._now})
        self._store.add_event(record.id, self._now, "dissolved", note=note or None)
        self._report.dissolved += 1
