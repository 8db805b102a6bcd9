"""A tiny WSGI application: / answers "ok", /add?x=2&y=3 queues a task."""

from urllib.parse import parse_qs

from tasks import add


def application(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/":
        body = b"ok\n"
    elif path == "/add":
        query = parse_qs(environ.get("QUERY_STRING", ""))
        x, y = int(query["x"][0]), int(query["y"][0])
        body = ("queued %s\n" % add.delay(x, y).id).encode()
    else:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
