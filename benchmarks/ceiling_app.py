"""The ceiling: a bare Litestar app whose one handler renders a small Jinja2 template.

Served exactly like the app (same uvicorn flags), so app/ceiling shows what Safe Share's own
work costs on top of the framework, the template engine and the server.
"""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar, get
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.template.config import TemplateConfig

TEMPLATES = Path(__file__).resolve().parent / "templates"


@get("/", sync_to_thread=False)
def landing() -> Template:
    return Template(
        template_name="ceiling.html",
        context={
            "title": "Ceiling",
            "message": "One handler, one small template, nothing else.",
            "items": ["framework", "template", "server"],
        },
    )


def create_app() -> Litestar:
    return Litestar(
        route_handlers=[landing],
        template_config=TemplateConfig(directory=TEMPLATES, engine=JinjaTemplateEngine),
    )
