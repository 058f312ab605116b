from django.core.management.base import BaseCommand, CommandError

from bcrm.connect import webhooks
from bcrm.connect.models import WebhookSubscription
from bcrm.core.commands import command_error
from bcrm.core.errors import ServiceError
from bcrm.dataio.cli import resolve_actor


class Command(BaseCommand):
    help = ("Outgoing webhooks: `bcrm webhooks list | add NAME URL --events E1,E2 | pause ID | resume ID | "
            "delete ID | log ID | send`.")

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("list", help="the subscriptions")
        add = sub.add_parser("add", help="subscribe URL to events; prints the signing secret once")
        add.add_argument("name")
        add.add_argument("url")
        add.add_argument("--events", required=True, help="comma-separated event names")
        for name in ("pause", "resume", "delete", "log"):
            sub.add_parser(name).add_argument("subscription_id", type=int)
        sub.add_parser("send", help="send what is due now (the worker does it every tick)")

    def handle(self, *args, action, **options):
        actor = resolve_actor(None)
        try:
            if action == "list":
                for s in WebhookSubscription.objects.all():
                    state = "active" if s.active else "paused"
                    self.stdout.write(f"{s.pk}\t{s.name}\t{s.url}\t{','.join(s.event_names)}\t{state}")
            elif action == "add":
                s = webhooks.subscription_create(actor=actor, name=options["name"], url=options["url"],
                                                 event_names=options["events"].split(","))
                self.stdout.write(f"Created webhook {s.pk}. Signing secret: {s.secret}")
            elif action == "send":
                self.stdout.write(f"Sent {webhooks.send_due()} event(s).")
            else:
                found = WebhookSubscription.objects.filter(pk=options["subscription_id"]).first()
                if found is None:
                    raise CommandError(f"No webhook with id {options['subscription_id']}.")
                s = found
                if action in ("pause", "resume"):
                    webhooks.subscription_set_active(actor=actor, subscription=s, active=action == "resume")
                    self.stdout.write(f"Webhook {s.pk} {'resumed' if action == 'resume' else 'paused'}.")
                elif action == "delete":
                    webhooks.subscription_delete(actor=actor, subscription=s)
                    self.stdout.write(f"Deleted webhook {s.pk}.")
                else:
                    for d in s.deliveries.select_related("event")[:200]:
                        when = f"{d.delivered_at:%Y-%m-%d %H:%M:%S}" if d.delivered_at else "-"
                        self.stdout.write(f"#{d.event_id}\t{d.event.name}\t{d.status}\t{d.attempts}\t"
                                          f"{d.response_status or '-'}\t{when}\t{d.last_error}")
        except ServiceError as exc:
            raise command_error(exc) from exc
