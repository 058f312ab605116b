"""Text the system writes, rendered in the reader's language when it is shown (not when it is written).

One mechanism for all of it, the one the analysis notes already use: what is stored is the English
message id (the *code*, marked with ``gettext_noop`` where it is defined) and its parameters,
``{"template": ..., "params": {...}}``; a page, an API response or a command renders it with
:func:`render` in the language active for that reader (the request's language, ``--language``).

- a parameter may itself be such a text (rendered in the same language), or a list of them (joined);
- numbers among the parameters are formatted for the reader's locale (thousand separators);
- :func:`shipped` renders a value the system wrote into a field people may also edit (a default
  playbook's description, the default calendar's name): a value still equal to one of the registered
  codes is translated, anything a person typed is shown as typed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext, gettext_noop

__all__ = ["text", "render", "render_params", "register_shipped", "shipped", "shown_as", "gettext_noop"]

#: Codes the system writes into editable fields (see :func:`shipped`).
SHIPPED: set[str] = set()


def text(template: str, **params: Any) -> dict[str, Any]:
    """A text to store: its code (the English message id) and its parameters, plus the English rendering
    under ``message`` for logs and anything that cannot render (the same shape the analysis notes use)."""
    from django.utils import translation

    with translation.override("en"):
        message = render(template, params)
    return {"template": template, "params": params, "message": message}


def _param(value: Any) -> Any:
    from bcrm.core.formatting import number

    if isinstance(value, Mapping) and "template" in value:
        return render(value["template"], value.get("params") or {})
    if isinstance(value, list | tuple):
        return gettext(", ").join(str(_param(v)) for v in value) if value else "—"
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float | Decimal):
        return number(value)
    return value


def render_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    return {key: _param(value) for key, value in (params or {}).items()}


def render(template: str | Mapping[str, Any], params: Mapping[str, Any] | None = None) -> str:
    """The text in the active language: ``gettext(template) % params`` with each parameter rendered too.
    Accepts a stored ``{"template", "params"}`` as well. A catalogue entry whose placeholders do not match
    falls back to the English template rather than failing the page."""
    if isinstance(template, Mapping):
        params, template = template.get("params") or {}, str(template.get("template") or "")
    if not template:
        return ""
    values = render_params(params)
    translated = gettext(template)
    if not values:
        return translated
    try:
        return translated % values
    except (KeyError, TypeError, ValueError):
        try:
            return template % values
        except (KeyError, TypeError, ValueError):
            return template


_TRANSLATED: dict[str, str] = {}   # a registered code's translation in any language → the code


def register_shipped(codes: Iterable[str]) -> None:
    SHIPPED.update(str(c) for c in codes)
    _TRANSLATED.clear()


def _code_of(value: str) -> str | None:
    """The registered code ``value`` is, or is the translation of (rows written before the codes were kept
    were written in the writer's language)."""
    if value in SHIPPED:
        return value
    if not _TRANSLATED and SHIPPED:
        from django.conf import settings
        from django.utils import translation

        for language, _name in settings.LANGUAGES:
            with translation.override(language):
                for code in SHIPPED:
                    _TRANSLATED.setdefault(gettext(code), code)
    return _TRANSLATED.get(value)


def shipped(value: str | None) -> str:
    """A field value the system may have written from a registered code: translated while it is one."""
    if not value:
        return value or ""
    code = _code_of(value)
    return gettext(code) if code is not None else value


def shown_as(value: str | None, submitted: str | None) -> bool:
    """Whether ``submitted`` is the stored ``value`` as some reader saw it (a form sent back unchanged in any
    language), so a shipped code is not replaced by one language's rendering of it."""
    from django.conf import settings
    from django.utils import translation

    submitted = (submitted or "").strip()
    if submitted == (value or ""):
        return True
    code = _code_of(value or "")
    if code is None:
        return False
    for language, _name in settings.LANGUAGES:
        with translation.override(language):
            if gettext(code) == submitted:
                return True
    return False
