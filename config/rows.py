"""INSERT one new row with SQL that Django compiled once, for the hottest write in Kensa.

`Model.objects.create` compiles its INSERT afresh every time; at line rate that compile was
the largest single CPU cost of accepting an upload. The SQL of a one-row INSERT of a model
depends only on the model and the database, so `insert` compiles it once (through Django's
own compiler, with every field's placeholder) and then only prepares each field's value, as
`save()` does (`pre_save`, `get_db_prep_save`). No save signals are sent: use it only for
models that have no receivers, and only with a primary key set by the caller.
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
    """INSERT each instance (all of one model, primary keys set) as a new row: one statement
    per row, all sent in one round trip (psycopg pipelines `executemany`). Not atomic by
    itself: in autocommit each row commits alone, so wrap it in a transaction to commit the
    rows together. IntegrityError if any row clashes."""
    if any(instance.pk is None for instance in instances):
        raise ValueError("insert needs the primary key set by the caller")
    if not instances:
        return
    connection = connections[using]
    sql, fields = _insert_sql(instances[0], using)
    params = [
        [field.get_db_prep_save(field.pre_save(instance, True), connection) for field in fields]
        for instance in instances
    ]
    with connection.cursor() as cursor:
        if len(params) == 1:
            cursor.execute(sql, params[0])
        else:
            cursor.executemany(sql, params)
    for instance in instances:
        instance._state.adding = False
        instance._state.db = using
