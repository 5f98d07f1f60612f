"""Speed is a feature: SQL statements per request are counted on real PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from litestar import Litestar
from piccolo.engine.postgres import PostgresEngine

from app import crypto
from app.db.tables import AuditEvent, Secret
from tests.support.flows import create_secret, csrf_headers, prime_csrf, sign_in
from tests.support.people import CUSTOMER, STAFF


@pytest.fixture
def database_url(postgres_url: str) -> str:
    return postgres_url


class StatementCounter:
    def __init__(self) -> None:
        self.statements: list[str] = []

    @contextmanager
    def counting(self) -> Iterator[list[str]]:
        self.statements.clear()
        yield self.statements


@pytest.fixture
def counter(running_app: Litestar, monkeypatch: pytest.MonkeyPatch) -> StatementCounter:
    """Counts every statement the app's engine sends (transaction control aside)."""
    original = PostgresEngine.run_querystring
    counter = StatementCounter()

    async def counted(self: PostgresEngine, querystring: Any, in_pool: bool = True) -> Any:
        if self is running_app.state.engine:
            counter.statements.append(str(querystring).split()[0].upper())
        return await original(self, querystring, in_pool=in_pool)

    monkeypatch.setattr(PostgresEngine, "run_querystring", counted)
    return counter


async def test_reveal_takes_two_statements_the_read_and_the_view_with_its_audit_row(
    client: httpx.AsyncClient,
    new_client: Callable[[], httpx.AsyncClient],
    issuer: str,
    counter: StatementCounter,
) -> None:
    await sign_in(client, issuer, STAFF)
    secret_id, key = await create_secret(client, recipient_email=CUSTOMER, max_views="2")
    customer = new_client()
    await sign_in(customer, issuer, CUSTOMER)
    await prime_csrf(customer)
    for _ in range(2):  # a counted view and the last, deleting view
        with counter.counting() as statements:
            response = await customer.post(
                f"/s/{secret_id}/reveal", data={"key": key}, headers=csrf_headers(customer, True)
            )
        assert response.status_code == 200
        # The read, then the view (if the count is unchanged) and its audit row as one
        # statement (a CTE).
        assert statements == ["SELECT", "WITH"], statements
    revealed = AuditEvent.count().where(
        (AuditEvent.secret_id == secret_id) & (AuditEvent.action == "secret.revealed")
    )
    assert await revealed == 2
    row = await Secret.select(Secret.ciphertext, Secret.state).where(Secret.id == secret_id).first()
    assert row == {"ciphertext": None, "state": "opened"}


async def test_reveal_by_proof_takes_at_most_three_statements(
    client: httpx.AsyncClient,
    new_client: Callable[[], httpx.AsyncClient],
    issuer: str,
    counter: StatementCounter,
) -> None:
    await sign_in(client, issuer, STAFF)
    secret_id, key = await create_secret(client, recipient_email=CUSTOMER)
    link_key = crypto.decode_key(key)
    assert link_key is not None
    proof = crypto.b64u_encode(crypto.derive_keys(link_key).proof)
    customer = new_client()
    await sign_in(customer, issuer, CUSTOMER)
    await prime_csrf(customer)
    with counter.counting() as statements:
        response = await customer.post(
            f"/s/{secret_id}/reveal", data={"proof": proof}, headers=csrf_headers(customer, True)
        )
    assert response.status_code == 200
    assert len(statements) <= 3, statements


async def test_page_views_take_at_most_two_statements(
    client: httpx.AsyncClient,
    new_client: Callable[[], httpx.AsyncClient],
    issuer: str,
    counter: StatementCounter,
) -> None:
    await sign_in(client, issuer, STAFF)
    secret_id, _key = await create_secret(client, recipient_email=CUSTOMER)
    customer = new_client()
    await sign_in(customer, issuer, CUSTOMER)
    for path in ("/", f"/s/{secret_id}"):
        with counter.counting() as statements:
            response = await customer.get(path)
        assert response.status_code == 200
        assert len(statements) <= 2, (path, statements)


async def test_create_takes_one_statement_for_the_secret_and_its_audit_row(
    client: httpx.AsyncClient, issuer: str, counter: StatementCounter
) -> None:
    await sign_in(client, issuer, STAFF)
    await prime_csrf(client)
    with counter.counting() as statements:
        secret_id, _key = await create_secret(client, recipient_email=CUSTOMER)
    # Both inserts in one statement (a CTE): atomic without BEGIN and COMMIT round trips.
    assert statements == ["WITH"]
    assert await Secret.count().where(Secret.id == secret_id) == 1
    created = AuditEvent.count().where(
        (AuditEvent.secret_id == secret_id) & (AuditEvent.action == "secret.created")
    )
    assert await created == 1
