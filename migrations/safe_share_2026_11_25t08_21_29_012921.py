"""A composite index for the creator's dashboard: one index range scan per page (keyset
pagination on created_at, id), however many secrets a person has made.

Piccolo's tables cannot declare a multi-column index, so this is raw SQL valid on PostgreSQL
and SQLite alike.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-11-25T08:21:29:012921"
VERSION = "1.38.0"
DESCRIPTION = "secret creator_email created_at index"

INDEX = "secret_creator_email_created_at_id"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="safe_share", description=DESCRIPTION
    )

    async def create_index():
        # The engine in use is the one bound to the tables (app.db.engine.bind_engine).
        from app.db.tables import Secret

        await Secret.raw(
            f"CREATE INDEX IF NOT EXISTS {INDEX} ON secret (creator_email, created_at, id)"
        )

    async def drop_index():
        from app.db.tables import Secret

        await Secret.raw(f"DROP INDEX IF EXISTS {INDEX}")

    manager.add_raw(create_index)
    manager.add_raw_backwards(drop_index)

    return manager
