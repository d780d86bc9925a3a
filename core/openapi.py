"""The OpenAPI schema documents the API's error answers too: every operation can answer
``{"code", "message", "errors"}`` with 400 (bad input, a NUL byte, too deep JSON), 401 (no
or a bad key), 403 (not allowed); one with path parameters 404; a write 409 (an idempotency
key reused with another body, a lead that cannot be rerouted) and 413 (body over the limit);
a delete 409 (the object is still in use).
A drf-spectacular post-processing hook, so clients and the schema fuzz see every answer;
it also describes times as the API writes them (local wall-clock, no offset)."""

from typing import Any

ERROR_SCHEMA = {
    "type": "object",
    "description": "Every error answer of the API.",
    "properties": {
        "code": {"type": "string", "description": "Machine-readable reason."},
        "message": {"type": "string"},
        "errors": {
            "type": "object",
            "additionalProperties": True,
            "description": "Per field (or per row) problems; empty when none.",
        },
    },
    "required": ["code", "message", "errors"],
}
DESCRIPTIONS = {
    "400": "Invalid input (fields, query parameters, a NUL byte, JSON nested too deeply).",
    "401": "No valid API key or session.",
    "403": "The key may not do this (a staff key is needed, or another workspace's object).",
    "404": "No such object in the key's scope (or an invalid page cursor).",
    "409": "Conflicts with the current state (an idempotency key reused with another body, "
    "a lead that cannot be rerouted, an object still in use).",
    "413": "The body is over the size limit.",
}
WRITES = {"post", "put", "patch"}
# DRF writes a TimeField as a local wall-clock time ("09:00:00"); OpenAPI's "format: time"
# (RFC 3339) demands an offset, so the schema would call every such answer invalid.
WALL_CLOCK_TIME = {
    "type": "string",
    "pattern": r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?$",
    "description": "Local wall-clock time, HH:MM[:SS].",
}


def _statuses(method: str, operation: dict[str, Any]) -> list[str]:
    statuses = ["400", "401", "403"]
    parameters = operation.get("parameters", [])
    # A path parameter names an object; a cursor that is not one of ours is a 404 too.
    if any(p.get("in") == "path" or p.get("name") == "cursor" for p in parameters):
        statuses.append("404")
    if method in WRITES:
        statuses += ["409", "413"]
    elif method == "delete":
        statuses.append("409")  # still in use
    return statuses


def _wall_clock_times(node: Any) -> None:
    """Replace every ``format: time`` string in the schema (iteratively)."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("type") == "string" and item.get("format") == "time":
                del item["format"]
                item.update({k: v for k, v in WALL_CLOCK_TIME.items() if k not in item})
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def error_responses_hook(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    _wall_clock_times(result)
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    reference = {"$ref": "#/components/schemas/Error"}
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            responses = operation.setdefault("responses", {})
            for status in _statuses(method, operation):
                responses.setdefault(
                    status,
                    {
                        "description": DESCRIPTIONS[status],
                        "content": {"application/json": {"schema": reference}},
                    },
                )
    return result
