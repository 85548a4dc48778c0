"""The schedule of the demo's CI runs: nights, commits, package versions, pull requests.

Everything random here comes from generators seeded by ``(seed, stream, night)``, so
the first N nights of a longer history are the same as a history of N nights.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np

from vigil.demo import _scenario as sc

__all__ = ["Run", "build_timeline", "rng_for"]

# Random streams: one per purpose, so adding a draw to one does not shift the others.
_STREAM_INIT = 1
_STREAM_STACK = 2
_STREAM_VALIDATE = 3
_STREAM_DEBLEND = 4
_STREAM_PULLS = 5


def rng_for(seed: int, *keys: int | str) -> np.random.Generator:
    """A generator for *seed* and a sequence of keys (strings hashed stably)."""
    entropy = [seed] + [k if isinstance(k, int) else zlib.crc32(k.encode()) for k in keys]
    return np.random.default_rng(entropy)


def _sha(rng: np.random.Generator) -> str:
    return rng.bytes(20).hex()


@dataclass(slots=True)
class Run:
    """One scheduled CI job, with everything about it except its measured values."""

    identifier: str
    pipeline: str  # "validate_drp" or "deblend"
    night: int
    run_at: datetime
    dataset: str
    instrument: str
    branch: str
    commit: str
    author: str
    author_email: str
    committed_at: datetime
    repository_url: str
    packages: dict[str, dict[str, Any]]
    env: dict[str, Any]
    filter_name: str | None = None
    band: str | None = None
    dataset_repo_url: str | None = None
    extra_meta: dict[str, Any] = field(default_factory=dict)
    pull_request: int | None = None
    pr_key: str | None = None
    push: int | None = None  # 0-based push number on the branch
    fork_night: int | None = None  # the main-line night a branch started from

    @property
    def on_main(self) -> bool:
        """Whether this run is on the main line."""
        return self.pr_key is None


@dataclass(slots=True)
class _Package:
    sha: str
    version: str
    week: tuple[int, int]
    since_tag: int


def _weekly(day: date) -> tuple[int, int]:
    iso = day.isocalendar()
    return iso.year, iso.week


def _bump(package: _Package, sha: str, day: date) -> None:
    """A new commit of a package: a weekly tag, or ``tag-N-gSHA`` later in the week."""
    week = _weekly(day)
    package.sha = sha
    if week != package.week:
        package.week, package.since_tag = week, 0
        package.version = f"w.{week[0]}.{week[1]:02d}"
    else:
        package.since_tag += 1
        package.version = f"w.{week[0]}.{week[1]:02d}-{package.since_tag}-g{sha[:7]}"


def _at(day: date, hours: float) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=UTC) + timedelta(hours=hours)


def _stack_entry(name: str, package: _Package, branch: str | None = "main") -> dict[str, Any]:
    return {
        "name": name,
        "git_url": f"https://github.com/lsst/{name}.git",
        "git_sha": package.sha,
        "git_branch": branch,
        "eups_version": package.version,
    }


def _third_party(name: str, night: int) -> dict[str, Any]:
    version = [v for first, v in sc.THIRD_PARTY[name] if first <= night][-1]
    return {
        "name": name,
        "git_url": None,
        "git_sha": None,
        "git_branch": None,
        "eups_version": version,
    }


@dataclass(slots=True)
class _PullState:
    plan: sc.PullRequest
    ticket: str
    number: int
    author: tuple[str, str]


def _protected_nights(dataset: str) -> set[int]:
    """Nights whose runs must exist: the first night and the first bad night of a change."""
    nights = {0}
    for rule in sc.RULES:
        if rule.scope == "main" and rule.dataset == dataset:
            nights.add(rule.night)
    return nights


def build_timeline(seed: int, start: date, days: int) -> list[Run]:
    """Every run of *days* nights from *start*, in order of run time."""
    init = rng_for(seed, _STREAM_INIT)
    first_week = _weekly(start - timedelta(days=1))
    stack = {
        name: _Package(_sha(init), f"w.{first_week[0]}.{first_week[1]:02d}", first_week, 0)
        for name in (*sc.STACK_PACKAGES, "validate_drp")
    }
    validate_head = (
        stack["validate_drp"].sha,
        sc.AUTHORS[int(init.integers(len(sc.AUTHORS)))],
        _at(start, -10.0),
    )
    deblend_head = (_sha(init), sc.AUTHORS[int(init.integers(len(sc.AUTHORS)))], _at(start, -9))
    deblend_commits = 0
    pulls: dict[str, _PullState] = {}
    ticket, number = 45_000 + int(init.integers(0, 400)), 180 + int(init.integers(0, 20))
    for plan in sc.PULL_REQUESTS:
        ticket += int(init.integers(15, 120))
        number += int(init.integers(2, 9))
        author = sc.AUTHORS[int(init.integers(len(sc.AUTHORS)))]
        pulls[plan.key] = _PullState(plan, f"DM-{ticket}", number, author)
    forced_packages: dict[int, set[str]] = {}
    for rule in sc.RULES:
        if rule.scope == "main" and rule.package in stack:
            forced_packages.setdefault(rule.night, set()).add(rule.package)
    protected = {d.name: _protected_nights(d.name) for d in sc.VALIDATION_DATASETS}
    deblend_protected = _protected_nights(sc.DEBLEND_DATASET) | {
        p.merged for p in sc.PULL_REQUESTS if p.merged is not None
    }
    prefix = f"demo-{seed}-{start:%Y%m%d}"
    runs: list[Run] = []

    for night in range(days):
        day = start + timedelta(days=night)
        weekend = day.weekday() >= 5
        forced = forced_packages.get(night, set())

        # The software stack: each package may have moved since yesterday.
        rng = rng_for(seed, _STREAM_STACK, night)
        probability = sc.PACKAGE_CHANGE_PROBABILITY * (0.2 if weekend else 1.0)
        for name in sc.STACK_PACKAGES:
            draw, sha = rng.random(), _sha(rng)
            if draw < probability or name in forced:
                _bump(stack[name], sha, day)
        draw, sha = rng.random(), _sha(rng)
        author = sc.AUTHORS[int(rng.integers(len(sc.AUTHORS)))]
        committed = _at(day, -float(rng.uniform(3.0, 15.0)))
        commit_probability = sc.COMMIT_PROBABILITY["weekend" if weekend else "weekday"]
        if draw < commit_probability or "validate_drp" in forced:
            _bump(stack["validate_drp"], sha, day)
            validate_head = (sha, author, committed)
        packages = {name: _stack_entry(name, stack[name]) for name in sorted(stack)}
        for name in sc.THIRD_PARTY:
            packages[name] = _third_party(name, night)

        # validate_drp: one Jenkins build a night, one job per dataset and filter.
        rng = rng_for(seed, _STREAM_VALIDATE, night)
        build = sc.JENKINS_FIRST_BUILD + night
        start_hours = 2.0 + float(rng.uniform(0.0, 0.4))
        for dataset in sc.VALIDATION_DATASETS:
            skipped = rng.random() < sc.SKIP_PROBABILITY
            if night in sc.OUTAGE_NIGHTS or (skipped and night not in protected[dataset.name]):
                continue
            hours = start_hours + (0.5 if dataset is sc.CFHT else 0.0)
            for filter_name, band in dataset.filters:
                hours += float(rng.uniform(0.25, 0.6))
                run_at = _at(day, hours)
                runs.append(
                    Run(
                        identifier=f"{prefix}-validate_drp-{dataset.short}-{band}-n{night:03d}",
                        pipeline="validate_drp",
                        night=night,
                        run_at=run_at,
                        dataset=dataset.name,
                        instrument=dataset.instrument,
                        filter_name=filter_name,
                        band=band,
                        dataset_repo_url=dataset.repo_url,
                        extra_meta=dict(dataset.extra_meta),
                        branch="main",
                        commit=validate_head[0],
                        author=validate_head[1][0],
                        author_email=validate_head[1][1],
                        committed_at=validate_head[2],
                        repository_url=sc.VALIDATE_DRP_REPO,
                        packages=packages,
                        env={
                            "env_name": "jenkins",
                            "ci_id": str(build),
                            "ci_name": "validate_drp",
                            "ci_url": f"{sc.JENKINS_URL}/{build}/",
                            "ci_dataset": dataset.name,
                            "ci_label": "rocky-9",
                            "date": run_at.isoformat(),
                            "status": 0,
                        },
                    )
                )

        # The deblender: a nightly benchmark on main, and CI on pull-request pushes.
        rng = rng_for(seed, _STREAM_DEBLEND, night)
        draw, sha = rng.random(), _sha(rng)
        author = sc.AUTHORS[int(rng.integers(len(sc.AUTHORS)))]
        committed = _at(day, -float(rng.uniform(2.0, 14.0)))
        merged = [p for p in pulls.values() if p.plan.merged == night]
        if merged:
            pull = merged[0]
            deblend_head = (sha, pull.author, committed)
            deblend_commits += 1
        elif draw < sc.DEBLEND_COMMIT_PROBABILITY:
            deblend_head = (sha, author, committed)
            deblend_commits += 1
        main_skipped = rng.random() < 0.03 and night not in deblend_protected
        run_hours = 4.5 + float(rng.uniform(0.0, 0.3))
        if not main_skipped:
            runs.append(
                _deblend_run(
                    identifier=f"{prefix}-deblend-main-n{night:03d}",
                    night=night,
                    run_at=_at(day, run_hours),
                    head=deblend_head,
                    version=f"1.2.0.dev{deblend_commits}+g{deblend_head[0][:7]}",
                    branch="main",
                )
            )
        pull_rng = rng_for(seed, _STREAM_PULLS, night)
        for pull in pulls.values():
            if night not in pull.plan.pushes:
                continue
            push = pull.plan.pushes.index(night)
            sha = _sha(pull_rng)
            run_at = _at(day, float(pull_rng.uniform(9.0, 21.0)))
            committed = run_at - timedelta(minutes=float(pull_rng.uniform(4.0, 40.0)))
            branch = f"tickets/{pull.ticket}"
            runs.append(
                _deblend_run(
                    identifier=f"{prefix}-deblend-{pull.ticket}-p{push + 1}",
                    night=night,
                    run_at=run_at,
                    head=(sha, pull.author, committed),
                    version=f"1.2.0.dev{deblend_commits + push + 1}+g{sha[:7]}",
                    branch=branch,
                    pull_request=pull.number,
                    pr_key=pull.plan.key,
                    push=push,
                    fork_night=pull.plan.pushes[0],
                )
            )

    runs.sort(key=lambda r: (r.run_at, r.identifier))
    return runs


def _deblend_run(
    *,
    identifier: str,
    night: int,
    run_at: datetime,
    head: tuple[str, tuple[str, str], datetime],
    version: str,
    branch: str,
    pull_request: int | None = None,
    pr_key: str | None = None,
    push: int | None = None,
    fork_night: int | None = None,
) -> Run:
    sha, (author, email), committed = head
    run_id = sc.ACTIONS_FIRST_RUN + zlib.crc32(identifier.encode()) % 100_000_000
    packages: dict[str, dict[str, Any]] = {
        "scarlet_lite": {
            "name": "scarlet_lite",
            "git_url": f"{sc.DEBLEND_REPO}.git",
            "git_sha": sha,
            "git_branch": branch,
            "eups_version": version,
        },
        "proxmin": {
            "name": "proxmin",
            "git_url": None,
            "git_sha": None,
            "git_branch": None,
            "eups_version": sc.PROXMIN_VERSION,
        },
    }
    for name in sc.DEBLEND_THIRD_PARTY:
        packages[name] = _third_party(name, night)
    return Run(
        identifier=identifier,
        pipeline="deblend",
        night=night,
        run_at=run_at,
        dataset=sc.DEBLEND_DATASET,
        instrument=sc.DEBLEND_INSTRUMENT,
        branch=branch,
        commit=sha,
        author=author,
        author_email=email,
        committed_at=committed,
        repository_url=sc.DEBLEND_REPO,
        packages=packages,
        env={
            "env_name": "github-actions",
            "ci_id": str(run_id),
            "ci_name": "benchmark",
            "ci_url": f"{sc.DEBLEND_REPO}/actions/runs/{run_id}",
            "ci_dataset": sc.DEBLEND_DATASET,
            "date": run_at.isoformat(),
        },
        pull_request=pull_request,
        pr_key=pr_key,
        push=push,
        fork_night=fork_night,
    )
