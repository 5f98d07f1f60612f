"""Piccolo's app registration: the tables and where their migrations live."""

from piccolo.conf.apps import AppConfig

from app.db.tables import TABLES
from app.settings import PROJECT_ROOT

APP_CONFIG = AppConfig(
    app_name="safe_share",
    migrations_folder_path=str(PROJECT_ROOT / "migrations"),
    table_classes=list(TABLES),
    migration_dependencies=[],
    commands=[],
)
