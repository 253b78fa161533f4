"""INSERT and UPDATE rows with lean SQL, for the hottest writes in Kensa.

`Model.objects.create` compiles its INSERT afresh every time; at line rate that compile was
the largest single CPU cost of accepting an upload. The SQL of a one-row INSERT of a model
depends only on the model and the database, so `insert` compiles it once (through Django's
own compiler, with every field's placeholder) and then only prepares each field's value, as
`save()` does (`pre_save`, `get_db_prep_save`). No save signals are sent: use them only for
models that have no receivers, and only with primary keys set by the caller.

`insert_many` writes a group of rows with PostgreSQL's `COPY … FROM STDIN`, one statement
like a multi-row INSERT, so all rows or none. A multi-row INSERT has more parameters than
psycopg keeps parsed, so psycopg parsed its SQL for every group, in Python; COPY sends no SQL
per row, and psycopg formats the rows in C, which costs the writer clearly less CPU per row
(docs/performance.md#ingest). SQLite, which has no COPY,
gets the INSERT with one VALUES tuple per row.

`update_many` writes a different value per row with one statement, as `bulk_update` does,
but without its CASE WHEN expressions: Django builds and resolves one expression per row and
field, which for a worker's round of 16 results cost more CPU than everything else it did
for them. Here the new values are a VALUES list that the UPDATE joins on the primary key.
"""

import threading
from collections.abc import Sequence
from typing import Any, TypeVar

from django.db import connections, models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.sql import InsertQuery, Query

M = TypeVar("M", bound=models.Model)

_compiled: dict[tuple[type[models.Model], str], tuple[str, list[models.Field[Any, Any]]]] = {}
_compiled_lock = threading.Lock()


def _insert_sql(instance: models.Model, using: str) -> tuple[str, list[models.Field[Any, Any]]]:
    model = type(instance)
    key = (model, connections[using].vendor)
    if key not in _compiled:
        fields = list(model._meta.local_concrete_fields)
        query = InsertQuery(model)
        query.insert_values(fields, [instance])
        [(sql, _params)] = query.get_compiler(using=using).as_sql()
        with _compiled_lock:
            _compiled[key] = (sql, fields)
    return _compiled[key]


def insert(instance: models.Model, using: str = "default") -> None:
    """INSERT `instance` (primary key already set) as a new row; IntegrityError if it clashes."""
    insert_many([instance], using)


def insert_many(instances: Sequence[models.Model], using: str = "default") -> None:
    """INSERT the instances (all of one model, primary keys set) as new rows with one
    statement, so all of them or none (IntegrityError if any clashes) in autocommit."""
    if any(instance.pk is None for instance in instances):
        raise ValueError("insert needs the primary key set by the caller")
    if not instances:
        return
    connection = connections[using]
    sql, fields = _insert_sql(instances[0], using)
    values = [
        [field.get_db_prep_save(field.pre_save(instance, True), connection) for field in fields]
        for instance in instances
    ]
    if len(instances) > 1 and connection.vendor == "postgresql":
        _copy(connection, type(instances[0]), fields, values)
    else:
        if len(instances) > 1:
            # One VALUES tuple per row: cheaper for client and server than a statement per row.
            head, keyword, row = sql.rpartition(" VALUES ")
            sql = head + keyword + ", ".join([row] * len(instances))
        with connection.cursor() as cursor:
            cursor.execute(sql, [value for row_values in values for value in row_values])
    for instance in instances:
        instance._state.adding = False
        instance._state.db = using


_copy_statements: dict[tuple[type[models.Model], str], str] = {}


def _copy(
    connection: BaseDatabaseWrapper,
    model: type[models.Model],
    fields: list[models.Field[Any, Any]],
    values: list[list[Any]],
) -> None:
    key = (model, connection.vendor)
    if key not in _copy_statements:  # made once, as _insert_sql's INSERT: it names the same columns
        quote = connection.ops.quote_name
        columns = ", ".join(quote(_column(field)) for field in fields)
        _copy_statements[key] = f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN"
    sql = _copy_statements[key]
    # psycopg's own cursor: Django's wrapper has no COPY. wrap_database_errors turns psycopg's
    # errors into Django's (a clash is IntegrityError), as Django's cursors do.
    with connection.cursor() as cursor, connection.wrap_database_errors, cursor.cursor.copy(sql) as copy:
        for row_values in values:
            copy.write_row(row_values)


# Both support UPDATE … FROM a WITH … AS (VALUES …) list (SQLite since 3.33).
_UPDATE_FROM_VENDORS = ("postgresql", "sqlite")


def update_many(instances: Sequence[models.Model], fields: Sequence[str], using: str = "default") -> None:
    """UPDATE each instance's row (all of one model, by primary key) with its own values of
    `fields`, in one statement. As `bulk_update`: no save signals, no `pre_save` (auto_now
    fields keep the value the instance holds), and rows that do not exist are skipped."""
    if not instances:
        return
    connection = connections[using]
    model = type(instances[0])
    if connection.vendor not in _UPDATE_FROM_VENDORS:
        model._default_manager.using(using).bulk_update(instances, fields)
        return
    meta = model._meta
    columns = [_concrete(meta.pk)] + [_concrete(meta.get_field(name)) for name in fields]
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    key, *updated = [quote(_column(field)) for field in columns]
    row = "(" + ", ".join(_placeholder(field, connection) for field in columns) + ")"
    sql = (
        f"WITH v ({key}, {', '.join(updated)}) AS (VALUES {', '.join([row] * len(instances))}) "
        f"UPDATE {table} SET {', '.join(f'{name} = v.{name}' for name in updated)} "
        f"FROM v WHERE {table}.{key} = v.{key}"
    )
    params = [
        field.get_db_prep_save(getattr(instance, field.attname), connection)
        for instance in instances
        for field in columns
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def returned_instances(
    model: type[M], fields: Sequence["models.Field[Any, Any]"], rows: Sequence[Sequence[Any]], using: str = "default"
) -> list[M]:
    """Instances of `model` from rows that a statement returned (`RETURNING` the fields'
    columns, in order), each value passed through its field's converters by Django's own
    compiler, as a query's are."""
    compiler = connections[using].ops.compiler("SQLCompiler")(Query(model), connections[using], using)
    converters = compiler.get_converters([field.get_col(model._meta.db_table) for field in fields])
    names = [field.attname for field in fields]
    converted = compiler.apply_converters(rows, converters) if converters else rows
    return [model.from_db(using, names, values) for values in converted]


def _concrete(field: object) -> "models.Field[Any, Any]":
    if not isinstance(field, models.Field) or field.column is None:
        raise ValueError(f"{field} is not a column of its model's table")
    return field


def _column(field: "models.Field[Any, Any]") -> str:
    assert field.column is not None  # _concrete checked it
    return field.column


def _placeholder(field: "models.Field[Any, Any]", connection: BaseDatabaseWrapper) -> str:
    # PostgreSQL gives a VALUES column the type of its values, and a column of NULLs is text,
    # which an integer or uuid column refuses: each value is cast to its column's type.
    # SQLite needs no casts, and its CAST(… AS datetime) would turn a date into a number.
    if connection.vendor == "postgresql":
        return f"CAST(%s AS {field.cast_db_type(connection)})"
    return "%s"
