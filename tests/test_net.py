"""net lines, run for real in network namespaces the test makes, as root and as newns-test.

A "host" network namespace, joined by a veth pair to a "servers" one that answers on
TEST-NET and documentation addresses (192.0.2.2, 192.0.2.3, 198.51.100.7, 2001:db8::2,
2001:db8::3), stands for the machine: newns
runs inside it, in a mount namespace where /etc/hosts names servers.test and the only name
server is 192.0.2.53 (where nothing answers), or, for a test that says so, the host
namespace's 127.0.0.53, where a name server answers for dns.test (systemd-resolved's
way). No traffic leaves the machine.
"""
import os
import shutil
import subprocess
import sys
import time
import types
import uuid

from pathlib import Path

import pytest
from helpers import NEWNS, tun_open_to_all

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the test makes network namespaces: run as root"),
    pytest.mark.skipif(not shutil.which("pasta") or not shutil.which("nft"), reason="needs pasta (passt) and nft (nftables)"),
]

SERVER = """
import socket, sys, threading
def serve(address, port):
    s = socket.socket(socket.AF_INET6 if ':' in address else socket.AF_INET)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((address, port))
    s.listen()
    while True:
        c, _ = s.accept()
        c.sendall(f'hello from {address}:{port}\\n'.encode())
        c.close()
for word in sys.argv[1:]:
    address, port = word.rsplit(':', 1)
    threading.Thread(target=serve, args=(address, int(port))).start()
print('ready', flush=True)
"""

PROBE = """
import socket, sys, time
for word in sys.argv[1:]:
    address, port = word.rsplit(':', 1)
    start = time.monotonic()
    try:
        with socket.create_connection((address, int(port)), timeout=5) as s:
            print(word, 'reached', s.recv(100).decode().strip())
    except OSError as e:
        print(word, 'refused' if time.monotonic() - start < 1 else 'timeout', e.errno)
"""


# A name server: LISTEN NAME=ADDRESS...: A records for those names on LISTEN:53 (UDP),
# NXDOMAIN for any other name.
NAMESERVER = """
import socket, struct, sys
listen, *pairs = sys.argv[1:]
names = dict(pair.split('=') for pair in pairs)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((listen, 53))
print('ready', flush=True)
while True:
    query, peer = s.recvfrom(512)
    labels, at = [], 12
    while query[at]:
        labels.append(query[at + 1 : at + 1 + query[at]].decode().lower())
        at += 1 + query[at]
    address = names.get('.'.join(labels))
    answer = b''
    if address is not None and query[at + 1 : at + 3] == b'\\x00\\x01':  # an A query for a name it knows
        answer = b'\\xc0\\x0c' + struct.pack('!HHIH', 1, 1, 60, 4) + socket.inet_aton(address)
    flags = 0x8180 | (0 if address is not None else 3)  # a reply; NXDOMAIN for a name it does not know
    header = query[:2] + struct.pack('!HHHHH', flags, 1, 1 if answer else 0, 0, 0)
    s.sendto(header + query[12 : at + 5] + answer, peer)
"""


def ip(*args: str, input: str | None = None) -> str:
    return subprocess.run(["ip", *args], check=True, capture_output=True, text=True, input=input).stdout


class Lan:
    """The two namespaces and the servers; run() runs newns in the host one."""

    def __init__(self, base) -> None:
        tag = uuid.uuid4().hex[:8]
        self.host, self.servers = f"nh-{tag}", f"ns-{tag}"
        self.mounted_netns = "/run/netns" in _mount_points()  # ip netns add mounts it when it isn't
        ip("netns", "add", self.host)
        ip("netns", "add", self.servers)
        ip("link", "add", f"vh{tag}", "netns", self.host, "type", "veth", "peer", "name", f"vs{tag}", "netns", self.servers)
        ip("-n", self.host, "addr", "add", "192.0.2.1/24", "dev", f"vh{tag}")
        for address in ("192.0.2.2/24", "192.0.2.3/24", "192.0.2.53/24", "198.51.100.7/24"):
            ip("-n", self.servers, "addr", "add", address, "dev", f"vs{tag}")
        for ns, link in ((self.host, f"vh{tag}"), (self.servers, f"vs{tag}")):
            ip("-n", ns, "link", "set", link, "up")
            ip("-n", ns, "link", "set", "lo", "up")
        ip("-n", self.host, "route", "add", "default", "via", "192.0.2.2")
        ip("-n", self.host, "addr", "add", "2001:db8::1/64", "dev", f"vh{tag}", "nodad")
        for address in ("2001:db8::2/64", "2001:db8::3/64"):
            ip("-n", self.servers, "addr", "add", address, "dev", f"vs{tag}", "nodad")
        ip("-n", self.host, "-6", "route", "add", "default", "via", "2001:db8::2")
        self.base = base
        (base / "hosts").write_text("127.0.0.1 localhost\n192.0.2.3 servers.test\n")
        (base / "resolv.conf").write_text("nameserver 192.0.2.53\n")
        (base / "probe.py").write_text(PROBE)
        self.linked = False
        self.daemons = [
            self._serve(self.servers, SERVER, "192.0.2.2:80", "192.0.2.3:80", "198.51.100.7:80", "2001:db8::2:80",
                        "2001:db8::3:80"),
            self._serve(self.host, SERVER, "127.0.0.1:7000"),  # the host's own loopback service
            self._serve(self.host, NAMESERVER, "127.0.0.53", "dns.test=192.0.2.2"),  # the host's own resolver
        ]

    def _serve(self, ns: str, script: str, *args: str) -> subprocess.Popen:
        server = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, "-c", script, *args], stdout=subprocess.PIPE, text=True
        )
        assert server.stdout.readline() == "ready\n"
        return server

    def resolver_on_loopback(self, *, linked: bool = False) -> None:
        """The host's resolver is its own 127.0.0.53, as systemd-resolved's stub is; linked:
        /etc/resolv.conf is a symlink to the file that says so (Ubuntu's stub-resolv.conf)."""
        (self.base / "resolv.conf").write_text("search test\nnameserver 127.0.0.53\noptions edns0 trust-ad\n")
        self.linked = linked

    def inside(self, caller, args: list[str]) -> list[str]:
        """args run in the host namespace, by caller, with the test's hosts and resolver."""
        user = [] if not caller.rootless else ["setpriv", f"--reuid={caller.uid}", f"--regid={caller.gid}", "--clear-groups"]
        resolv_conf = f"mount --bind {self.base}/resolv.conf /etc/resolv.conf"
        if self.linked:  # /etc, copy-on-write into the test's tree, with the symlink
            (self.base / "etc-upper").mkdir(exist_ok=True)
            (self.base / "etc-work").mkdir(exist_ok=True)
            resolv_conf = (
                f"mount -t overlay -o lowerdir=/etc,upperdir={self.base}/etc-upper,workdir={self.base}/etc-work "
                f"newns-test /etc && ln -sf {self.base}/resolv.conf /etc/resolv.conf"
            )
        script = f"{resolv_conf} && mount --bind {self.base}/hosts /etc/hosts && " 'exec "$@"'

        return ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh",
                "nsenter", f"--net=/run/netns/{self.host}", *user, *args]

    def newns(self, caller, text: str, *command: str, **kwargs) -> subprocess.CompletedProcess:
        ns = self.base / "test.ns"
        ns.write_text(text)
        return self.run(caller, "-f", str(ns), *command, **kwargs)

    def run(self, caller, *args: str, **kwargs) -> subprocess.CompletedProcess:
        """newns with args, in the host namespace."""
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME": str(self.base), "LANG": "C.UTF-8"}
        return subprocess.run(
            self.inside(caller, [NEWNS, *args]), env=env, cwd=self.base, capture_output=True, text=True, timeout=60,
            **kwargs,
        )

    def probe(self, caller, text: str, *addresses: str) -> dict[str, str]:
        result = self.newns(caller, text, sys.executable, str(self.base / "probe.py"), *addresses)
        assert result.returncode == 0, result.stderr
        return {line.split()[0]: line.split()[1] for line in result.stdout.splitlines()}

    def state(self) -> tuple[str, ...]:
        """The host namespace's network, and its processes."""
        inode = os.stat(f"/run/netns/{self.host}").st_ino
        pids = set()
        for entry in os.listdir("/proc"):
            try:
                if entry.isdigit() and os.stat(f"/proc/{entry}/ns/net").st_ino == inode:
                    pids.add(entry)
            except OSError:
                pass
        tables = subprocess.run(["ip", "netns", "exec", self.host, "nft", "list", "ruleset"], capture_output=True, text=True)
        addresses = ip("-n", self.host, "addr").replace(" tentative", "")  # IPv6 address detection ends meanwhile
        return (addresses, ip("-n", self.host, "route"), ip("-n", self.host, "link"),
                tables.stdout, " ".join(sorted(pids)))

    def close(self) -> None:
        for daemon in self.daemons:
            daemon.kill()
            daemon.wait()
        ip("netns", "del", self.host)
        ip("netns", "del", self.servers)
        if not self.mounted_netns and "/run/netns" in _mount_points() and not os.listdir("/run/netns"):
            subprocess.run(["umount", "/run/netns"], check=False)  # the host's mount table as it was


def _mount_points() -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split(" ")[4] for line in f]


@pytest.fixture
def lan(tree):
    """The namespaces, and /dev/net/tun open to every user (Debian's default mode) meanwhile."""
    with tun_open_to_all():
        made = Lan(tree.base)
        before = made.state()
        yield made
        try:
            deadline = time.monotonic() + 5
            while made.state() != before and time.monotonic() < deadline:
                time.sleep(0.05)  # the engine is killed as newns ends; the kernel reaps it a moment later
            assert made.state() == before  # nothing left running, the host's network as it was
        finally:
            made.close()


def test_one_destination_is_reached_and_another_refused_at_once(lan, caller):
    seen = lan.probe(caller, "net allow 192.0.2.3:80\n", "192.0.2.3:80", "192.0.2.2:80", "198.51.100.7:80")
    assert seen == {"192.0.2.3:80": "reached", "192.0.2.2:80": "refused", "198.51.100.7:80": "refused"}


def test_a_network_and_a_name(lan, caller):
    seen = lan.probe(caller, "net allow 192.0.2.0/24\n", "192.0.2.2:80", "192.0.2.3:80", "198.51.100.7:80")
    assert seen == {"192.0.2.2:80": "reached", "192.0.2.3:80": "reached", "198.51.100.7:80": "refused"}
    seen = lan.probe(caller, "net allow servers.test:80\n", "servers.test:80", "192.0.2.2:80")
    assert seen == {"servers.test:80": "reached", "192.0.2.2:80": "refused"}


@pytest.mark.parametrize("allow", ["192.0.2.2:80", "dns.test:80"], ids=["address", "name"])
@pytest.mark.parametrize("linked", [False, True], ids=["file", "symlink"])
def test_names_resolve_through_a_resolver_on_the_hosts_loopback(lan, caller, allow, linked):
    """The host's resolver is 127.0.0.53, on its loopback: the command's resolv.conf names the
    address pasta forwards to it, with the host's search list; a name of the file's is
    resolved by the caller's resolver, the same one."""
    lan.resolver_on_loopback(linked=linked)
    seen = lan.probe(caller, f"net allow {allow}\n", "dns.test:80", "dns:80", "192.0.2.3:80", "127.0.0.53:53")
    assert seen == {"dns.test:80": "reached", "dns:80": "reached", "192.0.2.3:80": "refused", "127.0.0.53:53": "refused"}
    result = lan.newns(caller, f"net allow {allow}\n", "/bin/sh", "-c", "getent hosts dns.test; cat /etc/resolv.conf")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "192.0.2.2       dns.test\nsearch test\noptions edns0 trust-ad\nnameserver 169.254.1.1\n"


def test_only_the_forwarded_resolver_is_reached_on_port_53(lan, caller):
    lan.resolver_on_loopback()
    script = """
import socket
for address in ('169.254.1.1', '192.0.2.53'):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    try:
        s.sendto(bytes.fromhex('abcd01000001000000000000') + b'\\x03dns\\x04test\\x00\\x00\\x01\\x00\\x01', (address, 53))
        print(address, 'answered', socket.inet_ntoa(s.recv(512)[-4:]))  # the answer's address
    except OSError as e:
        print(address, 'refused', e.errno)
"""
    result = lan.newns(caller, "net allow 192.0.2.3:80\n", sys.executable, "-c", script)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "169.254.1.1 answered 192.0.2.2\n192.0.2.53 refused 1\n"


def test_a_posted_namespace_keeps_the_resolv_conf_and_ns_tells_it(lan, caller):
    lan.resolver_on_loopback()
    name = f"net{uuid.uuid4().hex[:8]}"
    posted = lan.newns(caller, "net allow 192.0.2.2:80\n", "--post", name)
    assert posted.returncode == 0, posted.stderr
    try:
        attached = lan.run(caller, "--attach", name, "getent", "hosts", "dns.test")
        dumped = lan.run(caller, "--ns", name)
    finally:
        lan.run(caller, "--unpost", name)
    assert (attached.returncode, attached.stdout) == (0, "192.0.2.2       dns.test\n"), attached.stderr
    assert dumped.returncode == 0, dumped.stderr
    assert [line for line in dumped.stdout.splitlines() if "resolv.conf" in line or line.startswith("net")] == [
        "net allow 192.0.2.2:80",
        "# /etc/resolv.conf: the resolv.conf the net lines give (naming the engine's DNS forward)",
    ]


def test_a_resolver_elsewhere_leaves_the_commands_resolv_conf_as_it_is(lan, caller):
    result = lan.newns(caller, "net allow 192.0.2.3:80\n", "cat", "/etc/resolv.conf")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "nameserver 192.0.2.53\n"


def test_a_resolv_conf_the_file_binds_is_left_as_it_is(lan, caller):
    lan.resolver_on_loopback()
    (lan.base / "own-resolv.conf").write_text("nameserver 192.0.2.53\n")
    text = f"net allow 192.0.2.53:53\nbind {lan.base}/own-resolv.conf /etc/resolv.conf\n"
    result = lan.newns(caller, text, "cat", "/etc/resolv.conf")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "nameserver 192.0.2.53\n"


def test_an_ipv6_destination(lan, caller):
    seen = lan.probe(caller, "net allow [2001:db8::3]:80\n", "2001:db8::3:80", "2001:db8::2:80", "192.0.2.3:80")
    assert seen == {"2001:db8::3:80": "reached", "2001:db8::2:80": "refused", "192.0.2.3:80": "refused"}


def test_anywhere_but_the_hosts_loopback(lan, caller):
    seen = lan.probe(caller, "net allow *\n", "192.0.2.2:80", "198.51.100.7:80", "127.0.0.1:7000")
    assert seen == {"192.0.2.2:80": "reached", "198.51.100.7:80": "reached", "127.0.0.1:7000": "refused"}


def test_the_hosts_loopback_port_a_line_names(lan, caller):
    seen = lan.probe(caller, "net allow 192.0.2.3:80\nnet loopback 7000\n", "127.0.0.1:7000", "192.0.2.2:80")
    assert seen == {"127.0.0.1:7000": "reached", "192.0.2.2:80": "refused"}


def test_the_commands_own_loopback_works(lan, caller):
    script = f"""
import subprocess, sys
server = subprocess.Popen([sys.executable, '-c', {SERVER!r}, '127.0.0.1:7001'], stdout=subprocess.PIPE)
server.stdout.readline()
subprocess.run([sys.executable, {str(lan.base / 'probe.py')!r}, '127.0.0.1:7001'])
server.kill()
"""
    result = lan.newns(caller, "net allow 192.0.2.3:80\n", sys.executable, "-c", script)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "127.0.0.1:7001 reached hello from 127.0.0.1:7001\n"


def test_a_forwarded_port_reaches_a_server_inside(lan, caller):
    ns = lan.base / "test.ns"
    ns.write_text("net allow 192.0.2.3:80\nnet forward 7100:7002\n")
    env = {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "HOME": str(lan.base)}
    server = subprocess.Popen(
        lan.inside(caller, [NEWNS, "-f", str(ns), sys.executable, "-c", SERVER, "0.0.0.0:7002"]),
        env=env, cwd=lan.base, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert server.stdout.readline() == "ready\n", server.stderr.read()
        client = subprocess.run(
            ["ip", "netns", "exec", lan.host, sys.executable, str(lan.base / "probe.py"), "127.0.0.1:7100"],
            capture_output=True, text=True, timeout=30,
        )
        assert client.stdout == "127.0.0.1:7100 reached hello from 0.0.0.0:7002\n", client.stderr
    finally:
        server.terminate()
        server.wait()


UDP_ECHO = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('0.0.0.0', int(sys.argv[1])))
print('ready', flush=True)
while True:
    data, peer = s.recvfrom(100)
    s.sendto(b'echo ' + data, peer)
"""


def test_a_forwarded_udp_port_reaches_a_server_inside(lan, caller):
    ns = lan.base / "test.ns"
    ns.write_text("net allow 192.0.2.3:80\nnet forward 7003/udp\n")  # a renumbered one is refused
    env = {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "HOME": str(lan.base)}
    server = subprocess.Popen(
        lan.inside(caller, [NEWNS, "-f", str(ns), sys.executable, "-c", UDP_ECHO, "7003"]),
        env=env, cwd=lan.base, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    client = (
        "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(5); "
        "s.sendto(b'ping', ('127.0.0.1', 7003)); print(s.recv(100).decode())"
    )
    try:
        assert server.stdout.readline() == "ready\n", server.stderr.read()
        answer = subprocess.run(["ip", "netns", "exec", lan.host, sys.executable, "-c", client],
                                capture_output=True, text=True, timeout=30)
        assert answer.stdout == "echo ping\n", answer.stderr
    finally:
        server.terminate()
        server.wait()


def test_the_engine_ends_when_newns_is_killed(lan, caller):
    ns = lan.base / "test.ns"
    ns.write_text("net allow 192.0.2.3:80\n")
    env = {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "HOME": str(lan.base)}
    newns = subprocess.Popen(
        lan.inside(caller, [NEWNS, "-f", str(ns), "/bin/sh", "-c", "echo started; exec sleep 60"]),
        env=env, cwd=lan.base, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert newns.stdout.readline() == "started\n", newns.stderr.read()
        assert any(open(f"/proc/{pid}/comm").read().startswith("passt") for pid in lan.state()[-1].split())
    finally:
        newns.kill()  # the process is newns itself: unshare, sh, nsenter and setpriv exec it
        newns.wait()
    # the lan fixture checks that nothing is left in the host namespace, pasta or the command


@pytest.mark.parametrize("user", ["", "user 0 0\n"], ids=["as-caller", "user-0"])
def test_the_command_cannot_lift_the_rules(lan, caller, user):
    script = f"nft flush ruleset; nft add table inet mine; {sys.executable} {lan.base / 'probe.py'} 192.0.2.2:80"
    result = lan.newns(caller, f"net allow 192.0.2.3:80\n{user}", "/bin/sh", "-c", script)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "192.0.2.2:80 refused 111\n"
    assert result.stderr.count("Operation not permitted") == 2, result.stderr


@pytest.mark.parametrize(
    "text, where, message",
    [
        ("net allow 192.0.2.1/24\n", "1:11", "has host bits set"),
        ("net allow 192.0.2.3:99999\n", "1:11", "is not a port"),
        ("net allow 192.0.2.3:80 bad_name\n", "1:24", "not a host name"),
        ("net allow nowhere.test\n", "1:11", "nowhere.test does not resolve"),
        ("net forward 80/sctp\n", "1:13", "/tcp (the default) or /udp"),
        ("net forward 5353:53/udp\n", "1:13", "write net forward 53/udp"),
        ("net allow\n", "1:1", "give a destination"),
        ("net deny 192.0.2.3\n", "1:5", "net allow DEST"),
    ],
    ids=["host-bits", "port", "name", "unresolved", "protocol", "renumbered-udp", "empty", "verb"],
)
def test_bad_lines_at_their_place_in_a_run_and_in_check(lan, caller, text, where, message):
    ns = lan.base / "test.ns"
    for args in ([], ["--check"]):
        result = lan.newns(caller, text, *args, *([] if args else ["/bin/true"]))
        assert result.returncode == 125, result
        said = result.stdout if args else result.stderr  # --check reports on its output
        assert f"{ns}:{where}: " in said and message in said, result


def test_a_missing_tun_device_is_told_before_anything_starts(lan, caller):
    if not caller.rootless:
        pytest.skip("root opens /dev/net/tun whatever its mode")
    os.chmod("/dev/net/tun", 0o600)
    result = lan.newns(caller, "net allow 192.0.2.3:80\n", "/bin/true")
    assert result.returncode == 125
    assert f"newns: {lan.base / 'test.ns'}:1:1: net: can't open /dev/net/tun" in result.stderr
    os.chmod("/dev/net/tun", 0o666)


def test_explain_shows_the_rules_and_the_engine(tree):
    ns = tree.ns("net allow 192.0.2.3:80 servers.test\nnet forward 7100:7002\n")
    result = tree.newns("--explain", "-f", str(ns))
    assert result.returncode == 0, result.stderr
    assert '    ip daddr 192.0.2.3/32 meta l4proto { tcp, udp } th dport 80 accept comment "192.0.2.3:80"\n' in result.stdout
    assert '    ip daddr { servers.test } accept comment "servers.test"\n' in result.stdout
    assert "pasta --config-net --no-map-gw --foreground --quiet -t 127.0.0.1/7100:7002 -u none -T none -U none" in result.stdout


def test_explain_shows_the_resolv_conf_for_a_resolver_on_the_hosts_loopback(lan, caller):
    lan.resolver_on_loopback()
    result = lan.newns(caller, "net allow 192.0.2.3:80\n", "--explain")
    assert result.returncode == 0, result.stderr
    assert "    ip daddr 169.254.1.1 udp dport 53 accept  # DNS\n" in result.stdout
    assert " -U none --dns-forward 169.254.1.1 --netns /proc/PID/ns/net " in result.stdout
    assert (
        "\nwhere /etc/resolv.conf asks a name server on the loopback, or leads nowhere: fsopen tmpfs, fsmount, write a "
        "file of it 'search test; options edns0 trust-ad; nameserver 169.254.1.1', open_tree(OPEN_TREE_CLONE) of that "
        "file alone, read-only, move_mount onto /etc/resolv.conf itself (a symlink there is covered, not followed)\n"
        f"chdir {lan.base}\n"
    ) in result.stdout


def test_a_posted_namespace_keeps_its_network_for_each_attach(lan, caller):
    name = f"net{uuid.uuid4().hex[:8]}"
    posted = lan.newns(caller, "net allow 192.0.2.3:80\n", "--post", name)
    assert (posted.returncode, posted.stderr) == (0, ""), posted
    try:
        for _ in range(2):
            attached = lan.run(caller, "--attach", name, sys.executable, str(lan.base / "probe.py"),
                               "192.0.2.3:80", "192.0.2.2:80")
            assert attached.returncode == 0, attached.stderr
            seen = {line.split()[0]: line.split()[1] for line in attached.stdout.splitlines()}
            assert seen == {"192.0.2.3:80": "reached", "192.0.2.2:80": "refused"}
    finally:
        ended = lan.run(caller, "--unpost", name)
    assert ended.returncode == 0, ended.stderr


@pytest.mark.parametrize("proc", ["", "mount '#proc' /proc\n"], ids=["held", "pid-namespace"])
def test_a_command_attached_to_a_posted_network_cannot_lift_the_rules(lan, caller, proc):
    name = f"net{uuid.uuid4().hex[:8]}"
    posted = lan.newns(caller, f"net allow 192.0.2.3:80\n{proc}", "--post", name)
    assert posted.returncode == 0, posted.stderr
    try:
        script = f"nft flush ruleset; nft add table inet mine; {sys.executable} {lan.base / 'probe.py'} 192.0.2.2:80"
        attached = lan.run(caller, "--attach", name, "/bin/sh", "-c", script)
    finally:
        lan.run(caller, "--unpost", name)
    assert attached.returncode == 0, attached.stderr
    assert attached.stdout == "192.0.2.2:80 refused 111\n"
    assert attached.stderr.count("Operation not permitted") == 2, attached.stderr


def test_a_network_with_a_pid_namespace_of_the_commands_own(lan, caller):
    seen = lan.probe(caller, "net allow 192.0.2.3:80\nmount '#proc' /proc\n", "192.0.2.3:80", "192.0.2.2:80")
    assert seen == {"192.0.2.3:80": "reached", "192.0.2.2:80": "refused"}


def net_of(pid: str) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/net")
    except OSError:
        return None


def holder(lan, caller, name: str) -> str:
    """A process in the network namespace posted as name."""
    inside = lan.run(caller, "--attach", name, "readlink", "/proc/self/ns/net").stdout.strip()
    return next(pid for pid in os.listdir("/proc") if pid.isdigit() and net_of(pid) == inside)


def posted_rules(lan, caller, text: str) -> tuple[list[str], str]:
    """A namespace posted from text, while it lasts: its --ns lines and its rules as nft lists them."""
    name = f"net{uuid.uuid4().hex[:8]}"
    posted = lan.newns(caller, text, "--post", name)
    assert posted.returncode == 0, posted.stderr
    try:
        dumped = lan.run(caller, "--ns", name)
        assert dumped.returncode == 0, dumped.stderr
        rules = subprocess.run(["nsenter", "-t", holder(lan, caller, name), "-n", "nft", "list", "table", "inet", "newns"],
                               capture_output=True, text=True, check=True).stdout
    finally:
        lan.run(caller, "--unpost", name)
    return dumped.stdout.splitlines(), rules


def test_ns_prints_the_net_lines_back_and_they_replay_to_the_same_rules(lan, caller):
    text = "net allow 192.0.2.3:80 servers.test:80\nnet allow 198.51.100.0/24\nnet forward 7100:7002\nnet loopback 7000\n"
    lines, rules = posted_rules(lan, caller, text)
    assert [line for line in lines if line.startswith(("net", "# net"))] == [
        "net allow 192.0.2.3:80 servers.test:80 198.51.100.0/24", "net forward 7100:7002", "net loopback 7000",
    ]
    assert posted_rules(lan, caller, "\n".join(lines) + "\n") == (lines, rules)


def test_ns_of_a_network_without_net_lines_is_clear_net_alone(lan, caller):
    name = f"net{uuid.uuid4().hex[:8]}"
    posted = lan.newns(caller, "clear net\n", "--post", name)
    assert posted.returncode == 0, posted.stderr
    try:
        dumped = lan.run(caller, "--ns", name)
    finally:
        lan.run(caller, "--unpost", name)
    assert dumped.returncode == 0, dumped.stderr
    assert [line for line in dumped.stdout.splitlines() if "net" in line] == ["clear net"]


def test_ns_does_not_trust_the_rules_of_another_users_network(lan, caller):
    if not caller.rootless:
        pytest.skip("root's namespace: newns-test can't read it, and says nothing of its network")
    name = f"net{uuid.uuid4().hex[:8]}"
    posted = lan.newns(caller, "net allow 192.0.2.3:80\n", "--post", name)
    assert posted.returncode == 0, posted.stderr
    try:
        dumped = lan.run(types.SimpleNamespace(rootless=False), "--ns", holder(lan, caller, name))
    finally:
        lan.run(caller, "--unpost", name)
    assert dumped.returncode == 0, dumped.stderr
    assert [line for line in dumped.stdout.splitlines() if "net" in line] == [
        "clear net",
        "# net: a network of its own, whose rules can't be told: another user's user namespace owns it, where they "
        "could set any",
    ]


def hermetic_fetch(lan, caller, place, fetch: str, *addresses: str) -> dict[str, str]:
    """namespaces/hermetic-fetch run from a checkout with $FETCH, probing addresses."""
    hermetic_fetch = Path(__file__).parent.parent / "namespaces" / "hermetic-fetch"
    place.make({"checkout/": ""})
    env = {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "HOME": str(place.base), "FETCH": fetch}
    probe = [NEWNS, "-f", str(hermetic_fetch), "/usr/bin/python3", "-c", PROBE, *addresses]
    result = subprocess.run(lan.inside(caller, probe), env=env, cwd=place / "checkout", capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    return {line.split()[0]: line.split()[1] for line in result.stdout.splitlines()}


def test_hermetic_fetch_reaches_the_place_named_and_nothing_else(lan, caller, place):
    """$FETCH a name of the test's hosts file."""
    seen = hermetic_fetch(lan, caller, place, "servers.test:80", "servers.test:80", "192.0.2.2:80", "192.0.2.3:81",
                          "127.0.0.1:7000")
    assert seen == {"servers.test:80": "reached", "192.0.2.2:80": "refused", "192.0.2.3:81": "refused",
                    "127.0.0.1:7000": "refused"}


def test_hermetic_fetch_resolves_names_where_resolv_conf_leads_nowhere(lan, caller, place):
    """/etc/resolv.conf a symlink into /tmp, which hermetic makes private (as systemd-resolved's
    leads into /run, which it empties), the host's resolver on its loopback: the step's own
    lookups are answered by it still."""
    lan.resolver_on_loopback(linked=True)
    seen = hermetic_fetch(lan, caller, place, "dns.test:80", "dns.test:80", "192.0.2.3:80")
    assert seen == {"dns.test:80": "reached", "192.0.2.3:80": "refused"}
