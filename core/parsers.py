"""The API's JSON parser: DRF's, with a nesting limit and no NUL in strings (a 400, not a
RecursionError or a PostgreSQL error as a 500)."""

import codecs
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser as DrfJSONParser
from rest_framework.parsers import get_encoding  # type: ignore[attr-defined]
from rest_framework.utils import json as drf_json

from core.errors import NUL_BYTE, TOO_DEEP
from core.json_safe import JsonHasNul, JsonTooDeep, loads


class JSONParser(DrfJSONParser):
    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        encoding = get_encoding(parser_context or {})  # text codecs only, as DRF
        parse_constant = drf_json.strict_constant if self.strict else None
        try:
            text = codecs.getreader(encoding)(stream).read()
            return loads(text, parse_constant=parse_constant)
        except JsonTooDeep as exc:
            raise ParseError(str(exc), code=TOO_DEEP)
        except JsonHasNul as exc:
            raise ParseError(str(exc), code=NUL_BYTE)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}")
