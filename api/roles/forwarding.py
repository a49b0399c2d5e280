"""A reader passes every write to the writer and answers with the writer's
response; it then catches up to that write, so the client that wrote reads
its write from this reader at once. Any client can ask any reader to be at
least as current as a write it saw: the write's response carries
``X-Store-Seq``, and a read that sends it back as ``X-Min-Store-Seq`` waits
(up to ``CONSISTENCY_WAIT_S``) until the reader has caught up that far."""

from __future__ import annotations

import http.client
import logging
import urllib.parse

from flask import Flask, Response, g, request

from api.context import service
from api.observability import FORWARDED, SEQ_HEADER
from api.problems import ApiProblem

LOG = logging.getLogger("newsclusters")
WRITES = frozenset({"articles.post_articles", "articles.delete_article"})
"""The endpoints that change the store; every other one is read."""
FORWARD_TIMEOUT_S = 300.0
"""A batch of the largest size, embedded and clustered on a busy machine."""
CONSISTENCY_WAIT_S = 2.0
MIN_SEQ_HEADER = "X-Min-Store-Seq"
PASSED_REQUEST = ("Content-Type", "Authorization", "X-API-Key", "Accept")
PASSED_RESPONSE = ("Content-Type", "Location", "Retry-After", SEQ_HEADER)


def _forward(writer: urllib.parse.SplitResult) -> Response:
    body = request.get_data()  # within MAX_CONTENT_LENGTH, or a 413 already
    headers = {name: value for name in PASSED_REQUEST
               if (value := request.headers.get(name)) is not None}
    headers.update({FORWARDED: "1", "X-Request-ID": g.get("request_id", ""),
                    "Content-Length": str(len(body))})
    path = request.full_path if request.query_string else request.path
    connection = http.client.HTTPConnection(writer.hostname or "127.0.0.1", writer.port,
                                            timeout=FORWARD_TIMEOUT_S)
    try:
        connection.request(request.method, path, body=body, headers=headers)
        reply = connection.getresponse()
        content = reply.read()
    except (OSError, http.client.HTTPException) as exc:
        LOG.warning("reader: the writer is unreachable (%s: %s)", type(exc).__name__, exc)
        raise ApiProblem(503, "Writer unavailable",
                         "the writer is restarting or busy past the time limit; nothing was "
                         "written unless a later read shows it: retry (an article re-posted "
                         "with its id is never stored twice)", slug="writer-unavailable",
                         errors=[{"field": "request", "message": "writer unavailable"}]
                         ) from None
    finally:
        connection.close()
    response = Response(content, status=reply.status)
    for name in PASSED_RESPONSE:
        value = reply.getheader(name)
        if value is not None:
            response.headers[name] = value
    seq = reply.getheader(SEQ_HEADER)
    follower = service().follower
    if reply.status < 300 and seq is not None and seq.isdigit() and follower is not None:
        # read-your-writes on this reader; the response already names each
        # article's story, so the stories' view may follow at its own pace
        follower.wait_for(int(seq), CONSISTENCY_WAIT_S, stories=False)
    return response


def _wait_for_min_seq() -> None:
    wanted = request.headers.get(MIN_SEQ_HEADER)
    if wanted is None:
        return
    if not wanted.isdigit() or len(wanted) > 18:
        raise ApiProblem(400, "Bad request", f"{MIN_SEQ_HEADER} must be a whole number, the "
                         f"{SEQ_HEADER} of a write's response", slug="bad-request",
                         errors=[{"field": MIN_SEQ_HEADER, "message": "not a whole number"}])
    follower = service().follower
    if follower is not None and not follower.wait_for(int(wanted), CONSISTENCY_WAIT_S):
        raise ApiProblem(503, "Not caught up",
                         f"this reader has not reached store sequence {wanted} within "
                         f"{CONSISTENCY_WAIT_S:g} s; retry", slug="not-caught-up",
                         errors=[{"field": MIN_SEQ_HEADER, "message": "not reached yet"}])


def init_forwarding(app: Flask, writer_url: str | None) -> None:
    """A reader's routing: writes to the writer at ``writer_url`` (None: the
    app queues them itself), reads after the wanted store sequence."""
    writer = None if writer_url is None else urllib.parse.urlsplit(writer_url)

    @app.before_request
    def _route() -> Response | None:
        if writer is not None and request.endpoint in WRITES:
            return _forward(writer)
        _wait_for_min_seq()
        return None

    @app.after_request
    def _seq(response: Response) -> Response:
        follower = service().follower
        if follower is not None and SEQ_HEADER not in response.headers:
            response.headers[SEQ_HEADER] = str(service().caught_up_seq())
        return response
