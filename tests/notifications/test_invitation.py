"""Pre-registering a user: the administrator's invitation page, the invitation e-mail through the outbox and a
real SMTP server, and the first sign-in by that e-mail address linking the account with its roles and units."""

from __future__ import annotations

from sqlalchemy import select

from tests.notifications.conftest import PUBLIC_URL, body_text
from tests.notifications.test_email import drain
from tests.web.conftest import DOMAIN, org_unit
from tsunagu.core.session import transaction
from tsunagu.identity.models import Membership, User
from tsunagu.notifications.models import Notification


def test_an_invited_user_gets_one_email_and_signs_in_with_the_roles_and_unit_given_beforehand(
    runtime, inline, yokohama, act_as, app, smtp_server
):
    from tests.support.oidc import sign_in

    admin = act_as(yokohama, ["tenant_admin"], name="管理 花子")
    kohoku = org_unit(runtime, yokohama, "kohoku")
    assert kohoku is not None
    page = admin.get("/admin/users/invite")
    assert page.status_code == 200 and 'name="email"' in page.get_data(as_text=True)

    # Mistakes are answered on the page with what was typed kept.
    refused = admin.post(
        "/admin/users/invite", {"email": "not-an-address", "display_name": "新人 一郎", "roles": "consultant"}
    )
    text = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "not a valid e-mail address" in text and "新人 一郎" in text
    no_unit = admin.post("/admin/users/invite", {"email": f"newcomer@{DOMAIN}", "roles": "consultant"})
    assert no_unit.status_code == 422 and "need an org unit" in no_unit.get_data(as_text=True)
    outside = admin.post(
        "/admin/users/invite",
        {"email": "newcomer@elsewhere.example", "roles": "consultant", "units": str(kohoku.id)},
    )
    assert outside.status_code == 422 and "allowed domains" in outside.get_data(as_text=True)

    done = admin.post(
        "/admin/users/invite",
        {
            "email": f"NewComer@{DOMAIN}",  # addresses are compared in lower case, as sign-in does
            "display_name": "新人 一郎",
            "roles": ["consultant", "auditor"],
            "units": str(kohoku.id),
        },
    )
    assert done.status_code == 302
    with transaction(runtime.sessions, yokohama.id) as session:
        user = session.execute(select(User).where(User.email == f"newcomer@{DOMAIN}")).scalar_one()
        assert user.issuer is None and user.subject is None
        held = {
            m.org_unit_id: sorted(m.roles)
            for m in session.execute(select(Membership)).scalars()
            if m.user_id == user.id
        }
        kinds = [n.kind for n in session.execute(select(Notification)).scalars() if n.recipient_id == user.id]
    assert held == {kohoku.id: ["consultant"], None: ["auditor"]}
    assert kinds == ["user.invitation"]
    shown = admin.get(done.headers["Location"].removeprefix(f"/t/{yokohama.slug}")).get_data(as_text=True)
    assert 'id="not-signed-in"' in shown
    again = admin.post("/admin/users/invite", {"email": f"newcomer@{DOMAIN}", "roles": "auditor"})
    assert again.status_code == 422 and "already registered" in again.get_data(as_text=True)

    drain(inline)
    messages = smtp_server.recorder.messages()
    assert len(messages) == 1
    mail = body_text(messages[0])
    assert str(messages[0]["To"]) == f"newcomer@{DOMAIN}"
    assert "招待" in str(messages[0]["Subject"]) and f"{PUBLIC_URL}/t/yokohama/inbox" in mail

    # First sign-in by that address: the provider's (issuer, sub) is linked to the row, the roles kept
    # (the test provider sends no roles claim for this user).
    client = app.test_client()
    sign_in(
        client, "", yokohama.slug, f"newcomer@{DOMAIN}", sub="idp-subject-123", claims={"name": "新人 一郎"}
    )
    with transaction(runtime.sessions, yokohama.id) as session:
        linked = session.get(User, (yokohama.id, user.id))
        assert linked is not None and linked.subject == "idp-subject-123"
        count = len(session.execute(select(User).where(User.email == f"newcomer@{DOMAIN}")).all())
    assert count == 1
    assert client.get("/t/yokohama/inbox").status_code == 200
