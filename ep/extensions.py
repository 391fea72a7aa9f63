"""Flask extensions, created unbound and initialised in create_app."""

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from ep.models import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
babel = Babel()
csrf = CSRFProtect()
# every limit names its own key (ep.web.ratelimit: per client address, per person);
# the default key is only a fallback. Storage and strategy are set in ep.web.ratelimit.
limiter = Limiter(key_func=get_remote_address)
