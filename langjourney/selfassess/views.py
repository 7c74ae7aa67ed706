"""The self-assessment steps."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("selfassess", __name__, url_prefix="/self-assessment")
