"""WSGI entry point for gunicorn: ``gunicorn 'counselor_app.wsgi:app'``."""

from counselor_app import create_app

app = create_app()
