"""The network net lines describe: where the command may connect, the ports forwarded in,
and what gives it: pasta's command line and the packet filter set in the command's network
namespace. Imported only for a file with a net line (ipaddress loads re)."""
from __future__ import annotations

import ipaddress

from .diagnostics import NewnsError, Where
from .record import Record

ENGINE = "pasta"
"""The user-mode network engine (Debian's package passt)."""
NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")
DNS_FORWARD = "169.254.1.1"
"""The name server the command asks when the caller's is on the host's loopback (systemd-resolved's
127.0.0.53, dnsmasq's 127.0.0.1), which the command's loopback is not: pasta forwards DNS sent
here (UDP to port 53) to the caller's, the first of its resolv.conf (podman's address for it too)."""


class Destination(Record):
    """Where a net allow line lets the command connect: a host name (resolved when the
    namespace is built), or networks; any port, or one."""

    text: str
    name: str | None
    networks: tuple[str, ...]
    port: int | None
    where: Where


class Forward(Record):
    """A port of the host's loopback that reaches the command's (forward), or of the
    command's loopback that reaches the host's (loopback)."""

    outer: int
    inner: int
    udp: bool
    where: Where


class Network(Record):
    """The network the file describes; where: its first net line."""

    where: Where
    allowed: list[Destination]
    forwarded: list[Forward]
    loopback: list[Forward]


def destination(text: str, where: Where) -> Destination:
    """DEST of net allow: *, a host name, an IPv4 or IPv6 address or network, each with an
    optional :PORT (an IPv6 address in brackets then)."""
    host, port = text, None
    if text.startswith("["):
        host, bracket, after = text[1:].partition("]")
        if not bracket or after and not after.startswith(":"):
            raise NewnsError(f"net allow: {text}: write an IPv6 address with a port as [2001:db8::1]:443", where)
        port = _port(after[1:], text, where) if after else None
    elif text.count(":") == 1:
        host, _, number = text.partition(":")
        port = _port(number, text, where)
    if host == "*":
        return Destination(text, None, ("0.0.0.0/0", "::/0"), port, where)
    if ":" in host or "/" in host or host.replace(".", "").isdigit():
        try:
            network = ipaddress.ip_network(host)
        except ValueError as e:
            raise NewnsError(f"net allow: {host}: not an address or network ({e})", where) from None
        return Destination(text, None, (str(network),), port, where)
    if not host or not set(host) <= NAME_CHARS or len(host) > 253 or host.startswith(("-", ".")):
        raise NewnsError(
            f"net allow: {text!r}: not a host name, an address or a network: write pypi.org:443, 192.0.2.0/24 or "
            "[2001:db8::1]:443, or * for anywhere",
            where,
        )
    return Destination(text, host, (), port, where)


def forward(text: str, where: Where, *, both: bool) -> Forward:
    """[OUTER:]INNER[/udp] (OUTER only when both)."""
    ports, _, protocol = text.partition("/")
    if protocol not in ("", "tcp", "udp"):
        raise NewnsError(f"{text}: /{protocol}: a port is /tcp (the default) or /udp", where)
    outer, colon, inner = ports.rpartition(":")
    if colon and not both:
        raise NewnsError(f"{text}: one port: the host's loopback port is the same number", where)
    number = _port(inner, text, where)
    outer_number = _port(outer, text, where) if colon else number
    if protocol == "udp" and outer_number != number:
        raise NewnsError(
            f"{text}: Debian 12's {ENGINE} loses the replies of a UDP port forwarded to another number (and tells "
            f"no version by which a {ENGINE} that does not could be known): forward the same port on both sides: "
            f"write net forward {number}/udp",
            where,
        )
    return Forward(outer_number, number, protocol == "udp", where)


def _port(number: str, text: str, where: Where) -> int:
    if not number.isdigit() or not 0 < int(number) < 65536:
        raise NewnsError(f"{text}: {number!r} is not a port: a number from 1 to 65535", where)
    return int(number)


class Resolver(Record):
    """The caller's name servers as the command reaches them: servers, those the rules let it
    ask; conf, the command's resolv.conf when the caller's first is on the host's loopback
    (servers is DNS_FORWARD then, UDP only), else None (the command's is the caller's)."""

    servers: tuple[str, ...]
    conf: str | None


def nameservers(text: str) -> list[str]:
    """The name servers a resolv.conf's text names, in order (a scope, %eth0, left out)."""
    found = [line.split() for line in text.splitlines()]
    return [words[1].partition("%")[0] for words in found if words[:1] == ["nameserver"] and len(words) > 1]


def resolver_of(text: str) -> Resolver:
    """The caller's name servers as the command reaches them, text the caller's resolv.conf. When
    its first is on the host's loopback, the command's resolv.conf is the caller's with one
    name server, DNS_FORWARD, for all it names (the search list and options kept)."""
    servers = nameservers(text)
    if not servers or not on_loopback(servers[0]) or ":" in servers[0]:  # pasta forwards to an IPv4 one
        return Resolver(tuple(servers), None)
    kept = [line for line in text.splitlines() if line.split()[:1] != ["nameserver"]]
    return Resolver((DNS_FORWARD,), "".join(f"{line}\n" for line in kept) + f"nameserver {DNS_FORWARD}\n")


def asks_loopback(text: str | None) -> bool:
    """Whether a resolver reading this resolv.conf (None: there is none) asks a name server on
    the loopback first (with none named, the resolver library asks 127.0.0.1)."""
    servers = nameservers(text or "")
    return not servers or on_loopback(servers[0])


def on_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def ruleset(allowed: list[tuple[Destination, tuple[str, ...]]], resolver: Resolver) -> str:
    """nft's rules for the command's network namespace: each destination with its addresses
    (a name's, resolved), its DEST the rule's comment (for --ns); DNS to the resolver's servers
    (UDP alone to DNS_FORWARD: pasta forwards nothing else there), the loopback and replies;
    anything else refused at once (a TCP reset, else ICMP administratively prohibited)."""
    lines = [
        'oif "lo" accept',
        "ct state established,related accept",
        "icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit } accept",
    ]
    for dest, networks in allowed:
        for network in networks:
            lines.append(f'{_family(network)} daddr {network}{_ports(dest.port)} accept comment "{dest.text}"')
    for server in resolver.servers:
        ports = " udp dport 53" if resolver.conf is not None else _ports(53)
        lines.append(f"{_family(server)} daddr {server}{ports} accept  # DNS")
    lines += ["meta l4proto tcp reject with tcp reset", "reject with icmpx type admin-prohibited"]
    body = "".join(f"    {line}\n" for line in lines)
    return f"table inet newns {{\n  chain output {{\n    type filter hook output priority 0; policy drop;\n{body}  }}\n}}\n"


def _family(network: str) -> str:
    return "ip6" if ":" in network else "ip"


def _ports(port: int | None) -> str:
    return "" if port is None else f" meta l4proto {{ tcp, udp }} th dport {port}"


def engine_arguments(network: Network, netns: str, userns: str | None, *, dns_forward: bool) -> list[str]:
    """pasta's arguments: attach to the network namespace at netns (of the user namespace at
    userns; root's, with none, as root: as nobody pasta could not join it), configure it as
    the host's, the host's gateway address not the host, only the ports the file forwards;
    dns_forward: DNS sent to DNS_FORWARD forwarded to the first name server of the caller's
    resolv.conf (which pasta reads)."""
    target = ["--netns", netns] + (["--userns", userns] if userns is not None else ["--runas", "0"])
    specs: dict[str, list[str]] = {"-t": [], "-u": [], "-T": [], "-U": []}
    for fw in network.forwarded:
        specs["-u" if fw.udp else "-t"].append(f"127.0.0.1/{fw.outer}:{fw.inner}")
    for fw in network.loopback:
        specs["-U" if fw.udp else "-T"].append(str(fw.inner))
    args = ["--config-net", "--no-map-gw", "--foreground", "--quiet"]
    for flag, listed in specs.items():
        for spec in listed or ["none"]:
            args += [flag, spec]
    if dns_forward:
        args += ["--dns-forward", DNS_FORWARD]
    return args + target


def allow_line(comments: list[str]) -> str | None:
    """The net allow line whose destinations the rules' comments give (as ruleset writes
    them); None when one is not a DEST a line could give."""
    where = Where("--ns", 0, 0, "")
    try:
        words = [destination(text, where).text for text in dict.fromkeys(comments)]
    except NewnsError:
        return None
    return " ".join(["net allow", *words]) if words else None


def forward_lines(args: list[str]) -> list[str] | None:
    """The net forward and net loopback lines whose ports engine_arguments gave the engine
    (its arguments, args); None when they are not such arguments."""
    lines = []
    where = Where("--ns", 0, 0, "")
    for flag, spec in zip(args, args[1:]):
        if flag not in ("-t", "-u", "-T", "-U") or spec == "none":
            continue
        loopback, udp = flag.isupper(), flag.lower() == "-u"
        address, _, ports = spec.rpartition("/")
        if address != ("" if loopback else "127.0.0.1"):
            return None
        try:
            fw = forward(ports + ("/udp" if udp else ""), where, both=not loopback)
        except NewnsError:
            return None
        ports = str(fw.inner) if fw.outer == fw.inner else f"{fw.outer}:{fw.inner}"
        lines.append(f"net {'loopback' if loopback else 'forward'} {ports}{'/udp' if udp else ''}")
    return lines
