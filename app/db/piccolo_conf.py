"""Piccolo's configuration module: the engine comes from the validated settings."""

from typing import Any

from piccolo.conf.apps import AppRegistry
from piccolo.engine.base import Engine

from app.db.engine import create_engine
from app.settings import load_settings

# Reassigned by app.db.engine.bind_engine, so migrations run against the engine in use.
DB: Engine[Any] = create_engine(load_settings().database_url)

APP_REGISTRY = AppRegistry(apps=["app.db.piccolo_app"])
