"""PostgreSQL's binary COPY format from numpy columns, without a Python loop over rows."""

import io

import numpy as np

_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + np.array([0, 0], dtype=">i4").tobytes()
_COPY_TRAILER = np.array([-1], dtype=">i2").tobytes()
_BINARY = {"int2": ">i2", "int4": ">i4", "int8": ">i8", "float8": ">f8", "uuid": "V16"}


def copy_binary(cursor, table: str, columns: dict[str, tuple[str, np.ndarray]], chunk=None):
    """COPY the columns (name -> (type, values)) into `table` in PostgreSQL's binary format,
    built by numpy without a Python loop, `chunk` rows per COPY statement."""
    names = list(columns)
    dtype = [("fields", ">i2")]
    for i, name in enumerate(names):
        kind = columns[name][0]
        dtype += [(f"length{i}", ">i4"), (name, _BINARY[kind])]
    total = len(columns[names[0]][1])
    chunk = chunk or max(total, 1)
    statement = f"COPY {table} ({', '.join(names)}) FROM STDIN WITH (FORMAT binary)"
    for start in range(0, total, chunk):
        stop = min(start + chunk, total)
        rows = np.empty(stop - start, dtype=dtype)
        rows["fields"] = len(names)
        for i, name in enumerate(names):
            rows[f"length{i}"] = np.dtype(_BINARY[columns[name][0]]).itemsize
            rows[name] = columns[name][1][start:stop]
        buffer = io.BytesIO(_COPY_HEADER + rows.tobytes() + _COPY_TRAILER)
        cursor.copy_expert(statement, buffer, size=1 << 20)
