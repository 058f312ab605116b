"""The survey link on a phone, in real Chromium: open it, switch to 中文, answer, see the thank-you page."""

import re

import pytest

from bcrm.engagement.models import SurveyResponse
from bcrm.surveys import services
from tests.browsing import BROWSER_MARKS, TIMEOUT_MS
from tests.factories import make_contact, make_org, make_team, make_user

pytestmark = BROWSER_MARKS


@pytest.fixture
def invitation_link(transactional_db, mailoutbox):
    team = make_team("Energy Desk")
    rm = make_user("rm.survey", "relationship_manager", team=team)
    org = make_org(legal_name="Huaneng Capital Co., Ltd.", local_name="华能资本服务有限公司", team=team)
    contact = make_contact(org, full_name="Zhang Min", local_name="张敏", language="en", email="zhang@hn.example")
    result = services.survey_invite(actor=rm, contacts=[contact])
    assert services.survey_send(actor=rm, invitations=result.invitations)[0].sent
    path = re.search(r"https?://[^/\s]+(/s/[A-Za-z0-9_-]+/)", mailoutbox[0].body).group(1)
    return contact, path


def test_answer_the_survey_on_a_phone_in_chinese(live_server, browser, invitation_link, tmp_path):
    contact, path = invitation_link
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                  has_touch=True, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(live_server.url + path)
    assert "How likely are you to recommend us" in page.inner_text("main")  # the invitation's language
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the phone

    page.click("a[hreflang=zh-Hans]")
    page.wait_for_url("**?lang=zh-hans")
    assert path in page.url  # the switch keeps the token
    assert page.evaluate("document.documentElement.lang") == "zh-Hans"
    assert "您向同事或合作伙伴推荐我们的可能性有多大" in page.inner_text("main")

    nine = page.locator(".nps-scale label.score", has_text=re.compile(r"^\s*9\s*$"))
    box = nine.bounding_box()
    assert box["height"] >= 44 and box["width"] >= 44  # a thumb-sized target
    nine.click()
    page.locator(".csat-scale label.score", has_text="满意").filter(has_text="4").click()
    assert page.is_checked("input[name=nps][value='9']") and page.is_checked("input[name=csat][value='4']")
    page.fill("textarea[name=comment]", "项目进展报告很及时。")
    page.screenshot(path=str(tmp_path / "survey_form_390x844.png"), full_page=True)
    page.click("button.survey-submit")
    page.wait_for_url("**/s/thanks/**")
    text = page.inner_text("main")
    assert "感谢您的回答" in text
    page.screenshot(path=str(tmp_path / "survey_thanks_390x844.png"), full_page=True)
    assert (tmp_path / "survey_thanks_390x844.png").stat().st_size > 0

    response = SurveyResponse.objects.get()
    assert (response.contact_id, response.nps, response.csat, response.comment) == (contact.pk, 9, 4, "项目进展报告很及时。")

    # The same link again: already answered, in the language chosen on the page.
    page.goto(live_server.url + path + "?lang=zh-hans")
    assert "本次调查已作答" in page.inner_text("main")
    context.close()
