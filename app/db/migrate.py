"""`python -m app.db.migrate`: apply the migrations to the configured database."""

import asyncio

from app.db.engine import create_engine, migrate, start, stop
from app.settings import load_settings


async def main() -> None:
    engine = create_engine(load_settings().database_url)
    await start(engine)
    try:
        await migrate(engine)
    finally:
        await stop(engine)


if __name__ == "__main__":
    asyncio.run(main())
