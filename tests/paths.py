"""Where the project is, for tests that start real processes (manage.py, gunicorn, qcluster)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
