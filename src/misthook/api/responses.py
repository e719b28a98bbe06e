"""The JSON response of every route: bodies serialized by orjson.

FastAPI's own ``ORJSONResponse`` is deprecated (FastAPI now serializes through Pydantic
response models); misthook's routes answer Mist's shapes as plain dicts, which orjson
writes several times faster than the standard encoder.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse


class OrjsonResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)
