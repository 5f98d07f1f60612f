"""The audit trail's actor kind: a column of its own (user, guest, anonymous, system), so no
account's name can pass for an internal actor (the next migration sets it for old rows).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-26T05:26:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "audit_event actor_kind"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="safe_share", description=DESCRIPTION
    )

    manager.add_column(
        table_class_name="AuditEvent",
        tablename="audit_event",
        column_name="actor_kind",
        db_column_name="actor_kind",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 10,
            "default": "user",
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
