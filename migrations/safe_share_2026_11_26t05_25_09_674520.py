"""File secrets: the file's size, sealed metadata, nonce prefix and download window on the
secret, and a table of its sealed chunks. Additive only."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import BigInt
from piccolo.columns.column_types import BigSerial
from piccolo.columns.column_types import Bytea
from piccolo.columns.column_types import Integer
from piccolo.columns.column_types import Timestamptz
from piccolo.columns.column_types import Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-26T05:25:09:674520"
VERSION = "1.38.0"
DESCRIPTION = "file secrets: chunk table and file columns"


def _params(**extra):
    return {
        "default": None,
        "null": True,
        "primary_key": False,
        "unique": False,
        "index": False,
        "index_method": IndexMethod.btree,
        "choices": None,
        "db_column_name": None,
        "secret": False,
        **extra,
    }


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="safe_share", description=DESCRIPTION
    )

    for name, column_class, extra in (
        ("file_size", BigInt, {}),
        ("file_meta", Bytea, {}),
        ("file_prefix", Bytea, {}),
        ("file_viewer", Varchar, {"length": 320}),
        ("file_ticket_hash", Varchar, {"length": 64}),
        ("file_until", Timestamptz, {"index": True}),
    ):
        manager.add_column(
            table_class_name="Secret",
            tablename="secret",
            column_name=name,
            db_column_name=name,
            column_class_name=column_class.__name__,
            column_class=column_class,
            params=_params(**extra),
            schema=None,
        )

    manager.add_table(
        class_name="SecretChunk", tablename="secret_chunk", schema=None, columns=None
    )
    for name, column_class, extra in (
        ("id", BigSerial, {"null": False, "primary_key": True}),
        ("secret_id", Varchar, {"length": 32, "default": "", "null": False, "index": True}),
        ("idx", Integer, {"default": 0, "null": False}),
        ("data", Bytea, {"default": b"", "null": False}),
    ):
        manager.add_column(
            table_class_name="SecretChunk",
            tablename="secret_chunk",
            column_name=name,
            db_column_name=name,
            column_class_name=column_class.__name__,
            column_class=column_class,
            params=_params(**extra),
            schema=None,
        )

    return manager
