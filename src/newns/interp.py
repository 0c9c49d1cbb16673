"""Operations to a plan: variables, includes, union bookkeeping and checks.

The interpreter keeps Plan 9's mount table (each target's ordered members) and
turns the whole file into a Plan before anything is mounted. Every path it can
follow back to the caller's namespace is checked here, so most mistakes stop
newns before the first mount. Linux mounts each target once: a replace bind
right away, a union as one overlay when something needs to look inside it or
at the end, never an overlay stacked on an overlay.
"""
from __future__ import annotations

import os.path

from .diagnostics import MAX_PROBLEMS, Diagnostic, NewnsError, Where, error, note, warning
from .nsfile import quote
from .ops import (
    Allow, Bind, Cd, Clear, Hostname, Import, Mount, Op, Quoted, Setenv, Unmount, Unset, Unsetenv, User, Var, Word,
    expand,
)
from .plan import (
    NEW_ROOT,
    OLD_ROOT,
    Action,
    Attach,
    Capture,
    Detach,
    Devices,
    Import as Imported,
    MakePoint,
    NewFs,
    Overlay,
    Plan,
    Release,
    Reroot,
    slots_used,
)
from .table import Found, Member, MountTable, Target, ancestors, is_under, provider

TYPE_CHECKING = False
if TYPE_CHECKING:  # for type checkers only: each import costs every start of newns
    from collections.abc import Callable, Mapping

    from .world import World

MAX_LAYERS = 500
"""overlayfs's limit on lower layers (OVL_MAX_STACK)."""
IMPORT_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@")
"""What a host given to ssh may hold: no shell, option or path character, and no ':' (sshfs
reads HOST:PATH as one word)."""
HOST_NAME_MAX = 64
MAX_ID = 4294967294
"""The largest user or group id (4294967295 is -1, no id)."""

FSTYPE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_.-")
DEVICE_NODES = ("null", "zero", "full", "random", "urandom", "tty")
DEV_CONTENTS = dict.fromkeys(DEVICE_NODES, "other") | {
    "console": "other", "pts": "dir", "shm": "dir", "ptmx": "other",
    "fd": "other", "stdin": "other", "stdout": "other", "stderr": "other",
}


class Interpreter:
    """Turns a file's operations into a Plan, keeping Plan 9's mount table as it goes;
    asks the world (a World) what paths hold, and nothing else."""

    def __init__(self, env: Mapping[str, str], cwd: str, world: World) -> None:
        self.world = world
        self.exported = dict(env)  # the command's environment
        self.env_changed = False
        self.removed: dict[str, Where] = {}  # variables the file took out of the environment, and where
        self.account: dict[str, str] | None = None
        self.env = self._variables()
        self.cwd = cwd
        self.dir = cwd
        self.slots = 0
        self.table = MountTable(world)
        self.pending: set[str] = set()  # targets whose union is still to be mounted
        self.actions: list[Action] = []
        self.problems: list[Diagnostic] = []
        self.warnings: list[Diagnostic] = []
        self.work_dirs: Where | None = None
        self.cleared: Where | None = None  # the line that started the new namespace
        self.pid_namespace = False
        self.setuid_allowed = False
        self.isolated: list[str] = []  # namespaces of the command's own beyond mounts: net, ipc, uts
        self.hostname: str | None = None
        self.ids: tuple[int, int] | None = None
        self.user_line: Where | None = None
        self.once: dict[str, Where] = {}  # lines that may come once in a file: where each came
        self.imports = False
        self.handlers: dict[type[Op], Callable[[Op, Action], None]] = {
            Bind: self._bind, Mount: self._mount, Unmount: self._unmount, Clear: self._clear,  # type: ignore[dict-item]
            Allow: self._allow, Hostname: self._hostname, User: self._user, Setenv: self._setenv,  # type: ignore[dict-item]
            Unsetenv: self._unsetenv, Import: self._import,  # type: ignore[dict-item]
        }

    # -- words -----------------------------------------------------------

    def expand(self, word: Word) -> str:
        """A word's text: each variable's value is one literal piece of it."""
        try:
            text = expand(word, self.env)
        except Unset as unset:
            raise NewnsError(unset.message(), unset.var.where, absent=True) from None
        if "\0" in text:
            raise NewnsError("a NUL byte in an argument", word.where)
        return text

    def path(self, word: Word, *, what: str = "path") -> str:
        """A word as an absolute path of the namespace being built.

        After clear, the new namespace's paths are under NEW_ROOT and #old's
        under OLD_ROOT: those are the paths the steps use; show() turns
        them back into the file's own terms for messages.
        """
        text = self.expand(word)
        if not text:
            raise NewnsError(f"empty {what}", word.where)
        if word.names_device:
            name, _, rest = text[1:].partition("/")
            if name != "old":
                raise NewnsError(f"{text}: {_device_hint(name)}", word.where)
            if not self.cleared:
                raise NewnsError("#old is the namespace as it was before clear, and no clear comes before this line", word.where)
            return os.path.normpath(f"{OLD_ROOT}/{rest}")
        logical = os.path.normpath(os.path.join(self.dir, text))
        return os.path.normpath(NEW_ROOT + logical) if self.cleared else logical

    def show(self, path: str) -> str:
        """A path as the file names it."""
        if not self.cleared:
            return path
        if path == NEW_ROOT or is_under(path, NEW_ROOT):
            return path[len(NEW_ROOT) :] or "/"
        return "#old" + path[len(OLD_ROOT) :]

    # -- planning --------------------------------------------------------

    def plan(self, ops: list[Op], skipped: frozenset[int] = frozenset()) -> Plan:
        """The whole file as kernel steps; raises NewnsError with every problem (and the
        warnings found with them). skipped: operations, by index, that the kernel refused
        when an earlier plan was carried out (a -q line): planned as if they were not there."""
        cwd, cwd_where = None, None
        for index, op in enumerate(ops):
            if index in skipped:
                continue
            action = Action(op.where, None, op.quiet, [], index)
            try:
                if isinstance(op, Cd):
                    cwd = self._line(op, action)
                    cwd_where = op.where
                else:
                    self._line(op, action)
            except NewnsError as problem:
                if op.quiet:
                    for d in problem.diagnostics:
                        self._warn(f"skipped (-q): {d.message}", d.where, note if problem.absent else warning)
                else:
                    self.problems += problem.diagnostics
                    if len(self.problems) >= MAX_PROBLEMS:
                        last = self.problems[MAX_PROBLEMS - 1].where
                        self.problems[MAX_PROBLEMS:] = [error(f"{MAX_PROBLEMS} problems: newns checks no further", last)]
                        break
                continue
            self.actions.append(action)
        self._flush_all()
        if self.problems:
            raise NewnsError.of(self.problems + self.warnings)
        _release_after_last_use(self.actions)
        return Plan(
            self.actions, cwd or self.cwd, cwd_where, self.warnings, self.work_dirs, self.cleared is not None,
            self.pid_namespace, self.setuid_allowed, tuple(self.isolated), self.hostname, self.ids,
            self.exported if self.env_changed else None, self.imports, self.user_line,
        )

    def _line(self, op: Op, action: Action) -> str | None:
        """Check a line and plan its steps into action (a cd's: the directory); raises NewnsError
        with the line's problems: each unset variable, and the first other problem."""
        variables = [piece for word in op.arguments() for piece in word.pieces if isinstance(piece, Var)]
        if self.account is None and any(v.name in ("user", "home") and v.name not in self.env for v in variables):
            user, home = self.world.account()  # looked up only for a line that needs it
            self.account = {"user": user, "home": home}
            self.env = self._variables()
        missing = [piece for piece in variables if piece.name not in self.env]
        unset = [error(self._unset_message(piece), piece.where) for piece in missing]
        try:
            if not unset:
                env = self.env  # as it is now: a later setenv makes a new one
                action.said = lambda: line_text(op, env)
            if isinstance(op, Cd):
                return self._cd(op)
            self._apply(op, action)
        except NewnsError as problem:
            if not unset:
                raise
            both = NewnsError.of(sorted(unset + [d for d in problem.diagnostics if d not in unset], key=Diagnostic.position))
            both.absent = problem.absent and not any(piece.name in self.removed for piece in missing)
            raise both from None
        return None

    def _unset_message(self, var: Var) -> str:
        removed = self.removed.get(var.name)
        if removed is None:
            return Unset(var).message()
        return f"${var.name} is not set: line {removed.line} of {removed.file} removed it from the environment"

    def _warn(self, message: str, where: Where | None, kind: Callable[..., Diagnostic] = warning) -> None:
        """Keep a warning (or a note); past MAX_PROBLEMS, only count it."""
        if len(self.warnings) < MAX_PROBLEMS:
            self.warnings.append(kind(message, where))
        elif len(self.warnings) == MAX_PROBLEMS:
            self.warnings.append(warning(f"more than {MAX_PROBLEMS} warnings: the rest are not shown", where))

    def _apply(self, op: Op, action: Action) -> None:
        if "a" in op.flags and "b" in op.flags:
            what = "the value" if isinstance(op, Setenv) else "a member"
            raise NewnsError(f"{op.name}: -a and -b together: {what} goes either after or before", op.where)
        if "C" in op.flags:
            self._warn("-C (cache) has no effect on Linux", op.where)
        handler = self.handlers.get(type(op))
        if handler is None:
            raise AssertionError(f"no interpreter handler for {op!r}")
        handler(op, action)

    def _allow(self, op: Allow, action: Action) -> None:
        what = self.expand(op.what)
        if what != "setuid":
            raise NewnsError(f"allow: {what!r} is nothing newns allows: allow setuid is the one there is", op.what.where)
        if self.setuid_allowed:
            raise NewnsError("allow setuid comes once in a file", op.where)
        if self.ids is not None:
            raise NewnsError("allow setuid and user: a command dropped to other ids gains no privilege", op.where)
        self.setuid_allowed = True

    def _cd(self, op: Cd) -> str:
        path = self.path(op.dir, what="directory")
        self._check_new(path, op.dir, "cd")
        self._existing(path, op.dir, "cd", directory=True)
        self.dir = self.show(path)
        return self.dir

    def _existing(
        self, path: str, word: Word, command: str, *, directory: bool = False, found: Found | None = None
    ) -> str | None:
        """path's kind as the table has it (found, when looked up already); an error when
        it is missing, or not a directory where one is needed."""
        kind = (found or self.table.lookup(path)).kind
        if kind == "missing":
            what = "directory" if directory else "file or directory"
            hint = self._hidden_by(path) or _quoting_hint(word)
            raise NewnsError(f"{command}: {self.show(path)}: no such {what}{hint}", word.where, absent=True)
        if directory and kind not in ("dir", None):
            raise NewnsError(f"{command}: {self.show(path)}: not a directory", word.where)
        return kind

    def _hidden_by(self, path: str) -> str:
        """Which earlier line decides what path holds, for an error message."""
        holder = self.table.holder(path)
        where = self.table[holder].where if holder is not None else None
        return f" (in what line {where.line} put on {self.show(holder)})" if holder is not None and where else ""

    def _check_new(self, path: str, word: Word, command: str) -> None:
        """After clear, only the new namespace changes; #old is there to bind from."""
        if self.cleared and (path == OLD_ROOT or is_under(path, OLD_ROOT)):
            raise NewnsError(f"{command}: {self.show(path)}: #old is only a source to bind from", word.where)

    def _target(
        self, op: Bind | Mount | Import, path: str, action: Action, *, directory: bool
    ) -> tuple[str | None, int | None]:
        """Check a mount point, making it where it is missing inside a filesystem this file made;
        never for a union (-a, -b), whose first member would be a made-up empty directory.
        Its kind, and the slot holding it when it was made."""
        word, command = op.old, op.name
        self._check_new(path, word, command)
        found = self.table.lookup(path)
        union = "a" in op.flags or "b" in op.flags
        if found.kind == "missing" and not union:
            point = self._make_point(path, directory, action)
            if point is not None:
                return "dir" if directory else "file", point
        return self._existing(path, word, command, directory=directory, found=found), None

    def _make_point(self, path: str, directory: bool, action: Action) -> int | None:
        """Plan a missing mount point where what would hold it is a filesystem this file made
        and what is made there lands in it (a new tmpfs, a #dev, the root after clear, a
        union whose member taking creations is one): the slot that will hold it, else None.
        Kernel filesystems that are not new (a devtmpfs, a cgroup2: the host's own) and real
        directories never get one."""
        missing = [path]
        while True:
            parent = os.path.dirname(missing[-1])
            found = self.table.lookup(parent)
            if found.kind != "missing":
                break
            missing.append(parent)
        base = self.table.mounted_above(parent)
        if found.kind != "dir" or base is None:
            return None
        members = self.table[base].members
        member = members[0] if len(members) == 1 else next((m for m in members if m.create), None)
        if member is None or member.made is None:
            return None
        for made in reversed(missing):
            member.made[os.path.relpath(made, base)] = "dir" if directory or made != path else "file"
        slot = self._new_slot()
        placed = self.table[base].placed
        assert placed is not None
        action.steps.append(MakePoint(slot, placed, os.path.relpath(path, base), directory, path))
        return slot

    def _bind(self, op: Bind, action: Action) -> None:
        new = self.path(op.new)
        old = self.path(op.old)
        self._flush_under((new, old))
        held = None  # the source, opened before the root changes: as the file named it, and checked
        if old == "/" and not self.cleared:
            self._existing(new, op.new, "bind", directory=True)
            if (self.table.get(new) or Target([], False, None)).members[1:] == []:
                held = self._capture(new, action)
            self._reroot(op, action, keep="a" in op.flags or "b" in op.flags)
            new, old = os.path.normpath(OLD_ROOT + new), NEW_ROOT
        new_found = self.table.lookup(new)
        new_kind = self._existing(new, op.new, "bind", found=new_found)
        old_kind, point = self._target(op, old, action, directory=new_kind == "dir")
        if new_kind and old_kind and (new_kind == "dir") != (old_kind == "dir"):
            raise NewnsError(
                f"bind: {self.show(new)} is a {_KIND_NAMES[new_kind]} but {self.show(old)} is a "
                f"{_KIND_NAMES[old_kind]}: bind a directory onto a directory, a file onto a file",
                op.old.where,
            )
        source = self.table.get(new)
        if source is not None and len(source.members) > 1:
            members = [Member(m.slot, m.label, m.origin, m.create, m.fresh, made=m.made) for m in source.members]
            if "c" in op.flags:
                members[0].create = True
        else:
            for inside in sorted((p for p in self.pending if is_under(p, new)), key=len):
                if inside in self.pending:
                    self._flush(inside)  # a bind copies what is mounted inside its source
            slot = held if held is not None else self._capture(new, action)
            members = [Member(slot, self.show(new), new_found.origin, "c" in op.flags, at=new)]
        self._join(op, old, old_kind, point, members, action)

    def _mount(self, op: Mount, action: Action) -> None:
        source = self.expand(op.source)
        fstype = source[1:]
        if op.source.names_device and fstype[:1] in PLAN9_DEVICES and fstype[1:2] in ("", "/"):
            raise NewnsError(f"mount: {source}: {_device_hint(fstype)}", op.source.where)
        old = self.path(op.old)
        if not op.source.names_device or not fstype or not set(fstype) <= FSTYPE_CHARS or fstype == "old":
            raise NewnsError(
                f"mount: {source or 'an empty source'}: newns mounts kernel filesystems by type, "
                "as '#tmpfs', '#proc', '#dev' or '#mqueue'; Plan 9 file servers (/srv/...) have no "
                "Linux equivalent, and a directory is attached with bind",
                op.source.where,
            )
        refused = sorted(set(op.flags) & set({"proc": "abc", "dev": "abcr"}.get(fstype, "")))
        if refused:
            raise NewnsError(f"mount: #{fstype} replaces a directory: no {', '.join('-' + f for f in refused)}", op.where)
        spec = self.expand(op.spec) if op.spec is not None else None
        self._flush_under((old,))
        if old == "/" and not self.cleared:
            self._reroot(op, action, keep="a" in op.flags or "b" in op.flags)
            old = NEW_ROOT
        old_kind, point = self._target(op, old, action, directory=True)
        if fstype == "dev":
            self._devices(op, old, old_kind, point, spec, action)
            return
        slot = self._new_slot()
        action.steps.append(NewFs(slot, fstype, spec or None))
        if fstype == "proc":
            self.pid_namespace = True
        if fstype == "tmpfs":
            member = Member(slot, source, None, "c" in op.flags, fresh=True, made={})
        else:
            member = Member(slot, source, None, "c" in op.flags)
        self._join(op, old, old_kind, point, [member], action)

    def _import(self, op: Import, action: Action) -> None:
        """A remote directory, as a new filesystem: sshfs serves it from beside newns."""
        host = self.expand(op.host)
        bad = next((c for c in host if c not in IMPORT_HOST_CHARS), None)
        if not host or host.startswith("-") or bad is not None:
            what = "an empty host" if not host else f"{host!r}" + (f" holds {bad!r}" if bad else " starts with -")
            raise NewnsError(
                f"import: {what}: the host is what ssh takes (host, user@host, an alias of ~/.ssh/config: "
                "letters, digits, '.', '_', '-' and '@'; give an IPv6 address or a port an alias)",
                op.host.where,
            )
        old = self.path(op.old)
        remote = self.expand(op.remote) if op.remote is not None else self.show(old)
        if not remote or "\0" in remote:
            raise NewnsError("import: an empty remote path", (op.remote or op.old).where)
        if "c" in op.flags and ("a" in op.flags or "b" in op.flags):
            raise NewnsError(
                "import: -c in a union: overlayfs can't take creations in an imported tree (FUSE); "
                "put a '#tmpfs' or a directory of yours first with -bc",
                op.where,
            )
        old_kind, point = self._target(op, old, action, directory=True)
        slot = self._new_slot()
        action.steps.append(Imported(slot, host, remote))
        self.imports = True
        self._join(op, old, old_kind, point, [Member(slot, f"{host}:{remote}", None, "c" in op.flags)], action)

    def _devices(
        self, op: Mount, old: str, old_kind: str | None, point: int | None, spec: str | None, action: Action
    ) -> None:
        """#dev: a tmpfs with the caller's harmless devices bound in, and its own pts and shm."""
        source = os.path.join(OLD_ROOT, "dev") if self.cleared else "/dev"
        nodes = tuple(
            (name, self._capture(os.path.join(source, name), action))
            for name in DEVICE_NODES
            if self.table.kind(os.path.join(source, name)) not in ("missing", None)
        )
        slot = self._new_slot()
        action.steps.append(NewFs(slot, "tmpfs", spec or "mode=0755,size=64k"))
        member = Member(slot, "#dev", None, False, fresh=True, made=dict(DEV_CONTENTS))
        self._join(op, old, old_kind, point, [member], action)
        placed = self.table[old].placed
        assert placed is not None
        action.steps.append(Devices(placed, old, nodes))

    # -- beyond mounts: other namespaces, ids, the environment ---------------

    def _once(self, what: str, op: Op) -> None:
        """Lines that may come once in a file."""
        first = self.once.setdefault(what, op.where)
        if first is not op.where:
            raise NewnsError(f"{what} comes once in a file, and line {first.line} of {first.file} has it", op.where)

    def _hostname(self, op: Hostname, action: Action) -> None:
        host = self.expand(op.host)
        if not 0 < len(host.encode("utf-8", "surrogateescape")) <= HOST_NAME_MAX:
            raise NewnsError(f"hostname: a host name is 1 to {HOST_NAME_MAX} bytes", op.host.where)
        self._once("hostname", op)
        self.hostname = host
        self.isolated.append("uts")

    def _user(self, op: User, action: Action) -> None:
        uid = self._id(op.uid, "user id")
        gid = self._id(op.gid, "group id") if op.gid is not None else uid
        self._once("user", op)
        if self.setuid_allowed:
            raise NewnsError("user and allow setuid: a command dropped to other ids gains no privilege", op.where)
        self.ids, self.user_line = (uid, gid), op.where

    def _id(self, word: Word, what: str) -> int:
        text = self.expand(word)
        if not (text.isascii() and text.isdigit()) or int(text) > MAX_ID:
            raise NewnsError(f"user: {text!r} is not a {what}: ids are numbers, 0 to {MAX_ID} (names are not looked up)", word.where)
        return int(text)

    def _setenv(self, op: Setenv, action: Action) -> None:
        name, value = self._variable(op.var, "setenv"), self.expand(op.value)
        current = self.exported.get(name)
        if current and "b" in op.flags:
            value = f"{value}:{current}"
        elif current and "a" in op.flags:
            value = f"{current}:{value}"
        self.exported[name] = value
        self.removed.pop(name, None)
        self._environment_changed()

    def _unsetenv(self, op: Unsetenv, action: Action) -> None:
        name = self._variable(op.var, "unsetenv")
        if self.exported.pop(name, None) is not None:
            self.removed[name] = op.where
        self._environment_changed()

    def _clear_env(self, op: Clear) -> None:
        names = [self._variable(word, "clear env") for word in op.names]
        kept = {name: self.exported[name] for name in names if name in self.exported}
        self.removed.update(dict.fromkeys(set(self.exported) - set(kept), op.where))
        self.exported = kept
        self._environment_changed()

    def _variable(self, word: Word, command: str) -> str:
        name = self.expand(word)
        if not (name.isascii() and name.isidentifier()):
            raise NewnsError(
                f"{command}: {name!r} is not a variable name: letters, digits and _, not starting with a digit",
                word.where,
            )
        return name

    def _environment_changed(self) -> None:
        self.env_changed = True
        self.env = self._variables()

    def _variables(self) -> dict[str, str]:
        """What $NAME reads: the command's environment; $user and $home, where it lacks
        them, the caller's account's (once a line has needed one)."""
        return self.account | self.exported if self.account is not None else dict(self.exported)

    def _clear(self, op: Clear, action: Action) -> None:
        """An empty namespace: the one built so far stays reachable as #old for the rest of the
        file. (clear net, clear ipc, clear env: namespaces and an environment of its own.)"""
        if op.what is not None:
            what = self.expand(op.what)
            if what not in ("net", "ipc", "env"):
                raise NewnsError(
                    f"clear: {what!r}: clear alone starts an empty namespace; "
                    "clear net, clear ipc and clear env [NAME ...] give the command its own network, IPC or environment",
                    op.what.where,
                )
            if what == "env":
                return self._clear_env(op)
            if op.names:
                raise NewnsError(f"clear {what} takes no more words", op.names[0].where)
            self._once(f"clear {what}", op)
            self.isolated.append(what)
            return None
        if self.cleared:
            raise NewnsError(
                f"only one clear in a file, and line {self.cleared.line} started the new namespace "
                "(a clear, or a line onto /): newns keeps one #old",
                op.where,
            )
        self._reroot(op, action, keep=False)

    def _reroot(self, op: Op, action: Action, *, keep: bool) -> None:
        """Start the new namespace, the one built so far reachable as #old: empty, or (keep,
        for a union onto /) holding the old root and what is mounted in it, as the seed of
        that union. A line onto / changes the root as Plan 9's does, as after clear."""
        self._flush_all()
        slot, placed = self._new_slot(), self._new_slot()
        action.steps.append(Reroot(slot, placed))
        table = MountTable(self.world)
        for path, target in self.table.items():
            table[os.path.normpath(OLD_ROOT + path)] = target
        table.unknown = {os.path.normpath(OLD_ROOT + path) for path in self.table.unknown}
        if OLD_ROOT not in table:
            table[OLD_ROOT] = Target([Member(0, "/", "/", False)], False, None, mounted=True)
        if keep:
            old = Member(self._capture(OLD_ROOT, action), "#old", "/", False, seed=True)
            table[NEW_ROOT] = Target([old], False, op.where, mounted=True, placed=placed, shown=[old])
            for path, target in self.table.items():  # each seen again through the old root
                copy = Target(target.members, target.readonly, target.where, mounted=True, shown=target.shown)
                table[os.path.normpath(NEW_ROOT + path)] = copy
            self.table, self.cleared = table, op.where
            self._caller_mounts(NEW_ROOT, "/", action)
        else:
            root = Member(slot, "clear", None, True, fresh=True, made={})
            table[NEW_ROOT] = Target([root], False, op.where, mounted=True, placed=placed)
            self.table, self.cleared = table, op.where

    def _caller_mounts(self, path: str, origin: str, action: Action) -> None:
        """The caller's mounts inside origin, the directory that seeds a union on path, as
        targets under path: mounted again on top of the union where its seed shows them
        (Plan 9 keeps what is mounted inside a union's members)."""
        prefix = origin.rstrip("/") + "/"
        inside = [p for p in self.world.mount_points() if p.startswith(prefix) and p != origin]
        for point in dict.fromkeys(inside):
            if any(is_under(point, other) for other in inside):
                continue  # comes with the mount above it
            where = os.path.normpath(path + "/" + point[len(prefix) :])
            if self.table.holder(where) != path:
                continue  # a line of the file put something else there
            source = os.path.normpath(OLD_ROOT + point) if self.cleared else point
            member = Member(self._capture(source, action), point, point, False)
            self.table[where] = Target([member], False, None, mounted=True, shown=[member])

    def _join(
        self, op: Bind | Mount | Import, old: str, old_kind: str | None, point: int | None, new: list[Member],
        action: Action,
    ) -> None:
        """Put new members into old's union as the flags say; point holds old when this file made it."""
        target = self.table.get(old)
        union = "a" in op.flags or "b" in op.flags
        seeded = None
        if union:
            if old_kind not in ("dir", None):
                raise NewnsError(f"{self.show(old)}: -a and -b make unions of directories", op.old.where)
            if target is not None:
                base = target.members
            else:
                found = self.table.lookup(old)
                seed = Member(self._capture(old, action), self.show(old), found.origin, False, seed=True)
                if found.fresh is not None:
                    seed.fresh, seed.made = True, _made_below(found.fresh.made or {}, found.inside)
                elif found.origin is not None:
                    seeded = found.origin
                base = [seed]
            members = base + new if "a" in op.flags else new + base
        else:
            members = new
        if len(members) > MAX_LAYERS:
            raise NewnsError(
                f"{self.show(old)}: a union of {len(members)} members; overlayfs takes at most {MAX_LAYERS}",
                op.where,
            )
        readonly = "r" in op.flags or union and target is not None and target.readonly
        if target is not None:
            point = target.point
            shown, mounted = target.shown, target.mounted
        else:
            shown, mounted = None, False
        self.table[old] = Target(members, readonly, op.where, mounted=mounted, point=point, shown=shown)
        if seeded is not None:
            self._caller_mounts(old, seeded, action)
        if len(members) == 1:
            self._materialize(old, action)
        else:
            self.pending.add(old)

    def _unmount(self, op: Unmount, action: Action) -> None:
        old = self.path(op.old)
        self._check_new(old, op.old, "unmount")
        if old == NEW_ROOT:
            raise NewnsError("unmount: the new root stays: unmount what is mounted inside it", op.old.where)
        self._flush_under((old,))
        target = self.table.get(old)
        if op.new is None:
            if target is None:
                if self._mounted_on(old) is False:
                    raise NewnsError(f"unmount: nothing is mounted on {self.show(old)}", op.old.where)
                action.steps.append(Detach(old, every=True))
                self.table.unknown.add(old)
                for inside in self.table.under(old):
                    self._forget(inside)
            elif target.mounted:
                self._detach(old, action)
            else:
                self._forget(old)
            return
        new = self.show(self.path(op.new))
        if target is None:
            raise NewnsError(f"unmount: nothing is bound on {self.show(old)} by this file", op.old.where)
        for member in target.members:
            if member.label == new:
                break
        else:
            labels = ", ".join(m.label for m in target.members)
            raise NewnsError(f"unmount: {new} is not in the union at {self.show(old)} ({labels})", op.new.where)
        target.members.remove(member)
        target.where = op.where
        if not target.members:
            if target.mounted:
                self._detach(old, action, every=False)
            else:
                self._forget(old)
        elif len(target.members) == 1:
            self._materialize(old, action)
        else:
            self.pending.add(old)

    def _mounted_on(self, path: str) -> bool | None:
        """Whether something is mounted on path as the namespace stands; None when that
        can't be told before the run (a member's own mounts, say)."""
        if path in self.table:
            return True
        holder = self.table.holder(path)
        if path in self.table.unknown or any(a in self.table.unknown for a in ancestors(path)):
            return None
        if holder is None:
            return path in self.world.mount_points()
        members = self.table[holder].members
        if len(members) > 1 or members[0].fresh or self.table.kind(path) == "missing":
            return False  # an overlay shows no mounts of its members, a new filesystem has none
        return None

    # -- mounting what the table says ----------------------------------------

    def _new_slot(self) -> int:
        self.slots += 1
        return self.slots

    def _capture(self, path: str, action: Action) -> int:
        slot = self._new_slot()
        action.steps.append(Capture(slot, path))
        return slot

    def _flush_under(self, paths: tuple[str, ...]) -> None:
        """Mount the unions still to be mounted that a line looks inside, before that line runs."""
        if not self.pending:
            return
        inside = {a for p in paths for a in ancestors(p) if a in self.pending}
        for path in sorted(inside, key=len):
            if path in self.pending:
                self._flush(path)

    def _flush_all(self) -> None:
        for path in sorted(self.pending, key=len):
            if path in self.pending:
                self._flush(path)

    def _flush(self, path: str) -> None:
        target = self.table[path]
        assert target.where is not None, "a pending union was changed by a line"
        flush = Action(target.where, f"the union on {self.show(path)}", False, [])
        self._materialize(path, flush)
        self.actions.append(flush)

    def _materialize(self, path: str, action: Action) -> None:
        """Mount a target as its members now say: nothing, a bind or one overlay; then again on
        top what earlier lines mounted inside it and it still shows (see _cover)."""
        target = self.table[path]
        members = target.members
        self.pending.discard(path)
        source = members[0].at if len(members) == 1 else None
        carried = [(p[len(source) :], self.table[p]) for p in self.table.under(source)] if source else []
        kept = self._cover(path, target, source)
        replace = target.mounted
        target.mounted, target.placed, target.shown = False, None, None
        if not (len(members) == 1 and members[0].seed):
            self._mount_members(path, target, action, replace=replace)
        elif replace:
            action.steps.append(Detach(path))
        for rest, inside in carried:  # a bind copies what is mounted inside its source, as Plan 9 walks it
            self.table[path.rstrip("/") + rest] = Target(
                inside.members, inside.readonly, inside.where, mounted=True, shown=inside.shown
            )
        for inner in kept:
            self.table[inner].mounted = False
            self.table[inner].point = None  # its point is under what now covers it
            self._materialize(inner, action)

    def _mount_members(self, path: str, target: Target, action: Action, *, replace: bool) -> None:
        members = target.members
        target.placed = self._new_slot()
        if len(members) == 1:
            action.steps.append(Attach(members[0].slot, path, target.readonly, target.point, target.placed, replace))
        else:
            upper = next((m for m in members if m.create), None)
            if upper is not None and upper is not members[0]:
                self._warn(
                    f"{self.show(path)}: {upper.label} takes creations (-c) but is not first in the union; "
                    "overlayfs looks in the writable member first, so its names hide those before it",
                    target.where,
                )
            if upper is not None and not upper.fresh and self.work_dirs is None:
                self.work_dirs = target.where
            lowers = tuple(m.slot for m in members if m is not upper)
            names = tuple((m.label, m is upper) for m in members)
            action.steps.append(
                Overlay(
                    path, lowers, upper.slot if upper else None, target.readonly, names, target.point, target.placed,
                    replace,
                )
            )
        target.mounted = True
        target.shown = list(members)

    def _cover(self, path: str, target: Target, source: str | None) -> list[str]:
        """What earlier lines mounted inside path that stays when path is mounted again, nearest
        first; the rest is hidden, and forgotten (with a warning, unless it is inside source,
        the path a bind copies, and so comes along).

        As on Plan 9, a mount inside stays when the member that holds its mount
        point is still the one that shows there: an -a member added to a union
        keeps what was mounted inside its first members, a replacement hides it.
        Unions still to be mounted inside path are mounted first."""
        inside = self.table.under(path)
        if not inside:
            return []
        for other in sorted(inside, key=len):
            if other in self.pending:
                self._flush(other)
        inside = self.table.under(path)
        direct = [p for p in inside if not any(is_under(p, q) for q in inside)]
        kept: list[str] = []
        hidden: list[str] = []
        for other in sorted(direct, key=len):
            rest = other[len(path) :].lstrip("/")
            now = provider(target.members, rest, self.world)
            if target.shown is None:
                stays = now is not None and now.seed
            else:
                before = provider(target.shown, rest, self.world)
                stays = now is not None and before is not None and now.slot == before.slot
            (kept if stays else hidden).append(other)
        lost = [p for p in hidden if self.table[p].where is not None and not (source and is_under(p, source))]
        lines = sorted({w.line for p in lost if (w := self.table[p].where) is not None})
        if lines:
            shown = [self.show(p) for p in sorted(lost)]
            self._warn(
                f"{self.show(path)} now hides what line{'s' if len(lines) > 1 else ''} "
                f"{', '.join(map(str, lines))} mounted inside it ({', '.join(shown)})",
                target.where,
            )
        for other in hidden:
            for gone in [other, *self.table.under(other)]:
                self._forget(gone)
        return kept

    def _detach(self, path: str, action: Action, *, every: bool = True) -> None:
        """What is mounted on path goes, what this file mounted inside it too; every: and what
        was there before (`unmount old`), else what was there shows again."""
        action.steps.append(Detach(path, every=every))
        for other_path in [path, *self.table.under(path)]:
            self._forget(other_path)

    def _forget(self, path: str) -> None:
        del self.table[path]
        self.pending.discard(path)


def line_text(op: Op, env: Mapping[str, str]) -> str:
    """The line as -d echoes it: command, flags and expanded, quoted words."""
    words = [op.name] + (["-" + op.flags] if op.flags else [])
    texts = [expand(word, env) for word in op.arguments()]
    if any(text.startswith("-") for text in texts):
        words.append("--")
    return " ".join(words + [quote(text) for text in texts])


def _release_after_last_use(actions: list[Action]) -> None:
    """End each action with the release of the slots no later action uses."""
    last: dict[int, Action] = {}
    for action in actions:
        for step in action.steps:
            for slot in slots_used(step):
                last[slot] = action
    done: dict[int, list[int]] = {}
    for slot, action in last.items():
        done.setdefault(id(action), []).append(slot)
    for action in actions:
        if id(action) in done:
            action.steps.append(Release(tuple(done[id(action)])))


_KIND_NAMES = {"dir": "directory", "file": "file", "other": "special file"}

PLAN9_DEVICES = {
    "c": "the console device: mount '#dev' /dev gives a /dev of the harmless devices",
    "p": "the process device: mount '#proc' /proc",
    "d": "the descriptor device: /dev/fd, which mount '#dev' /dev gives",
    "e": "the environment device: the command gets the caller's environment",
    "s": "a file server posted in /srv: Linux has none; bind a directory, or mount a kernel filesystem by type",
    "/": "the root device: the root is /, or #old/ after clear",
    "|": "the pipe device: Linux makes pipes without one",
    "M": "the mount driver: bind a directory instead",
    "l": "the network device: the command has the caller's network",
    "I": "the IP device: the command has the caller's network",
}


def _device_hint(name: str) -> str:
    """What a Plan 9 device path (#name) is nearest to on Linux."""
    letter = name[:1]
    if letter in PLAN9_DEVICES:
        return f"a Plan 9 device path, {PLAN9_DEVICES[letter]}"
    return "Plan 9 device paths have no Linux equivalent; mount kernel filesystems by type instead, as in mount '#tmpfs' /tmp"


def _quoting_hint(word: Word) -> str:
    """For a path that is not there: a ~ or a \" the file meant as a shell would."""
    text = "".join(piece for piece in word.pieces if isinstance(piece, str) and not isinstance(piece, Quoted))
    if text.startswith("~"):
        return ": ~ is not special in a namespace file, write $home"
    if '"' in text:
        return ": a namespace file quotes with ' (as rc does), not \""
    return ""


def _made_below(made: dict[str, str], inside: str) -> dict[str, str]:
    """The mount points made below inside, relative to it."""
    if not inside:
        return dict(made)
    prefix = inside + "/"
    return {path[len(prefix) :]: kind for path, kind in made.items() if path.startswith(prefix)}
