"""Over a real socket, against uvicorn as production runs it: a client that hangs up mid-body is
logged as a client disconnect (no error, no traceback, no 500), and a body that stops arriving
times out with a 408 instead of holding the request open forever."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.services import AppProcess

PARTIAL_FORM = (
    b"POST /secrets HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 5000\r\n\r\n"
    b"content=only-the-start"
)


@contextmanager
def app_process(postgres_url: str, issuer: str, log: Path) -> Iterator[AppProcess]:
    env = {
        "SAFE_SHARE_DATABASE_URL": postgres_url,
        "SAFE_SHARE_OIDC_ISSUER": issuer,
        "SAFE_SHARE_SECRET_KEY": "disconnect-test-key-" + "d" * 32,
        "SAFE_SHARE_BODY_TIMEOUT_SECONDS": "1",
    }
    server = AppProcess(env, log)
    try:
        yield server
    finally:
        server.stop()


def wait_for(condition: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.postgres
def test_a_client_hanging_up_mid_body_is_a_disconnect_not_a_server_error(
    postgres_url: str, issuer: str, tmp_path: Path
) -> None:
    with app_process(postgres_url, issuer, tmp_path / "app.log") as server:
        with socket.create_connection(("127.0.0.1", server.port)) as conn:
            conn.sendall(PARTIAL_FORM)
        wait_for(lambda: "POST /secrets" in server.output())
        output = server.output()
    access = re.findall(r"app\.access.*POST /secrets (\d{3})", output)
    assert access == ["499"], output
    assert "client disconnected mid-request" in output
    assert "ERROR" not in output
    assert "Traceback" not in output


@pytest.mark.postgres
def test_a_body_that_never_arrives_times_out(
    postgres_url: str, issuer: str, tmp_path: Path
) -> None:
    with app_process(postgres_url, issuer, tmp_path / "app.log") as server:
        with socket.create_connection(("127.0.0.1", server.port)) as conn:
            conn.settimeout(15)
            conn.sendall(PARTIAL_FORM)
            started = time.monotonic()
            answer = conn.recv(65536)
            waited = time.monotonic() - started
            while b"</html>" not in answer and (more := conn.recv(65536)):
                answer += more
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
        assert waited < 10
        assert b"did not arrive in time" in answer
        wait_for(lambda: "POST /secrets 408" in server.output())
        assert "ERROR" not in server.output()
