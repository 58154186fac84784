"""A scripted OpenAI-compatible judge server on 127.0.0.1, for tests, benchmarks and dry runs.

It answers ``POST /v1/chat/completions``. A *script* decides the verdict from the rendered
prompt; a *fault plan* can answer a request with a 429 (with or without Retry-After), a 500/503,
a hang past the client's time-out, a dropped connection, malformed JSON, or a completion with
no verdict or a truncated one; latency can be injected, so answers arrive out of order under
concurrency. The server is bounded: it stops by itself after ``max_requests`` requests or
``deadline_s`` seconds, whichever comes first.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from ..errors import AlignbenchError
from ..lifetime import watch_parent

_A = re.compile(r"\[The Start of Assistant A's Answer\]\n(.*?)\n\[The End of Assistant A's Answer\]", re.S)
_B = re.compile(r"\[The Start of Assistant B's Answer\]\n(.*?)\n\[The End of Assistant B's Answer\]", re.S)


def split_pairwise(prompt: str) -> tuple[str, str]:
    """The two responses inside a prompt rendered from judges/templates/pairwise.txt."""
    a, b = _A.search(prompt), _B.search(prompt)
    return (a.group(1) if a else ""), (b.group(1) if b else "")


def _unit(*parts: str) -> float:
    """A deterministic number in [0, 1) from the request content (same request, same answer)."""
    h = hashlib.sha256("\x00".join(parts).encode("utf-8")).digest()
    return int.from_bytes(h[:8], "big") / 2**64


@dataclass
class ScriptedJudge:
    """Prefers the response that ``prefer(a, b)`` says is better ('A', 'B' or 'tie').

    With probability ``position_bias`` (decided per request, deterministically) it answers "[[A]]"
    whatever the content: a judge with a known first-position bias.
    """

    prefer: Callable[[str, str], str]
    position_bias: float = 0.0
    salt: str = ""

    def __call__(self, prompt: str) -> str:
        a, b = split_pairwise(prompt)
        if _unit(self.salt, "bias", prompt) < self.position_bias:
            return "Both are fine; the first reads better.\n[[A]]"
        v = self.prefer(a, b)
        mark = {"A": "[[A]]", "B": "[[B]]", "tie": "[[C]]"}[v]
        return f"Comparing the two answers carefully.\nFinal verdict: {mark}"


def prefer_longer(a: str, b: str) -> str:
    return "A" if len(a) > len(b) else "B" if len(b) > len(a) else "tie"


@dataclass
class FaultPlan:
    """Per-request fault probabilities (decided with a seeded RNG, thread-safe)."""

    rate_limit: float = 0.0  # 429 with Retry-After
    rate_limit_no_header: float = 0.0  # 429 without Retry-After
    server_error: float = 0.0  # 500 or 503
    hang: float = 0.0  # sleep ``hang_s`` before answering (past the client's time-out)
    drop: float = 0.0  # close the connection mid-response
    malformed: float = 0.0  # 200 with a body that is not JSON
    no_verdict: float = 0.0  # 200, a completion without any verdict marker
    truncated: float = 0.0  # 200, finish_reason "length", the verdict cut off
    hang_s: float = 3.0
    retry_after_s: float = 0.05
    seed: int = 0
    _rng: random.Random = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def draw(self) -> str | None:
        with self._lock:
            if self._rng is None:
                self._rng = random.Random(self.seed)
            u = self._rng.random()
        for name in ("rate_limit", "rate_limit_no_header", "server_error", "hang", "drop", "malformed", "no_verdict",
                     "truncated"):
            p = getattr(self, name)
            if u < p:
                return name
            u -= p
        return None

    @property
    def total(self) -> float:
        return sum(getattr(self, n) for n in ("rate_limit", "rate_limit_no_header", "server_error", "hang", "drop",
                                                "malformed", "no_verdict", "truncated"))


MAX_BODY_BYTES = 16 * 1024 * 1024  # a judge prompt is text: far below this
IDLE_TIMEOUT_S = 30.0
MAX_CONNECTIONS = 256  # connections served at once (a thread each); more are answered 503 and closed


class _BoundedServer(ThreadingHTTPServer):
    """At most ``max_connections`` handler threads; connection faults (a client gone, an idle time-out)
    end that connection quietly instead of printing a traceback."""

    daemon_threads = True
    # socketserver's default listen backlog is 5: a client opening more connections at once overflows the accept
    # queue, and each dropped SYN costs that connection a 1 s retransmission (the simulated judge opens 16).
    request_queue_size = MAX_CONNECTIONS

    def __init__(self, address, handler, max_connections: int):
        self._slots = threading.BoundedSemaphore(max_connections)
        super().__init__(address, handler)

    def process_request(self, request, client_address):
        if not self._slots.acquire(blocking=False):
            try:
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\n"
                                b"Connection: close\r\n\r\n")
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, socket.timeout)):
            return
        print(f"alignbench judge server: {type(exc).__name__}: {exc} (request from {client_address[0]})",
              file=sys.stderr)


class JudgeServer:
    """``with JudgeServer(script) as srv: srv.base_url`` — a bounded local judge."""

    def __init__(self, script: Callable[[str], str], latency_s: float = 0.0, latency_jitter_s: float = 0.0,
                 faults: FaultPlan | None = None, max_requests: int = 100_000, deadline_s: float = 600.0,
                 require_key: str | None = None, port: int = 0,
                 fault_for: Callable[[int, str], str | None] | None = None,
                 max_body_bytes: int = MAX_BODY_BYTES, idle_timeout_s: float = IDLE_TIMEOUT_S,
                 max_connections: int = MAX_CONNECTIONS):
        self.script = script
        self.max_body_bytes = max_body_bytes
        self.idle_timeout_s = idle_timeout_s
        self.max_connections = max_connections
        self.fault_for = fault_for  # (request number, prompt) -> a FaultPlan fault name, decided before the plan
        self.port = port
        self.latency_s = latency_s
        self.latency_jitter_s = latency_jitter_s
        self.faults = faults or FaultPlan()
        self.max_requests = max_requests
        self.deadline_s = deadline_s
        self.require_key = require_key
        self.requests = 0
        self.completions = 0
        self.fault_counts: dict[str, int] = {}
        self.seen_paths: list[str] = []
        self.system_messages: list[str] = []  # every request's system message, if it had one
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> "JudgeServer":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = self.idle_timeout_s  # a connection silent this long (half-open, or a slow sender) is closed

            def log_message(self, *a):  # quiet
                pass

            def setup(self):
                super().setup()
                # Headers and body go out in two writes; without TCP_NODELAY, Nagle's algorithm and
                # the client's delayed ACK add ~40 ms to every response.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self):
                owner._handle(self)

        try:
            self._server = _BoundedServer(("127.0.0.1", self.port), Handler, self.max_connections)
        except OSError as e:
            raise AlignbenchError(f"cannot listen on 127.0.0.1:{self.port} "
                                  f"({e.strerror}); pick another --port") from None
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        self._timer = threading.Timer(self.deadline_s, self.stop)
        self._timer.daemon = True
        self._timer.start()

    def stop(self) -> None:
        if self._timer:
            self._timer.cancel()
        if self._server is not None:
            srv, self._server = self._server, None
            threading.Thread(target=srv.shutdown, daemon=True).start()
            srv.server_close()
            self._closed = srv

    @staticmethod
    def _wait_for_answer_time(h) -> None:
        """Injected latency runs from the request's arrival to the answer's departure: the server's own parsing
        and scripting happen inside it, as a remote judge's do, rather than being added to it."""
        wait = (h.answer_at or 0.0) - time.monotonic()
        if wait > 0:
            time.sleep(wait)

    def _send(self, h, status: int, body: bytes, headers: dict | None = None) -> None:
        self._wait_for_answer_time(h)
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(body)

    def _handle(self, h) -> None:
        arrived, h.answer_at = time.monotonic(), None
        with self._lock:
            self.requests += 1
            n = self.requests
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.seen_paths.append(h.path)
        try:
            payload = self._read_json(h)
            if payload is None:
                return
            if n > self.max_requests:
                self._send(h, 503, b'{"error": {"message": "request budget of the test server spent"}}')
                threading.Thread(target=self.stop, daemon=True).start()
                return
            if not h.path.endswith("/chat/completions"):
                self._send(h, 404, b'{"error": {"message": "not found"}}')
                return
            if self.require_key is not None and h.headers.get("Authorization") != f"Bearer {self.require_key}":
                self._send(h, 401, b'{"error": {"message": "bad key"}}')
                return
            delay = self.latency_s + (random.random() * self.latency_jitter_s if self.latency_jitter_s else 0.0)
            h.answer_at = arrived + delay
            try:
                prompt = payload["messages"][-1]["content"]
                if not isinstance(prompt, str):
                    raise TypeError
            except (KeyError, IndexError, TypeError):
                self._send(h, 400, b'{"error": {"message": "expected {\\"messages\\": [{\\"content\\": \\"...\\"}]}"}}')
                return
            with self._lock:
                self.system_messages += [
                    m.get("content")
                    for m in payload["messages"][:-1]
                    if isinstance(m, dict) and m.get("role") == "system"
                ]
            fault = self.fault_for(n, prompt) if self.fault_for else None
            fault = fault or (self.faults.draw() if self.faults.total else None)
            if fault:
                with self._lock:
                    self.fault_counts[fault] = self.fault_counts.get(fault, 0) + 1
            if fault == "rate_limit":
                self._send(h, 429, b'{"error": {"message": "rate limited"}}',
                           {"Retry-After": f"{self.faults.retry_after_s:g}"})
                return
            if fault == "rate_limit_no_header":
                self._send(h, 429, b'{"error": {"message": "rate limited"}}')
                return
            if fault == "server_error":
                self._send(h, random.choice([500, 503]), b'{"error": {"message": "server error"}}')
                return
            if fault == "hang":
                time.sleep(self.faults.hang_s)
            if fault == "drop":
                self._wait_for_answer_time(h)
                h.send_response(200)
                h.send_header("Content-Type", "application/json")
                h.send_header("Content-Length", "4096")
                h.end_headers()
                h.wfile.write(b'{"id": "cut')
                h.wfile.flush()
                h.close_connection = True
                h.connection.shutdown(2)
                return
            if fault == "malformed":
                self._send(h, 200, b'{"id": "x", "choices": [ this is not json')
                return
            text = self.script(prompt)
            finish = "stop"
            if fault == "no_verdict":
                text = "I cannot decide between these two answers."
            elif fault == "truncated":
                text, finish = text[: max(1, len(text) // 3)].replace("[[", "["), "length"
            body = {
                "id": f"chatcmpl-{n}", "object": "chat.completion", "created": int(time.time()),
                "model": payload.get("model", "scripted"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
                "usage": {"prompt_tokens": len(prompt) // 4, "completion_tokens": len(text) // 4, "total_tokens": 0},
            }
            with self._lock:
                self.completions += 1
            self._send(h, 200, json.dumps(body).encode("utf-8"))
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            with self._lock:
                self.in_flight -= 1

    def _read_json(self, h):
        """The request's JSON body, or None once a 400/413 has been answered (the connection then closes)."""
        raw_length = h.headers.get("Content-Length")
        try:
            length = int(raw_length)
            if length < 0:
                raise ValueError
        except (TypeError, ValueError):
            h.close_connection = True
            self._send(h, 400, b'{"error": {"message": "a request body needs a valid Content-Length"}}')
            return None
        if length > self.max_body_bytes:
            h.close_connection = True  # the body is not read: the connection cannot be reused
            self._send(h, 413, json.dumps({"error": {"message": f"body over {self.max_body_bytes} bytes"}}).encode())
            return None
        try:
            payload = json.loads(h.rfile.read(length) or b"{}")
            if not isinstance(payload, dict):
                raise ValueError
        except (ValueError, UnicodeDecodeError, RecursionError):
            self._send(h, 400, b'{"error": {"message": "the body is not a JSON object"}}')
            return None
        return payload


def serve(port: int = 8765, time_limit_s: float = 3600.0, max_requests: int = 100_000, position_bias: float = 0.0,
          announce=print) -> JudgeServer:
    """Serve the scripted judge (prefers the longer answer) on 127.0.0.1:PORT until Ctrl-C or the time limit.

    Blocks; returns the stopped server (its counters say how many requests it answered).
    """
    server = JudgeServer(ScriptedJudge(prefer_longer, position_bias=position_bias), port=port,
                         max_requests=max_requests, deadline_s=time_limit_s)
    server.start()
    announce(server.base_url)
    started = time.monotonic()
    try:
        while server._server is not None and time.monotonic() - started < time_limit_s:
            time.sleep(0.1)
    finally:
        server.stop()
    return server


# --- the command: `alignbench serve-judge` and `python -m alignbench.evaluation.local_server` -----------------

SERVE_DESCRIPTION = ("Serve a scripted judge (it prefers the longer answer) on 127.0.0.1 only. Prints its URL "
                     "and stops on Ctrl-C, after --time-limit seconds or after --max-requests requests.")


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=8765,
                        help="port on 127.0.0.1 (default 8765, as in judges/local-scripted.yaml)")
    parser.add_argument("--time-limit", type=float, default=3600.0, help="stop after this many seconds (default 3600)")
    parser.add_argument("--max-requests", type=int, default=100_000,
                        help="stop after this many requests (default 100000)")
    parser.add_argument("--position-bias", type=float, default=0.0,
                        help="probability of answering [[A]] whatever the content (default 0)")


def serve_command(args: argparse.Namespace) -> int:
    """Check the arguments, serve until a limit or Ctrl-C, and say so on stderr (the URL goes to stdout)."""
    if not 0 <= args.port <= 65535:
        raise AlignbenchError(f"serve-judge: --port {args.port} is not a port number (0-65535)")
    if args.time_limit <= 0 or args.max_requests <= 0:
        raise AlignbenchError("serve-judge: --time-limit and --max-requests must be positive")

    def announce(url: str) -> None:
        print(url, flush=True)
        print(f"alignbench: scripted judge at {url} (127.0.0.1 only); stops on Ctrl-C, after {args.time_limit:g} s "
              f"or {args.max_requests} requests", file=sys.stderr, flush=True)

    try:
        server = serve(args.port, args.time_limit, args.max_requests, args.position_bias, announce=announce)
    except KeyboardInterrupt:
        print("alignbench: judge server stopped", file=sys.stderr)
        return 0
    print(f"alignbench: judge server stopped after {server.requests} request(s)", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m alignbench.evaluation.local_server``: ``alignbench serve-judge`` without the rest of the CLI."""
    parser = argparse.ArgumentParser(prog="python -m alignbench.evaluation.local_server", description=SERVE_DESCRIPTION)
    add_serve_arguments(parser)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop)  # as under the CLI: SIGTERM stops the server as Ctrl-C does
    watch_parent()
    try:
        return serve_command(args)
    except AlignbenchError as e:
        print(f"alignbench: error: {e}", file=sys.stderr)
        return 2


def _stop(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
