import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from tests.browsing import browser  # noqa: F401  (the real-Chromium fixture every browser test uses)
from tests.factories import make_org, make_team, make_user

# Tests never assert wall time: Hypothesis's own clock checks (a per-example deadline, "input generation is
# slow") fail on a loaded 2-core machine without saying anything about the code, so the suite turns them off.
hypothesis_settings.register_profile("bcrm", deadline=None, suppress_health_check=[HealthCheck.too_slow])
hypothesis_settings.load_profile("bcrm")


@pytest.fixture
def team(db):
    return make_team("Energy Desk")


@pytest.fixture
def other_team(db):
    return make_team("Platform Desk")


@pytest.fixture
def admin(db):
    return make_user("admin_user", "admin")


@pytest.fixture
def lead(db):
    return make_user("lead_user", "lead")


@pytest.fixture
def rm(db, team):
    return make_user("rm_user", "relationship_manager", team=team)


@pytest.fixture
def other_rm(db, other_team):
    return make_user("rm_other", "relationship_manager", team=other_team)


@pytest.fixture
def viewer(db):
    return make_user("viewer_user", "viewer")


@pytest.fixture
def analyst(db):
    return make_user("analyst_user", "analyst")


@pytest.fixture
def compliance(db):
    return make_user("compliance_user", "compliance")


@pytest.fixture
def org(db, team):
    return make_org(legal_name="Huaneng Capital", local_name="华能资本", team=team)


@pytest.fixture
def foreign_org(db, other_team):
    return make_org(legal_name="Platform Ventures", local_name="平台创投", team=other_team)


@pytest.fixture
def import_dir(settings, tmp_path):
    """Uploaded import files are kept in this test's own folder (the import tests use it on every test)."""
    settings.BCRM_IMPORT_DIR = tmp_path / "imports"
    return settings.BCRM_IMPORT_DIR


@pytest.fixture(autouse=True)
def _tasks_run_inline(settings):
    """Background tasks run inline in tests, unless a test sets TASKS itself; previews recompute their
    features (the feature cache is tested on its own)."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    settings.BCRM_FEATURE_CACHE_SECONDS = 0
    settings.BCRM_BACKUP_EVERY_HOURS = 0  # the worker's tick does not back the test database up (tested on its own)
    # Tests create many users: a cheap hasher (Django's advice for test suites) instead of PBKDF2's
    # million rounds, which cost over a second per user on this machine.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # `force_login` stands for a finished sign-in; the second step and the roles that must take it are tested in
    # tests/test_security_2fa.py, which sets BCRM_2FA_REQUIRED_ROLES itself. Users who enrolled still must.
    settings.BCRM_2FA_REQUIRED_ROLES = []


# What WhiteNoise reads as it starts (its own settings are added by name).
_STATIC_SETTINGS = ("DEBUG", "STATIC_ROOT", "STATIC_URL", "STATICFILES_DIRS", "STATICFILES_FINDERS", "STORAGES",
                    "INSTALLED_APPS", "FORCE_SCRIPT_NAME")


@pytest.fixture(scope="session", autouse=True)
def _static_files_listed_once():
    """Django's test client builds the middleware anew for every client — one or more per test — and WhiteNoise
    lists and stats every static file as it starts (about 450: a tenth to a fifth of a second, most of a
    typical page or API test). The suite keeps what it found per set of static settings, so it is listed once
    per set, as a server does once per process; a test that changes one of them gets a fresh listing."""
    from django.conf import settings as django_settings
    from whitenoise.middleware import WhiteNoiseMiddleware

    original = WhiteNoiseMiddleware.__init__
    started: dict[tuple, dict] = {}

    def __init__(self, get_response=None, settings=django_settings):
        names = sorted({*_STATIC_SETTINGS, *(n for n in dir(settings) if n.startswith("WHITENOISE_"))})
        key = tuple((name, repr(getattr(settings, name, None))) for name in names)
        state = started.get(key)
        if state is None:
            original(self, get_response, settings)
            started[key] = {**self.__dict__, "files": dict(self.files)}
            return
        self.__dict__.update(state)
        self.files = dict(state["files"])
        self.get_response = get_response

    WhiteNoiseMiddleware.__init__ = __init__
    yield
    WhiteNoiseMiddleware.__init__ = original


@pytest.fixture(autouse=True)
def _default_language():
    """Each test starts in the default language: a test that switched to Chinese (a request through the
    locale middleware, ``translation.activate``) must not leak it into the next test on the same worker."""
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.deactivate()


class SmtpSink:
    """What a real SMTP server on loopback received: one ``email.message.EmailMessage`` per message."""

    def __init__(self):
        self.messages: list = []
        self.envelopes: list = []

    async def handle_DATA(self, server, session, envelope):
        from email import message_from_bytes, policy

        self.envelopes.append(envelope)
        self.messages.append(message_from_bytes(envelope.original_content or envelope.content,
                                                policy=policy.default))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server (aiosmtpd) on 127.0.0.1 with a free port; Django's SMTP backend points at it."""
    import socket

    from aiosmtpd.controller import Controller

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sink = SmtpSink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    try:
        yield sink
    finally:
        controller.stop()


_DATABASE_FIXTURES = {"db", "transactional_db", "_django_db_helper", "live_server", "django_db_reset_sequences",
                      "django_db_serialized_rollback"}


def _uses_database(item) -> bool:
    return bool(_DATABASE_FIXTURES & set(getattr(item, "fixturenames", ()))) or any(
        item.iter_markers("django_db")) or any(item.iter_markers("database"))


def pytest_collection_modifyitems(config, items):
    """``BCRM_TESTS=database`` keeps only the tests that reach a database (CI's PostgreSQL run: the rest cannot
    depend on the database and already ran on SQLite); they are deselected, not skipped."""
    import os

    if os.environ.get("BCRM_TESTS") != "database":
        return
    keep, drop = [], []
    for item in items:
        (keep if _uses_database(item) else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
