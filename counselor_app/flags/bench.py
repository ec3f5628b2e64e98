"""Timing for the flag engine, for ``make bench`` (tests must not time: too flaky on CI).

The engine runs while the therapist waits for the assessment page, so one couple should take
well under 10 ms. Run: ``python -m counselor_app.flags.bench``.
"""

from __future__ import annotations

import statistics
import time

from counselor_app.flags.engine import evaluate
from counselor_app.flags.rules import load_ruleset
from counselor_app.instruments import registry
from counselor_app.instruments.model import AnswerValue, Instrument

# A pursue–withdraw couple with some money friction: enough answers off neutral that most rule
# kinds fire and merge, so the timing covers the whole path rather than an early exit.
_A_OVERRIDES: dict[str, AnswerValue] = {
    "need_more_together": 5,
    "need_more_space": 1,
    "need_space_rejection": 5,
    "fin_argue": 4,
    "fin_fair_decisions": 2,
    "bg_hours_together_now": 10,
    "bg_hours_together_want": 35,
}
_B_OVERRIDES: dict[str, AnswerValue] = {
    "need_more_together": 1,
    "need_more_space": 5,
    "need_closeness_crowded": 5,
    "fin_argue": 4,
    "fin_fair_decisions": 5,
    "bg_hours_together_now": 10,
    "bg_hours_together_want": 8,
}


def neutral_answers(intake: Instrument) -> dict[str, AnswerValue]:
    """Every likert item at the midpoint and plausible background answers; no free text."""
    answers: dict[str, AnswerValue] = {}
    for item in intake.items:
        if item.kind == "likert":
            answers[item.id] = 3
        elif item.kind == "hours":
            answers[item.id] = 20 if "together" in item.id else 10
        elif item.kind == "choice":
            answers[item.id] = item.options[0].value
    return answers


def bench_evaluate(n: int = 1000) -> float:
    """Median milliseconds to evaluate one couple, over ``n`` runs (files loaded beforehand)."""
    ruleset = load_ruleset()
    intake = registry.load(ruleset.intake_id, ruleset.intake_version)
    base = neutral_answers(intake)
    answers_a, answers_b = {**base, **_A_OVERRIDES}, {**base, **_B_OVERRIDES}
    evaluate(answers_a, answers_b, intake=intake, ruleset=ruleset)  # warm caches
    timings = []
    for _ in range(n):
        start = time.perf_counter()
        evaluate(answers_a, answers_b, intake=intake, ruleset=ruleset)
        timings.append((time.perf_counter() - start) * 1000)
    return statistics.median(timings)


if __name__ == "__main__":
    print(f"flags.evaluate: median {bench_evaluate():.3f} ms per couple")
