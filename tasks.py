"""Safe Share's task runner: `python tasks.py dev | test | migrate | worker | bench | i18n`.

`i18n` extracts every translatable string (babel.cfg), updates locales/*/messages.po and lists
what still needs a translator; `i18n --init xx` starts a catalogue for a new language.

Needs only Python 3.11+ and pip: it makes .venv and installs the project into it the first
time (and again whenever pyproject.toml changes).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PYTHON = VENV / "bin" / "python"


def ensure_venv(extras: str) -> None:
    if not PYTHON.exists():
        venv.create(VENV, with_pip=True)
    stamp = VENV / f".installed-{extras}"
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == wanted:
        return
    subprocess.run([str(PYTHON), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
    subprocess.run(
        [str(PYTHON), "-m", "pip", "install", "-q", "-e", f".[{extras}]"], check=True, cwd=ROOT
    )
    stamp.write_text(wanted)


def run(*args: str) -> int:
    return subprocess.run([str(PYTHON), *args], cwd=ROOT, check=False).returncode


def dev() -> int:
    ensure_venv("dev")
    return run("-m", "app.devserver")


def test(pytest_args: list[str]) -> int:
    ensure_venv("test")
    for step in (("-m", "ruff", "check", "."), ("-m", "mypy")):
        print("$", " ".join(step), flush=True)
        if code := run(*step):
            return code
    print("$ pytest", " ".join(pytest_args), flush=True)
    return run("-m", "pytest", *pytest_args)


def main(argv: list[str]) -> int:
    task = argv[0] if argv else "help"
    rest = argv[1:]
    if task == "dev":
        return dev()
    if task == "test":
        return test(rest)
    if task == "migrate":
        ensure_venv("dev")
        return run("-m", "app.db.migrate")
    if task == "worker":
        ensure_venv("dev")
        return run("-m", "app.worker")
    if task == "i18n":
        ensure_venv("dev")
        return run("-m", "app.catalogues", *rest)
    if task == "bench":
        ensure_venv("test,bench")
        return run("-m", "benchmarks.run", *rest)
    print(__doc__)
    return 0 if task == "help" else 2


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main(sys.argv[1:]))
