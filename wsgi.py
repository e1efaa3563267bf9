"""WSGI entry point: `gunicorn wsgi:app` (production reads APP_ENV=prod and the environment)."""
from lti_tool import create_app

app = create_app()
