"""Error pages in the site's layout and the page's language (400, 403, 404, 405, 500).

The OmniqOperator pages keep their own plain answers (a monitor reads them), and a refusal
built as a finished response (ep.web.access's generic 403) is sent as it is. Under /api/v1
every error is problem+json: these handlers of a status code come before the API's own
handler of every HTTPException, so they answer for it there.
"""

from flask import Flask, g, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from ep.api.problems import http_problem, wants_problem

PLAIN_PREFIXES = ("/OmniqOperator",)
EXPLAINED = (400, 403, 404, 405, 500)


def _error_page(error: HTTPException):
    if wants_problem(request.path):
        return http_problem(error)
    if request.path.startswith(PLAIN_PREFIXES) or error.code not in EXPLAINED:
        return error
    if error.code == 500:
        # the database may be what failed: draw the page without asking it anything
        g.person = None
    csrf = isinstance(error, CSRFError)
    return render_template("error.html", code=error.code, csrf=csrf), error.code


def init_errors(app: Flask) -> None:
    for code in EXPLAINED:
        app.register_error_handler(code, _error_page)
    app.register_error_handler(InternalServerError, _error_page)
