"""A private label on secrets: the creator's own note to tell their secrets apart on "My
secrets". Additive only: existing rows get an empty label.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-26T06:22:32:000000"
VERSION = "1.38.0"
DESCRIPTION = "secret label"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="safe_share", description=DESCRIPTION
    )
    manager.add_column(
        table_class_name="Secret",
        tablename="secret",
        column_name="label",
        db_column_name="label",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 200,
            "default": "",
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )
    return manager
