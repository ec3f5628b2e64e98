"""The therapist's strategy library: read, reword, restore, and add strategies of their own."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request
from werkzeug.wrappers import Response
from wtforms import SelectChoice

from counselor_app.auth.identity import current_therapist
from counselor_app.extensions import db
from counselor_app.flags import CHALLENGES
from counselor_app.forms.plans import RestoreWordingForm, StrategyForm
from counselor_app.library import services
from counselor_app.models.base import StaleEdit
from counselor_app.web import counselor_url

bp = Blueprint("library", __name__, url_prefix="/library")

CONFLICT_MESSAGE = (
    "This strategy was saved from another tab after you opened this page. Nothing was saved: "
    "your text is below. Save again to keep it."
)
RESTORE_CONFLICT = (
    "This wording was changed from another tab after you opened the page, so it was not "
    "restored: below is the wording now in use. Restore it again if you still want to."
)


def _form() -> StrategyForm:
    form = StrategyForm()
    form.challenges.choices = [SelectChoice(key, title) for key, (title, _) in CHALLENGES.items()]
    return form


def _values(form: StrategyForm) -> services.StrategyValues:
    return services.StrategyValues(
        title=form.title.data,
        challenges=tuple(form.challenges.data or ()),
        minutes=form.minutes.data,
        therapist_guidance=form.therapist_guidance.data,
        client_explanation=form.client_explanation.data,
        steps=form.step_list(),
        homework=form.homework.data,
        reflection_questions=form.question_list(),
    )


def _fill(form: StrategyForm, entry: services.LibraryEntry) -> None:
    strategy = entry.strategy
    form.title.data = strategy.title
    form.challenges.data = list(strategy.challenges)
    form.minutes.data = strategy.minutes
    form.therapist_guidance.data = strategy.therapist_guidance
    form.client_explanation.data = strategy.client_explanation
    form.steps.data = "\n".join(strategy.steps)
    form.homework.data = strategy.homework
    form.reflection_questions.data = "\n".join(strategy.reflection_questions)
    form.version.data = entry.version


def _entry(key: str) -> services.LibraryEntry:
    entry = services.entries(current_therapist).get(key)
    if entry is None:
        abort(404)
    return entry


@bp.route("")
def index() -> str:
    """Every strategy, with the challenges it addresses and whose wording is in use."""
    return render_template(
        "counselor/library/index.html",
        entries=services.entries(current_therapist).values(),
        challenges=CHALLENGES,
    )


@bp.route("/<key>")
def detail(key: str) -> str:
    """One strategy in full, as plans and handouts will use it."""
    return render_template(
        "counselor/library/detail.html", entry=_entry(key), challenges=CHALLENGES
    )


@bp.route("/<key>/edit", methods=["GET", "POST"])
def edit(key: str) -> str | Response | tuple[str, int]:
    """Reword a strategy for this practice; a shipped strategy's own text stays untouched."""
    entry = _entry(key)
    form = _form()
    if request.method == "GET":
        _fill(form, entry)
    elif form.validate_on_submit():
        try:
            services.save(current_therapist, key, _values(form), expected_version=form.version.data)
        except StaleEdit:
            db.session.rollback()
            form.form_errors.append(CONFLICT_MESSAGE)
            form.version.refresh(_entry(key).version)
            return render_template("counselor/library/form.html", form=form, entry=entry), 409
        db.session.commit()
        flash("Your wording is saved.", "success")
        return redirect(counselor_url("library.detail", key=key))
    status = 422 if form.errors else 200
    return render_template("counselor/library/form.html", form=form, entry=entry), status


@bp.route("/<key>/restore", methods=["POST"])
def restore(key: str) -> Response:
    """Go back to the shipped wording of a strategy."""
    _entry(key)  # 404 for a key not in this therapist's library
    form = RestoreWordingForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        restored = services.restore(current_therapist, key, expected_version=form.version.data)
    except StaleEdit:
        db.session.rollback()
        flash(RESTORE_CONFLICT, "error")
    else:
        if restored:
            db.session.commit()
            flash("Back to the shipped wording.", "success")
    return redirect(counselor_url("library.detail", key=key))


@bp.route("/new", methods=["GET", "POST"])
def create() -> str | Response | tuple[str, int]:
    """Add a strategy of the therapist's own."""
    form = _form()
    if request.method == "GET":
        form.version.data = 0
    elif form.validate_on_submit():
        key = services.create_own(current_therapist, _values(form))
        db.session.commit()
        flash("Strategy added to your library.", "success")
        return redirect(counselor_url("library.detail", key=key))
    status = 422 if form.errors else 200
    return render_template("counselor/library/form.html", form=form, entry=None), status
