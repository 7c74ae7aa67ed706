"""WSGI entry point: ``gunicorn wsgi:app``."""
from langjourney import create_app

app = create_app()
