"""Error pages in the site's layout and the page's language (400, 403, 404, 405, 500).

The OmniqOperator pages keep their own plain answers (a monitor reads them; ep.web.access
refuses there with a plain 403), and a part with answers of its own (the API's
problem+json) names its paths with ``answer_errors``.
"""

from collections.abc import Callable

from flask import Flask, current_app, g, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

PLAIN_PREFIXES = ("/OmniqOperator",)
EXPLAINED = (400, 403, 404, 405, 500)


ErrorAnswer = Callable[[HTTPException], object]


def answer_errors(app: Flask, owns: Callable[[str], bool], answer: ErrorAnswer) -> None:
    """Let ``answer`` give the error answers for every path ``owns`` says is its own."""
    app.extensions.setdefault("ep_error_answers", []).append((owns, answer))


def _error_page(error: HTTPException):
    for owns, answer in current_app.extensions.get("ep_error_answers", ()):
        if owns(request.path):
            return answer(error)
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
