"""The public data sets the tests use, kept in the repository (``tests/data/``, with their source and
licence in a README beside them). A missing file is an error, never a skip."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
CDNOW = DATA / "cdnow"
SUMMARY = CDNOW / "cdnow_customers_summary.csv"
SPEND = CDNOW / "cdnow_customers_summary_with_transactions.csv"
LOG = CDNOW / "cdnow_sample_transactions.txt"
MASTER = CDNOW / "CDNOW_master.txt"

for _path in (SUMMARY, SPEND, LOG, MASTER):
    if not _path.is_file():
        raise FileNotFoundError(f"test data missing from the repository: {_path}")
DONATIONS = DATA / "donations" / "donations.csv"
if not DONATIONS.is_file():
    raise FileNotFoundError(f"test data missing from the repository: {DONATIONS}")
DEMO_RFM = DATA / "demo_clv" / "demo_1m_rfm.csv"
if not DEMO_RFM.is_file():
    raise FileNotFoundError(f"test data missing from the repository: {DEMO_RFM}")
