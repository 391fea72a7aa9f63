"""gunicorn settings for EP in a checkout: `gunicorn -c deploy/gunicorn.conf.py wsgi:app`.

The settings live in the package (ep/gunicorn_conf.py), so an installed wheel has them too:
`gunicorn -c python:ep.gunicorn_conf "ep:create_app()"`. This file only brings them here.
"""

from ep.gunicorn_conf import *  # noqa: F403
