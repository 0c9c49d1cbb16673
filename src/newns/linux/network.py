"""net lines carried out: names resolved and the engine checked in the caller's namespaces,
the packet filter set in the command's network namespace, and pasta started beside newns
for the life of the command."""
from __future__ import annotations

import os
import select
import shutil
import socket
import subprocess
import time

from ..diagnostics import NewnsError
from ..diagnostics import printable
from ..labels import RESOLV_CONF_SOURCE
from ..network import ENGINE, allow_line, asks_loopback, engine_arguments, forward_lines, resolver_of, ruleset
from . import libc
from .door import mount_file
from .world import command_line, namespace_id, process_status

TYPE_CHECKING = False
if TYPE_CHECKING:  # for type checkers only: the signal module loads enum
    import signal

    from ..diagnostics import Where
    from ..network import Network, Resolver
else:
    import _signal as signal

CAP_NET_ADMIN = 12
START_TIMEOUT = 10.0  # seconds pasta may take to configure the namespace


RESOLV_CONF = "/etc/resolv.conf"


class Prepared:
    """What the network needs, found in the caller's namespaces before anything is made:
    the engine, nft, the caller's resolver as the command reaches it, and the rules with
    each name's addresses."""

    def __init__(self, network: Network) -> None:
        self.network = network
        self.engine = _program(ENGINE, "passt", network)
        self.nft = _program("nft", "nftables", network)
        try:
            os.close(os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC))
        except OSError as e:
            raise NewnsError(
                f"net: can't open /dev/net/tun ({e.strerror}), which {ENGINE} needs: as root, chmod 0666 /dev/net/tun "
                "(Debian's default) or load the tun module (modprobe tun)",
                network.where,
            ) from None
        allowed = [(dest, dest.networks or _resolved(dest.name, dest.where)) for dest in network.allowed]
        self.resolver = caller_resolver()
        self.rules = ruleset(allowed, self.resolver)


def _program(name: str, package: str, network: Network) -> str:
    found = _which(name)
    if found is None:
        raise NewnsError(f"net: {name} is not installed, and the net lines need it: install {package}", network.where)
    return found


def _which(name: str) -> str | None:
    """name on $PATH, else in the system's directories (a user's PATH often lacks sbin, where nft is)."""
    return shutil.which(name, path=":".join(filter(None, [os.environ.get("PATH"), "/usr/sbin:/usr/bin:/sbin:/bin"])))


def _resolved(name: str | None, where: Where) -> tuple[str, ...]:
    assert name is not None  # a destination without networks is a name
    try:
        found = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    except OSError as e:
        raise NewnsError(f"net allow: {name} does not resolve ({e.strerror or e}): check the name", where) from None
    return tuple(dict.fromkeys(str(info[4][0]).partition("%")[0] for info in found))


def caller_resolver() -> Resolver:
    """The caller's resolver (its resolv.conf) as the command reaches it."""
    return resolver_of(_read(RESOLV_CONF) or "")


def _read(path: str) -> str | None:
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return None


class Engine:
    """pasta, started from the caller's namespaces: a child of the process that makes it,
    which waits until start names the namespace to attach to, and dies with that process."""

    def __init__(self, prepared: Prepared) -> None:
        self.prepared = prepared
        go, self.go = os.pipe()
        self.log, log = os.pipe()
        parent = os.getpid()
        self.pid = os.fork()
        if self.pid == 0:
            try:
                libc.prctl(libc.PR_SET_PDEATHSIG, signal.SIGKILL)
                if os.getppid() == parent:
                    os.close(self.go)
                    os.close(self.log)
                    target = os.read(go, 32).decode()
                    if target:
                        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # pasta insists (Python ignores it)
                        signal.pthread_sigmask(signal.SIG_SETMASK, [])
                        null = os.open("/dev/null", os.O_RDWR)
                        os.dup2(null, 0)
                        os.dup2(log, 1)
                        os.dup2(log, 2)
                        userns = _held(f"/proc/{target}/ns/user") if os.geteuid() != 0 else None
                        args = engine_arguments(prepared.network, _held(f"/proc/{target}/ns/net"), userns,
                                                dns_forward=prepared.resolver.conf is not None)
                        os.execv(prepared.engine, [ENGINE, *args])
            finally:
                os._exit(127)
        os.close(go)
        os.close(log)

    def started(self) -> None:
        """In the process that made the network namespace: the rules set (by this process,
        privileged over the namespace), then pasta attached to it, once it has configured it."""
        set_rules(self.prepared)
        os.write(self.go, str(os.getpid()).encode())
        os.close(self.go)
        said = b""
        deadline = time.monotonic() + START_TIMEOUT
        ports = {fw.inner for fw in self.prepared.network.loopback if not fw.udp}
        while not (_configured() and _listening(ports)):
            if time.monotonic() > deadline:
                raise NewnsError(f"net: {ENGINE} did not configure the network in {START_TIMEOUT:.0f} s", self.prepared.network.where)
            if select.select([self.log], [], [], 0.002)[0]:
                chunk = os.read(self.log, 4096)
                if not chunk:
                    text = said.decode(errors="replace").strip().replace("\n", "; ")
                    raise NewnsError(f"net: {ENGINE} failed: {text or 'it ended'}", self.prepared.network.where)
                said += chunk

    def give_resolver(self) -> None:
        """In the command's namespace, built and entered: when the caller's name server is on the
        host's loopback, the command's resolv.conf made (in memory) naming the one pasta forwards,
        mounted on /etc/resolv.conf itself (a symlink there is covered: the resolver reads the file
        whatever the link led to, in this namespace or nowhere), unless the namespace gives one
        that asks a name server elsewhere (a line of the file chose it); none where /etc has none."""
        conf = self.prepared.resolver.conf
        if conf is None or not asks_loopback(_read(RESOLV_CONF)) or not os.path.lexists(RESOLV_CONF):
            return
        try:
            mount_file(conf.encode(), RESOLV_CONF, RESOLV_CONF_SOURCE)
        except OSError as e:
            raise NewnsError(
                f"net: can't give the command a resolv.conf naming {ENGINE}'s DNS forward: {e.strerror}",
                self.prepared.network.where,
            ) from None

    def close(self) -> None:
        """In the process that stays while another makes the namespace: pasta waits for
        that one alone. The log stays open here, so pasta never writes to a closed pipe."""
        os.close(self.go)


def _held(path: str) -> str:
    """The namespace at path, opened here (pasta opens it after it has dropped privileges,
    and could not then open root's) as a path pasta can open: /proc/self/fd/N."""
    fd = os.open(path, os.O_RDONLY)
    os.set_inheritable(fd, True)
    return f"/proc/self/fd/{fd}"


def _configured() -> bool:
    """Whether this network namespace has a default route through an interface other than
    lo (pasta's configuration done; IPv6's unreachable default is on lo)."""
    for table, default in (("/proc/self/net/route", "00000000"), ("/proc/self/net/ipv6_route", "0" * 32)):
        try:
            with open(table) as f:
                routes = [line.split() for line in f.read().splitlines()]
        except OSError:
            continue
        for fields in routes:
            device = fields[0] if table.endswith("/route") else fields[-1]
            destination = fields[1] if table.endswith("/route") else fields[0] + fields[1]
            if destination in (default, default + "00") and device != "lo":
                return True
    return False


def _listening(ports: set[int]) -> bool:
    """Whether this network namespace has a TCP socket listening on each of ports: pasta's
    own, for the host's loopback ports a net loopback line names, made after its route."""
    if not ports:
        return True
    found = set()
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        try:
            with open(table) as f:
                rows = [line.split() for line in f.read().splitlines()[1:]]
        except OSError:
            continue
        found |= {int(fields[1].rsplit(":", 1)[1], 16) for fields in rows if len(fields) > 3 and fields[3] == "0A"}
    return ports <= found


def set_rules(prepared: Prepared) -> None:
    """Load the rules into this process's network namespace with nft, given the one
    capability it needs (an unprivileged caller's uid is not root in newns's user namespace)."""
    result = subprocess.run(
        [prepared.nft, "-f", "-"], input=prepared.rules.encode(), capture_output=True,
        preexec_fn=_keep_net_admin if os.geteuid() != 0 else None,
    )
    if result.returncode != 0:
        text = result.stderr.decode(errors="replace").strip()
        raise NewnsError(f"net: nft refused the rules: {text}", prepared.network.where)


def _keep_net_admin() -> None:
    libc.keep_capability(CAP_NET_ADMIN)


def described(pid: str) -> list[str]:
    """The net lines of pid's network namespace (one of its own), where they can be told: the
    DESTs of the rules newns set, read in it with nft, as the caller, when the caller's uid owns
    its user namespace (no one else could have set them); the ports from the command line of the
    pasta the newns that made it started. A comment for what can't be told; none for a namespace with no
    rules of newns's (clear net)."""
    net = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        rules = _rules(net)
        if rules is None or rules and rules[0].startswith("#"):
            return rules or []
        forwards = _forwards(pid, os.fstat(net).st_ino)
    finally:
        os.close(net)
    return rules + forwards


def _rules(net: int) -> list[str] | None:
    """The net allow line of the rules in newns's table in the network namespace held by net;
    None when it has no such table; a comment when they can't be told."""
    cant = "# net: a network of its own, whose rules can't be told: "
    try:
        owner = libc.owner_namespace(net)
    except PermissionError:
        return [cant + "it belongs to a user namespace outside the caller's"]
    try:
        if libc.namespace_owner(owner) != os.geteuid():
            return [cant + "another user's user namespace owns it, where they could set any"]
        nft = _which("nft")
        if nft is None:
            return [cant + "nft is not installed"]
        userns = owner if os.fstat(owner).st_ino != namespace_id("self", "user") else None
        try:
            result = subprocess.run(
                [nft, "-j", "list", "table", "inet", "newns"], capture_output=True, preexec_fn=lambda: _enter(net, userns)
            )
        except subprocess.SubprocessError:
            return [cant + "the caller has no privilege to read them (from inside it, say)"]
    finally:
        os.close(owner)
    if result.returncode != 0:
        said = result.stderr.decode(errors="replace").strip().splitlines()
        if said and "No such file or directory" in said[0]:
            return None
        return [cant + printable(said[0] if said else f"nft ended with status {result.returncode}")]
    import json

    try:
        listed = json.loads(result.stdout)["nftables"]
        comments = [
            item["rule"]["comment"] for item in listed
            if "rule" in item and item["rule"].get("table") == "newns" and "comment" in item["rule"]
        ]
    except (ValueError, KeyError, TypeError):
        return [cant + "nft's listing is not as expected"]
    line = allow_line([str(comment) for comment in comments])
    return [line] if line is not None else [cant + "a rule is not one newns sets"]


def _enter(net: int, userns: int | None) -> None:
    """In nft's process: into the network namespace (through the user namespace that owns
    it, unless it is this one), with only the capability nft needs."""
    if userns is not None:
        libc.setns(userns, libc.CLONE_NEWUSER)
    libc.setns(net, libc.CLONE_NEWNET)
    libc.keep_capability(CAP_NET_ADMIN)


def _forwards(pid: str, net: int) -> list[str]:
    """The forward and loopback lines of the engine attached to pid's network namespace (whose
    inode is net): a pasta of the caller's uid started by the newns that made it, the nearest
    of pid's ancestors outside it, in the caller's user namespace (so the caller's own:
    nothing the command runs is, nor can the command leave its network namespace)."""
    child, userns = pid, namespace_id("self", "user")
    try:
        while (parent := process_status(child)["PPid"][0]) != "0" and namespace_id(parent, "net") == net:
            child = parent
        if parent == "0" or namespace_id(parent, "user") != userns:
            return ["# net: its forwarded ports can't be told: the newns that made it is not the caller's"]
    except OSError:
        return ["# net: its forwarded ports can't be told: the newns that made it can't be read"]
    uid = str(os.geteuid())
    for entry in os.listdir("/proc"):
        args = command_line(entry)
        try:
            status = process_status(entry) if args[:1] == [ENGINE] else {}
        except (OSError, ValueError):
            continue
        if status.get("PPid") == [parent] and set(status["Uid"]) == {uid}:
            lines = forward_lines(args[1:])
            return lines if lines is not None else ["# net: its forwarded ports can't be told: pasta's arguments are not newns's"]
    return ["# net: its forwarded ports can't be told: the newns that made it has no pasta"]
