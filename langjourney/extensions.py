"""Extension objects, created unbound; :func:`langjourney.create_app` binds them."""
from flask_babel import Babel
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from langjourney.db import ENGINE_OPTIONS, Base, render_item

db = SQLAlchemy(model_class=Base, engine_options=ENGINE_OPTIONS)  # the config's options add to these
migrate = Migrate(compare_type=True, render_as_batch=True, render_item=render_item)
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
