"""The baseline for bench/healthcheck.py: a bare Flask route returning OK."""

from flask import Flask

app = Flask(__name__)


@app.get("/OmniqOperator/Operator/HealthCheckStatus")
def ok():
    return "OK", 200, {"Content-Type": "text/plain; charset=utf-8"}
