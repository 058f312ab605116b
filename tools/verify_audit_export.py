#!/usr/bin/env python3
"""Check an export of bcrm's audit trail (`bcrm audit export FILE`) with nothing but Python 3.11+.

    python3 verify_audit_export.py audit.jsonl     # or audit.csv

Each line holds an entry, its position in the chain, its digest, its content digest and the digest before it
(``previous``). For each entry the check recomputes the content digest, SHA-256 of the canonical JSON of the entry
(as 64 hex characters), and the digest, SHA-256(previous || content digest), and compares them with the line; it
also checks that each entry's ``previous`` is the digest of the entry before it when their positions follow
each other. Exit status 0 when every entry verifies, 1 naming the first that does not. To tie the export to a
signed checkpoint, compare the digest at the checkpoint's position with the checkpoint file.

An entry marked ``redacted`` had personal values erased after it was sealed (a person's erasure request): its
content no longer gives the content digest the chain was built with, so the check takes the recorded content
digest for it (bcrm's own `bcrm audit verify` checks the redaction's signature with the audit key) and counts it.
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys

FIELDS = ("id", "at", "actor_id", "actor_label", "action", "content_type_id", "object_id", "object_repr",
          "changes")


def canonical(entry: dict) -> bytes:
    return json.dumps({name: entry[name] for name in FIELDS}, sort_keys=True, ensure_ascii=False,
                      separators=(",", ":")).encode()


def content_digest(entry: dict) -> str:
    return hashlib.sha256(canonical(entry)).hexdigest()


def rows(path: str):
    if path.lower().endswith(".csv"):
        with open(path, encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                row["position"] = int(row["position"])
                for name in ("id", "content_type_id", "actor_id"):
                    row[name] = int(row[name]) if row[name] not in ("", None) else None
                row["changes"] = json.loads(row["changes"])
                row["redacted"] = row.get("redacted") in ("True", "true", "1")
                yield row
    else:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    yield json.loads(line)


def main(path: str) -> int:
    count = redacted = 0
    last: tuple[int, str] | None = None
    for row in rows(path):
        content = content_digest(row)
        if row.get("redacted"):
            content = row["content_digest"]
            redacted += 1
        elif row.get("content_digest", content) != content:
            print(f"entry {row['id']} at position {row['position']}: content digest does not match", file=sys.stderr)
            return 1
        digest = hashlib.sha256(row["previous"].encode("ascii") + content.encode("ascii")).hexdigest()
        if digest != row["digest"]:
            print(f"entry {row['id']} at position {row['position']}: digest does not match", file=sys.stderr)
            return 1
        if last is not None and row["position"] == last[0] + 1 and row["previous"] != last[1]:
            print(f"entry {row['id']} at position {row['position']}: does not follow the entry before it",
                  file=sys.stderr)
            return 1
        last = (row["position"], row["digest"])
        count += 1
    print(f"{count} entries verify." + (f" {redacted} of them were redacted by an erasure." if redacted else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
