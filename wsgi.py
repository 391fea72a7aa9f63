"""The WSGI entry point of a checkout: `gunicorn -c deploy/gunicorn.conf.py wsgi:app`.

A configuration problem stops the web server with its one line, not a stack trace. An
installed EP needs no file of its own: `gunicorn -c python:ep.gunicorn_conf "ep:create_app()"`.
"""

import sys

from ep import create_app
from ep.config import ConfigError, check_citizen_login

try:
    app = create_app()
    check_citizen_login(app.config["EP"])
except ConfigError as exc:
    sys.exit(f"EP cannot start: {exc}")
