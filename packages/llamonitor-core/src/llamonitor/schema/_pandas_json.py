"""pandas side of the ``llamonitor.json`` Arrow extension type (imported only by pandas users)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from pandas.api.extensions import ExtensionDtype


class JsonDtype(ExtensionDtype):  # type: ignore[misc]
    """Turns the JSON column into a column of Python dicts when pandas reads Parquet."""

    name = "llamonitor_json"
    type = dict
    kind = "O"

    @classmethod
    def construct_array_type(cls) -> Any:
        return pd.arrays.NumpyExtensionArray

    def __from_arrow__(self, array: pa.Array | pa.ChunkedArray) -> Any:
        chunks = array.chunks if isinstance(array, pa.ChunkedArray) else [array]
        values: list[Any] = []
        for chunk in chunks:
            storage = chunk.storage if isinstance(chunk, pa.ExtensionArray) else chunk
            values.extend(None if v is None else json.loads(v) for v in storage.to_pylist())
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return pd.arrays.NumpyExtensionArray(out)
