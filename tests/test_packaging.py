"""`pip install .` gives a working app, not only an editable checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
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
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    return next(out.glob("counselor_app-*.whl"))


@pytest.mark.slow
def test_wheel_ships_packages_templates_static_and_migrations(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in [
        "counselor_app/__init__.py",
        "counselor_app/static/css/app.css",
        "counselor_app/migrations/env.py",
        "counselor_app/migrations/alembic.ini",
        "counselor_app/migrations/script.py.mako",
        "counselor_app/migrations/versions/0001_accounts_and_couples.py",
        "forms/couples.py",
        "reports/__init__.py",
        "templates/base.html",
        "templates/macros/forms.html",
        "templates/couples/index.html",
    ]:
        assert expected in names, expected
    assert not any(name.startswith(("tests/", "instance/")) for name in names)


@pytest.mark.slow
def test_installed_copy_migrates_and_serves_the_login_page(wheel, tmp_path):
    target = tmp_path / "site"
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
    script = f"""
import counselor_app
assert counselor_app.__file__.startswith({str(target)!r}), counselor_app.__file__
from counselor_app.schema import upgrade
app = counselor_app.create_app(instance_path={str(tmp_path / "instance")!r})
with app.app_context():
    upgrade()
page = app.test_client().get('/login')
assert page.status_code == 200 and b'Sign in' in page.data, page.status_code
print('ok')
"""
    env = {**os.environ, "PYTHONPATH": str(target)}
    env.pop("DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("ok")
    assert (tmp_path / "instance" / "counselor_app.sqlite3").exists()


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
