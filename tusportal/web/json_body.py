"""JSON request bodies of the API: read whole (they are small), parsed, validated by a pydantic model,
every problem explained in one 400."""

from __future__ import annotations

import json
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from tusportal.errors import InvalidRequestBody

Model = TypeVar("Model", bound=BaseModel)
LIMIT = 64 * 1024


async def read_model(request: Request, model: type[Model], *, limit: int = LIMIT) -> Model:
    """The body as `model`; an empty body reads as `{}`. 400 past `limit` bytes, for invalid JSON,
    and for a document the model refuses (naming each field)."""
    body = await request.body()
    if len(body) > limit:
        raise InvalidRequestBody(f"request body larger than {limit // 1024} KiB")
    try:
        doc = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequestBody(f"request body is not valid JSON: {exc}") from None
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidRequestBody(problems) from None
