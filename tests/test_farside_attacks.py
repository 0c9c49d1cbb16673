"""--cpu's far side against its own command: what the file withholds of the caller's namespace
(/mnt/term made read-only here) must stay withheld, however the command reaches for it."""
from __future__ import annotations

import pytest
from test_cpu import HOST, private

SFTP_MKDIR = (
    "import os,struct,sys;p=sys.argv[1].encode();"
    "body=bytes([14])+struct.pack('>I',7)+struct.pack('>I',len(p))+p+struct.pack('>I',0);"
    "fd=os.open('/proc/%s/fd/1'%sys.argv[2],os.O_WRONLY);os.write(fd,struct.pack('>I',len(body))+body)"
)
"""An SFTP request (SSH_FXP_MKDIR of argv[1]) written into the pipe on which sshfs (PID argv[2])
talks to the caller's sftp-server."""


@pytest.mark.parametrize("text", [
    "mount '#proc' /proc\nbind -r /mnt/term /mnt/term\n",
    "bind -r /mnt/term /mnt/term\n",  # the far machine's /proc: every process of the command's uid there
])
def test_the_remote_command_cant_talk_to_the_callers_sftp_server_past_the_file(place, server, text):
    """Rootless, the command has no capability to remount /mnt/term; sshfs, were it in the
    command's reach (ptrace, /proc/PID/fd), would send what it writes there to the caller's
    sftp-server."""
    if place.caller.uid == 0:
        pytest.skip("root stays root: a remote command run as root may remount /mnt/term")
    ns = place.ns(text, "far.ns")
    escaped = place.base / "private" / "escaped"
    command = (
        f"mkdir /mnt/term{escaped} 2>/dev/null && echo mkdir-allowed; "
        f"python3 -c \\\"{SFTP_MKDIR}\\\" {escaped} \\$(pgrep -n -x sshfs) && echo sent; sleep 1"
    )
    result = private(place, f'$N --cpu {HOST} -f {ns} sh -c "{command}"; test -d "$T/private/escaped" && echo ESCAPED')
    assert "mkdir-allowed" not in result.stdout, result
    assert "ESCAPED" not in result.stdout, (result.stdout, result.stderr)


def test_a_user_line_as_root_reads_through_mnt_term_only_what_those_ids_could(place, server):
    """As here: root's command dropped to `user 1234 1234` reads no file of root's mode 0600."""
    if place.caller.uid != 0:
        pytest.skip("only root drops to other ids")
    ns = place.ns("user 1234 1234\n", "far.ns")
    script = f'chmod 600 "$T/private/secret"; $N --cpu {HOST} -f {ns} sh -c "id -u; cat /mnt/term$T/private/secret"'
    result = private(place, script)
    assert "mine" not in result.stdout, (result.stdout, result.stderr)


FORGE = """import os
def parent(pid):
    return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
pid = int(os.readlink("/proc/self"))
while b"farside import join" not in (command := open(f"/proc/{pid}/cmdline", "rb").read()):
    pid = parent(pid)
holder = int(command.split(b"join(")[1].split(b",")[0])
sshfs = [p for p in os.listdir("/proc") if p.isdigit() and open(f"/proc/{p}/comm").read() == "sshfs\\n"
         and parent(parent(p)) == holder]
try:
    stream = os.open(f"/proc/{sshfs[0]}/fd/2", os.O_WRONLY)
except PermissionError:
    print("out of reach")
else:
    for text in (b"\\0newns: stopped x\\n", b"\\0newns: stopped \\n", b"\\0newns: stopped 1 2\\n"):
        os.write(stream, text)
    print("sent")
"""
"""Run with the far machine's /proc (no '#proc'), where the command sees every process of its
user: lines like join's stops written to the first session's error stream, from sshfs's (sshfs
the child of the holder's child; the holder's PID in join's command line, join the command's
parent)."""


def test_what_the_remote_command_writes_like_a_stop_stops_nothing_here(place, server):
    """A file without '#proc' leaves the command the far machine's processes (docs/security.md).
    Rootless, sshfs is still out of its reach (another user namespace's); as root, a command
    that is root there reaches anything, and what it writes on the connection's error stream
    is text, never a stop join did not tell."""
    (place.base / "forge.py").write_text(FORGE)
    result = private(place, f'$N --cpu {HOST} python3 /mnt/term$T/forge.py; echo "status $?"')
    reached = "sent" if place.caller.uid == 0 else "out of reach"
    assert result.stdout == f"{reached}\nstatus 0\n", (result.stdout, result.stderr)
