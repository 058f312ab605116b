"""Mail capture at scale: the headers of N messages from a generated mbox captured and matched to contacts
(bcrm.intel), beside a same-run baseline of parsing the same headers alone.

    BCRM_DATA_DIR=var/bench-mail .venv/bin/python benchmarks/bench_mail_capture.py --messages 100000
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bcrm_bench_mail BCRM_DATA_DIR=var/bench-mail-pg \\
      .venv/bin/python benchmarks/bench_mail_capture.py --messages 100000

The database is migrated and given, once, 500 client organisations with an e-mail domain each and 4 contacts
each, and a user ``bench-mail``. Each run first removes what an earlier run captured. The generated mbox mixes
mail to and from known contacts (most), unknown people at known domains (suggestions), personal free-mail
addresses (excluded) and internal mail; every tenth message carries a 20 kB body that both paths skip.

Figures: ``parse`` = reading the file and parsing each message's headers (the floor); ``capture`` = the same
plus matching, deduplication and writing the captured items and interactions; ``ratio`` = capture / parse.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bcrm.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402

from bcrm.engagement.models import Interaction  # noqa: E402
from bcrm.intel.capture import Malformed, item_from_headers, split_mbox  # noqa: E402
from bcrm.intel.models import CapturedItem, ReviewCandidate  # noqa: E402
from bcrm.intel.sources import import_mail_file  # noqa: E402
from bcrm.parties.models import Contact, Organization  # noqa: E402

ORGS, PER_ORG = 500, 4


def setup() -> None:
    call_command("migrate", verbosity=0)
    if not Organization.objects.filter(external_id__startswith="BENCH-MAIL-").exists():
        orgs = Organization.objects.bulk_create(
            Organization(legal_name=f"Bench Mail {i} Capital", kind="fund", country="CN",
                         external_id=f"BENCH-MAIL-{i}", email_domains=[f"client{i}.example"]) for i in range(ORGS))
        Contact.objects.bulk_create(Contact(organization=o, full_name=f"Person {j} of {o.pk}",
                                            email=f"p{j}@client{i}.example")
                                    for i, o in enumerate(orgs) for j in range(PER_ORG))
    user, _ = get_user_model().objects.get_or_create(username="bench-mail",
                                                     defaults={"email": "me@ourbank.example"})
    CapturedItem.objects.filter(user=user).delete()
    Interaction.objects.filter(owner=user).delete()
    ReviewCandidate.objects.all().delete()


def generate(path: Path, n: int, seed: int = 7) -> None:
    rnd = random.Random(seed)
    body = ("lorem ipsum " * 80 + "\n") * 20
    with path.open("w") as fh:
        for k in range(n):
            org = rnd.randrange(ORGS)
            roll = rnd.random()
            if roll < 0.75:
                other = f"p{rnd.randrange(PER_ORG)}@client{org}.example"
            elif roll < 0.85:
                other = f"new{rnd.randrange(50)}@client{org}.example"
            elif roll < 0.95:
                other = f"someone{rnd.randrange(1000)}@gmail.com"
            else:
                other = f"colleague{rnd.randrange(20)}@ourbank.example"
            sender, to = ("me@ourbank.example", other) if rnd.random() < 0.5 else (other, "me@ourbank.example")
            day = 1 + rnd.randrange(28)
            fh.write(f"From {sender} Mon Jan  1 00:00:00 2026\nFrom: {sender}\nTo: {to}\n"
                     f"Cc: p{rnd.randrange(PER_ORG)}@client{org}.example\n"
                     f"Date: Mon, {day} Jun 2026 {rnd.randrange(24):02d}:{rnd.randrange(60):02d}:00 +0000\n"
                     f"Message-ID: <bench{k}@mail.example>\nSubject: Deal {org} update {k}\n\n")
            fh.write(body if k % 10 == 0 else "short body\n")
            fh.write("\n")


def parse_only(path: Path) -> int:
    count = 0
    with path.open("rb") as fh:
        for block in split_mbox(fh):
            try:
                item_from_headers(block)
            except Malformed:
                pass
            count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    args = parser.parse_args()
    setup()
    path = Path(settings.DATA_DIR) / f"bench-{args.messages}.mbox"
    if not path.exists():
        generate(path, args.messages)
    start = time.perf_counter()
    parsed = parse_only(path)
    parse_s = time.perf_counter() - start
    user = get_user_model().objects.get(username="bench-mail")
    start = time.perf_counter()
    result = import_mail_file(user, path)
    capture_s = time.perf_counter() - start
    print(f"messages {parsed}  file {path.stat().st_size / 1e6:.0f} MB  database {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}")
    print(f"parse    {parse_s:8.2f} s  {parsed / parse_s:9.0f} msg/s")
    print(f"capture  {capture_s:8.2f} s  {result.new / capture_s:9.0f} msg/s  ratio {capture_s / parse_s:.1f}")
    print(f"  new {result.new}, matched {result.matched}, unmatched {result.unmatched}, excluded {result.excluded}, "
          f"internal {result.internal}, suggestions {result.suggested}, interactions {result.interactions}")


if __name__ == "__main__":
    from benchmarks.loadavg import run_with_load_average

    run_with_load_average(main)
