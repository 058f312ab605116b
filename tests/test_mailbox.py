"""One mail configuration for the web server, the worker and the CLI (issue 13).

Without EMAIL_HOST every process writes each message as one RFC 822 .eml file into <data>/outbox (the demo used
to switch the worker alone to Django's file back end, so sending a survey from the demo's web UI failed with
"Connection refused"); with EMAIL_HOST, SMTP. Links in e-mails point at the host and port actually served."""

from __future__ import annotations

import email
import email.policy
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.core import mail

from bcrm.core.mailbox import EmlFileBackend
from tests.factories import make_contact

ROOT = Path(__file__).resolve().parent.parent
EML = re.compile(r"^\d{8}-\d{6}-\d{6}-[0-9a-f]{32}\.eml$")
OUTBOX_BACKEND = "bcrm.core.mailbox.EmlFileBackend"


def fresh_process(tmp_path, code: str, *args: str, **env: str) -> str:
    """Run ``code`` in a new Python process (settings read afresh from the environment), as `bcrm` would."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("EMAIL_", "BCRM_BASE_URL", "DATABASE_URL"))}
    clean.update({"BCRM_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "bcrm.settings", **env})
    return subprocess.run([sys.executable, "-c", code, *args], env=clean, capture_output=True, text=True, cwd=ROOT,
                          check=True, timeout=120).stdout.strip()


PRINT_MAIL = ("import django; django.setup(); from django.conf import settings as s; "
              "print(s.EMAIL_BACKEND, s.EMAIL_FILE_PATH, s.BCRM_BASE_URL)")


# The back end ------------------------------------------------------------------------------------------------


def test_a_message_becomes_exactly_one_parseable_eml_file(tmp_path, settings):
    settings.EMAIL_BACKEND = OUTBOX_BACKEND
    settings.EMAIL_FILE_PATH = str(tmp_path / "outbox")
    message = mail.EmailMultiAlternatives("Your survey · 满意度调查", "Plain body, 中文正文.", "bcrm <noreply@localhost>",
                                          ["lisa.chen@huaneng.example"])
    message.attach_alternative("<p>HTML body</p>", "text/html")
    message.attach("report.pdf", b"%PDF-1.7 fake", "application/pdf")
    assert message.send() == 1
    files = list((tmp_path / "outbox").iterdir())
    assert len(files) == 1 and EML.match(files[0].name), files
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "outbox").stat().st_mode) == 0o700
    parsed = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert parsed["To"] == "lisa.chen@huaneng.example" and parsed["Subject"] == "Your survey · 满意度调查"
    assert parsed["Message-ID"] and parsed["Date"]
    assert "中文正文" in parsed.get_body(("plain",)).get_content()
    assert "<p>HTML body</p>" in parsed.get_body(("html",)).get_content()
    attachment = next(parsed.iter_attachments())
    assert attachment.get_filename() == "report.pdf" and attachment.get_content() == b"%PDF-1.7 fake"


def test_each_message_of_a_batch_gets_its_own_file(tmp_path):
    backend = EmlFileBackend(file_path=tmp_path)
    messages = [mail.EmailMessage(f"n{i}", "body", "a@example.com", [f"to{i}@example.com"]) for i in range(5)]
    messages.append(mail.EmailMessage("nobody", "body", "a@example.com", []))  # no recipient: nothing to write
    assert backend.send_messages(messages) == 5
    files = sorted(tmp_path.glob("*.eml"))
    assert len(files) == 5 and len({f.name for f in files}) == 5
    assert sorted(email.message_from_bytes(f.read_bytes())["Subject"] for f in files) == [f"n{i}" for i in range(5)]
    assert not list(tmp_path.glob("*.tmp"))


def test_an_outbox_that_is_not_a_folder_fails_loudly_unless_silent(tmp_path):
    blocker = tmp_path / "outbox"
    blocker.write_text("a file, not a folder")
    message = mail.EmailMessage("s", "b", "a@example.com", ["b@example.com"])
    with pytest.raises(Exception, match="not a folder"):
        EmlFileBackend(file_path=blocker).send_messages([message])
    assert EmlFileBackend(file_path=blocker, fail_silently=True).send_messages([message]) == 0


# One configuration, decided in settings ------------------------------------------------------------------------


def test_without_email_host_every_process_writes_to_the_outbox(tmp_path):
    backend, folder, _base = fresh_process(tmp_path, PRINT_MAIL).split()
    assert backend == OUTBOX_BACKEND and folder == str(tmp_path / "outbox")
    backend, _folder, _base = fresh_process(tmp_path, PRINT_MAIL, EMAIL_HOST="smtp.example.com").split()
    assert backend == "django.core.mail.backends.smtp.EmailBackend"
    # an explicit outbox folder is honoured
    assert fresh_process(tmp_path, PRINT_MAIL, EMAIL_FILE_PATH=str(tmp_path / "mails")).split()[1] == str(
        tmp_path / "mails")


def test_the_cli_writes_a_message_to_the_outbox_in_a_fresh_process(tmp_path):
    """What `bcrm survey send` or `bcrm report progress --send` do without a mail server: an .eml file."""
    code = ("import django; django.setup(); from django.core.mail import send_mail; "
            "print(send_mail('Hello', 'Body', None, ['x@example.com']))")
    assert fresh_process(tmp_path, code) == "1"
    files = list((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 1 and email.message_from_bytes(files[0].read_bytes())["To"] == "x@example.com"


@pytest.fixture
def fake_server(monkeypatch):
    """`bcrm serve` without gunicorn and without a worker process: records the worker's command and the
    environment it would start with (a copy of this process's environment at that moment)."""
    import gunicorn.app.base

    started: dict[str, object] = {}

    real_popen = subprocess.Popen

    class FakeWorker:
        pid = 4242

        def terminate(self):
            pass

    def popen(args, **kwargs):
        if args[-1] != "worker":
            return real_popen(args, **kwargs)
        started["args"], started["env"] = args, dict(kwargs.get("env") or os.environ)
        return FakeWorker()

    monkeypatch.setattr(subprocess, "Popen", popen)
    monkeypatch.setattr(gunicorn.app.base.BaseApplication, "run", lambda self: started.setdefault("served", True))
    monkeypatch.delenv("BCRM_BASE_URL", raising=False)
    monkeypatch.setenv("BCRM_BASE_URL", "")  # restored (removed) after the test by monkeypatch
    return started


def test_serve_and_its_worker_share_one_mail_configuration_and_links_name_the_served_port(
        tmp_path, settings, fake_server, monkeypatch):
    from django.core.management import call_command

    settings.BCRM_BASE_URL = "http://127.0.0.1:8000"  # restored after the test
    for name in ("EMAIL_HOST", "EMAIL_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    with open(os.devnull, "w") as devnull:
        call_command("serve", port=8123, with_worker=True, stdout=devnull)
    assert fake_server["served"] and "worker" in fake_server["args"]
    from django.conf import settings as live

    assert live.BCRM_BASE_URL == "http://127.0.0.1:8123"  # the web server's own links
    env = fake_server["env"]
    assert env["BCRM_BASE_URL"] == "http://127.0.0.1:8123" and "EMAIL_BACKEND" not in env
    # the worker, started with that environment, reads the same configuration as a web process
    env = {k: v for k, v in env.items() if k not in {"DJANGO_SETTINGS_MODULE", "BCRM_DATA_DIR"}}
    worker = fresh_process(tmp_path, PRINT_MAIL, **{**env, "BCRM_DATA_DIR": str(tmp_path)}).split()
    web = fresh_process(tmp_path, "import bcrm.wsgi; " + PRINT_MAIL,
                        **{**env, "BCRM_DATA_DIR": str(tmp_path)}).split()
    assert worker == web == [OUTBOX_BACKEND, str(tmp_path / "outbox"), "http://127.0.0.1:8123"]


def test_an_explicit_base_url_wins_over_the_served_port(settings, fake_server, monkeypatch):
    from django.core.management import call_command

    settings.BCRM_BASE_URL = "https://crm.bank.example"
    monkeypatch.setenv("BCRM_BASE_URL", "https://crm.bank.example")
    with open(os.devnull, "w") as devnull:
        call_command("serve", port=8124, host="0.0.0.0", stdout=devnull)
    from django.conf import settings as live

    assert live.BCRM_BASE_URL == "https://crm.bank.example"


def test_served_base_url_names_an_address_a_browser_can_open():
    from bcrm.web.management.commands.serve import served_base_url

    assert served_base_url("0.0.0.0", 9000) == "http://127.0.0.1:9000"
    assert served_base_url("localhost", 8001) == "http://localhost:8001"
    assert served_base_url("::1", 8002) == "http://[::1]:8002"


@pytest.mark.django_db
def test_a_survey_sent_from_the_web_ui_lands_in_the_outbox_with_a_link_on_the_served_port(
        tmp_path, settings, fake_server, rm, org):
    """The new user's path: `bcrm demo --port 8123`, then "Send survey" on a client page."""
    from django.core.management import call_command
    from django.test import Client

    from bcrm.surveys.models import SurveyInvitation

    settings.BCRM_BASE_URL = "http://127.0.0.1:8000"
    settings.EMAIL_BACKEND = OUTBOX_BACKEND
    settings.EMAIL_FILE_PATH = str(tmp_path / "outbox")
    with open(os.devnull, "w") as devnull:
        call_command("serve", port=8123, stdout=devnull)
    contact = make_contact(org, full_name="Lisa Chen", language="en", email="lisa.chen@huaneng.example")
    browser = Client()
    browser.force_login(rm)
    response = browser.post(f"/surveys/send/?organization={org.pk}", {"contacts": [contact.pk],
                                                                       "expires_in_days": "10", "action": "send"})
    assert response.status_code == 302, response.content[:500]
    assert SurveyInvitation.objects.filter(contact=contact).exists()
    files = list((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 1
    body = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default).get_body(
        ("plain",)).get_content()
    assert re.search(r"http://127\.0\.0\.1:8123/s/[A-Za-z0-9_-]{20,}/", body), body
