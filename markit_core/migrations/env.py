"""Alembic environment: runs against the engine passed in by ``markit_core.db``."""

from alembic import context
from sqlalchemy import Engine, create_engine
from sqlmodel import SQLModel

import markit_core.models  # noqa: F401 - registers the tables on SQLModel.metadata

config = context.config
target_metadata = SQLModel.metadata


def _engine() -> Engine:
    engine = config.attributes.get("engine")
    if engine is not None:
        return engine
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError(
            "alembic: no engine was passed in and sqlalchemy.url is not set "
            "(run migrations through markit_core.db.upgrade)"
        )
    return create_engine(url)


def run_migrations_online() -> None:
    engine = _engine()
    with engine.begin() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        context.run_migrations()


if context.is_offline_mode():
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
