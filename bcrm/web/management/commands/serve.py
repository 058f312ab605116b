"""Serve bcrm with gunicorn (a production WSGI server), static files through WhiteNoise."""

from django.conf import settings
from django.core.management.base import BaseCommand


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
        if with_worker:
            import atexit
            import os
            import subprocess
            import sys

            worker = subprocess.Popen([sys.executable, "-c", "from bcrm.cli import main; main()", "worker"])
            master = os.getpid()

            def stop_worker() -> None:
                if os.getpid() == master:  # gunicorn's forked web workers run atexit too
                    worker.terminate()

            atexit.register(stop_worker)
            self.stdout.write(f"bcrm worker started (pid {worker.pid}): task queue and schedules")
        from gunicorn.app.base import BaseApplication

        from bcrm.wsgi import application

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
        Server().run()
