"""Small things users notice: what anonymous visitors of a tenant page see, labels instead of raw ids, the
administration entry in the header, dates in English with month and day."""

from __future__ import annotations

from datetime import date


def test_anonymous_visitors_of_the_tenant_page_see_no_meeting_style_and_no_org_units(client, yokohama):
    page = client.get("/t/yokohama/").get_data(as_text=True)
    assert "横浜市" in page
    for hidden in ("hybrid", "会議方式", "港北区", "kohoku", "組織"):
        assert hidden not in page, hidden


def test_signed_in_staff_see_the_meeting_style_as_a_label_and_unit_names_without_codes(act_as, yokohama):
    staff = act_as(yokohama, ["consultant"])
    page = staff.get("/").get_data(as_text=True)
    assert "会議方式: 併用（定例と随時）" in page and "hybrid" not in page
    assert "港北区" in page and "kohoku" not in page


def test_the_header_offers_the_administration_only_to_those_who_may(act_as, yokohama):
    admin = act_as(yokohama, ["tenant_admin"])
    consultant = act_as(yokohama, ["consultant"])
    assert 'href="/t/yokohama/admin/users"' in admin.get("/inbox").get_data(as_text=True)
    assert "/admin/users" not in consultant.get("/inbox").get_data(as_text=True)


def test_timeline_messages_and_dates_read_as_words(app):
    with app.test_request_context("/?lang=en"):
        env = app.jinja_env
        title = env.from_string("{{ message_label('meeting_decided') }}").render()
        when = env.from_string("{{ d|dual_date('en') }}").render(d=date(2026, 12, 3))
    assert title == "Meeting decision received"
    assert when == "3 Dec 2026 (Reiwa 8)"
    with app.test_request_context("/"):
        assert (
            app.jinja_env.from_string("{{ message_label('meeting_decided') }}").render() == "会議の決定を受信"
        )
