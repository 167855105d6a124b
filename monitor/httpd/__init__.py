"""A small hardened HTTP/1.1 server on the standard library, the base of every listener the daemon opens.

    server = HttpServer([Route("POST", "/hooks/{app}", handle, max_body=8192)], host="127.0.0.1", port=0)
    server.start(); ...; server.stop()              # handle(Request) -> Response

What it promises, whatever it serves:
- at most `max_connections` connections at once, on a bounded thread pool, and at most
  `max_connections_per_client` from one client (clients.py: an address, an IPv6 /64); one more is answered
  503 (plain TCP) and closed by the accept loop itself, with no thread started for it;
- a whole request (TLS handshake, head, body) within `request_deadline`, the handshake and head within
  `head_deadline`, not per read: a trickling client is cut off at the deadline (408) while others are served;
- with `close_after_error`, every answer of 400 or more ends its connection;
- headers bounded in size and count (431); a body over its route's cap refused unread (413); every body
  read or the connection closed, so one request never leaks into the next; idle keep-alive closed;
- accept() failing (EMFILE, ENFILE) backs off instead of spinning, logged once per burst;
- each response in one write; no request line, path or query string is ever logged.

http.server's BaseHTTPRequestHandler is not used: its timeouts are per read, its error pages take two
writes, and socketserver's accept loop spins while accept() fails with EMFILE.
messages.py holds the types and the strict parser, conn.py one connection's I/O, clients.py who a client is,
server.py the listener.
"""

from monitor.httpd.messages import TEXT, Handler, Limits, Request, Response, Route
from monitor.httpd.server import HttpServer, accept_backoff

__all__ = ["TEXT", "Handler", "HttpServer", "Limits", "Request", "Response", "Route", "accept_backoff"]
