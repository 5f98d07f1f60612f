"""Server-side sessions: a random id in an HttpOnly cookie, the data in a store (Redis or memory).

The store key is a hash of the id, so a copy of the store yields no usable cookie. A new id is
issued at every sign-in; sessions end after an idle period and after an absolute lifetime.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from litestar.stores.base import Store
from redis.asyncio import Redis

from app.auth.identity import User
from app.settings import Settings
from app.web.sessioncache import SessionCache, announce_sign_out
from app.web.stores import RedisWithMemoryStore, StoreUnavailable

logger = logging.getLogger(__name__)

PENDING_LOGIN_SECONDS = 600
# How long this process may reuse a session it read (only while it hears sign-outs); the idle
# timeout is renewed in the store when the copy is refreshed.
CACHE_SECONDS = 5.0


def session_cookie_name(settings: Settings) -> str:
    # The __Host- prefix pins the cookie to this host and path, but needs Secure.
    return "__Host-safe_share" if settings.secure_cookies else "safe_share_session"


@dataclass(frozen=True)
class Session:
    id: str
    user: User
    id_token: str | None


def _key(kind: str, value: str) -> str:
    return f"{kind}:{hashlib.sha256(value.encode()).hexdigest()}"


class SessionManager:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        clock: Callable[[], datetime],
        redis: Redis | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.cookie_name = session_cookie_name(settings)
        # Shared sessions (Redis) are copied here between reads; sign-outs are announced.
        self.redis = redis
        self.cache = SessionCache(CACHE_SECONDS, clock=lambda: clock().timestamp())

    async def load(self, session_id: str) -> Session | None:
        if not session_id or len(session_id) > 100:
            return None
        key = _key("session", session_id)
        loaded: tuple[Session, float] | None = self.cache.get(key)
        if loaded is None:
            epoch = self.cache.epoch
            try:
                raw = await self.store.get(key, renew_for=self.settings.session_idle_seconds)
            except Exception:  # a broken store means "not signed in", never a 500
                logger.warning("session store unavailable", exc_info=False)
                return None
            if raw is None:
                return None
            data = json.loads(raw)
            user = User.from_session(data["user"])
            loaded = (Session(session_id, user, data.get("id_token")), data["created"])
            self.cache.put(key, loaded, epoch)
        session, created = loaded
        if self.clock().timestamp() - created > self.settings.session_absolute_seconds:
            await self.destroy(session_id)
            return None
        return session

    async def create(self, user: User, id_token: str | None) -> str:
        session_id = secrets.token_urlsafe(32)
        payload = {
            "user": user.to_session(),
            "id_token": id_token,
            "created": self.clock().timestamp(),
        }
        await self.store.set(
            _key("session", session_id),
            json.dumps(payload),
            expires_in=self.settings.session_idle_seconds,
        )
        return session_id

    async def sign_out(self, session_id: str) -> None:
        """Ends the session in the shared store, or raises StoreUnavailable and changes nothing:
        a delete that Redis missed would bring the session back when Redis answers again."""
        key = _key("session", session_id)
        self.cache.drop(key)
        if isinstance(self.store, RedisWithMemoryStore):
            await self.store.delete_shared(key)
        else:
            await self.store.delete(key)
        if self.redis is not None:
            # Every process drops its copy. Unannounced, a copy could outlive the sign-out by
            # a few seconds elsewhere: say so (503, sign out again) rather than pretend.
            try:
                await announce_sign_out(self.redis, key)
            except Exception:
                raise StoreUnavailable from None

    async def destroy(self, session_id: str) -> None:
        key = _key("session", session_id)
        self.cache.drop(key)
        try:
            await self.store.delete(key)
        except Exception:
            logger.warning("session store unavailable while signing out", exc_info=False)

    async def save_pending_login(self, state: str, data: dict[str, Any]) -> None:
        await self.store.set(
            _key("login", state), json.dumps(data), expires_in=PENDING_LOGIN_SECONDS
        )

    async def pop_pending_login(self, state: str) -> dict[str, Any] | None:
        """Single use: a replayed callback finds nothing."""
        key = _key("login", state)
        raw = await self.store.get(key)
        if raw is None:
            return None
        await self.store.delete(key)
        loaded: dict[str, Any] = json.loads(raw)
        return loaded
