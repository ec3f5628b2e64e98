"""Couple vignettes as data: what each partner answered, and what the flag engine must make of it.

Each couple starts from a neutral baseline (every statement "Neither agree nor disagree", the
same hours and background) and changes only the answers that tell its story, so a reader can
see in a few lines why a flag is expected. Expected partners are checked exactly where given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from counselor_app.instruments import load

INTAKE = load("intake", 1)
INTAKE_V2 = load("intake", 2)
NEW_IN_V2 = tuple(item.id for item in INTAKE_V2.items if not INTAKE.has_item(item.id))

# Answers that are neither healthy nor a concern: no rule may fire on these.
NEUTRAL_BACKGROUND: dict[str, int | str] = {
    "bg_stage": "married",
    "bg_length": "4_7",
    "bg_live_together": "yes",
    "bg_children": "none",
    "bg_prior_counselling": "no",
    "bg_hours_together_now": 20,
    "bg_hours_together_want": 20,
    "bg_hours_alone_now": 10,
    "bg_hours_alone_want": 10,
}
NEUTRAL: dict[str, int | str] = {
    **NEUTRAL_BACKGROUND,
    **{item.id: 3 for item in INTAKE.items if item.kind == "likert"},
}
# Safety screen with nothing positive.
SAFE: dict[str, str] = {
    "saf_fear": "no",
    "saf_physical": "no",
    "saf_threats": "no",
    "saf_money_control": "no",
    "saf_contact_control": "no",
    "saf_movement_control": "no",
    "saf_sexual_pressure": "no",
    "saf_speak_openly": "yes",
}


def answers(**overrides: int | str) -> dict[str, int | str]:
    """The neutral baseline with the story's answers; a misspelt item id fails loudly here."""
    unknown = [key for key in overrides if not INTAKE.has_item(key)]
    if unknown:
        raise KeyError(f"not intake items: {unknown}")
    return {**NEUTRAL, **overrides}


def on_intake_v2(answers: Mapping[str, int | str]) -> dict[str, int | str]:
    """The same partner answering intake v2: the statements v2 added at "Neither agree nor
    disagree", or at the one answer a partner gave every statement (a straight-liner stays one)."""
    likert = {answers[i.id] for i in INTAKE.items if i.kind == "likert" and i.id in answers}
    fill = next(iter(likert)) if len(likert) == 1 else 3
    return {**dict.fromkeys(NEW_IN_V2, fill), **answers}


def every_likert(value: int) -> dict[str, int | str]:
    """Extreme respondent: the same answer to every statement."""
    return {**NEUTRAL_BACKGROUND, **{i.id: value for i in INTAKE.items if i.kind == "likert"}}


@dataclass(frozen=True)
class Vignette:
    name: str
    story: str
    a: Mapping[str, int | str] | None
    b: Mapping[str, int | str] | None
    # challenge key → exact partners expected on the flag (None: raised, partners not checked)
    must_raise: Mapping[str, tuple[str, ...] | None] = field(default_factory=dict)
    must_not_raise: tuple[str, ...] = ()
    no_flags: bool = False
    no_dyadic_hits: bool = False  # no rule comparing the partners may fire
    note_contains: str | None = None
    safety_a: Mapping[str, str] = field(default_factory=lambda: SAFE)
    safety_b: Mapping[str, str] = field(default_factory=lambda: SAFE)
    safety_alert_for: tuple[str, ...] = ()


VIGNETTES: tuple[Vignette, ...] = (
    Vignette(
        "pursue_withdraw",
        "A wants evenings together and hears B's 'I need a night off' as rejection; B feels "
        "crowded and wants more time alone.",
        a=answers(
            need_more_together=5,
            need_more_space=1,
            need_space_rejection=5,
            need_fit=2,
            dep_uneasy_apart=4,
            com_space_selfcare=2,
            bg_hours_together_now=15,
            bg_hours_together_want=35,
        ),
        b=answers(
            need_more_together=1,
            need_more_space=5,
            need_closeness_crowded=5,
            need_fit=2,
            com_space_selfcare=2,
            bg_hours_together_now=15,
            bg_hours_together_want=10,
            bg_hours_alone_now=5,
            bg_hours_alone_want=20,
        ),
        must_raise={"mismatched_needs": ("A", "B")},
        must_not_raise=(
            "financial_tension",
            "family_social_expectations",
            "societal_expectations",
            "decision_imbalance",
            "codependency_fear",
            "boundary_strain",
        ),
    ),
    Vignette(
        "money_fights",
        "A earns more and runs the accounts and thinks it works; B has no money of their own, "
        "cannot see where it goes and they argue about spending weekly.",
        a=answers(fin_fair_decisions=4, fin_open=4, fin_argue=5, fin_own_money=4),
        b=answers(fin_fair_decisions=1, fin_open=2, fin_argue=5, fin_own_money=1),
        must_raise={"financial_tension": ("A", "B")},
        must_not_raise=(
            "mismatched_needs",
            "quality_time_deficit",
            "identity_loss",
            "codependency_fear",
            "emotional_distance",
        ),
    ),
    Vignette(
        "enmeshed",
        "Together every free hour since they met; both have let friends and hobbies lapse and "
        "worry they could not cope apart.",
        a=answers(
            dep_over_reliant=5,
            dep_social_orbit=5,
            dep_uneasy_apart=4,
            ind_hobbies=2,
            ind_goals=2,
            ind_friends=1,
            ind_identity=2,
            ind_guilt_alone=5,
            idn_fear_losing_self=4,
            idn_gave_up=4,
            tog_emotional_closeness=5,
            tog_shared_activities=5,
            tog_quality_time=4,
            bg_hours_together_now=60,
            bg_hours_together_want=60,
            bg_hours_alone_now=2,
            bg_hours_alone_want=5,
        ),
        b=answers(
            dep_over_reliant=5,
            dep_social_orbit=5,
            dep_uneasy_apart=5,
            ind_hobbies=2,
            ind_goals=2,
            ind_friends=1,
            ind_identity=2,
            ind_guilt_alone=5,
            idn_fear_losing_self=4,
            idn_gave_up=4,
            tog_emotional_closeness=5,
            tog_shared_activities=4,
            tog_quality_time=4,
            bg_hours_together_now=60,
            bg_hours_together_want=60,
            bg_hours_alone_now=2,
            bg_hours_alone_want=5,
        ),
        must_raise={"codependency_fear": ("A", "B"), "identity_loss": ("A", "B")},
        must_not_raise=(
            "emotional_distance",
            "quality_time_deficit",
            "mismatched_needs",
            "financial_tension",
        ),
    ),
    Vignette(
        "drifting_apart",
        "Two busy careers and separate weekends; they see each other over screens at dinner and "
        "both feel they are becoming flatmates.",
        a=answers(
            dist_drifting=5,
            dist_housemates=4,
            dist_apart_worry=4,
            dist_connected=2,
            tog_shared_activities=2,
            tog_quality_time=1,
            tog_gratitude=2,
            tog_emotional_closeness=2,
            tog_rituals=1,
            qt_rarely_alone=5,
            qt_distracted=4,
            qt_connecting=2,
            ind_hobbies=4,
            ind_friends=4,
            bg_hours_together_now=4,
            bg_hours_together_want=15,
        ),
        b=answers(
            dist_drifting=4,
            dist_housemates=5,
            dist_apart_worry=4,
            dist_connected=2,
            tog_shared_activities=2,
            tog_quality_time=2,
            tog_gratitude=2,
            tog_emotional_closeness=2,
            tog_rituals=1,
            qt_rarely_alone=5,
            qt_distracted=5,
            qt_connecting=2,
            ind_hobbies=4,
            ind_friends=4,
            bg_hours_together_now=4,
            bg_hours_together_want=15,
        ),
        must_raise={"emotional_distance": ("A", "B"), "quality_time_deficit": ("A", "B")},
        must_not_raise=(
            "codependency_fear",
            "mismatched_needs",
            "financial_tension",
            "identity_loss",
        ),
    ),
    Vignette(
        "identity_one_partner",
        "A moved city for B's job, dropped their choir and friends, and fears disappearing into "
        "B's life; B is content.",
        a=answers(
            idn_fear_losing_self=5,
            idn_gave_up=5,
            idn_free_to_be=2,
            ind_identity=2,
            ind_hobbies=2,
            ind_friends=2,
        ),
        b=answers(tog_emotional_closeness=4, tog_gratitude=4, idn_free_to_be=4),
        must_raise={"identity_loss": ("A",)},
        must_not_raise=("codependency_fear", "mismatched_needs", "emotional_distance"),
    ),
    Vignette(
        "all_neutral",
        "Both partners answer every statement 'Neither agree nor disagree'.",
        a=answers(),
        b=answers(),
        no_flags=True,
    ),
    Vignette(
        "identical_answers",
        "Both partners give exactly the same answers: some money friction and misunderstandings.",
        a=answers(
            fin_argue=4,
            fin_fair_decisions=2,
            fin_open=2,
            com_misunderstand=4,
            com_unspoken=4,
            com_feel_heard=2,
        ),
        b=answers(
            fin_argue=4,
            fin_fair_decisions=2,
            fin_open=2,
            com_misunderstand=4,
            com_unspoken=4,
            com_feel_heard=2,
        ),
        must_raise={"financial_tension": ("A", "B"), "communication_gaps": ("A", "B")},
        no_dyadic_hits=True,
    ),
    Vignette(
        "one_partner_missing",
        "Only A has completed the intake so far; A feels unheard and wants far more time together.",
        a=answers(
            com_misunderstand=5,
            com_unspoken=4,
            com_assume=5,
            com_feel_heard=1,
            bg_hours_together_want=40,
        ),
        b=None,
        must_raise={"communication_gaps": ("A",), "quality_time_deficit": ("A",)},
        no_dyadic_hits=True,
        note_contains="Only partner A's intake is complete: dyadic flags",
    ),
    Vignette(
        "extreme_opposites",
        "A strongly disagrees with every statement, B strongly agrees with every statement.",
        a=every_likert(1),
        b=every_likert(5),
        # Agreeing with everything agrees with every worry; disagreeing with everything denies
        # every strength. Both directions should surface, the differences should show as gaps.
        must_raise={
            "codependency_fear": None,
            "financial_tension": ("A", "B"),
            "communication_gaps": ("A", "B"),
            "decision_imbalance": ("A", "B"),
        },
        note_contains="gave the same answer to every statement",
    ),
    Vignette(
        "extreme_same",
        "Both partners strongly agree with every statement.",
        a=every_likert(5),
        b=every_likert(5),
        must_raise={"codependency_fear": ("A", "B"), "boundary_strain": ("A", "B")},
        must_not_raise=("financial_tension", "decision_imbalance", "quality_time_deficit"),
        no_dyadic_hits=True,
        note_contains="gave the same answer to every statement",
    ),
    Vignette(
        "safety_positive",
        "A is afraid of B and does not feel safe speaking freely in joint sessions; the intake "
        "itself looks unremarkable.",
        a=answers(tog_gratitude=4),
        b=answers(tog_gratitude=4),
        safety_a={**SAFE, "saf_fear": "yes", "saf_speak_openly": "no"},
        safety_alert_for=("A",),
        no_flags=True,
    ),
    Vignette(
        "in_law_pressure",
        "A's parents expect every Sunday and a say in holidays; B feels A always sides with them.",
        a=answers(fam_family_pressure=4, fam_friends_pressure=2, fam_partner_sides=2),
        b=answers(
            fam_family_pressure=5, fam_friends_pressure=3, fam_limits_kept=2, fam_partner_sides=5
        ),
        must_raise={"family_social_expectations": ("B",)},
        must_not_raise=("financial_tension", "mismatched_needs", "decision_imbalance"),
    ),
    Vignette(
        "decision_imbalance",
        "A decides on moves, money and holidays and believes B is fine with it; B goes along and "
        "feels unheard in big choices.",
        a=answers(dec_one_decides=4, dec_go_along=1, dec_my_voice=5),
        b=answers(dec_one_decides=5, dec_go_along=5, dec_my_voice=1, tog_decide_together=2),
        must_raise={"decision_imbalance": ("A", "B")},
        must_not_raise=("financial_tension", "family_social_expectations"),
    ),
    Vignette(
        "boundary_strain",
        "B reads A's messages and makes plans for A's evenings; A has never said how much this "
        "bothers them and resents it.",
        a=answers(bnd_respected=2, bnd_overlooked=4, bnd_unspoken=4, bnd_resentment=5),
        b=answers(bnd_respected=4, bnd_overlooked=2),
        must_raise={"boundary_strain": ("A",)},
        must_not_raise=("communication_gaps", "mismatched_needs"),
    ),
    Vignette(
        "culture_and_closeness",
        "Both feel their community expects a certain kind of marriage; B also keeps feelings "
        "back and pulls away when things get close.",
        a=answers(soc_norms_pressure=5, soc_script=4, soc_own_way=2),
        b=answers(
            soc_norms_pressure=4,
            soc_script=4,
            soc_own_way=2,
            int_hold_back=5,
            int_pull_away=4,
            int_open_up=2,
        ),
        must_raise={"societal_expectations": ("A", "B"), "intimacy_difficulty": ("B",)},
        must_not_raise=("family_social_expectations", "emotional_distance"),
    ),
    Vignette(
        "communication_split",
        "A thinks they talk well; B feels second-guessed and unheard.",
        a=answers(
            com_express_needs=5,
            com_feel_heard=5,
            com_ask_view=4,
            com_shared_goals=4,
            com_checkins=4,
            com_space_selfcare=4,
            com_misunderstand=2,
            com_unspoken=2,
            com_assume=2,
        ),
        b=answers(
            com_express_needs=2,
            com_feel_heard=1,
            com_ask_view=2,
            com_shared_goals=2,
            com_checkins=2,
            com_space_selfcare=3,
            com_misunderstand=4,
            com_unspoken=3,
            com_assume=5,
        ),
        must_raise={"communication_gaps": ("A", "B")},
        must_not_raise=("mismatched_needs", "boundary_strain"),
    ),
)
