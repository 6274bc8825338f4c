"""The network guard itself: tests reach loopback servers and nothing else."""

from __future__ import annotations

import socket

import pytest
from pytest_socket import SocketConnectBlockedError

from tests.conftest import LiveNetworkBlocked


def test_a_connection_to_a_public_address_is_refused() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with sock, pytest.warns(UserWarning, match="192.0.2.1"), pytest.raises(SocketConnectBlockedError):
        sock.connect(("192.0.2.1", 443))  # TEST-NET-1: refused before any packet leaves


def test_a_name_lookup_of_a_public_name_is_refused() -> None:
    with pytest.raises(LiveNetworkBlocked, match="may not resolve"):
        socket.getaddrinfo("api.openai.com", 443)


def test_a_loopback_server_is_reachable() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=5) as client:
            accepted, _ = server.accept()
            with accepted:
                client.sendall(b"ping")
                assert accepted.recv(4) == b"ping"
