"""Serve bcrm with gunicorn (a production WSGI server), static files through WhiteNoise."""

import os

from django.conf import settings
from django.core.management.base import BaseCommand

#: Addresses a server listens on but a browser cannot open: links then name the loopback address.
WILDCARD_HOSTS = {"0.0.0.0", "::", "[::]", ""}


def served_base_url(host: str, port: int) -> str:
    """The address links in e-mails point at when the app is served on ``host:port`` (``BCRM_BASE_URL`` unset)."""
    if host in WILDCARD_HOSTS:
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address
    return f"http://{host}:{port}"


def use_served_base_url(host: str, port: int) -> str:
    """Unless ``BCRM_BASE_URL`` is set explicitly, make links in e-mails point at the served host and port: in
    this process (the web server) and, through the environment, in the worker it starts. Returns the base URL."""
    if not os.environ.get("BCRM_BASE_URL"):
        settings.BCRM_BASE_URL = served_base_url(host, port)
        os.environ["BCRM_BASE_URL"] = settings.BCRM_BASE_URL
    return settings.BCRM_BASE_URL


class Command(BaseCommand):
    help = "Serve the app with gunicorn on 127.0.0.1 (not Django's development server)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--workers", type=int, default=2)
        parser.add_argument("--threads", type=int, default=4)
        parser.add_argument("--with-worker", action="store_true",
                            help="also run `bcrm worker` (task queue and schedules) beside the web server")

    def handle(self, *args, host, port, workers, threads, with_worker=False, **options):
        base_url = use_served_base_url(host, port)
        if with_worker:
            import atexit
            import subprocess
            import sys

            worker = subprocess.Popen([sys.executable, "-c", "from bcrm.cli import main; main()", "worker"])
            master = os.getpid()

            def stop_worker() -> None:
                if os.getpid() == master:  # gunicorn's forked web workers run atexit too
                    worker.terminate()

            atexit.register(stop_worker)
            self.stdout.write(f"bcrm worker started (pid {worker.pid}): task queue and schedules")
        from django.core.wsgi import get_wsgi_application
        from gunicorn.app.base import BaseApplication

        application = get_wsgi_application()  # what bcrm.wsgi serves (that entry point sits above web)

        class Server(BaseApplication):
            def load_config(self):
                self.cfg.set("bind", f"{host}:{port}")
                self.cfg.set("workers", workers)
                self.cfg.set("threads", threads)
                self.cfg.set("accesslog", "-")
                self.cfg.set("timeout", 120)

            def load(self):
                return application

        self.stdout.write(f"bcrm serving on http://{host}:{port}/  (database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}; Ctrl-C stops)")
        self.stdout.write(f"Links in e-mails point at {base_url}/ (BCRM_BASE_URL).")
        Server().run()
