"""A WSGI app for the parking worker's tests: parks its connection for ``X-Park`` seconds."""

from core.parking import park_connection


def application(environ, start_response):
    park_connection(float(environ.get("HTTP_X_PARK") or 0))
    body = b"ok"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [body]
