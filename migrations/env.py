"""Alembic environment. The app passes its own connection; migrations never import app models."""

from alembic import context
from sqlalchemy import create_engine

connection = context.config.attributes.get("connection")


def run(connection) -> None:
    context.configure(
        connection=connection,
        # SQLite cannot ALTER most things in place; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    run(connection)
else:
    with create_engine(context.config.get_main_option("sqlalchemy.url")).connect() as own:
        run(own)
        own.commit()
