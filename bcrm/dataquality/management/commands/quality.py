"""`bcrm quality [--json] [--export FILE.csv]`: the data-quality report — per dimension, how many
clients the engine can classify and what evidence is missing; per client in the export."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from bcrm.accounts.permissions import SystemOperator
from bcrm.segmentation.choices import Dimension
from bcrm.segmentation.selectors import feature_name


class Command(BaseCommand):
    help = "Data-quality report: evidence completeness per dimension; --export writes one row per client."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true")
        parser.add_argument("--export", metavar="FILE.csv", help="per client and dimension, CSV")

    def handle(self, *args, **options):
        from bcrm.dataquality.selectors import data_quality, export_csv

        report = data_quality(actor=SystemOperator())
        summary = report.summary()
        if options["export"]:
            from bcrm.dataquality.services import record_export

            record_export(actor=SystemOperator(), report=report)
            with open(options["export"], "w", encoding="utf-8", newline="") as fh:
                for piece in export_csv(report):
                    fh.write(piece)
        if options["json"]:
            self.stdout.write(json.dumps(summary, ensure_ascii=False, indent=2))
            return
        self.stdout.write(f"Data quality as of {summary['as_of']}: {summary['clients']:,} clients")
        for dim in summary["dimensions"]:
            share = dim["classifiable_share"]
            self.stdout.write(
                f"  {Dimension(dim['dimension']).label}: {dim['classifiable']:,} classifiable"
                f" ({'—' if share is None else f'{share * 100:.1f}%'}), {dim['insufficient']:,} insufficient")
            for reason, count in dim["insufficient_reasons"].items():
                self.stdout.write(f"      fails {reason}: {count:,}")
            for name, count in dim["missing_by_feature"].items():
                if count:
                    self.stdout.write(f"      missing {feature_name(name)}: {count:,}")
        if options["export"]:
            self.stdout.write(f"Per-client rows written to {options['export']}")
