"""The home page, the language picker and the health check."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template

from app.settings import Settings
from app.web.forms import FormResult
from app.web.middleware import LANGUAGE_COOKIE
from app.web.responses import anonymous_page, render, safe_next

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]


class PageController(Controller):
    @get("/")
    async def home(self, request: Request[Any, Any, Any]) -> Template | Response[bytes]:
        # The page reads the person from the request's state: nothing to inject (each injected
        # value costs Litestar a resolution step on the busiest page).
        if request.scope["state"].get("user") is None:
            return anonymous_page(request, "home.html")
        return render(request, "home.html", form=FormResult(values={}))

    @post("/language", status_code=303)
    async def choose_language(self, data: Form, settings: Settings) -> Redirect:
        language = data.get("language")
        next_path = safe_next(data.get("next") if isinstance(data.get("next"), str) else None)
        cookies = []
        if isinstance(language, str) and language in settings.languages:
            cookies.append(
                Cookie(
                    key=LANGUAGE_COOKIE,
                    value=language,
                    max_age=365 * 86400,
                    path="/",
                    httponly=True,
                    secure=settings.secure_cookies,
                    samesite="lax",
                )
            )
        return Redirect(next_path, status_code=303, cookies=cookies)

    @get("/healthz", sync_to_thread=False)
    def health(self) -> dict[str, str]:
        return {"status": "ok"}
