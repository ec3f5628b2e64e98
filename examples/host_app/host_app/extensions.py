"""The host's own extensions: created once here, bound to an app in ``create_app``.

These belong to the practice app, not to counselor_app. The plugin is handed ``db`` when it is
mounted and finds the host's ``CSRFProtect`` on the app; it brings no sign-in of its own.
"""

from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """The host's declarative base: only the host's three tables are registered on it."""

    # Named constraints, so Alembic's batch mode can alter the tables on SQLite later.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
