"""`pip install .` gives a working app, and installs one import name only: counselor_app.

The repository keeps the design card's top-level forms/, reports/ and templates/ folders;
pyproject.toml maps them into counselor_app (counselor_app.forms, counselor_app.reports,
counselor_app.templates), so a host's own `forms`, `reports` or `templates` never meet ours.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
# Where each shipped folder of the checkout lands in the wheel.
SHIPPED = {
    "counselor_app": "counselor_app",
    "forms": "counselor_app/forms",
    "reports": "counselor_app/reports",
    "templates": "counselor_app/templates",
}
# What never goes into a build: the checkout's own outputs, caches and local data.
NOT_SOURCE = shutil.ignore_patterns(
    ".git",
    ".venv",
    "build",
    "dist",
    "*.egg-info",
    "instance",
    "node_modules",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    "artifacts",
)
# A venv's own top-level entries (pip and its helpers), not anything a wheel of ours installs.
VENV_OWN = {"pip", "setuptools", "pkg_resources", "_distutils_hack", "wheel"}


def source_files() -> dict[str, Path]:
    """Every file of the checkout that the wheel must ship, by its name in the wheel."""
    found = {}
    for folder, target in SHIPPED.items():
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                relative = path.relative_to(ROOT / folder).as_posix()
                found[f"{target}/{relative}"] = path
    return found


def build_wheel(source: Path, out: Path) -> Path:
    """A wheel built from a clean copy of ``source``: nothing stale from a build/ folder of the
    checkout can slip in, and the build writes nothing into the shared checkout."""
    tree = out / "source"
    shutil.copytree(source, tree, ignore=NOT_SOURCE)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(tree),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return next(out.glob("counselor_app-*.whl"))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return build_wheel(ROOT, tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """The wheel installed into a folder of its own (dependencies from this venv)."""
    target = tmp_path_factory.mktemp("installed") / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    return target


def run_python(
    script: str, *, cwd: Path, python: str = sys.executable, path: list[Path] | None = None
) -> subprocess.CompletedProcess[str]:
    """``script`` in a fresh interpreter, away from the checkout: only ``path`` added to it."""
    env = {**os.environ}
    for name in ("PYTHONPATH", "DATABASE_URL", "PYTHONSTARTUP"):
        env.pop(name, None)
    if path:
        env["PYTHONPATH"] = os.pathsep.join(str(folder) for folder in path)
    return subprocess.run([python, "-c", script], cwd=cwd, env=env, capture_output=True, text=True)


# ---------------------------------------------------------------------------------- the wheel
@pytest.mark.slow
def test_wheel_ships_packages_templates_static_and_migrations(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in [
        "counselor_app/__init__.py",
        "counselor_app/paths.py",
        "counselor_app/api.py",
        "counselor_app/signals.py",
        "counselor_app/forms/__init__.py",
        "counselor_app/forms/base.py",
        "counselor_app/forms/couples.py",
        "counselor_app/reports/__init__.py",
        "counselor_app/reports/pdf.py",
        "counselor_app/reports/print.css",
        "counselor_app/templates/counselor/base.html",
        "counselor_app/templates/counselor/macros/forms.html",
        "counselor_app/templates/counselor/couples/index.html",
        "counselor_app/static/css/app.css",
        "counselor_app/static/js/forms.js",
        "counselor_app/migrations/env.py",
        "counselor_app/migrations/alembic.ini",
        "counselor_app/migrations/script.py.mako",
        "counselor_app/migrations/versions/0001_accounts_and_couples.py",
        "counselor_app/instruments/intake_v1.toml",
        "counselor_app/flags/rules_v1.toml",
        "counselor_app/library/strategies_v1.toml",
    ]:
        assert expected in names, expected
    assert any(n.startswith("counselor_app/migrations/versions/0009") for n in names)
    # Every file of the shipped folders, at its mapped name: templates, static files, every
    # TOML data file, every migration, the print stylesheet.
    missing = sorted(set(source_files()) - names)
    assert not missing, missing
    assert any(name.endswith(".toml") for name in source_files())
    # One import package: nothing at the top level of the wheel but counselor_app.
    top = {name.split("/", 1)[0] for name in names}
    assert top == {"counselor_app", "counselor_app-0.1.0.dist-info"}, top


@pytest.mark.slow
def test_the_wheel_installs_one_top_level_name_in_a_fresh_venv(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    python = venv / "bin" / "python"
    [site_packages] = (venv / "lib").glob("python*/site-packages")
    before = {entry.name for entry in site_packages.iterdir()}
    subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
        check=True,
        capture_output=True,
    )
    added = {entry.name for entry in site_packages.iterdir()} - before
    imports = {
        name
        for name in added
        if not name.endswith((".dist-info", ".pth", ".egg-info"))
        and name != "__pycache__"
        and name not in VENV_OWN
    }
    assert imports == {"counselor_app"}, added
    # What RECORD says was installed, at the top level: the same one name.
    [dist_info] = site_packages.glob("counselor_app-*.dist-info")
    recorded = {
        line.split(",", 1)[0].split("/", 1)[0]
        for line in (dist_info / "RECORD").read_text().splitlines()
        if line.strip()
    }
    assert recorded == {"counselor_app", dist_info.name}, recorded
    top_level = dist_info / "top_level.txt"
    if top_level.exists():
        assert top_level.read_text().split() == ["counselor_app"]
    # The installed copy is complete: templates and the print stylesheet inside the package.
    package = site_packages / "counselor_app"
    assert (package / "templates" / "counselor" / "base.html").is_file()
    assert (package / "reports" / "print.css").is_file()
    assert (package / "forms" / "base.py").is_file()


@pytest.mark.slow
def test_installed_copy_migrates_and_serves_the_login_page(installed, tmp_path):
    script = f"""
import counselor_app
assert counselor_app.__file__.startswith({str(installed)!r}), counselor_app.__file__
from counselor_app.paths import TEMPLATES_DIR
assert TEMPLATES_DIR == counselor_app.paths.PACKAGE_DIR / "templates", TEMPLATES_DIR
from counselor_app.schema import upgrade
app = counselor_app.create_app(instance_path={str(tmp_path / "instance")!r})
with app.app_context():
    upgrade()
page = app.test_client().get('/login')
assert page.status_code == 200 and b'Sign in' in page.data, page.status_code
print('ok')
"""
    result = run_python(script, cwd=tmp_path, path=[installed])
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("ok")
    assert (tmp_path / "instance" / "counselor_app.sqlite3").exists()


# A host's own top-level `forms` module and `reports` package: the names ours had before they
# were mapped into counselor_app. With them first on sys.path, ours must still import.
HOST_SCRIPT = """
import sys
import forms, reports
assert forms.OWNER == "host" and reports.OWNER == "host", (forms, reports)
import counselor_app
from counselor_app.schema import upgrade
import counselor_app.forms.base, counselor_app.reports.pdf
assert counselor_app.forms.base.__file__.startswith({package!r}), counselor_app.forms.base.__file__
assert sys.modules["forms"] is forms and sys.modules["reports"] is reports
app = counselor_app.create_app(instance_path={instance!r})
with app.app_context():
    upgrade()
page = app.test_client().get("/login")
assert page.status_code == 200 and b"Sign in" in page.data, page.status_code
import forms as again
assert again.OWNER == "host" and sys.modules["reports"].OWNER == "host"
print("ok")
"""


def write_host(folder: Path) -> Path:
    folder.mkdir()
    (folder / "forms.py").write_text('OWNER = "host"\n')
    (folder / "reports").mkdir()
    (folder / "reports" / "__init__.py").write_text('OWNER = "host"\n')
    (folder / "reports" / "day_sheet.py").write_text("ROWS = []\n")
    return folder


@pytest.mark.slow
def test_a_host_with_its_own_forms_and_reports_runs_the_installed_copy(installed, tmp_path):
    host = write_host(tmp_path / "host")
    script = HOST_SCRIPT.format(
        package=str(installed / "counselor_app"), instance=str(tmp_path / "instance")
    )
    result = run_python(script, cwd=host, path=[host, installed])
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("ok")


# ------------------------------------------------------------------------- the editable install
EDITABLE_SCRIPT = """
import importlib
for name in ("forms", "reports", "templates"):
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as error:
        assert error.name == name, error
    else:
        raise AssertionError(f"top-level {name!r} is importable: {module!r}")
import counselor_app.forms.base, counselor_app.reports.pdf
from counselor_app.paths import TEMPLATES_DIR
assert (TEMPLATES_DIR / "counselor" / "base.html").is_file(), TEMPLATES_DIR
print(counselor_app.__file__)
"""


def test_the_editable_install_has_no_top_level_forms_reports_or_templates(tmp_path):
    # The venv that `make` installs with `pip install -e .`, run from outside the checkout.
    result = run_python(EDITABLE_SCRIPT, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert Path(result.stdout.strip()).is_relative_to(ROOT / "counselor_app"), result.stdout


def test_a_host_with_its_own_forms_and_reports_runs_the_editable_install(tmp_path):
    host = write_host(tmp_path / "host")
    script = HOST_SCRIPT.format(package=str(ROOT / "forms"), instance=str(tmp_path / "instance"))
    result = run_python(script, cwd=host, path=[host])
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("ok")


# ---------------------------------------------------------------------------- pyproject itself
def mapped_package(folder: Path) -> str:
    """The import name pyproject gives a folder of the checkout."""
    relative = folder.relative_to(ROOT)
    top, rest = relative.parts[0], relative.parts[1:]
    reverse = {path: package for package, path in PYPROJECT.get("package-dir", {}).items()}
    base = reverse.get(top, top)
    return ".".join((base, *rest))


def test_every_folder_of_python_code_is_a_listed_package():
    """setuptools is given an explicit list: a new subpackage must be added to it, or the wheel
    would silently ship without it (the editable install would not notice)."""
    listed = set(PYPROJECT["packages"])
    assert all(name.split(".")[0] == "counselor_app" for name in listed), listed
    folders = {
        path.parent
        for top in ("counselor_app", "forms", "reports")
        for path in (ROOT / top).rglob("*.py")
        if "__pycache__" not in path.parts
    }
    needed = {mapped_package(folder) for folder in folders}
    assert {"counselor_app.forms", "counselor_app.reports", "counselor_app.migrations"} <= needed
    assert needed - listed == set(), "not listed in pyproject [tool.setuptools] packages"
    # Nothing listed that is not there (the templates are a package of data files).
    stale = {name for name in listed - needed if name != "counselor_app.templates"}
    assert stale == set(), stale
    assert PYPROJECT["package-dir"] == {
        "counselor_app.forms": "forms",
        "counselor_app.reports": "reports",
        "counselor_app.templates": "templates",
    }


# ------------------------------------------------------------------------------------ gunicorn
def test_gunicorn_entry_point_serves_with_start_up_objects_frozen(tmp_path):
    # gunicorn imports counselor_app.wsgi in each worker: what it holds for life is frozen out
    # of the garbage collector's scans (a full collection used to double a PDF render's time).
    script = """
import gc
from counselor_app.wsgi import app
assert gc.get_freeze_count() > 10_000, gc.get_freeze_count()
assert app.test_client().get('/healthz').data == b'ok\\n'
print('ok')
"""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'wsgi.sqlite3'}",
        "SECRET_KEY": "a key for this test only",
        "COUNSELOR_DATA_KEYS": "QmVuY2htYXJrUHJhY3RpY2VLZXlOb3RGb3JSZWFsVXM=",
    }
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"
