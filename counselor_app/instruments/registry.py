"""Find, parse and cache the instrument TOML files that ship inside this package.

Files are named ``<id>_v<version>.toml``. They are read through ``importlib.resources`` so the
same code works from a checkout, an installed wheel or a zip. A stored response records the
instrument version it answered, so old versions stay loadable after a new one is added.
"""

from __future__ import annotations

import re
import tomllib
from functools import cache
from importlib import resources
from typing import Any

from counselor_app.instruments.model import (
    ITEM_KINDS,
    Instrument,
    Item,
    Option,
    Scoring,
    Section,
)

INTAKE_ID = "intake"
CSI4_ID = "csi4"
SAFETY_ID = "safety"
BALANCE_ID = "balance"

_FILE_NAME = re.compile(r"^(?P<id>[a-z0-9]+)_v(?P<version>\d+)\.toml$")
_PACKAGE = "counselor_app.instruments"


class InstrumentError(ValueError):
    """An instrument file that cannot be trusted: fail at load, not in front of a client."""


@cache
def available() -> dict[str, tuple[int, ...]]:
    """Instrument id → versions present in the package, ascending."""
    found: dict[str, list[int]] = {}
    for entry in resources.files(_PACKAGE).iterdir():
        match = _FILE_NAME.match(entry.name)
        if match:
            found.setdefault(match["id"], []).append(int(match["version"]))
    return {key: tuple(sorted(versions)) for key, versions in found.items()}


def latest_version(instrument_id: str) -> int:
    versions = available().get(instrument_id)
    if not versions:
        raise InstrumentError(f"no instrument called {instrument_id!r}")
    return versions[-1]


def load(instrument_id: str, version: int | None = None) -> Instrument:
    """The instrument at ``version``, or its latest version when None. Cached after first read."""
    return _load(instrument_id, latest_version(instrument_id) if version is None else version)


@cache
def _load(instrument_id: str, version: int) -> Instrument:
    if version not in available().get(instrument_id, ()):
        raise InstrumentError(f"no version {version} of instrument {instrument_id!r}")
    resource = resources.files(_PACKAGE) / f"{instrument_id}_v{version}.toml"
    data = tomllib.loads(resource.read_text(encoding="utf-8"))
    instrument = parse_instrument(data)
    if (instrument.id, instrument.version) != (instrument_id, version):
        raise InstrumentError(f"{resource.name} declares {instrument.id} v{instrument.version}")
    return instrument


def parse_instrument(data: dict[str, Any]) -> Instrument:
    """Build an Instrument from parsed TOML, refusing anything inconsistent."""
    scales = {key: _options(key, spec["options"]) for key, spec in data.get("scales", {}).items()}
    try:
        sections = tuple(_section(raw, scales) for raw in data["sections"])
        instrument = Instrument(
            id=data["id"],
            version=int(data["version"]),
            title=data["title"],
            description=_one_line(data["description"]),
            source=_one_line(data["source"]),
            licence=_one_line(data["licence"]),
            sections=sections,
            scoring=Scoring(**data["scoring"]),
            estimated_minutes=data.get("estimated_minutes"),
            domain_titles=dict(data.get("domains", {})),
        )
    except KeyError as exc:
        raise InstrumentError(f"instrument {data.get('id')!r} is missing {exc}") from None
    except TypeError as exc:
        raise InstrumentError(f"instrument {data.get('id')!r}: {exc}") from None
    _check_unique_ids(instrument)
    return instrument


def _section(raw: dict[str, Any], scales: dict[str, tuple[Option, ...]]) -> Section:
    items = tuple(_item(item, scales) for item in raw["items"])
    return Section(
        key=raw["key"],
        title=raw["title"],
        intro=raw.get("intro", ""),
        items=items,
        therapist_note=raw.get("therapist_note", ""),
    )


def _item(raw: dict[str, Any], scales: dict[str, tuple[Option, ...]]) -> Item:
    item_id, kind = raw["id"], raw["kind"]
    if kind not in ITEM_KINDS:
        raise InstrumentError(f"{item_id}: unknown kind {kind!r}")
    options = _item_options(item_id, raw, scales)
    if kind in ("likert", "choice") and not options:
        raise InstrumentError(f"{item_id}: a {kind} item needs options or a scale")
    if kind == "likert" and not all(isinstance(opt.value, int) for opt in options):
        raise InstrumentError(f"{item_id}: likert options must be numbers")
    if raw.get("reverse") and kind != "likert":
        raise InstrumentError(f"{item_id}: only likert items can be reverse-scored")
    return Item(
        id=item_id,
        text=_one_line(raw["text"]),
        kind=kind,
        options=options,
        domain=raw.get("domain"),
        reverse=bool(raw.get("reverse", False)),
        # Free text is never required: a blank box must not block saving an intake.
        required=bool(raw.get("required", kind != "text")),
        min_value=raw.get("min_value"),
        max_value=raw.get("max_value"),
        help=raw.get("help"),
    )


def _item_options(
    item_id: str, raw: dict[str, Any], scales: dict[str, tuple[Option, ...]]
) -> tuple[Option, ...]:
    if "scale" in raw:
        if raw["scale"] not in scales:
            raise InstrumentError(f"{item_id}: unknown scale {raw['scale']!r}")
        return scales[raw["scale"]]
    return _options(item_id, raw.get("options", []))


def _options(owner: str, raw: list[dict[str, Any]]) -> tuple[Option, ...]:
    options = tuple(
        Option(value=opt["value"], label=opt["label"], positive=bool(opt.get("positive", False)))
        for opt in raw
    )
    values = [str(opt.value) for opt in options]
    if len(set(values)) != len(values):
        raise InstrumentError(f"{owner}: duplicate option values")
    return options


def _check_unique_ids(instrument: Instrument) -> None:
    seen: set[str] = set()
    for item in instrument.items:
        if item.id in seen:
            raise InstrumentError(f"{instrument.id}: item id {item.id!r} used twice")
        seen.add(item.id)


def _one_line(text: str) -> str:
    """TOML multi-line strings wrap for the editor's sake; the reader should see one paragraph."""
    return " ".join(text.split())
