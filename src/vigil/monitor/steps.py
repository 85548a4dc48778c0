"""Steps of a unit's run, followed from the log markers it writes.

A step starts on the first line containing its ``start`` marker and ends on the first
later line containing its ``end`` marker. In DESI's Quick Look mapping the end marker
of a step is the start marker of the next one, so one line can end a step and start the
next: ends are applied before starts. When a step starts, earlier steps still running
are done and earlier steps that never started are skipped. When the process exits, a
step still running has failed if the exit status is not 0 or if its end marker never
came; steps that never started are skipped. This module is pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = ["QaSpec", "StepSpec", "StepState", "StepTracker", "Transition"]


class StepState(StrEnum):
    """Where a step is."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class QaSpec:
    """One QA of a step.

    Attributes
    ----------
    key
        The value's key in the QA output (``NOISE_AMP``); the status key is
        ``<key>_STATUS``.
    display_name
        What the page shows (``Noise AMP``).
    name
        The pipeline's name of the QA algorithm (``rms``), if any.
    description
        What the value measures, in a sentence, shown beside its plot.
    """

    key: str
    display_name: str
    name: str | None = None
    description: str | None = None

    @property
    def status_key(self) -> str:
        """``<key>_STATUS``, the key DESI's mapping files name."""
        return f"{self.key}_STATUS"


@dataclass(frozen=True, slots=True)
class StepSpec:
    """One step of a pipeline and the log markers that delimit it."""

    name: str
    display_name: str
    start: str
    end: str
    qa: tuple[QaSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class Transition:
    """A step changing state, caused by a line (or by the end of the process)."""

    step: str
    state: StepState


@dataclass(slots=True)
class StepTracker:
    """Follows the steps of one unit's run, line by line.

    Parameters
    ----------
    steps
        The steps, in order.
    """

    steps: Sequence[StepSpec]
    states: dict[str, StepState] = field(init=False)

    def __post_init__(self) -> None:
        self.states = {step.name: StepState.PENDING for step in self.steps}

    @property
    def current(self) -> str | None:
        """The step running now (the last one if several), or None."""
        running = [s.name for s in self.steps if self.states[s.name] is StepState.RUNNING]
        return running[-1] if running else None

    def feed(self, line: str) -> tuple[list[Transition], str | None]:
        """Apply one log line.

        Returns
        -------
        transitions
            The steps that changed state, in order.
        checkpoint
            The name of the step whose marker the line contains (the started step when
            it both ends one and starts another), or None.
        """
        transitions: list[Transition] = []
        checkpoint: str | None = None
        for step in self.steps:
            if self.states[step.name] is StepState.RUNNING and step.end and step.end in line:
                self.states[step.name] = StepState.SUCCEEDED
                transitions.append(Transition(step.name, StepState.SUCCEEDED))
                checkpoint = step.name
        for index, step in enumerate(self.steps):
            if self.states[step.name] is StepState.PENDING and step.start and step.start in line:
                for earlier in self.steps[:index]:
                    state = self.states[earlier.name]
                    if state is StepState.RUNNING:
                        self.states[earlier.name] = StepState.SUCCEEDED
                        transitions.append(Transition(earlier.name, StepState.SUCCEEDED))
                    elif state is StepState.PENDING:
                        self.states[earlier.name] = StepState.SKIPPED
                        transitions.append(Transition(earlier.name, StepState.SKIPPED))
                self.states[step.name] = StepState.RUNNING
                transitions.append(Transition(step.name, StepState.RUNNING))
                checkpoint = step.name
                break
        return transitions, checkpoint

    def finish(self, exit_status: int | None) -> list[Transition]:
        """Close the run: the process exited with *exit_status* (None: killed).

        Returns
        -------
        list of Transition
            Running steps failed (or succeeded, when the exit status is 0 and the step's
            end marker is empty), steps never started skipped.
        """
        transitions: list[Transition] = []
        for step in self.steps:
            state = self.states[step.name]
            if state is StepState.RUNNING:
                ok = exit_status == 0 and not step.end
                new = StepState.SUCCEEDED if ok else StepState.FAILED
            elif state is StepState.PENDING:
                new = StepState.SKIPPED
            else:
                continue
            self.states[step.name] = new
            transitions.append(Transition(step.name, new))
        return transitions

    @property
    def succeeded(self) -> bool:
        """Whether every step succeeded."""
        return all(state is StepState.SUCCEEDED for state in self.states.values())
