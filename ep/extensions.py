"""Flask extensions, created unbound and initialised in create_app.

Only ``db`` is made when this module is imported. The others are made when first imported
from here (the module ``__getattr__`` below): Flask-Migrate imports alembic and mako, and
Babel, CSRF protection and the limiter serve only the pages. The `ep` command (a monitor
runs `ep check` every minute, a scheduler the batches) thus pays for none of them.
"""

from typing import TYPE_CHECKING

from flask_sqlalchemy import SQLAlchemy

from ep.models import Base

if TYPE_CHECKING:
    from flask_babel import Babel
    from flask_limiter import Limiter
    from flask_migrate import Migrate
    from flask_wtf import CSRFProtect

    migrate: Migrate
    babel: Babel
    csrf: CSRFProtect
    limiter: Limiter

db = SQLAlchemy(model_class=Base)


def __getattr__(name: str) -> object:
    """Make ``migrate``, ``babel``, ``csrf`` or ``limiter`` on first use, importing its
    library only then (the laziness is the point: see the module's docstring)."""
    if name == "migrate":
        from flask_migrate import Migrate

        extension: object = Migrate()
    elif name == "babel":
        from flask_babel import Babel

        extension = Babel()
    elif name == "csrf":
        from flask_wtf import CSRFProtect

        extension = CSRFProtect()
    elif name == "limiter":
        from flask_limiter import Limiter
        from flask_limiter.util import get_remote_address

        # every limit names its own key (ep.web.ratelimit: per client address, per
        # person); the default key is only a fallback. Storage and strategy are set in
        # ep.web.ratelimit.
        extension = Limiter(key_func=get_remote_address)
    else:
        raise AttributeError(f"module 'ep.extensions' has no attribute {name!r}")
    globals()[name] = extension  # made once: later imports find it without asking here
    return extension
