"""WSGI entry point for gunicorn: ``gunicorn 'counselor_app.wsgi:app'``.

The instance folder is ``COUNSELOR_INSTANCE_PATH`` when set (see counselor_app.config).
"""

import gc
import sys

from counselor_app import create_app
from counselor_app.config import ConfigurationError

# gunicorn's exit status for "the application could not be loaded": its master stops rather
# than start workers that cannot run.
APP_LOAD_ERROR = 4

try:
    app = create_app()
except ConfigurationError as error:
    # One line saying what is missing (no traceback), then gunicorn stops.
    print(f"counselor_app cannot start: {error.format_message()}", file=sys.stderr, flush=True)
    raise SystemExit(APP_LOAD_ERROR) from None

# What a worker holds for its whole life (modules, the app, its templates' machinery) is moved
# out of the garbage collector's reach, so a full collection skips it. Measured in make bench:
# the PDF renders that met one took two to three times as long as the others (handout p95
# 229 ms against a median of 91 ms; p95 91 ms once frozen), and page requests meet them too.
gc.collect()
gc.freeze()
