"""A real IMAP server for the tests: Debian's Dovecot with a throwaway configuration in a temporary folder,
listening on loopback (plain IMAP: TLS is the client library's, not what is under test), and a relay that
drops the connection after a number of bytes, as a server failing mid-sync does."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"

CONFIG = """
base_dir = {root}/run
state_dir = {root}/state
instance_name = bcrm-test-{port}
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
first_valid_uid = {uid}
default_login_user = {login_user}
default_internal_user = {internal_user}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
mail_location = maildir:~/Maildir
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Dovecot:
    def __init__(self, root: Path, users: dict[str, str]):
        self.root, self.port = root, free_port()
        if os.getuid() == 0:
            mail = pwd.getpwnam("dovecot")
            uid, gid, login, internal = mail.pw_uid, mail.pw_gid, "dovenull", "dovecot"
        else:
            me = pwd.getpwuid(os.getuid())
            uid, gid, login, internal = me.pw_uid, me.pw_gid, me.pw_name, me.pw_name
        (root / "home").mkdir(parents=True)
        (root / "passwd").write_text("".join(f"{u}:{{PLAIN}}{p}::::::\n" for u, p in users.items()))
        self.config = root / "dovecot.conf"
        self.config.write_text(CONFIG.format(root=root, port=self.port, uid=uid, gid=gid, login_user=login,
                                             internal_user=internal))
        # Readable by Dovecot's unprivileged processes whatever the umask.
        for path in (root, root / "home"):
            path.chmod(0o755)
        for path in (root / "passwd", self.config):
            path.chmod(0o644)
        if os.getuid() == 0:
            os.chown(root / "home", uid, gid)

    def start(self) -> None:
        # The daemon forks and keeps its descriptors: no pipes, or run() would wait for it to end.
        subprocess.run([DOVECOT, "-c", str(self.config)], check=True, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return
            time.sleep(0.1)
        raise RuntimeError("dovecot did not start: " + (self.root / "dovecot.log").read_text()[-2000:])

    def stop(self) -> None:
        subprocess.run([DOVECOT, "-c", str(self.config), "stop"], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)


class DroppingRelay:
    """Forwards a connection to ``port`` and closes it after ``limit`` bytes from the server."""

    def __init__(self, port: int, limit: int):
        self.target, self.limit = port, limit
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self.listener.accept()
                upstream = socket.create_connection(("127.0.0.1", self.target))
                threading.Thread(target=self._pipe, args=(client, upstream, None), daemon=True).start()
                threading.Thread(target=self._pipe, args=(upstream, client, self.limit), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket, limit: int | None) -> None:
        sent = 0
        with contextlib.suppress(OSError):
            while True:
                data = source.recv(4096)
                if not data:
                    break
                if limit is not None and sent + len(data) > limit:
                    sink.sendall(data[: limit - sent])
                    break
                sink.sendall(data)
                sent += len(data)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self.listener.close()
