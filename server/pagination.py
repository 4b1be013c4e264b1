"""List helpers shared by the API: pagination of a SQLAlchemy select."""
from __future__ import annotations

from sqlalchemy import func, select

from .extensions import db


def paginate_query(query, pagination_parameters) -> list:
    """Run ``query`` for the requested page and record the total for the ``X-Pagination`` header."""
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    pagination_parameters.item_count = total
    page, size = pagination_parameters.page, pagination_parameters.page_size
    offset = (page - 1) * size
    if offset >= total:  # past the last page (also guards databases against huge offsets)
        return []
    return list(db.session.scalars(query.limit(size).offset(offset)).all())
