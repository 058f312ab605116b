"""Every word in the reader's language: a small demo portfolio, every role signed in with the Chinese UI,
every page reachable from the navigation (and the first link of each kind of detail page from there), and
no visible text run may carry an English word that is not a proper name from the data, a code or a unit.

What counts as visible: the text of the page outside script/style/template elements, elements with the
``hidden`` attribute and elements marked as another language (``lang="en"``, e.g. the "English" switch), plus
the ``title``, ``placeholder``, ``aria-label`` and ``alt`` attributes and the labels of buttons."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections import defaultdict
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from django.apps import apps
from django.conf import settings
from django.db import models
from django.test import Client
from django.utils import timezone

from bcrm.demo.generator import generate_portfolio
from bcrm.demo.users import USERS
from bcrm.engagement.models import Task

pytestmark = pytest.mark.django_db

ROLES = ["admin", "lead", "relationship_manager", "analyst", "compliance", "viewer"]
PAGES_PER_ROLE = 90
# Pages that cost seconds each and read the same for every role that may open them: visited once.
ONCE = {"/dashboard/report/"}
TIMES: dict[str, float] = defaultdict(float)

# Words that are the same in both languages: codes, abbreviations, units, product and standard names.
ALLOWED_WORDS = {
    "NPS", "CSAT", "SLA", "API", "CSV", "XLSX", "PDF", "KYC", "AML", "ISO", "ID", "URL", "JSON", "UTC", "UTF",
    "CLV", "BG", "NBD", "RDD", "EPC", "ESG", "HHI", "IV", "WoE", "AUC", "KS", "BOM", "Excel", "bcrm", "BCRM",
    "Jenks", "Fisher", "Otsu", "Pareto", "Gamma",                   # names of methods and distributions
    "Moody's", "Fitch", "AAA", "AA", "BBB", "BB", "CCC", "CC", "Aaa", "Aa", "Baa", "Ba", "Caa", "Ca",  # ratings
    "ms", "min", "MW", "km", "kV", "GW", "MWh", "MB",              # units (one-letter ones pass anyway)
    "xlsx", "csv", "vcf", "ics", "YYYY", "MM", "DD",                # file types and date patterns
    "log", "frequency", "recency",   # a formula, and the BG/NBD summary columns a file must name as they are
    "Webhook", "iCalendar", "vCard", "Outlook", "Thunderbird", "HMAC", "SHA",   # standards and products
}
LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z'’]*(?:-[A-Za-z]+)*")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
URLISH = re.compile(r"(?:https?://|/)[\w./?=&%#-]+|\b[\w-]+\.(?:csv|xlsx|pdf|json|eml)\b")
CODE_LIKE = re.compile(r"\b\w+=[\w.]*"        # NAME=VALUE, as typed into a parameter field
                       r"|\b[A-Z][a-z]+/[A-Za-z_]+\b")  # an IANA time zone, Asia/Shanghai
# Not prose: scripts, and code a person types as it is (field codes, commands, JSON) set in <code>/<pre>.
SKIP_ELEMENTS = {"script", "style", "template", "noscript", "svg", "code", "pre", "kbd", "samp"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"}
TEXT_ATTRIBUTES = ("title", "placeholder", "aria-label", "alt")


class VisibleText(HTMLParser):
    """The text runs a reader sees (or hears through a screen reader) on one page, and its links."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, bool]] = []   # (tag, hides what is inside)
        self.runs: list[str] = []
        self.links: list[str] = []

    @property
    def hidden(self) -> bool:
        return any(h for _t, h in self.stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        hides = (tag in SKIP_ELEMENTS or "hidden" in a or (a.get("lang") or "zh").lower().startswith("en")
                 or "display:none" in (a.get("style") or "").replace(" ", ""))
        if not self.hidden and not hides:
            for name in TEXT_ATTRIBUTES:
                if a.get(name):
                    self.runs.append(str(a[name]))
            if tag == "input" and (a.get("type") or "") in ("submit", "button") and a.get("value"):
                self.runs.append(str(a["value"]))
        if tag == "a" and a.get("href") and "download" not in a:
            self.links.append(str(a["href"]))
        if a.get("hx-get"):  # a part of the page loaded when it opens or on a click
            self.links.append(str(a["hx-get"]))
        if tag not in VOID:
            self.stack.append((tag, hides))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID and self.stack and self.stack[-1][0] == tag:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        if not self.hidden and data.strip():
            self.runs.append(" ".join(data.split()))


def data_strings() -> dict[str, set[str]]:
    """Text people or the demo data typed (names, subjects, comments…), indexed by each Latin word in it:
    a word of the UI is only excused inside a run where the whole data value containing it appears."""
    system_text = {("engagement", "task"): {"title", "title_code"}, ("playbooks", "playbook"): {"description"},
                   ("playbooks", "tierpolicy"): {"note"}, ("playbooks", "workcalendar"): {"name"},
                   ("playbooks", "calendarday"): {"name"}}
    by_word: dict[str, set[str]] = defaultdict(set)

    def add(value: str) -> None:
        for word in LATIN_WORD.findall(value):
            by_word[word].add(value)

    for model in apps.get_models():
        if not model.__module__.startswith("bcrm."):
            continue
        skip = system_text.get((model._meta.app_label, str(model._meta.model_name)), set())
        fields = [f.attname for f in model._meta.concrete_fields
                  if isinstance(f, models.CharField | models.TextField) and not f.choices and f.name not in skip]
        if not fields:
            continue
        for row in model._default_manager.values_list(*fields)[:5000]:
            for value in row:
                if value and isinstance(value, str):
                    add(value)
    for title in Task.objects.filter(title_code="").values_list("title", flat=True):
        add(title)
    from django.contrib.auth import get_user_model

    for row in get_user_model().objects.values_list("username", "first_name", "last_name", "email"):
        for value in row:
            if value:
                add(value)
    return by_word


def offending_words(run: str, data: dict[str, set[str]], allowed_upper: set[str]) -> list[str]:
    if run.lstrip().startswith(("{", "[")):  # a JSON document in an editor
        return []
    text = URLISH.sub(" ", CODE_LIKE.sub(" ", EMAIL.sub(" ", run)))
    words = [w for w in LATIN_WORD.findall(text) if not allowed(w, allowed_upper)]
    if not words:
        return []
    # Remove the data values this run contains (longest first) and look again.
    candidates = sorted({v for w in words for v in data.get(w, ())}, key=len, reverse=True)
    for value in candidates:
        if value in text:
            text = text.replace(value, " ")
    return [w for w in LATIN_WORD.findall(text) if not allowed(w, allowed_upper)]


def allowed(word: str, allowed_upper: set[str]) -> bool:
    if "-" in word:
        return all(allowed(part, allowed_upper) for part in word.split("-"))
    return word in ALLOWED_WORDS or word in allowed_upper or len(word) == 1


def shape(url: str) -> str:
    """One page of each kind: /clients/12/ and /clients/13/ are the same kind of page."""
    return re.sub(r"\d+", "N", urlsplit(url).path)


def followable(href: str) -> bool:
    if not href.startswith("/") or href.startswith("//"):
        return False
    path = urlsplit(href).path
    return not (path.startswith(("/api/", "/admin/", "/static/", "/logout", "/i18n/", "/media/"))
                or re.search(r"\.(csv|xlsx|pdf|json|eml)$|/(export|download|errors|pdf|csv|xlsx)/?$", path))


def crawl(client: Client, data: dict[str, set[str]], allowed_upper: set[str],
          done_once: set[str]) -> tuple[dict[str, list[str]], int]:
    """Breadth first from the home page: the navigation, then one page of each kind linked from there."""
    findings: dict[str, list[str]] = {}
    queue, seen_shapes, visited = ["/"], set(done_once), 0
    global TIMES
    while queue and visited < PAGES_PER_ROLE:
        url = queue.pop(0)
        if shape(url) in seen_shapes:
            continue
        seen_shapes.add(shape(url))
        if shape(url) in ONCE:
            done_once.add(shape(url))
        started = time.perf_counter()
        response = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans")
        TIMES[shape(url)] += time.perf_counter() - started
        visited += 1
        if response.status_code in (301, 302):
            target = response.headers["Location"]
            if followable(target):
                queue.insert(0, target)
            continue
        if response.status_code != 200 or "text/html" not in response.headers.get("Content-Type", ""):
            continue
        page = VisibleText()
        page.feed(response.content.decode())
        bad = []
        for run in page.runs:
            words = offending_words(run, data, allowed_upper)
            if words:
                bad.append(f"{run[:160]!r} → {' '.join(dict.fromkeys(words))}")
        if bad:
            findings[url] = list(dict.fromkeys(bad))
        for href in page.links:
            if followable(href) and shape(href) not in seen_shapes:
                queue.append(href.split("#")[0])
    return findings, visited


def test_the_detector_flags_english_and_excuses_names_codes_and_hidden_text():
    data = {"Huaneng": {"Huaneng Capital"}, "Capital": {"Huaneng Capital"}}
    assert offending_words("SLA breached: resolution overdue on request #15", {}, set()) == [
        "breached", "resolution", "overdue", "on", "request"]
    assert offending_words("华能资本 Huaneng Capital · 1,000 USD · NPS 42 · wang@bcrm-demo.example", data, {"USD"}) == []
    assert offending_words("Capital flows", data, set()) == ["Capital", "flows"]  # only a whole data value is excused
    assert offending_words("例如 q=0.2 或 budget=400（Asia/Shanghai）", {}, set()) == []
    page = VisibleText()
    page.feed('<p>已逾期 <span hidden>Overdue</span><code>legal_name</code></p><script>var a = "x";</script>'
              '<button lang="en">English</button><input type="submit" value="Save"><a href="/x/" title="Open">打开</a>')
    assert page.runs == ["已逾期", "Save", "Open", "打开"] and page.links == ["/x/"]


@pytest.fixture
def portfolio(settings):
    from bcrm.monitoring.demo import demo_service_history, demo_snapshots
    from bcrm.playbooks.automation import run_automation
    from bcrm.playbooks.defaults import ensure_defaults
    from bcrm.progress.demo import demo_progress
    from bcrm.segmentation.choices import Dimension
    from bcrm.segmentation.services import run_segmentation

    started = time.perf_counter()
    today = timezone.localdate()
    generate_portfolio(clients=24, seed=5, as_of=today)
    for dimension in Dimension.values:
        run_segmentation(actor=None, dimension=dimension, as_of=today - dt.timedelta(days=91))
        run_segmentation(actor=None, dimension=dimension, as_of=today)
    ensure_defaults()
    demo_progress(as_of=today, seed=5)
    demo_service_history(seed=5)
    run_automation(actor=None, trigger="demo")
    demo_snapshots()
    return time.perf_counter() - started


def test_the_chinese_ui_has_no_untranslated_words(portfolio):
    from django.contrib.auth import get_user_model
    from django_countries import countries

    from bcrm.financing.choices import CURRENCIES

    started = time.perf_counter()
    print(f"portfolio built in {portfolio:.1f} s")
    data = data_strings()
    allowed_upper = {str(c) for c in CURRENCIES} | {code for code, _name in countries}
    users = {role: username for username, role, *_rest in USERS}
    report: list[str] = []
    pages = 0
    done_once: set[str] = set()
    for role in ROLES:
        client = Client()
        client.force_login(get_user_model().objects.get(username=users[role]))
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
        findings, visited = crawl(client, data, allowed_upper, done_once)
        pages += visited
        for url, runs in findings.items():
            report.append(f"[{role}] {url}\n    " + "\n    ".join(runs))
    slow = sorted(TIMES.items(), key=lambda kv: -kv[1])[:15]
    print(f"{pages} pages in {time.perf_counter() - started:.1f} s; slowest:", slow)
    assert pages > 6 * 15, f"only {pages} pages were visited"
    assert not report, f"English words in the Chinese UI ({time.perf_counter() - started:.0f} s):\n" + "\n".join(report)
