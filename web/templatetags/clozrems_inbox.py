"""The unread badge on every page: the signed-in user's delivered, unread in-app reminders
(the same ones the inbox and GET /api/v1/notifications/?unread=true list)."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.simple_tag(takes_context=True)
def unread_count(context: dict[str, Any]) -> int:
    from web.selectors import inbox_of

    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return 0
    return inbox_of(user).filter(read_at__isnull=True).count()
