"""snappass runs from its own virtual environment, so its pins never touch the project's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# Pinned so results stay comparable between runs.
SNAPPASS_REQUIREMENTS = ("snappass==1.6.2", "gunicorn==27.0.1")
VENV_DIR = Path(__file__).resolve().parent / ".venv-snappass"


def ensure_snappass_venv(venv: Path = VENV_DIR) -> Path:
    """Create the venv and install snappass + gunicorn once; returns the venv's bin dir."""
    bin_dir = venv / "bin"
    marker = venv / "installed.txt"
    wanted = "\n".join(SNAPPASS_REQUIREMENTS)
    if marker.exists() and marker.read_text() == wanted:
        return bin_dir
    if not (bin_dir / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    result = subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "install", "--quiet", *SNAPPASS_REQUIREMENTS],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"installing snappass failed:\n{result.stdout}\n{result.stderr}")
    marker.write_text(wanted)
    return bin_dir


def gunicorn_argv(bin_dir: Path, port: int) -> list[str]:
    # One process, like every server measured; gthread workers keep connections alive like
    # uvicorn does, sync workers close every one.
    return [
        str(bin_dir / "gunicorn"),
        "--workers=1",
        "--worker-class=gthread",
        "--threads=4",
        f"--bind=127.0.0.1:{port}",
        "--access-logfile=-",
        "--no-control-socket",
        "snappass.main:app",
    ]
