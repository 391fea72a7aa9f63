"""The resident's pages (/): offers, orders, results, inbox, settings."""

from flask import Blueprint, render_template
from sqlalchemy import select

from ep.extensions import db
from ep.models import Package

bp = Blueprint("citizen", __name__)


@bp.get("/")
def start():
    """The start page: what EP is and the packages anyone eligible can order."""
    packages = db.session.scalars(
        select(Package).where(Package.active, Package.generally_available).order_by(Package.code)
    ).all()
    return render_template("citizen/start.html", packages=packages)
