"""End-to-end encryption (format 2): the format of each row, the hash of its reveal proof, the
passphrase salt and which side encrypted it. Additive only: existing rows are format 1
(XChaCha20-Poly1305, opened with the link key on the server) and keep opening.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Bytea, Integer, Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-26T05:26:49:000000"
VERSION = "1.38.0"
DESCRIPTION = "secret format_version proof_hash kdf_salt encrypted_by"


def _params(**overrides):
    params = {
        "null": False,
        "primary_key": False,
        "unique": False,
        "index": False,
        "index_method": IndexMethod.btree,
        "choices": None,
        "db_column_name": None,
        "secret": False,
    }
    params.update(overrides)
    return params


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="safe_share", description=DESCRIPTION
    )
    columns = (
        ("format_version", Integer, _params(default=1)),
        ("proof_hash", Bytea, _params(default=None, null=True)),
        ("kdf_salt", Bytea, _params(default=None, null=True)),
        ("encrypted_by", Varchar, _params(length=10, default="server")),
    )
    for name, column_class, params in columns:
        manager.add_column(
            table_class_name="Secret",
            tablename="secret",
            column_name=name,
            db_column_name=name,
            column_class_name=column_class.__name__,
            column_class=column_class,
            params=params,
            schema=None,
        )
    return manager
