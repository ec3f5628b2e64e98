"""Every route of the app with real ids filled in: for checks that must cover every page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask

# Values for URL arguments that are not database ids.
FIXED_ARGUMENTS = {
    "label": "a",
    "slug": "background",
    "kind": "plan",
    "key": "quality_time",
    "filename": "css/app.css",
}


@dataclass(frozen=True)
class Route:
    endpoint: str
    rule: str
    methods: frozenset[str]
    arguments: frozenset[str]

    def url(self, ids: dict[str, Any]) -> str:
        url = self.rule
        for name in self.arguments:
            value = ids.get(name, FIXED_ARGUMENTS.get(name))
            assert value is not None, f"no value for <{name}> in {self.rule}"
            url = url.replace(f"<id:{name}>", str(value)).replace(f"<{name}>", str(value))
            url = url.replace(f"<path:{name}>", str(value))
        return url


def routes(app: Flask) -> list[Route]:
    found = []
    for rule in app.url_map.iter_rules():
        methods = frozenset(rule.methods or ()) - {"HEAD", "OPTIONS"}
        found.append(Route(rule.endpoint, rule.rule, methods, frozenset(rule.arguments)))
    return sorted(found, key=lambda route: route.rule)
