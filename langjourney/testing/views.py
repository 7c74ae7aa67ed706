"""The placement test in the web."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("testing", __name__, url_prefix="/test")
