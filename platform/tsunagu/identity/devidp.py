"""The demo's local OpenID provider: oidc-provider-mock with a demo user for each role in each preset tenant.

``make demo`` runs ``python -m tsunagu.identity.devidp serve --port 8001`` in the background and sets
``TSUNAGU_DEMO_IDP_URL=http://localhost:8001`` for the web process, which then sends every tenant's sign-in
there instead of the tenant's configured provider (``oidc.tenant_provider_config``; never in production).
The presets and the database keep their real provider settings.

Demo users are ``<role>@<the tenant's first allowed e-mail domain>`` (e.g. ``consultant@yokohama.example``),
with the claims each tenant's mapping expects: roles, and an org unit for the roles that work in one (the
Yokohama consultant in 港北区 ``kohoku``; ``consultant-tsurumi@yokohama.example`` in 鶴見区 shows the ward
boundary). The provider's sign-in page offers them as buttons; no password.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..identity.models import ROLE_LABELS_JA, Role

#: The local part of each role's demo user.
ROLE_LOCAL_PART: dict[str, str] = {
    Role.TENANT_ADMIN: "admin",
    Role.CONSULTANT: "consultant",
    Role.MUNICIPAL_STAFF: "staff",
    Role.MEETING_SECRETARIAT: "secretariat",
    Role.PROVIDER: "provider",
    Role.EXTERNAL_PARTICIPANT: "external",
    Role.AUDITOR: "auditor",
}
#: Roles whose demo user works in an org unit: every role but the tenant-wide ones (administrator, auditor),
#: which alone may be held without a unit (fail closed: no unit, no case).
UNIT_ROLES = (
    Role.CONSULTANT,
    Role.MUNICIPAL_STAFF,
    Role.PROVIDER,
    Role.MEETING_SECRETARIAT,
    Role.EXTERNAL_PARTICIPANT,
)
#: The org unit (code) of the unit-bound demo users, per tenant; the first unit of the preset otherwise.
HOME_UNIT: dict[str, str] = {
    "yokohama": "kohoku",
    "iwamizawa": "jiritsu-soudan",
    "kunitachi": "seikatsu-fukushi",
    "demo": "soudan-center",
}
#: Municipal staff work in the city's own department where the consultation is contracted out; that
#: department oversees the agency (``oversees`` in the preset), so they see and decide on its cases.
STAFF_UNIT: dict[str, str] = {"iwamizawa": "hogo", "demo": "seikatsu-shien"}
#: Extra demo users: (tenant, local part, role, org unit code).
EXTRA_USERS: tuple[tuple[str, str, str, str], ...] = (
    ("yokohama", "consultant-tsurumi", Role.CONSULTANT.value, "tsurumi"),
    # issue #20: a 地域包括支援センター user and a tax department user, members of the demo's partners
    ("demo", "houkatsu", Role.EXTERNAL_PARTICIPANT.value, "soudan-center"),
    ("demo", "zeimu", Role.EXTERNAL_PARTICIPANT.value, "seikatsu-shien"),
)


@dataclass(frozen=True)
class DemoUser:
    tenant: str
    email: str
    role: str
    org_unit: str | None
    org_unit_name: str | None
    name: str
    claims: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def sub(self) -> str:
        return self.email

    @property
    def role_label(self) -> str:
        return ROLE_LABELS_JA.get(self.role, self.role)


def _presets(directory: Path) -> list[Any]:
    from ..tenancy.presets import load_presets

    return load_presets(directory)


@functools.lru_cache(maxsize=4)
def demo_users(directory: Path | None = None) -> tuple[DemoUser, ...]:
    """Every demo user of every preset in ``directory`` (default: the repository's ``tenants/``)."""
    from ..config import REPO_ROOT

    users: list[DemoUser] = []
    for preset in _presets(directory or REPO_ROOT / "tenants"):
        idp = preset.settings["identity_provider"]
        domain = idp["allowed_email_domains"][0]
        claims_map = idp.get("claims") or {}
        units = {u.code: u.name for u in preset.org_units}
        home = HOME_UNIT.get(preset.slug) or (preset.org_units[0].code if preset.org_units else None)
        entries = [
            (local, str(role), _unit_for(preset.slug, str(role), home))
            for role, local in ROLE_LOCAL_PART.items()
        ]
        entries += [(local, role, unit) for slug, local, role, unit in EXTRA_USERS if slug == preset.slug]
        for local, role, unit in entries:
            email = f"{local}@{domain}"
            # "横浜市 相談支援員・港北区": a unit name may hold parentheses itself (…センター（委託）), and the
            # header shows this name — no parentheses inside parentheses.
            name = f"{preset.name} {ROLE_LABELS_JA.get(role, role)}" + (
                f"・{units.get(unit, unit)}" if unit else ""
            )
            claims: dict[str, Any] = {
                claims_map.get("email", "email"): email,
                "email_verified": True,
                claims_map.get("name", "name"): name,
            }
            if claims_map.get("roles"):
                claims[claims_map["roles"]] = [role]
            if unit and claims_map.get("org_unit"):
                claims[claims_map["org_unit"]] = unit
            users.append(
                DemoUser(
                    tenant=preset.slug,
                    email=email,
                    role=role,
                    org_unit=unit,
                    org_unit_name=units.get(unit) if unit else None,
                    name=name,
                    claims=claims,
                )
            )
    return tuple(users)


def _unit_for(slug: str, role: str, home: str | None) -> str | None:
    if role not in UNIT_ROLES:
        return None
    if role == Role.MUNICIPAL_STAFF:
        return STAFF_UNIT.get(slug, home)
    return home


def demo_users_for(slug: str, directory: Path | None = None) -> list[DemoUser]:
    try:
        return [u for u in demo_users(directory) if u.tenant == slug]
    except Exception:  # an invalid preset must not break the sign-in page
        return []


def provider_users(users: Iterable[DemoUser]) -> list[tuple[str, dict[str, Any]]]:
    """``(sub, claims)`` pairs for oidc-provider-mock."""
    return [(u.sub, u.claims) for u in users]


#: The demo provider's sign-in page: the demo users grouped by tenant, each with role and org unit name, as
#: buttons that post ``sub`` to the mock's own authorization endpoint (which validates the request).
_SIGN_IN_PAGE = """<!doctype html>
<html lang="ja">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>デモ用サインイン — つなぐ Tsunagu</title>
<style>
body { font-family: "Noto Sans CJK JP", sans-serif; margin: 0; color: #1d2733; background: #f7f8fa; }
main { max-width: 60rem; margin: 0 auto; padding: 1rem 1.25rem; }
section { background: #fff; border: 1px solid #dde2e8; border-radius: 8px; padding: .5rem 1rem; margin: 1rem 0; }
ul { list-style: none; padding: 0; display: grid; grid-template-columns: repeat(auto-fill, minmax(17rem, 1fr));
     gap: .5rem; }
button { font: inherit; width: 100%; text-align: left; background: #fff; border: 2px solid #0b6e4f;
         border-radius: 6px; padding: .4rem .7rem; cursor: pointer; color: #1d2733; }
button:focus-visible { outline: 3px solid #f5a623; outline-offset: 2px; }
.role { font-weight: 700; display: block; } .meta { color: #5b6675; font-size: .9em; display: block; }
</style></head>
<body><main>
<h1>デモ用サインイン <small lang="en">Demo sign-in</small></h1>
<p>パスワードは不要です。ユーザーを選んでください。/ <span lang="en">No password: pick a user.</span></p>
<form method="post">
{% for tenant, users in groups %}
<section aria-labelledby="t-{{ tenant.slug }}">
<h2 id="t-{{ tenant.slug }}">{{ tenant.name }} <small lang="en">{{ tenant.name_en }}</small></h2>
<ul>
{% for u in users %}<li><button type="submit" name="sub" value="{{ u.sub }}">
<span class="role">{{ u.role_label }}{% if u.org_unit_name %}・{{ u.org_unit_name }}{% endif %}</span>
<span class="meta">{{ u.email }}</span></button></li>
{% endfor %}</ul>
</section>
{% endfor %}
</form>
</main></body></html>
"""


@dataclass(frozen=True)
class _TenantHeading:
    slug: str
    name: str
    name_en: str


def grouped_users(directory: Path | None = None) -> list[tuple[_TenantHeading, list[DemoUser]]]:
    """The demo users by tenant (the order of the presets), for the provider's sign-in page."""
    from ..config import REPO_ROOT

    groups: list[tuple[_TenantHeading, list[DemoUser]]] = []
    users = demo_users(directory)
    for preset in _presets(directory or REPO_ROOT / "tenants"):
        mine = [u for u in users if u.tenant == preset.slug]
        if mine:
            heading = _TenantHeading(preset.slug, preset.name, str(getattr(preset, "name_en", "") or ""))
            groups.append((heading, mine))
    return groups


def provider_app(directory: Path | None = None) -> Any:
    """oidc-provider-mock with the demo users, and their sign-in page grouped by tenant."""
    import flask
    import oidc_provider_mock

    app = oidc_provider_mock.app(
        require_nonce=True,
        user_claims=[
            oidc_provider_mock.User(sub=sub, claims=claims)
            for sub, claims in provider_users(demo_users(directory))
        ],
    )
    groups = grouped_users(directory)

    @app.before_request
    def _sign_in_page() -> Any:
        # Only the page is ours: the form posts back to the same URL, where the mock validates the client,
        # the redirect URI and the nonce as before.
        if flask.request.method == "GET" and flask.request.path == "/oauth2/authorize":
            return flask.render_template_string(_SIGN_IN_PAGE, groups=groups)
        return None

    return app


def serve(port: int, host: str = "127.0.0.1") -> None:
    """Run the provider until interrupted (``make demo`` runs it in the background)."""
    from werkzeug.serving import make_server

    app = provider_app()
    server = make_server(host, port, app, threaded=True)
    print(f"demo OpenID provider listening on http://localhost:{port}/", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def wait_until_up(url: str, timeout: float = 20.0) -> bool:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url.rstrip("/") + "/.well-known/openid-configuration", timeout=2).ok:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.2)
    return False


def print_users(url: str, web_url: str) -> None:
    print(f"\nDemo OpenID provider: {url}  (sign-in: pick a user on its page; no password)")
    current = None
    for user in demo_users():
        if user.tenant != current:
            current = user.tenant
            print(f"\n  {web_url.rstrip('/')}/t/{user.tenant}/auth/login")
        unit = f"  [{user.org_unit_name}]" if user.org_unit_name else ""
        print(f"    {user.email:<42} {user.role_label} ({user.role}){unit}")
    print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tsunagu.identity.devidp", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve", help="run the demo provider")
    p_serve.add_argument("--port", type=int, default=8001)
    p_serve.add_argument("--host", default="127.0.0.1")
    p_wait = sub.add_parser("wait", help="wait until the provider answers")
    p_wait.add_argument("url")
    p_users = sub.add_parser("users", help="print the demo users")
    p_users.add_argument("url")
    p_users.add_argument("--web", default="http://127.0.0.1:8000")
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve(args.port, args.host)
        return 0
    if args.command == "wait":
        if wait_until_up(args.url):
            return 0
        print(f"the demo OpenID provider did not start at {args.url}", file=sys.stderr)
        return 1
    print_users(args.url, args.web)
    return 0


if __name__ == "__main__":
    sys.exit(main())
