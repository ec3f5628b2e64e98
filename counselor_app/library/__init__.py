"""The strategy and intervention library: versioned data (``strategies_v<N>.toml``) and its model.

Pure Python: no Flask or database import. One strategy per key in
``counselor_app.flags.STRATEGY_KEYS``, each written for two readers: guidance for the therapist,
and plain-language text (explanation, steps, homework, reflection questions) for the couple.
"""

from counselor_app.library.model import (
    TEXT_FIELDS,
    Library,
    LibraryError,
    Strategy,
    available_versions,
    load_library,
    parse_library,
)

__all__ = [
    "TEXT_FIELDS",
    "Library",
    "LibraryError",
    "Strategy",
    "available_versions",
    "load_library",
    "parse_library",
]
