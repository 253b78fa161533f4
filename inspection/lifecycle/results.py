"""The `done` transition: record an inspection's verdict and defects, once, and announce it
(inspection.events)."""

import copy
import functools
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone

from inspection import feed
from inspection.constants import Status
from inspection.events import announce_finished
from inspection.models import Defect, Inspection, InspectionModel
from inspection.payloads import inspection_json
from inspection.rows import update_many


@dataclass(frozen=True)
class FoundDefect:
    """A defect as a model reports it (inspection.inference.verdicts), before it is stored."""

    label: str
    confidence: float
    box: list[int] | None = None
    area: int | None = None


@dataclass(frozen=True)
class Judgement:
    """The verdict a model's output earned under its thresholds, with its defects."""

    verdict: str
    defects: list[FoundDefect]


@dataclass(frozen=True)
class Result:
    """What attempt `attempt` found for an inspection, to be recorded. `inspection` is the row
    as the attempt claimed it (inspection.lifecycle.claims.inspections_claim), line and station
    loaded: the live push is built from it instead of read back."""

    inspection: Inspection
    attempt: int
    model: InspectionModel
    judgement: Judgement
    timings: dict[str, float]


# A result's row as it is to be stored, with its defects in the order the API shows them
# (most confident first; stored in the same order, so their ids agree).
_Finished = tuple[Inspection, list[FoundDefect]]
_Owner = tuple[uuid.UUID, int]  # (inspection id, attempt)


def inspections_record_results(results: Sequence[Result]) -> list[bool]:
    """Write a round of results, each only if its attempt still owns its inspection, all or
    none, and announce the recorded ones once committed. The answer says, for
    each result, whether it was written (False: another attempt got there first, or the same
    result came twice in the round; nothing of it is written then).

    The owned rows are locked in id order, as claims lock them, so a claim racing with this
    write (a lease that ran out) waits for it and then finds the inspection done.
    """
    if not results:
        return []
    finished_at = timezone.now()
    firsts: dict[_Owner, Result] = {}
    for result in results:
        firsts.setdefault(_owner(result), result)
    finished = {owner: _finished(result, finished_at) for owner, result in firsts.items()}
    if connection.vendor == "postgresql":
        recorded = _recorded_in_one_statement(finished)
    else:
        recorded = _recorded_under_lock(finished)
    answers = [_owner(result) in recorded and firsts[_owner(result)] is result for result in results]
    pushed = [inspection_json(*finished[owner]) for owner in firsts if owner in recorded]
    if pushed:
        announce_finished(pushed)
    return answers


def _owner(result: Result) -> _Owner:
    return result.inspection.id, result.attempt


def _finished(result: Result, finished_at: datetime) -> _Finished:
    row = copy.copy(result.inspection)  # the caller's claimed row stays as it was
    row.status, row.verdict, row.model = Status.DONE, result.judgement.verdict, result.model
    row.timings, row.finished_at = result.timings, finished_at
    return row, sorted(result.judgement.defects, key=lambda defect: -defect.confidence)


def _recorded_under_lock(finished: dict[_Owner, _Finished]) -> set[_Owner]:
    """The write in statements of one transaction: the owned rows read under a lock, then
    updated, then their defects inserted. Every database Kensa runs on can do this (the
    demo's SQLite)."""
    with transaction.atomic():
        running = set(
            Inspection.objects.select_for_update()
            .filter(id__in=[inspection_id for inspection_id, _ in finished], status=Status.RUNNING)
            .order_by("id")
            .values_list("id", "attempts")
        )
        owned = [finished[owner] for owner in finished if owner in running]
        # One UPDATE joined to the round's values; bulk_update's CASE WHEN cost far more CPU a row
        # (docs/performance.md#inference).
        update_many([row for row, _ in owned], ["status", "verdict", "model", "timings", "finished_at"])
        if owned:
            ids = [row.id for row, _ in owned]
            Inspection.objects.filter(id__in=ids).update(feed_position=feed.position_expression())
        Defect.objects.bulk_create(
            Defect(inspection_id=row.id, label=d.label, confidence=d.confidence, box=d.box, area=d.area)
            for row, defects in owned
            for d in defects
        )
    return running & finished.keys()


# What the statement writes of each result, besides its status; and of each defect.
_RESULT_FIELDS = ("verdict", "model", "timings", "finished_at")
_DEFECT_FIELDS = ("label", "confidence", "box", "area")


@functools.cache
def _record_statement() -> str:
    """PostgreSQL: the same write as one statement, in autocommit. The round's results and
    defects come as two JSON documents, each a list of rows: the statement's text is the same
    for every round (a VALUES list changes with the round's size, and is parsed again each
    time), and psycopg adapts a list into an array element by element, in Python
    (docs/performance.md#inference).
    The owned rows are locked in id order, updated, and only their defects inserted: one round
    trip instead of five (BEGIN, SELECT, UPDATE, INSERT, COMMIT), so the rows stay locked for
    one statement only. The rows take this transaction's feed position (inspection/feed.py)."""
    quote = connection.ops.quote_name
    inspections, defects = quote(Inspection._meta.db_table), quote(Defect._meta.db_table)
    key, attempts = _column(Inspection, "id"), _column(Inspection, "attempts")
    updated = [_column(Inspection, name) for name in _RESULT_FIELDS]
    owner, found = _column(Defect, "inspection"), [_column(Defect, name) for name in _DEFECT_FIELDS]
    result_rows = _definitions(Inspection, ("id", "attempts", *_RESULT_FIELDS))
    defect_rows = (
        _definitions(Defect, ("inspection",)) + f", attempt {_field(Inspection, 'attempts').cast_db_type(connection)}, "
    )
    defect_rows += _definitions(Defect, _DEFECT_FIELDS)
    return (
        f"WITH new AS (SELECT * FROM jsonb_to_recordset(%(results)s::jsonb) AS new ({result_rows})), "
        f"done AS (UPDATE {inspections} AS i SET status = %(done)s, "
        f"{_column(Inspection, 'feed_position')} = {feed.position_sql()}, "
        + ", ".join(f"{column} = new.{column}" for column in updated)
        + f" FROM new WHERE i.{key} = new.{key} AND i.{attempts} = new.{attempts} AND i.status = %(running)s "
        f"AND i.{key} IN (SELECT o.{key} FROM {inspections} AS o JOIN new ON o.{key} = new.{key} "
        f"AND o.{attempts} = new.{attempts} WHERE o.status = %(running)s ORDER BY o.{key} FOR UPDATE OF o) "
        f"RETURNING i.{key}, i.{attempts}), "
        f"inserted AS (INSERT INTO {defects} ({owner}, {', '.join(found)}) "
        f"SELECT d.{owner}, {', '.join(f'd.{column}' for column in found)} "
        f"FROM ROWS FROM (jsonb_to_recordset(%(defects)s::jsonb) AS ({defect_rows})) "
        f"WITH ORDINALITY AS d ({owner}, attempt, {', '.join(found)}, n) "
        f"JOIN done ON done.{key} = d.{owner} AND done.{attempts} = d.attempt ORDER BY d.n) "
        f"SELECT {key}, {attempts} FROM done"
    )


def _field(model: type[models.Model], name: str) -> "models.Field[Any, Any]":
    field = model._meta.get_field(name)
    assert isinstance(field, models.Field)
    return field


def _column(model: type[models.Model], name: str) -> str:
    column = _field(model, name).column
    assert column is not None
    return connection.ops.quote_name(column)


def _definitions(model: type[models.Model], names: Sequence[str]) -> str:
    """A column definition list for jsonb_to_recordset: each JSON key is the field's column."""
    return ", ".join(f"{_column(model, name)} {_field(model, name).cast_db_type(connection)}" for name in names)


def _recorded_in_one_statement(finished: dict[_Owner, _Finished]) -> set[_Owner]:
    # The JSON keys are the columns of the statement's column definition lists.
    results: list[dict[str, Any]] = []
    defects: list[dict[str, Any]] = []
    for (inspection_id, attempt), (row, found) in finished.items():
        assert row.finished_at is not None
        results.append(
            {
                "id": str(inspection_id),
                "attempts": attempt,
                "verdict": row.verdict,
                "model_id": row.model_id,
                "timings": row.timings,
                "finished_at": row.finished_at.isoformat(),
            }
        )
        defects.extend(
            {
                "inspection_id": str(inspection_id),
                "attempt": attempt,
                "label": d.label,
                "confidence": d.confidence,
                "box": d.box,
                "area": d.area,
            }
            for d in found
        )
    parameters = {
        "results": json.dumps(results),
        "defects": json.dumps(defects),
        "done": Status.DONE,
        "running": Status.RUNNING,
    }
    with connection.cursor() as cursor:
        cursor.execute(_record_statement(), parameters)
        return {(inspection_id, attempt) for inspection_id, attempt in cursor.fetchall()}
