"""A canned OpenAI-compatible upstream for benchmarks, run in its own process.

It answers every POST with the same pre-built bytes: a chat.completion JSON, or (when the
body asks for ``"stream": true``) a stream of N chat.completion.chunk events sent as one
chunked body. A POST to a path ending in ``/responses`` gets the Responses API's equivalents
instead: a ``response`` object, or a stream of N ``response.output_text.delta`` events between
the events that open and close an answer (shapes of ``wire-formats-2026.md`` section 1).
Doing no work per request and running in another process, it keeps the measurement on the
client side, where the ratios are meant to be (the design measured
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


MESSAGE = {"id": "msg_bench", "type": "message", "status": "completed", "role": "assistant",
           "content": [{"type": "output_text", "text": "Hello, world!", "annotations": [], "logprobs": []}]}
USAGE = {"input_tokens": 12, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 3,
         "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 15}
RESPONSE = {"id": "resp_bench", "object": "response", "created_at": 1735689600, "status": "completed", "error": None,
            "incomplete_details": None, "model": "gpt-4o-mini", "output": [MESSAGE], "usage": USAGE}


def responses_stream_body(chunks: int) -> bytes:
    """The Responses API's stream of N text deltas, framed as the API frames it (no [DONE])."""
    in_progress = {**RESPONSE, "status": "in_progress", "output": [], "usage": None}
    where = {"item_id": "msg_bench", "output_index": 0, "content_index": 0}
    events: list[dict[str, object]] = [
        {"type": "response.created", "response": in_progress},
        {"type": "response.in_progress", "response": in_progress},
        {"type": "response.output_item.added", "output_index": 0, "item": {**MESSAGE, "content": []}},
        {"type": "response.content_part.added", **where, "part": {"type": "output_text", "text": ""}}]
    events += [{"type": "response.output_text.delta", **where, "delta": f" tok{i % 100}", "logprobs": []}
               for i in range(chunks)]
    events += [{"type": "response.output_text.done", **where, "text": "...", "logprobs": []},
               {"type": "response.output_item.done", "output_index": 0, "item": MESSAGE},
               {"type": "response.completed", "response": {**RESPONSE, "usage": {**USAGE, "output_tokens": chunks}}}]
    return b"".join(f"event: {e['type']}\ndata: ".encode() + json.dumps({**e, "sequence_number": n},
                                                                          separators=(",", ":")).encode() + b"\n\n"
                    for n, e in enumerate(events))


def responses(chunks: int, completion: bytes = COMPLETION, body: bytes | None = None) -> tuple[bytes, bytes]:
    """The full HTTP responses (JSON, stream): Chat Completions' by default."""
    json_response = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nx-request-id: req_bench\r\n"
                     b"Content-Length: " + str(len(completion)).encode() + b"\r\n\r\n" + completion)
    body = stream_body(chunks) if body is None else body
    # Sent in 16 KiB HTTP chunks, as a real server flushes.
    pieces = [body[i:i + 16384] for i in range(0, len(body), 16384)]
    chunked = b"".join(b"%x\r\n" % len(p) + p + b"\r\n" for p in pieces) + b"0\r\n\r\n"
    stream_response = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nx-request-id: req_bench\r\n"
                       b"Transfer-Encoding: chunked\r\n\r\n" + chunked)
    return json_response, stream_response


def serve_connection(conn: socket.socket, chat: tuple[bytes, bytes], api: tuple[bytes, bytes]) -> None:
    """Answer requests on one keep-alive connection until the client closes it (``api``: /responses)."""
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
            json_response, stream_response = api if b"/responses " in head[:head.find(b"\r\n")] else chat
            conn.sendall(stream_response if b'"stream":true' in body.replace(b" ", b"") else json_response)


def main() -> None:
    """Listen on 127.0.0.1, write the port, serve until killed."""
    port_file, chunks = sys.argv[1], int(sys.argv[2])
    chat = responses(chunks)
    api = responses(chunks, json.dumps(RESPONSE).encode(), responses_stream_body(chunks))
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(256)
    with open(port_file, "w") as f:
        f.write(str(listener.getsockname()[1]))
    while True:
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=serve_connection, args=(conn, chat, api), daemon=True).start()


if __name__ == "__main__":
    main()
