"""Schemathesis hooks for cofund, loaded by scripts/schemathesis (SCHEMATHESIS_HOOKS).

A bulk file of claims may be sent as JSON lines (`application/x-ndjson`) as well as CSV; the
document describes both as the file's bytes, and schemathesis, which sends `text/*` bodies
itself, is told here to send JSON lines as they are too.
"""

import schemathesis


@schemathesis.serializer("application/x-ndjson")
def json_lines(ctx, value):
    if isinstance(value, bytes):
        return {"data": value}
    return {"data": str(value).encode("utf-8")}
