"""Who answers: the callee's behaviour for each dialed number, from per-number scenarios or the mix.

All times here are *simulated* seconds (what a real call would take); the engine divides them by
the speed factor to get wall-clock time. No gevent here: tests import this module.

The default outcome mix is PRODUCT.md's field figures for voter lists: about 20% answered by a
person, 28% by a machine, 5% busy, 35% not answered, 12% failed (bad numbers); an answered call
lasts about 33 s on average.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field, fields
from typing import Any

ANSWERS = ("human", "machine", "busy", "no-answer", "failed", "fax")
DEFAULT_MIX = {"human": 0.20, "machine": 0.28, "busy": 0.05, "no-answer": 0.35, "failed": 0.12}
AMD_RESULTS = (
    "human",
    "machine_start",
    "machine_end_beep",
    "machine_end_silence",
    "machine_end_other",
    "fax",
    "unknown",
)
SCENARIO_KEYS = frozenset(
    {
        "answer",
        "ring_seconds",
        "talk_seconds",
        "greeting_seconds",
        "answered_by",
        "amd_seconds",
        "sip_response_code",
    }
)


@dataclass
class Timings:
    """Ranges (simulated seconds) the random plans draw from."""

    human_ring: tuple[float, float] = (2.0, 10.0)
    machine_ring: tuple[float, float] = (8.0, 20.0)
    busy_ring: tuple[float, float] = (1.0, 4.0)
    failed_ring: tuple[float, float] = (0.5, 2.0)
    human_talk_mean: float = 33.0
    human_talk_bounds: tuple[float, float] = (3.0, 300.0)
    machine_greeting: tuple[float, float] = (6.0, 14.0)
    machine_message_max: float = 120.0  # the machine hangs up this long after its beep
    amd_human: tuple[float, float] = (1.5, 3.5)
    amd_machine_start: tuple[float, float] = (2.5, 5.0)

    def update(self, values: dict[str, Any]) -> None:
        known = {f.name for f in fields(self)}
        for key, value in values.items():
            if key not in known:
                raise ValueError(f"unknown timing {key!r}")
            setattr(self, key, tuple(value) if isinstance(value, list) else float(value))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CalleePlan:
    """What the called party will do (simulated seconds)."""

    answer: str
    ring_seconds: float
    talk_seconds: float | None = None  # answer → callee hangs up; None: never hangs up
    greeting_seconds: float = 0.0  # machine: greeting length up to the beep
    answered_by: str | None = None  # AMD result override
    amd_seconds: float | None = None  # AMD detection time override
    sip_response_code: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class AmdOutcome:
    answered_by: str
    seconds: float  # from answer to the result


def validate_scenario(number: str, scenario: dict[str, Any]) -> dict[str, Any]:
    """Check a control-API scenario; returns it cleaned. Raises ValueError."""
    if not isinstance(scenario, dict):
        raise ValueError(f"scenario for {number} must be an object")
    unknown = set(scenario) - SCENARIO_KEYS
    if unknown:
        raise ValueError(f"unknown scenario keys for {number}: {sorted(unknown)}")
    answer = scenario.get("answer")
    if answer is not None and answer not in ANSWERS:
        raise ValueError(f"answer for {number} must be one of {ANSWERS}")
    answered_by = scenario.get("answered_by")
    if answered_by is not None and answered_by not in AMD_RESULTS:
        raise ValueError(f"answered_by for {number} must be one of {AMD_RESULTS}")
    for key in ("ring_seconds", "greeting_seconds", "amd_seconds"):
        if key in scenario and scenario[key] is not None and float(scenario[key]) < 0:
            raise ValueError(f"{key} for {number} must not be negative")
    return dict(scenario)


def validate_mix(mix: dict[str, float]) -> dict[str, float]:
    unknown = set(mix) - set(ANSWERS)
    if unknown:
        raise ValueError(f"unknown outcomes in mix: {sorted(unknown)}")
    if any(float(v) < 0 for v in mix.values()) or sum(float(v) for v in mix.values()) <= 0:
        raise ValueError("outcome weights must be non-negative and not all zero")
    return {k: float(v) for k, v in mix.items()}


@dataclass
class Planner:
    """Draws a ``CalleePlan`` for each dialed number; deterministic when ``seed`` is set.

    With a seed, the n-th call to a given number always gets the same plan, whatever the order
    in which calls to different numbers arrive (hundreds of volunteers dial concurrently).
    """

    seed: int | None = None
    mix: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))
    timings: Timings = field(default_factory=Timings)
    scenarios: dict[str, dict[str, Any]] = field(default_factory=dict)
    _counts: dict[str, int] = field(default_factory=dict)

    def reset_counts(self) -> None:
        self._counts.clear()

    def rng_for(self, to: str) -> random.Random:
        n = self._counts.get(to, 0)
        self._counts[to] = n + 1
        if self.seed is None:
            return random.Random()
        return random.Random(f"{self.seed}|{to}|{n}")

    def plan(self, to: str) -> CalleePlan:
        rng = self.rng_for(to)
        scenario = self.scenarios.get(to) or self.scenarios.get("*") or {}
        if "answer" in scenario:
            answer = scenario["answer"]
        elif to.startswith(("client:", "sip:")):
            answer = "human"
        else:
            outcomes = list(self.mix)
            answer = rng.choices(outcomes, weights=[self.mix[o] for o in outcomes])[0]
        plan = self._draw(answer, rng, endless=to.startswith(("client:", "sip:")))
        for key in ("ring_seconds", "talk_seconds", "greeting_seconds"):
            if key in scenario:
                value = scenario[key]
                setattr(plan, key, None if value is None else float(value))
        if plan.ring_seconds is None:
            plan.ring_seconds = 0.0
        for key in ("answered_by", "amd_seconds", "sip_response_code"):
            if key in scenario:
                setattr(plan, key, scenario[key])
        return plan

    def _draw(self, answer: str, rng: random.Random, endless: bool) -> CalleePlan:
        t = self.timings
        if answer == "human":
            if endless:
                return CalleePlan("human", ring_seconds=1.0, talk_seconds=None)
            low, high = t.human_talk_bounds
            talk = min(high, max(low, rng.gammavariate(2.0, t.human_talk_mean / 2.0)))
            return CalleePlan("human", ring_seconds=rng.uniform(*t.human_ring), talk_seconds=talk)
        if answer in ("machine", "fax"):
            greeting = rng.uniform(*t.machine_greeting) if answer == "machine" else 0.0
            return CalleePlan(
                answer,
                ring_seconds=rng.uniform(*t.machine_ring),
                talk_seconds=greeting + t.machine_message_max,
                greeting_seconds=greeting,
            )
        if answer == "busy":
            return CalleePlan("busy", ring_seconds=rng.uniform(*t.busy_ring), sip_response_code=486)
        if answer == "failed":
            return CalleePlan(
                "failed", ring_seconds=rng.uniform(*t.failed_ring), sip_response_code=404
            )
        return CalleePlan("no-answer", ring_seconds=float("inf"), sip_response_code=487)

    def amd(
        self, plan: CalleePlan, mode: str, timeout: float, rng: random.Random | None = None
    ) -> AmdOutcome:
        """The answering-machine-detection result for an answered call (mode Enable or
        DetectMessageEnd; ``timeout`` is MachineDetectionTimeout)."""
        rng = rng or random.Random()
        t = self.timings
        if plan.answer == "human":
            result, seconds = "human", rng.uniform(*t.amd_human)
        elif plan.answer == "fax":
            result, seconds = "fax", rng.uniform(*t.amd_human)
        elif mode == "DetectMessageEnd":
            result, seconds = "machine_end_beep", plan.greeting_seconds + 0.3
        else:
            seconds = min(rng.uniform(*t.amd_machine_start), max(plan.greeting_seconds, 0.5))
            result = "machine_start"
        if plan.answered_by:
            result = plan.answered_by
        if plan.amd_seconds is not None:
            seconds = float(plan.amd_seconds)
        if seconds > timeout:
            return AmdOutcome("unknown", float(timeout))
        return AmdOutcome(result, seconds)
