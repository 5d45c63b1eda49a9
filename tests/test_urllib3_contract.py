"""Pins the urllib3 / http.client behaviour the transport relies on (see llmclient/exchange.py).

If a urllib3 upgrade changes one of these, this file fails, not a user's deadline.
"""

from __future__ import annotations

import socket
import threading

import urllib3

from llmclient.exchange import Exchange, ScopedHTTPPool, socket_of


def one_answer_server(answer: bytes) -> tuple[socket.socket, int]:
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(answer)

    threading.Thread(target=serve, daemon=True).start()
    return listener, listener.getsockname()[1]


CLOSE_DELIMITED = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nhello"


def test_the_pool_hands_out_connections_through_get_conn_and_back_through_put_conn() -> None:
    listener, port = one_answer_server(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    pool = ScopedHTTPPool("127.0.0.1", port, maxsize=1)
    exchange = Exchange(0.0, None, None, None)
    with exchange:
        response = pool.urlopen("GET", "/", preload_content=False, release_conn=False, retries=False)
    conn = response._connection  # set for a response read later (stream=True in requests)
    assert conn is not None and conn._llmclient_exchange is exchange and exchange.connected
    assert response.read1(65536, decode_content=True) == b"ok"
    response.release_conn()
    assert conn._llmclient_exchange is None  # _put_conn detached it from the exchange
    exchange.end()
    pool.close()
    listener.close()


def test_a_close_delimited_answer_detaches_the_socket_and_socket_of_still_finds_it() -> None:
    listener, port = one_answer_server(CLOSE_DELIMITED)
    pool = ScopedHTTPPool("127.0.0.1", port, maxsize=1)
    response = pool.urlopen("GET", "/", preload_content=False, release_conn=False, retries=False)
    conn = response._connection
    assert conn.sock is None  # http.client let go of it (the reason socket_of exists)
    sock = socket_of(conn)
    assert isinstance(sock, socket.socket) and sock.fileno() != -1
    assert not response.chunked and response.length_remaining is None  # how "close-delimited" is told
    assert response.read1(65536, decode_content=True) == b"hello"
    assert response.read1(65536, decode_content=True) == b""
    response.release_conn()
    pool.close()
    listener.close()


def test_the_connection_class_is_the_one_that_records_connect() -> None:
    pool = ScopedHTTPPool("127.0.0.1", 1)
    assert issubclass(pool.ConnectionCls, urllib3.connection.HTTPConnection)
    assert hasattr(pool.ConnectionCls, "_llmclient_sock")
    assert hasattr(urllib3.HTTPResponse, "read1") and hasattr(urllib3.HTTPResponse, "release_conn")
