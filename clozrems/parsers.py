"""JSON request bodies with a nesting limit: DRF's default JSON parser for every endpoint.

A body nested a thousand levels deep (2 kB of brackets) makes Python's JSON decoder, or the
recursive code that reads what it decoded, exhaust the interpreter's stack: a server error.
Nothing the API takes is nested more than a few levels (a FHIR Bundle about ten), so a body
nested deeper than ``CLOZREMS_JSON_MAX_DEPTH`` (64) is refused with a 400 before anything reads
it. Other JSON parsers (the FHIR media type) subclass this one to get the same limit."""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


def nesting_depth_exceeds(value: Any, limit: int) -> bool:
    """Whether `value` holds containers nested more than `limit` deep; without recursion."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


class DepthLimitedJSONParser(JSONParser):
    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Any = None
    ) -> Any:
        limit: int = settings.CLOZREMS_JSON_MAX_DEPTH
        refused = f"JSON parse error - the body is nested more than {limit} levels deep."
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(refused) from None
        if nesting_depth_exceeds(data, limit):
            raise ParseError(refused)
        return data
