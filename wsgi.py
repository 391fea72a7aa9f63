"""The WSGI entry point of a checkout: `gunicorn -c deploy/gunicorn.conf.py wsgi:app`.

An installed EP needs no file of its own: `gunicorn "ep:create_app()"`.
"""

from ep import create_app

app = create_app()
