"""AppTest: the AI-assist page with MARKIT_INFERENCE_URL set and the server absent or silent.

The page must show the client's clear message (which server, what failed) and store
nothing; with a server that accepts and never answers, the page run ends after the
configured timeout instead of hanging. Equality with in-process results against a real
MLServer: ``tests/integration/test_model_server.py``.
"""

from __future__ import annotations

import socket

from sqlmodel import select

from markit_core.inference.remote import clear_remote_cache
from markit_core.models import AiPrediction
from tests.ai.conftest import MODEL
from tests.apptest_helpers import fresh_app, log_in, open_page, point_app_at
from tests.conftest import PASSWORD
from tests.servers import free_port


def _errors(at) -> str:
    # messages are shown as escaped markdown (user text is plain text): compare unescaped
    return " ".join(e.value for e in at.error).replace("\\", "")


def _open_ai_page(settings, monkeypatch, url: str, timeout: str = "5"):
    point_app_at(settings, monkeypatch)
    monkeypatch.setenv("MARKIT_INFERENCE_URL", url)
    monkeypatch.setenv("MARKIT_INFERENCE_TIMEOUT_SECONDS", timeout)
    clear_remote_cache()
    at = log_in(fresh_app(timeout=120), "manager", PASSWORD)
    at.session_state["ai_model"] = f"{MODEL}@1"
    return open_page(at, "ai_assist")


def test_absent_model_server_is_a_message(session, settings, monkeypatch, ai_world, tiny_model):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    at = _open_ai_page(settings, monkeypatch, url)
    assert not at.exception, at.exception
    errors = _errors(at)
    assert f"model server at {url} is not reachable" in errors, errors
    assert session.exec(select(AiPrediction)).all() == []


def test_silent_model_server_times_out_on_the_page(
    session, settings, monkeypatch, ai_world, tiny_model
):
    with socket.socket() as listener:  # accepts (the kernel's backlog) and never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        at = _open_ai_page(settings, monkeypatch, url, timeout="1")
    assert not at.exception, at.exception
    errors = _errors(at)
    assert f"model server at {url} did not answer" in errors and "within 1 s" in errors, errors
    assert session.exec(select(AiPrediction)).all() == []
