"""A request body that stops arriving: a client that hangs up mid-body is a client disconnect
(logged as such, answered 499, never a 500), and one that goes quiet times out (408).

uvicorn waits for a body for as long as the connection stays open, so a slow or stalled client
would hold a request (and anything it holds) forever. The limit is per message, i.e. the longest
silence allowed while a body is still expected; once the body is complete, receive() is passed
through untouched (a streamed response listens on it for the client going away).
"""

from __future__ import annotations

import asyncio

from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.types import ASGIApp, Receive, ReceiveMessage, Scope, Send


class ClientDisconnected(HTTPException):
    status_code = 499  # "client closed request", as nginx logs it
    detail = "client disconnected before the request body was complete"


class BodyTimedOut(HTTPException):
    status_code = 408
    detail = "the request body did not arrive in time"


class ClientBodyMiddleware:
    def __init__(self, app: ASGIApp, timeout_seconds: float) -> None:
        self.app = app
        self.timeout_seconds = timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        complete = False

        async def receive_body() -> ReceiveMessage:
            nonlocal complete
            if complete:
                return await receive()
            try:
                async with asyncio.timeout(self.timeout_seconds):
                    message = await receive()
            except TimeoutError:
                raise BodyTimedOut from None
            if message["type"] == "http.disconnect":
                raise ClientDisconnected
            complete = not message.get("more_body", False)
            return message

        await self.app(scope, receive_body, send)
