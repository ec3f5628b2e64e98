"""Where the package's files are, in a checkout and once installed.

The repository keeps forms/, reports/ and templates/ at its top level (the design card's
layout); the wheel maps them into the one import package, counselor_app.
"""

from pathlib import Path

import counselor_app.reports

PACKAGE_DIR = Path(__file__).resolve().parent
STATIC_DIR = PACKAGE_DIR / "static"
REPORTS_DIR = Path(counselor_app.reports.__file__).resolve().parent
# Installed: counselor_app/templates; in a checkout (editable install too): templates/ beside it.
TEMPLATES_DIR = next(
    (
        folder
        for folder in (PACKAGE_DIR / "templates", PACKAGE_DIR.parent / "templates")
        if (folder / "counselor").is_dir()
    ),
    PACKAGE_DIR / "templates",
)
