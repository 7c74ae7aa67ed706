"""WSGI entry point: ``gunicorn wsgi:app``."""
from langjourney import create_app
from langjourney.ops.process import prepare_web_process

app = create_app()
prepare_web_process()
