"""A private sshd for the tests of `import` and `--cpu` (and the bench's rows of --cpu):
127.0.0.1 only, on a free port, with a throwaway host key and user key (ed25519),
letting in one local user by that key alone.

    with Sshd("newns-test") as server:            # or Sshd() for whoever runs the tests
        server.write_client_config(tree / "ssh_config")    # a file of the test's own
        server.install_client_config()            # or the user's ~/.ssh/config (restored on stop)
        server.ssh("true")                        # run a remote command through it
        ... sshfs newns-test-host:/some/dir ... (HOST "newns-test-host", or server.alias)

Run by root, sshd runs as root, whoever it lets in, as a system's sshd does: with
privilege separation (the directory /run/sshd, made here when missing: Debian makes
it at boot through systemd, which a container does not run), and able to give a
session a terminal (a pseudo-terminal chowned to the user and group tty). It runs
without PAM, and so refuses an account whose password is locked with '!' (what
`useradd --system` writes) even for a public key: an account it lets in must have
'*' (no password, not locked, as Debian's own system accounts have; `usermod -p
'*' NAME`), and start() says so. Run by anyone else, sshd runs as that user and can
let in only that user (no privilege separation, no PAM), and gives no session a
terminal.

Everything the client needs (the key, known_hosts, the config) is in one
directory, under /var/tmp by default: some namespaces make /tmp private, and
ssh must still reach them from inside one. ssh finds ~/.ssh/config through the
passwd entry of its uid (getpwuid), never through $HOME, so a test that runs ssh
with its own HOME must pass -F (sshfs takes -F too) or use install_client_config.

stop() (and the end of a `with`) kills sshd and every process it started
(sessions, sftp servers), leaves none behind, and removes the directory.
Nothing here touches the system's sshd, its configuration, or port 22.
"""
from __future__ import annotations

import os
import pwd
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

SSHD = "/usr/sbin/sshd"
SSH_KEYGEN = "ssh-keygen"
ALIAS = "newns-test-host"
PRIVSEP_DIR = "/run/sshd"
MARK_BEGIN = "# >>> newns tests/sshd.py {port} >>>"
MARK_END = "# <<< newns tests/sshd.py {port} <<<"


class SshdError(RuntimeError):
    """sshd could not be set up or did not start; the message holds its log."""


def available() -> str | None:
    """Why the tests of import can't run here (None when they can): the programs they need."""
    if not os.access(SSHD, os.X_OK):
        return f"{SSHD} is missing (apt install openssh-server)"
    for program in ("ssh", SSH_KEYGEN):
        if shutil.which(program) is None:
            return f"{program} is missing (apt install openssh-client)"
    return None


def free_port() -> int:
    """A TCP port of 127.0.0.1 free just now (sshd may still lose it to another: start() retries)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Sshd:
    """An sshd letting `user` (a name or uid; default: whoever runs this) in with a key of its own.

    Attributes once started: port, host ("127.0.0.1"), alias (the Host of the client
    config), user (the login name), uid, gid, home (from passwd), dir (the throwaway
    directory), identity (the user's private key), known_hosts, config (the client
    config written in dir), log (sshd's log file), pid (the listening sshd)."""

    host = "127.0.0.1"

    def __init__(
        self,
        user: str | int | None = None,
        *,
        alias: str = ALIAS,
        sftp_dir: str | os.PathLike[str] | None = None,
        where: str | os.PathLike[str] = "/var/tmp",
        log_level: str = "VERBOSE",
        timeout: float = 15.0,
        max_sessions: int = 50,
        path: str | None = None,
    ) -> None:
        """sftp_dir: where an sftp session starts (what sshfs means by an empty remote path;
        default the user's home, or / when it does not exist). where: the parent of the
        throwaway directory. max_sessions: how many sessions one connection may open.
        path: the sessions' PATH (sshd's default otherwise)."""
        entry = pwd.getpwuid(os.geteuid() if user is None else user) if not isinstance(user, str) else pwd.getpwnam(user)
        self.user, self.uid, self.gid, self.home = entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir
        if os.geteuid() not in (0, self.uid):
            raise SshdError(f"an unprivileged process can run sshd only for itself, not for {self.user}")
        self.as_root = os.geteuid() == 0
        """Whether sshd runs as root (privilege separation, terminals for sessions)."""
        self.alias = alias
        self.sftp_dir = None if sftp_dir is None else os.fspath(sftp_dir)
        self.where = os.fspath(where)
        self.log_level = log_level
        self.timeout = timeout
        self.max_sessions = max_sessions
        self.path = path
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.dir: Path | None = None
        self._installed: list[tuple[Path, bytes | None, list[Path]]] = []

    # -- the files ---------------------------------------------------------------

    def _path(self, name: str) -> Path:
        assert self.dir is not None, "not started"
        return self.dir / name

    @property
    def identity(self) -> Path:
        return self._path("id_ed25519")

    @property
    def known_hosts(self) -> Path:
        return self._path("known_hosts")

    @property
    def config(self) -> Path:
        """The client config, written by start() in dir."""
        return self._path("ssh_config")

    @property
    def log(self) -> Path:
        return self._path("sshd.log")

    @property
    def pid(self) -> int:
        assert self.process is not None, "not started"
        return self.process.pid

    def as_user(self) -> dict[str, Any]:
        """subprocess arguments that run a program as the user (none when it is us), for a
        client: subprocess.run(["sshfs", "-F", str(server.config), ...], **server.as_user())."""
        if os.geteuid() == self.uid:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def _own(self, path: Path) -> None:
        if os.geteuid() != self.uid:
            os.chown(path, self.uid, self.gid, follow_symlinks=False)

    def _keygen(self, name: str) -> str:
        path = self._path(name)
        subprocess.run(
            [SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", f"newns-test-{name}", "-f", str(path)],
            check=True, stdin=subprocess.DEVNULL, capture_output=True,
        )
        for p in (path, path.with_name(name + ".pub")):
            self._own(p)
        return path.with_name(name + ".pub").read_text().strip()

    def _write(self, name: str, text: str, mode: int = 0o600) -> Path:
        path = self._path(name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        self._own(path)
        return path

    def server_config(self) -> str:
        sftp = "internal-sftp" + (f" -d {self.sftp_dir}" if self.sftp_dir else "")
        return "\n".join([
            f"ListenAddress {self.host}",
            f"Port {self.port}",
            f"HostKey {self._path('host_ed25519')}",
            "PidFile none",
            f"AuthorizedKeysFile {self._path('authorized_keys')}",
            "AuthorizedPrincipalsFile none",
            # The throwaway directory is the user's own, but it sits under /var/tmp or /tmp
            # (world-writable), which StrictModes refuses as a parent of authorized_keys.
            "StrictModes no",
            "UsePAM no",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "HostbasedAuthentication no",
            "GSSAPIAuthentication no",
            "KerberosAuthentication no",
            f"AllowUsers {self.user}",
            "PermitRootLogin prohibit-password",
            "UseDNS no",
            "PrintMotd no",
            "PrintLastLog no",
            "X11Forwarding no",
            "AllowAgentForwarding no",
            "AllowTcpForwarding no",
            "PermitTunnel no",
            "PermitUserEnvironment no",
            "MaxStartups 100:30:200",
            f"MaxSessions {self.max_sessions}",
            "LoginGraceTime 30",
            f"LogLevel {self.log_level}",
            f"Subsystem sftp {sftp}",
            *([f'SetEnv PATH="{self.path}"'] if self.path is not None else []),
            "",
        ])

    def client_config(self, alias: str | None = None) -> str:
        """A Host block for the user's ssh: alias to this sshd, its key, its host key, no prompt."""
        assert self.port, "not started"
        return "\n".join([
            f"Host {alias or self.alias}",
            f"    HostName {self.host}",
            f"    Port {self.port}",
            f"    User {self.user}",
            f"    IdentityFile {self.identity}",
            "    IdentitiesOnly yes",
            "    IdentityAgent none",
            f"    UserKnownHostsFile {self.known_hosts}",
            "    GlobalKnownHostsFile /dev/null",
            "    StrictHostKeyChecking yes",
            "    CheckHostIP no",
            "    UpdateHostKeys no",
            "    BatchMode yes",
            "    ConnectTimeout 10",
            "    ControlMaster no",
            "    ControlPath none",
            "    LogLevel ERROR",
            "",
        ])

    def ssh_options(self) -> list[str]:
        """The same as -o options, for an ssh (or sshfs) given 127.0.0.1 itself and no config."""
        return [
            "-p", str(self.port), "-l", self.user,
            "-o", f"IdentityFile={self.identity}", "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
            "-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "StrictHostKeyChecking=yes", "-o", "CheckHostIP=no", "-o", "BatchMode=yes",
        ]

    def write_client_config(self, path: str | os.PathLike[str], alias: str | None = None) -> Path:
        """Write the client config into path (replacing it), owned by the user, mode 0600
        (ssh refuses a config others can write)."""
        path = Path(path)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.client_config(alias))
        if os.geteuid() != self.uid:
            os.chown(path, self.uid, self.gid)
        return path

    def install_client_config(self, home: str | os.PathLike[str] | None = None) -> Path:
        """Put the Host block first in home/.ssh/config (default the user's passwd home, the
        one ssh reads), making the directories when missing; stop() puts back what was there
        and removes what was made."""
        ssh_dir = Path(home if home is not None else self.home) / ".ssh"
        made: list[Path] = []
        for directory in (ssh_dir.parent, ssh_dir):
            if not directory.exists():
                try:
                    directory.mkdir(mode=0o700)
                except OSError as e:
                    self._undo(made)
                    raise SshdError(
                        f"can't make {directory} ({e.strerror}): ssh reads the config of the passwd home, "
                        "not of $HOME; give ssh -F with write_client_config instead"
                    ) from None
                if os.geteuid() != self.uid:
                    os.chown(directory, self.uid, self.gid)
                made.append(directory)
        path = ssh_dir / "config"
        before = path.read_bytes() if path.exists() else None
        block = (
            MARK_BEGIN.format(port=self.port) + "\n" + self.client_config()
            + MARK_END.format(port=self.port) + "\n"
        ).encode()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(block + (before or b""))
        if os.geteuid() != self.uid and before is None:
            os.chown(path, self.uid, self.gid)
        self._installed.append((path, before, made))
        return path

    def _uninstall(self) -> None:
        while self._installed:
            path, before, made = self._installed.pop()
            if before is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(before)
            self._undo(made)

    @staticmethod
    def _undo(made: list[Path]) -> None:
        for directory in reversed(made):
            shutil.rmtree(directory, ignore_errors=True)

    # -- running -----------------------------------------------------------------

    def start(self) -> Sshd:
        if self.process is not None:
            return self
        if self.as_root:
            if locked(self.user):
                raise SshdError(
                    f"{self.user}'s password is locked ('!' in /etc/shadow), which sshd run as root without "
                    f"PAM refuses even for a key: usermod -p '*' {self.user} (no password, not locked)"
                )
            os.makedirs(PRIVSEP_DIR, mode=0o755, exist_ok=True)  # what the package's systemd unit makes
        self.dir = Path(tempfile.mkdtemp(prefix="newns-sshd-", dir=self.where))
        try:
            self._own(self.dir)
            host_key = self._keygen("host_ed25519")
            user_key = self._keygen("id_ed25519")
            self._write("authorized_keys", user_key + "\n")
            for attempt in range(5):
                self.port = free_port()
                self._write("sshd_config", self.server_config())
                self._write("known_hosts", f"[{self.host}]:{self.port} {host_key}\n", 0o644)
                self.config.unlink(missing_ok=True)
                self.write_client_config(self.config)
                if self._launch():
                    return self
            raise SshdError(f"sshd did not start:\n{self.log_text()}")
        except BaseException:
            self.stop()
            raise

    def _launch(self) -> bool:
        """Start sshd on self.port; False when another took the port meanwhile."""
        self.log.unlink(missing_ok=True)
        self.process = subprocess.Popen(
            [SSHD, "-D", "-f", str(self._path("sshd_config")), "-E", str(self.log)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"}, cwd="/", close_fds=True,
            start_new_session=True, **({} if self.as_root else self.as_user()),
        )
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.process = None
                if "Address already in use" in self.log_text():
                    return False
                raise SshdError(f"sshd ended at once:\n{self.log_text()}")
            if self._banner():
                return True
            time.sleep(0.02)
        self._kill_all()
        raise SshdError(f"sshd did not answer on {self.host}:{self.port} within {self.timeout}s:\n{self.log_text()}")

    def _banner(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as s:
                s.settimeout(2)
                return s.recv(8).startswith(b"SSH-")
        except OSError:
            return False

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except (OSError, AssertionError):
            return ""

    def ssh(self, *command: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run a remote command (a shell line) as the user, through this sshd, with the client config."""
        return subprocess.run(
            ["ssh", "-F", str(self.config), self.alias, "--", *command],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": self.home}, **self.as_user(),
        )

    def processes(self) -> list[int]:
        """sshd and everything it started that still runs (the listener first)."""
        if self.process is None:
            return []
        return [self.process.pid, *descendants(self.process.pid)]

    def stop(self) -> None:
        """Kill sshd and all it started, put back the client configs installed, remove the
        directory. Safe to call twice, or after a failed start."""
        try:
            self._kill_all()
        finally:
            self._uninstall()
            if self.dir is not None:
                shutil.rmtree(self.dir, ignore_errors=True)
                self.dir = None

    def _kill_all(self) -> None:
        """Freeze the listener and its whole tree (a stopped process makes no child), then
        kill them all: nothing sshd started is left, not even a session orphaned by a kill."""
        if self.process is None:
            return
        listener = self.process
        held: dict[int, int] = {}  # pid: pidfd
        try:
            _hold(listener.pid, held)
            while True:
                new = [pid for pid in descendants(listener.pid, held) if pid not in held]
                if not new:
                    break
                for pid in new:
                    _hold(pid, held)
            for fd in held.values():
                _pidfd_signal(fd, signal.SIGKILL)
            listener.wait(timeout=self.timeout)
            deadline = time.monotonic() + self.timeout
            for pid, fd in held.items():
                if pid != listener.pid and not select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
                    raise SshdError(f"sshd's process {pid} did not end")
        finally:
            for fd in held.values():
                os.close(fd)
            self.process = None

    def __enter__(self) -> Sshd:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def locked(user: str) -> bool:
    """Whether the user's password is locked ('!' first in /etc/shadow), which only root reads."""
    try:
        with open("/etc/shadow") as f:
            entries = dict(line.split(":", 2)[:2] for line in f if line.count(":") >= 2)
    except OSError:
        return False
    return entries.get(user, "").startswith("!")


def _hold(pid: int, held: dict[int, int]) -> None:
    """Take a pidfd of pid and stop it (gone already: nothing to hold)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    held[pid] = fd
    _pidfd_signal(fd, signal.SIGSTOP)


def _pidfd_signal(fd: int, sig: int) -> None:
    try:
        signal.pidfd_send_signal(fd, sig)
    except ProcessLookupError:
        pass


def _parents() -> dict[int, int]:
    """Each process's parent, from /proc."""
    parents = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        parents[int(name)] = int(fields[1])
    return parents


def descendants(root: int, also: dict[int, int] | None = None) -> list[int]:
    """The processes below root (children, their children, ...), parents before children;
    `also` holds pids taken as part of the tree even when orphaned meanwhile."""
    parents = _parents()
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    found, todo = [], [root, *(also or {})]
    seen = set(todo)
    while todo:
        for child in children.get(todo.pop(0), []):
            if child not in seen:
                seen.add(child)
                found.append(child)
                todo.append(child)
    return found
