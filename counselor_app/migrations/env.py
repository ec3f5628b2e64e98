"""Alembic's environment for our history, run by counselor_app.schema inside an app context.

The engine is the one the app's counselor state names (the host's database when mounted), and
the version table is our own, so a host's Alembic history in the same database never meets ours.
"""

import logging
from logging.config import fileConfig

from alembic import context

from counselor_app import schema
from counselor_app.extensions import state
from counselor_app.models import Base

config = context.config
# Logging as our alembic.ini says, unless the app (a host, the test suite) has set logging up
# already: fileConfig replaces the root logger's handlers.
if config.config_file_name and not logging.getLogger().handlers:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def run_migrations():
    with state().db.engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # Batch mode rebuilds a table by copy, drop and rename: with foreign keys on (every
            # connection turns them on), dropping the old table would delete or null its
            # children's rows. Off for the migration (before any transaction, or SQLite ignores
            # it), checked after.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()  # end the autobegun transaction, so Alembic's own commits
        with connection.begin():
            schema.move_to_own_version_table(connection, context.script)
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            version_table=schema.VERSION_TABLE,
            render_as_batch=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        if sqlite:
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()
            if broken:
                raise RuntimeError(f"Migration left rows with dangling foreign keys: {broken[:5]}")


if context.is_offline_mode():
    raise RuntimeError("Our migrations run against the app's database: no offline (--sql) mode.")
run_migrations()
