"""Settings and business profile pages, for owners and operators.

The same checks as `recado tenants settings|profile` (settings_form, profile_form); every change
is audited in its own transaction, and channel secrets are never rendered, only whether each is set.
"""

from typing import Any

from flask import abort, current_app, flash, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from actors.settings_change import reschedule_after_change
from db.profiles import profile_of, profile_version, profile_versions, set_profile
from db.tenant_settings import set_setting, unset_setting
from db.tenants import Tenant
from db.users import record_audit
from domain.profile import LANGUAGES, WEEKDAYS, BusinessProfile, ProfileError, parse_profile
from domain.prompts import standing_prompt
from domain.settings import Settings
from domain.tenant_settings import describe_settings, parse_tenant_settings
from domain.tone import is_formal
from webapp.admin.access import ROLES_OWNER, admin_blueprint, tenant_view
from webapp.admin.i18n import _
from webapp.business import profile_form, settings_form
from webapp.db import transaction

blueprint = admin_blueprint("business", __name__)


@blueprint.route("/t/<slug>/settings", methods=["GET", "POST"])
@tenant_view(ROLES_OWNER)
def settings(tenant: Tenant) -> str | Response | tuple[str, int]:
    if request.method == "GET":
        return _settings_page(tenant, settings_form.fields(tenant.settings))
    submitted = settings_form.read_submission(request.form, tenant.settings)
    if submitted.errors:
        page = settings_form.fields(tenant.settings, submitted.texts, submitted.errors)
        return _settings_page(tenant, page), 400
    if not submitted.changes:
        flash(_("Nothing changed."))
        return redirect(url_for("business.settings", slug=tenant.slug))
    runtime_settings: Settings = current_app.extensions["recado.settings"]
    with transaction() as conn:
        for key, value in submitted.changes.items():
            if value is None:
                unset_setting(conn, tenant.id, key)
            else:
                set_setting(conn, tenant.id, key, value)
        # As the CLI does: what already waits follows the new values.
        reschedule_after_change(conn, tenant.id, submitted.changes, runtime_settings.redis_url)
        record_audit(
            conn,
            tenant_id=tenant.id,
            user_id=_user_id(),
            action="settings.update",
            target=tenant.slug,
            details={"changes": submitted.changes},
        )
    flash(_("Settings saved: {keys}.", keys=", ".join(submitted.changes)))
    return redirect(url_for("business.settings", slug=tenant.slug))


def _settings_page(tenant: Tenant, fields: list[settings_form.SettingField]) -> str:
    try:
        parse_tenant_settings(tenant.settings)
        invalid = None
    except ValueError as error:
        invalid = str(error)
    known = {field.key for field in fields}
    # Stored keys this version does not know: shown, for `recado tenants settings unset`.
    extra = [view for view in describe_settings(tenant.settings) if view.key not in known]
    channel = {
        _("Access token (sends messages)"): bool(tenant.wa_access_token),
        _("App secret (checks webhook signatures)"): bool(tenant.wa_app_secret),
        _("Verify token (webhook handshake)"): bool(tenant.wa_verify_token),
    }
    return render_template(
        "business/settings.html",
        tenant=tenant,
        fields=fields,
        extra=extra,
        invalid=invalid,
        channel=channel,
    )


@blueprint.route("/t/<slug>/profile", methods=["GET", "POST"])
@tenant_view(ROLES_OWNER)
def profile(tenant: Tenant) -> str | Response | tuple[str, int]:
    if request.method == "GET":
        with transaction() as conn:
            stored = profile_of(conn, tenant.id)
        values = profile_form.form_values(stored, tenant.name)
        return _profile_page(tenant, stored, values, {})
    submitted = profile_form.read_submission(request.form, tenant.name)
    if submitted.profile is None:
        with transaction() as conn:
            stored = profile_of(conn, tenant.id)
        return _profile_page(tenant, stored, submitted.values, submitted.errors), 400
    with transaction() as conn:
        if profile_of(conn, tenant.id) == submitted.profile:
            flash(_("Nothing changed."))
            return redirect(url_for("business.profile", slug=tenant.slug))
        version = set_profile(conn, tenant.id, submitted.profile)
        record_audit(
            conn,
            tenant_id=tenant.id,
            user_id=_user_id(),
            action="profile.save",
            target=tenant.slug,
            details={"version": version},
        )
    flash(_("Profile saved as version {version}.", version=version))
    return redirect(url_for("business.profile", slug=tenant.slug))


@blueprint.post("/t/<slug>/profile/versions/<int:version>/restore")
@tenant_view(ROLES_OWNER)
def restore(tenant: Tenant, version: int) -> Response:
    with transaction() as conn:
        old = profile_version(conn, tenant.id, version)
        if old is None:
            abort(404)
        if old.profile is None:
            flash(_("Version {version} is a cleared profile: nothing to restore.", version=version))
            return redirect(url_for("business.profile", slug=tenant.slug))
        try:
            parse_profile(old.profile, default_name=tenant.name)
        except ProfileError as error:
            flash(_("Version {version} is invalid: {error}", version=version, error=str(error)))
            return redirect(url_for("business.profile", slug=tenant.slug))
        saved = set_profile(conn, tenant.id, old.profile, restored_from=version)
        record_audit(
            conn,
            tenant_id=tenant.id,
            user_id=_user_id(),
            action="profile.restore",
            target=tenant.slug,
            details={"version": saved, "restored_from": version},
        )
    flash(_("Version {old} restored as version {new}.", old=version, new=saved))
    return redirect(url_for("business.profile", slug=tenant.slug))


def _profile_page(
    tenant: Tenant, stored: dict[str, Any] | None, values: dict[str, str], errors: dict[str, str]
) -> str:
    current, invalid = _parsed(stored, tenant.name)
    with transaction() as conn:
        versions = profile_versions(conn, tenant.id)
    return render_template(
        "business/profile.html",
        tenant=tenant,
        has_profile=stored is not None,
        invalid=invalid,
        values=values,
        errors=errors,
        weekdays=WEEKDAYS,
        languages=LANGUAGES,
        formal=None if current is None else is_formal(current),
        preview=None if current is None else standing_prompt(current, current.language),
        versions=[(v, _summary(v.profile, tenant.name)) for v in versions],
    )


def _parsed(
    stored: dict[str, Any] | None, default_name: str
) -> tuple[BusinessProfile | None, str | None]:
    """The stored profile parsed, or why it does not parse (saved by other means than a form)."""
    if stored is None:
        return None, None
    try:
        return parse_profile(stored, default_name=default_name), None
    except ProfileError as error:
        return None, str(error)


def _summary(stored: dict[str, Any] | None, default_name: str) -> str:
    if stored is None:
        return _("cleared: assistant off")
    try:
        parsed = parse_profile(stored, default_name=default_name)
    except ProfileError as error:
        return _("invalid: {error}", error=str(error))
    return _(
        "{name}: {services} services, {faq} FAQ entries, time zone {zone}",
        name=parsed.name,
        services=len(parsed.services),
        faq=len(parsed.faq),
        zone=parsed.timezone,
    )


def _user_id() -> int:
    user_id: int = g.user.id
    return user_id
