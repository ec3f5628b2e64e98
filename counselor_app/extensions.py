"""Extensions created once at import time and bound to an app in the factory.

Keeping them unbound here is what lets a host practice-management app mount this package
without a global application object.
"""

import sqlite3

from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import event
from sqlalchemy.engine import Engine

from counselor_app.models.base import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()


@event.listens_for(Engine, "connect")
def _sqlite_foreign_keys(dbapi_connection: object, connection_record: object) -> None:
    """SQLite ignores foreign keys (and so ON DELETE CASCADE) unless each connection asks;
    secure_delete overwrites what is deleted (an erased couple) instead of leaving it in
    free pages of the file."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()
