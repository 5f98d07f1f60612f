"""Rows written before the actor_kind column kept the kind in the actor text itself
("guest", "anonymous", "system"): set the column from those markers. A separate migration,
because Piccolo runs a migration's raw steps before its column changes.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-11-26T05:26:02:000000"
VERSION = "1.38.0"
DESCRIPTION = "audit_event actor markers into actor_kind"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="safe_share", description=DESCRIPTION
    )

    async def move_markers():
        from app.db.tables import AuditEvent

        await AuditEvent.raw(
            "UPDATE audit_event SET actor_kind = actor "
            "WHERE actor IN ('guest', 'anonymous', 'system')"
        )

    manager.add_raw(move_markers)

    return manager
