"""INSERT one new row with SQL that Django compiled once, for the hottest write in Kensa.

`Model.objects.create` compiles its INSERT afresh every time; at line rate that compile was
the largest single CPU cost of accepting an upload. The SQL of a one-row INSERT of a model
depends only on the model and the database, so `insert` compiles it once (through Django's
own compiler, with every field's placeholder) and then only prepares each field's value, as
`save()` does (`pre_save`, `get_db_prep_save`); `insert_many` repeats its VALUES tuple for
a group of rows. No save signals are sent: use them only for models that have no receivers,
and only with primary keys set by the caller.
"""

import threading
from collections.abc import Sequence
from typing import Any

from django.db import connections, models
from django.db.models.sql import InsertQuery

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
    if len(instances) > 1:
        # One VALUES tuple per row: cheaper for client and server than a statement per row.
        head, keyword, row = sql.rpartition(" VALUES ")
        sql = head + keyword + ", ".join([row] * len(instances))
    params = [
        field.get_db_prep_save(field.pre_save(instance, True), connection) for instance in instances for field in fields
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
    for instance in instances:
        instance._state.adding = False
        instance._state.db = using
