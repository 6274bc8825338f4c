"""Shared fixtures. Live network calls are blocked in every test.

A test that needs a server starts one on 127.0.0.1 itself; any connection to
another address fails loudly, so no test can reach a hosted model by accident.
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

import pytest

from extract.core.backend import CompletionRequest
from extract.core.prompts import load_prompt
from extract.core.schema import SCHEMA_VERSION, Extraction

REPO = Path(__file__).resolve().parents[1]
GOLD = REPO / "gold"
ARTICLES = GOLD / "articles"

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


class LiveNetworkBlocked(RuntimeError):
    pass


def _allowed(address: object) -> bool:
    if isinstance(address, (str, bytes)):  # a unix socket path
        return True
    if not (isinstance(address, tuple) and address):
        return False
    host = str(address[0])
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _guarded_connect(self: socket.socket, address: object) -> None:
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _allowed(address):
        raise LiveNetworkBlocked(f"tests may only connect to 127.0.0.1, not {address!r}")
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _allowed(address):
        raise LiveNetworkBlocked(f"tests may only connect to 127.0.0.1, not {address!r}")
    return _real_connect_ex(self, address)


def _guarded_getaddrinfo(host: object, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
    if host is not None and not _allowed((host if isinstance(host, str) else host.decode(), 0)):  # type: ignore[union-attr]
        raise LiveNetworkBlocked(f"tests may not resolve {host!r}")
    return _real_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", _guarded_getaddrinfo)
    monkeypatch.setenv("EXTRACT_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


@pytest.fixture
def seed_text() -> dict[str, str]:
    """The five seed articles by id."""
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted(ARTICLES.glob("*.txt"))}


def completion_request(text: str, document_id: str = "d1", max_retries: int = 2) -> CompletionRequest:
    """The request the pipeline would send for ``text`` with the default prompt (for backend tests)."""
    prompt = load_prompt()
    return CompletionRequest(
        messages=tuple(prompt.render(text, document_id)),
        response_model=Extraction,
        document_id=document_id,
        prompt_hash=prompt.hash,
        schema_version=SCHEMA_VERSION,
        max_retries=max_retries,
    )
