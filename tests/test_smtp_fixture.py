"""The loopback SMTP server the e-mail tests rely on really receives what Django sends."""

from django.core.mail import send_mail


def test_django_mail_reaches_the_loopback_smtp_server(smtp_server):
    sent = send_mail("满意度调查 survey", "正文 body", "bcrm@example.com", ["investor@example.com"])
    assert sent == 1
    assert len(smtp_server.messages) == 1
    msg = smtp_server.messages[0]
    assert msg["Subject"] == "满意度调查 survey"
    assert "正文 body" in msg.get_content()
    assert smtp_server.envelopes[0].rcpt_tos == ["investor@example.com"]
