"""Server-side HTML: one Jinja2 environment, autoescaped, with the few filters pages share."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import ChainableUndefined, Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from appliance.clinical import alerts as clinical_alerts
from appliance.clinical import due as clinical_due
from appliance.domain import permissions
from appliance.domain.encounters import DIAGNOSES
from appliance.web import labels
from appliance.web.assets import static_url
from appliance.web.i18n import age_text, dmy

if TYPE_CHECKING:
    from appliance.web.core import Web

TEMPLATES = Path(__file__).parent / "templates"


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "svg"]),
        undefined=ChainableUndefined,  # an optional key left out renders as nothing
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["dmy"] = dmy
    env.globals["labels"] = labels
    env.globals["labels_diagnoses"] = DIAGNOSES
    env.globals["permissions"] = permissions
    env.globals["static_url"] = static_url  # content-hashed names, cached for a year
    return env


def render(template: str, *, web: Web, **values: Any) -> str:
    from appliance.web.disk import disk_text
    from appliance.web.routes.library import job_aid_lookup
    from appliance.web.routes.power import page_power

    t = web.t
    problem = web.disk_problem
    return (
        environment()
        .get_template(template)
        .render(
            web=web,
            actor=web.actor,
            lang=web.lang,
            csrf=web.csrf,
            disk=disk_text(problem, t) if problem is not None else None,
            _=t,
            age=lambda days: age_text(days, t),
            # what the logged-in role may open: the menu and the home page offer nothing else
            may=lambda permission: (
                web.actor is not None and permissions.allowed(web.actor.role, permission)
            ),
            label=lambda key: t(labels.label(key)),
            # the clinical engine's French reasons and actions, in the page's language (the
            # kiosk renders them with the same functions)
            alert_reason=lambda a: clinical_alerts.reason_text(a, t),
            alert_action=lambda a: clinical_alerts.action_text(a, t),
            due_reason=lambda i: clinical_due.reason_text(i, t),
            job_aid=job_aid_lookup(web),  # the library's job aid of an alert, if any
            svg=Markup,  # charts are built by appliance.web.charts, which escapes every label
            # the power banner is part of whole pages; partials (htmx) carry none
            power=values.pop("power", None) if template.startswith("_") else page_power(web),
            **values,
        )
    )
