"""gunicorn settings for EP (`gunicorn -c deploy/gunicorn.conf.py wsgi:app`).

Values can be changed with GUNICORN_CMD_ARGS or the EP_BIND/EP_WORKERS variables.
"""

import os

bind = os.environ.get("EP_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("EP_WORKERS", "2"))
worker_class = "sync"
timeout = 30
graceful_timeout = 20
accesslog = "-"
errorlog = "-"
# the app is created once and shared by the workers (fork); engines are per process
preload_app = False
