"""Views to Parquet with pyarrow, streamed in batches so a large view never sits in memory whole."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from django.db import connection
from psycopg import sql

BATCH = 10_000
SCALE = Decimal("0.000001")  # amounts and hours to the millionth: beyond any figure Weft shows
_TYPES = {16: pa.bool_(), 20: pa.int64(), 21: pa.int64(), 23: pa.int64(), 700: pa.float64(), 701: pa.float64(),
          1082: pa.date32(), 1114: pa.timestamp("us"), 1184: pa.timestamp("us", tz="UTC"),
          1700: pa.decimal128(38, 6)}


def _arrow_type(type_code: int) -> pa.DataType:
    return _TYPES.get(type_code, pa.string())  # text, varchar and JSON as text


def _cell(value, arrow_type: pa.DataType):
    if value is None:
        return None
    if pa.types.is_decimal(arrow_type):
        return Decimal(value).quantize(SCALE)
    if pa.types.is_string(arrow_type) and not isinstance(value, str):
        return json.dumps(value, default=str)
    return value


def views_to_parquet(*, schema: str, views: list[str], root: Path, name: str) -> Path:
    """Write each view of ``schema`` to ``root/name/<view>.parquet``; written beside, then moved into place."""
    staging, folder = root / f".{name}.partial", root / name
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for view in views:
        _view_to_file(schema, view, staging / f"{view}.parquet")
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    return folder


def _view_to_file(schema: str, view: str, path: Path) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(schema, view)))
        arrow = pa.schema([(c.name, _arrow_type(c.type_code)) for c in cursor.description])
        with pq.ParquetWriter(path, arrow) as writer:
            while rows := cursor.fetchmany(BATCH):
                arrays = [pa.array([_cell(row[i], f.type) for row in rows], type=f.type) for i, f in enumerate(arrow)]
                writer.write_table(pa.Table.from_arrays(arrays, schema=arrow))
