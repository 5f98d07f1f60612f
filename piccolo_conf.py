"""For the `piccolo` command line (e.g. `piccolo migrations new safe_share --auto`)."""

from app.db.piccolo_conf import APP_REGISTRY, DB

__all__ = ["APP_REGISTRY", "DB"]
