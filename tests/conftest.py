"""Shared fixtures. Live network calls are blocked in every test.

A test that needs a server starts one on 127.0.0.1 itself; any connection to
another address fails loudly (pytest-socket, configured in pyproject.toml), and so
does a name lookup of anything but a loopback name (here), so no test can reach a
hosted model by accident.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

import pytest

from extract.core.backend import CompletionRequest
from extract.core.prompts import load_prompt
from extract.core.schema import SCHEMA_VERSION, Extraction

REPO = Path(__file__).resolve().parents[1]
GOLD = REPO / "gold"
ARTICLES = GOLD / "articles"

_real_getaddrinfo = socket.getaddrinfo


class LiveNetworkBlocked(RuntimeError):
    pass


def _loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _guarded_getaddrinfo(host: object, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
    if host is not None and not _loopback(host if isinstance(host, str) else bytes(host).decode()):  # type: ignore[arg-type]
        raise LiveNetworkBlocked(f"tests may not resolve {host!r}")
    return _real_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    # Connections are pytest-socket's (--allow-hosts in pyproject.toml); it does not see name lookups, which
    # leave through the C library, so a lookup of any name but a loopback one is refused here.
    monkeypatch.setattr(socket, "getaddrinfo", _guarded_getaddrinfo)
    monkeypatch.setenv("EXTRACT_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    # A command run in a child process imports this checkout's package, not whichever one the environment
    # installed (a shared virtualenv's editable install may point at another worktree).
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))


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
