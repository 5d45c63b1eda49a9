"""A canned OpenAI-compatible upstream for benchmarks, run in its own process.

It answers every POST with the same pre-built bytes: a chat.completion JSON, or (when the
body asks for ``"stream": true``) a stream of N chat.completion.chunk events sent as one
chunked body. Doing no work per request and running in another process, it keeps the
measurement on the client side, where the ratios are meant to be (the design measured
against nginx on loopback the same way).

Run: ``python benchmarks/upstream.py PORT_FILE STREAM_CHUNKS`` — it writes its port to PORT_FILE.
"""

from __future__ import annotations

import json
import socket
import sys
import threading

COMPLETION = json.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 1735689600, "model": "gpt-4o-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello, world!", "refusal": None},
                 "logprobs": None, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15,
              "prompt_tokens_details": {"cached_tokens": 0}}}).encode()


def stream_body(chunks: int) -> bytes:
    """N content chunks, a finish chunk, a usage chunk and [DONE], as SSE."""
    head = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1735689600, "model": "gpt-4o-mini",
            "system_fingerprint": "fp_bench"}
    events = []
    for i in range(chunks):
        events.append({**head, "choices": [{"index": 0, "delta": {"content": f" tok{i % 100}"}, "logprobs": None,
                                            "finish_reason": None}]})
    events.append({**head, "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}]})
    events.append({**head, "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": chunks,
                                                    "total_tokens": 12 + chunks}})
    body = b"".join(b"data: " + json.dumps(e, separators=(",", ":")).encode() + b"\n\n" for e in events)
    return body + b"data: [DONE]\n\n"


def responses(chunks: int) -> tuple[bytes, bytes]:
    """The full HTTP responses (JSON, stream)."""
    json_response = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nx-request-id: req_bench\r\n"
                     b"Content-Length: " + str(len(COMPLETION)).encode() + b"\r\n\r\n" + COMPLETION)
    body = stream_body(chunks)
    # Sent in 16 KiB HTTP chunks, as a real server flushes.
    pieces = [body[i:i + 16384] for i in range(0, len(body), 16384)]
    chunked = b"".join(b"%x\r\n" % len(p) + p + b"\r\n" for p in pieces) + b"0\r\n\r\n"
    stream_response = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nx-request-id: req_bench\r\n"
                       b"Transfer-Encoding: chunked\r\n\r\n" + chunked)
    return json_response, stream_response


def serve_connection(conn: socket.socket, json_response: bytes, stream_response: bytes) -> None:
    """Answer requests on one keep-alive connection until the client closes it."""
    buffer = b""
    with conn:
        while True:
            while b"\r\n\r\n" not in buffer:
                data = conn.recv(65536)
                if not data:
                    return
                buffer += data
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            while len(buffer) < length:
                data = conn.recv(65536)
                if not data:
                    return
                buffer += data
            body, buffer = buffer[:length], buffer[length:]
            conn.sendall(stream_response if b'"stream":true' in body.replace(b" ", b"") else json_response)


def main() -> None:
    """Listen on 127.0.0.1, write the port, serve until killed."""
    port_file, chunks = sys.argv[1], int(sys.argv[2])
    json_response, stream_response = responses(chunks)
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(256)
    with open(port_file, "w") as f:
        f.write(str(listener.getsockname()[1]))
    while True:
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=serve_connection, args=(conn, json_response, stream_response), daemon=True).start()


if __name__ == "__main__":
    main()
