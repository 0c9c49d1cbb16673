"""Operations to a plan: Plan 9's meaning of a file, line by line.

The interpreter gives each operation its meaning: variables and paths,
unions, covers and `clear` (through Unions, which keeps Plan 9's mount
table), and what the command gets besides its mounts (Settings). It turns
the whole file into a Plan before anything is mounted. Every path it can
follow back to the caller's namespace is checked here, so most mistakes stop
newns before the first mount.
"""
from __future__ import annotations

import os.path

from .diagnostics import (
    MAX_PROBLEMS, Diagnostic, NewnsError, TooManyProblems, UnsetVariable, Where, note, warning,
)
from .nsfile import quote
from .ops import (
    Allow, Bind, Cd, Clear, Hostname, Import, Include, Mount, Net, Op, Setenv, Unmount, Unset, Unsetenv, User, Var, Word,
    expand,
)
from .plan import NEW_ROOT, OLD_ROOT, Action, Detach, Devices, Import as Imported, NewFs, Plan, Release, Settings, slots_used
from .loader import Stop
from .record import dispatch
from .table import Member, Target
from .unions import Unions

TYPE_CHECKING = False
if TYPE_CHECKING:  # for type checkers only: each import costs every start of newns
    from collections.abc import Callable, Mapping

    from .loader import Loader
    from .world import World

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


def host_problem(host: str) -> str | None:
    """Why host is not a host for ssh (None when it is one)."""
    bad = next((c for c in host if c not in IMPORT_HOST_CHARS), None)
    if host and not host.startswith("-") and bad is None:
        return None
    what = "an empty host" if not host else f"{host!r}" + (f" holds {bad!r}" if bad else " starts with -")
    return (
        f"{what}: the host is what ssh takes (host, user@host, an alias of ~/.ssh/config: "
        "letters, digits, '.', '_', '-' and '@'; give an IPv6 address or a port an alias)"
    )


class Interpreter:
    """Turns a file's operations into a Plan, keeping Plan 9's mount table as it goes;
    asks the world (a World) what paths hold, and nothing else, and the loader for an
    include's operations when it reaches the include (without one, as on --cpu's far side,
    they follow the include already)."""

    def __init__(
        self, env: Mapping[str, str], cwd: str, world: World, *, loader: Loader | None = None,
        replaced: frozenset[tuple[str, int]] = frozenset(),
    ) -> None:
        self.world = world
        self.given = env
        self.exported = dict(env)  # the command's environment
        self.env_changed = False
        self.removed: dict[str, Where] = {}  # variables the file took out of the environment, and where
        self.account: dict[str, str] | None = None
        self.env = self._variables()
        self.cwd = cwd
        self.dir = cwd
        self.actions: list[Action] = []
        self.problems: list[Diagnostic] = []
        self.warnings: list[Diagnostic] = []
        self.unions = Unions(world, self.actions, self._warn, replaced)
        self.settings = Settings()
        self.pid_namespace = False
        self.once: dict[str, Where] = {}  # lines that may come once in a file: where each came
        self.imports = False
        self.loader = loader
        self.skipped: frozenset[int] = frozenset()
        self.count = 0  # operations reached so far: each one's index, which a replan skips by
        self.cd: str | None = None
        self.cd_where: Where | None = None
        self.handlers: dict[type[Op], Callable[[Op, Action], None]] = {
            Bind: self._bind, Mount: self._mount, Unmount: self._unmount, Clear: self._clear,  # type: ignore[dict-item]
            Allow: self._allow, Hostname: self._hostname, User: self._user, Setenv: self._setenv,  # type: ignore[dict-item]
            Unsetenv: self._unsetenv, Import: self._import, Net: self._net,  # type: ignore[dict-item]
        }

    # -- words -----------------------------------------------------------

    def expand(self, word: Word) -> str:
        """A word's text: each variable's value is one literal piece of it."""
        try:
            text = expand(word, self.env)
        except Unset as unset:
            missing = NewnsError.of([self._unset(unset.var)])
            missing.absent = True
            raise missing from None
        if "\0" in text:
            raise NewnsError("a NUL byte in an argument", word.where)
        return text

    def path(self, word: Word, *, what: str = "path") -> str:
        """A word as an absolute path of the namespace being built.

        After clear, the new namespace's paths are under NEW_ROOT and #old's
        under OLD_ROOT: those are the paths the steps use; show() turns
        them back into the file's own terms for messages.
        """
        first = word.pieces[0]
        if len(word.pieces) == 1 and not isinstance(first, Var) and is_normal(first) and "\0" not in first:
            logical = first  # as most are: one text, which normpath (slow in Python 3.11) would leave as it is
        else:
            text = self.expand(word)
            if not text:
                raise NewnsError(f"empty {what}", word.where)
            if word.names_device:
                name, _, rest = text[1:].partition("/")
                if name != "old":
                    raise NewnsError(f"{text}: {_device_hint(name)}", word.where)
                if not self.unions.cleared:
                    raise NewnsError(
                        "#old is the namespace as it was before clear, and no clear comes before this line", word.where
                    )
                return os.path.normpath(f"{OLD_ROOT}/{rest}")
            logical = text if is_normal(text) else os.path.normpath(os.path.join(self.dir, text))
        return os.path.normpath(NEW_ROOT + logical) if self.unions.cleared else logical

    # -- planning --------------------------------------------------------

    def plan(self, ops: list[Op], skipped: frozenset[int] = frozenset()) -> Plan:
        """The whole file as kernel steps; raises NewnsError with every problem (and the
        warnings found with them). skipped: operations, by their place in the run (includes'
        lines counted where they are read), that the kernel refused when an earlier plan was
        carried out (a -q line): planned as if they were not there.

        The namespace built is the one the whole file means: when a line replaces a union
        an earlier line made, the file is planned again, that union left out of the kernel's
        work (Unions.kernel_path)."""
        self.skipped = skipped
        if self.loader is not None:
            self.loader.begin()
        try:
            self._run(ops, self.loader.stack if self.loader is not None else [])
        except Stop as stop:
            if stop.problem is not None:
                self.problems.append(stop.problem)
        self.unions.flush_all()
        self.problems = _once_per_variable(self.problems)
        replaced = self.unions.replaced | self.unions.found_replaced
        if replaced != self.unions.replaced:
            return Interpreter(self.given, self.cwd, self.world, loader=self.loader, replaced=replaced).plan(ops, skipped)
        if self.problems:
            raise NewnsError.of(self.problems + self.warnings)
        _release_after_last_use(self.actions)
        self.settings.env = self.exported if self.env_changed else None
        return Plan(
            actions=self.actions, cwd=self.cd or self.cwd, cwd_where=self.cd_where, warnings=self.warnings,
            work_dirs=self.unions.work_dirs, cleared=self.unions.cleared is not None, pid_namespace=self.pid_namespace,
            imports=self.imports, settings=self.settings,
        )

    def _run(self, ops: list[Op], stack: list[str]) -> None:
        """Each operation in turn, an include's file read when it is reached; stack: the real
        paths of the files including these. Raises Stop to end the plan."""
        for op in ops:
            index = self.count
            self.count += 1
            if index in self.skipped:
                continue
            include = isinstance(op, Include)
            if include and self.loader is None:
                continue  # --cpu's far side: the caller's side sent its file's lines after it
            action = Action(where=op.where, said=None, quiet=op.quiet, steps=[], op=index)
            try:
                if isinstance(op, Include):
                    included, problems, real = self._include(op, stack)
                elif isinstance(op, Cd):
                    self.cd = self._line(op, action)
                    self.cd_where = op.where
                else:
                    self._line(op, action)
            except NewnsError as problem:
                if op.quiet:
                    for d in problem.diagnostics:
                        self._warn(f"skipped (-q): {d.message}", d.where, note if problem.absent else warning)
                else:
                    self._found(problem.diagnostics)
                continue
            if include:
                self._found(problems)
                self._run(included, stack + [real])
            else:
                self.actions.append(action)

    def _found(self, problems: list[Diagnostic]) -> None:
        """Problems found; Stop once there are MAX_PROBLEMS."""
        self.problems += problems
        if len(self.problems) >= MAX_PROBLEMS:
            last = self.problems[MAX_PROBLEMS - 1].where
            self.problems[MAX_PROBLEMS:] = [TooManyProblems(f"{MAX_PROBLEMS} problems: newns checks no further", last)]
            raise Stop

    def _line(self, op: Op, action: Action) -> str | None:
        """Check a line and plan its steps into action (a cd's: the directory); raises NewnsError
        with the line's problems: each unset variable, and the first other problem."""
        variables: list[Var] = []
        for word in op.arguments():
            if len(word.pieces) > 1 or isinstance(word.pieces[0], Var):  # most words are one text
                variables += [piece for piece in word.pieces if isinstance(piece, Var)]
        needs_account = variables and any(v.name in ("user", "home") and v.name not in self.env for v in variables)
        if needs_account and self.account is None:
            user, home = self.world.account()  # looked up only for a line that needs it
            self.account = {"user": user, "home": home}
            self.env = self._variables()
        missing = [piece for piece in variables if piece.name not in self.env] if variables else []
        unset = [self._unset(piece) for piece in missing] if missing else []
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

    def _unset(self, var: Var) -> UnsetVariable:
        removed = self.removed.get(var.name)
        if removed is None:
            message = Unset(var).message()
        else:
            message = f"${var.name} is not set: line {removed.line} of {removed.file} removed it from the environment"
        return UnsetVariable(message, var.where, name=var.name)

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
        dispatch(self.handlers, op, action, of="the interpreter")

    def _include(self, op: Include, stack: list[str]) -> tuple[list[Op], list[Diagnostic], str]:
        """The operations and problems of the file an include reads, and its real path: found in
        the namespace built so far, as Plan 9 opens it, through what earlier lines bound or
        mounted on its path; a relative path until the first cd is found next to the file that
        names it (after clear: in #old, where that file was read), then from the cd's directory."""
        assert self.loader is not None
        said = self.expand(op.path)
        if self.cd_where is None and not said.startswith("/") and not op.path.names_device:
            name = os.path.join(os.path.dirname(op.where.file), said)
            logical = os.path.normpath(os.path.join(self.loader.cwd, name))
            path = os.path.normpath(OLD_ROOT + logical) if self.unions.cleared else logical
            hows = ["next to the file that includes it"]
        else:
            path = self.path(op.path)
            name = self.unions.show(path)
            hows = [f"in the directory of the cd of line {self.cd_where.line}"] if self.cd_where and not said.startswith("/") else []
        found = self.unions.table.lookup(path)
        holder = self.unions.table.holder(path)
        target = self.unions.table[holder] if holder is not None else None
        if target is not None and target.where is not None:
            hows.append(f"through what line {target.where.line} put on {self.unions.show(holder)}")  # type: ignore[arg-type]
        how = ", ".join(hows) or "where its path leads"
        fresh = found.fresh or (target and found.origin is None and all(m.fresh for m in target.members) and target.members[0])
        if fresh:
            line = f" line {target.where.line}" if target is not None and target.where is not None else ""
            raise NewnsError(
                f". {name}: in the {quote(fresh.label)}{line} mounted on {self.unions.show(holder)}, which holds "  # type: ignore[arg-type]
                "no file of yours",
                op.path.where,
            )
        if found.origin is None:
            raise NewnsError(
                f". {name}: {how}: newns can't tell what is there before it runs: include a file of yours", op.path.where,
                absent=found.kind == "missing",
            )
        included = self.loader.include(op, said, name, found.origin, stack=stack, how=how)
        if self.cd_where is None and not said.startswith("/") and not op.path.names_device:
            self._plan9_reads_another(op, said, path, included[2])
        return included

    def _plan9_reads_another(self, op: Include, said: str, path: str, real: str) -> None:
        """Warn when a relative include before any cd (said), read next to the file that names
        it (path, really real), names another file in the working directory, where Plan 9
        reads it. Where the working directory has no such file, Plan 9 reads nothing, and
        nothing is said."""
        theirs = self.path(op.path)
        found = self.unions.table.lookup(theirs)
        if found.kind == "file" and found.origin is not None and self.world.realpath(found.origin) != real:
            self._warn(
                f". {said} reads {self.unions.show(path)}, next to the file that includes it; Plan 9 "
                f"would read {self.unions.show(theirs)} (relative to the working directory): write its path, or cd "
                "first, to say which",
                op.path.where,
            )

    def _allow(self, op: Allow, action: Action) -> None:
        what = self.expand(op.what)
        if what != "setuid":
            raise NewnsError(f"allow: {what!r} is nothing newns allows: allow setuid is the one there is", op.what.where)
        if self.settings.setuid_allowed:
            raise NewnsError("allow setuid comes once in a file", op.where)
        if self.settings.ids is not None:
            raise NewnsError("allow setuid and user: a command dropped to other ids gains no privilege", op.where)
        self.settings.setuid_allowed = True

    def _cd(self, op: Cd) -> str:
        path = self.path(op.dir, what="directory")
        self.unions.check_new(path, op.dir, "cd")
        self.unions.existing(path, op.dir, "cd", directory=True)
        self.dir = self.unions.show(path)
        return self.dir

    def _bind(self, op: Bind, action: Action) -> None:
        unions = self.unions
        new = self.path(op.new)
        old = self.path(op.old)
        unions.flush_under((new, old))
        held = None  # the source, opened before the root changes: as the file named it, and checked
        if old == "/" and not unions.cleared:
            unions.existing(new, op.new, "bind", directory=True)
            if (unions.table.get(new) or Target(members=[], readonly=False, where=None)).members[1:] == []:
                held = unions.capture(new, action)
            unions.reroot(op, action, keep="a" in op.flags or "b" in op.flags)
            new, old = os.path.normpath(OLD_ROOT + new), NEW_ROOT
        table = unions.table  # the one reroot made, if it did
        new_found = table.lookup(new)
        new_kind = unions.existing(new, op.new, "bind", found=new_found)
        old_kind, point = unions.target(op, old, action, directory=new_kind == "dir")
        if new_kind and old_kind and (new_kind == "dir") != (old_kind == "dir"):
            raise NewnsError(
                f"bind: {unions.show(new)} is a {_KIND_NAMES[new_kind]} but {unions.show(old)} is a "
                f"{_KIND_NAMES[old_kind]}: bind a directory onto a directory, a file onto a file",
                op.old.where,
            )
        source = table.get(new)
        if source is not None and len(source.members) > 1:
            members = [Member(
                slot=m.slot, label=m.label, origin=m.origin, create=m.create, fresh=m.fresh, made=m.made,
            ) for m in source.members]
            if "c" in op.flags:
                members[0].create = True
        else:
            unions.flush_inside(new)  # a bind copies what is mounted inside its source
            create = "c" in op.flags
            union = "a" in op.flags or "b" in op.flags
            if create and union and new_found.origin is not None and not self.world.writable(new_found.origin):
                raise NewnsError(
                    f"bind -c: {unions.show(new)} takes the union's creations, and you can't write there: give -c "
                    "to a directory of yours, or put a '#tmpfs' first with mount -bc",
                    op.new.where,
                )
            slot = held if held is not None else unions.capture(new, action)
            members = [Member(slot=slot, label=unions.show(new), origin=new_found.origin, create=create, at=new)]
        unions.join(op, old, old_kind, point, members, action)

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
        if op.spec is not None and (op.spec.bare or "").startswith("#"):
            raise NewnsError("comments go on their own line: a # after a command is a word", op.spec.where)
        spec = self.expand(op.spec) if op.spec is not None else None
        if spec and op.spec is not None and fstype in ("tmpfs", "dev"):
            _check_limits(spec, op.spec.where)
        self.unions.flush_under((old,))
        if old == "/" and not self.unions.cleared:
            self.unions.reroot(op, action, keep="a" in op.flags or "b" in op.flags)
            old = NEW_ROOT
        old_kind, point = self.unions.target(op, old, action, directory=True)
        if fstype == "dev":
            self._devices(op, old, old_kind, point, spec, action)
            return
        slot = self.unions.new_slot()
        action.steps.append(NewFs(slot=slot, fstype=fstype, options=spec or None))
        if fstype == "proc":
            self.pid_namespace = True
        if fstype == "tmpfs":
            member = Member(slot=slot, label=source, origin=None, create="c" in op.flags, fresh=True, made={})
        else:
            member = Member(slot=slot, label=source, origin=None, create="c" in op.flags)
        self.unions.join(op, old, old_kind, point, [member], action)

    def _import(self, op: Import, action: Action) -> None:
        """A remote directory, as a new filesystem: sshfs serves it from beside newns."""
        host = self.expand(op.host)
        problem = host_problem(host)
        if problem is not None:
            raise NewnsError(f"import: {problem}", op.host.where)
        old = self.path(op.old)
        remote = self.expand(op.remote) if op.remote is not None else self.unions.show(old)
        if not remote or "\0" in remote:
            raise NewnsError("import: an empty remote path", (op.remote or op.old).where)
        if "c" in op.flags and ("a" in op.flags or "b" in op.flags):
            raise NewnsError(
                "import: -c in a union: overlayfs can't take creations in an imported tree (FUSE); "
                "put a '#tmpfs' or a directory of yours first with -bc",
                op.where,
            )
        self.unions.flush_under((old,))
        old_kind, point = self.unions.target(op, old, action, directory=True)
        slot = self.unions.new_slot()
        action.steps.append(Imported(slot=slot, host=host, remote=remote))
        self.imports = True
        self.unions.join(op, old, old_kind, point, [Member(
            slot=slot, label=f"{host}:{remote}", origin=None, create="c" in op.flags,
        )], action)

    def _devices(
        self, op: Mount, old: str, old_kind: str | None, point: int | None, spec: str | None, action: Action
    ) -> None:
        """#dev: a tmpfs with the caller's harmless devices bound in, and its own pts and shm."""
        source = os.path.join(OLD_ROOT, "dev") if self.unions.cleared else "/dev"
        nodes = tuple(
            (name, self.unions.capture(os.path.join(source, name), action))
            for name in DEVICE_NODES
            if self.unions.table.kind(os.path.join(source, name)) not in ("missing", None)
        )
        slot = self.unions.new_slot()
        action.steps.append(NewFs(slot=slot, fstype="tmpfs", options=spec or "mode=0755,size=64k"))
        member = Member(slot=slot, label="#dev", origin=None, create=False, fresh=True, made=dict(DEV_CONTENTS))
        self.unions.join(op, old, old_kind, point, [member], action)
        placed = self.unions.table[old].placed
        assert placed is not None
        action.steps.append(Devices(base=placed, target=old, nodes=nodes))

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
        self.settings.hostname = host
        self.settings.isolated += ("uts",)

    def _user(self, op: User, action: Action) -> None:
        uid = self._id(op.uid, "user id")
        gid = self._id(op.gid, "group id") if op.gid is not None else uid
        self._once("user", op)
        if self.settings.setuid_allowed:
            raise NewnsError("user and allow setuid: a command dropped to other ids gains no privilege", op.where)
        self.settings.ids, self.settings.user_line = (uid, gid), op.where

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
            if what not in self.settings.isolated:  # a net line's network is the command's own too
                self.settings.isolated += (what,)
            return None
        if self.unions.cleared:
            raise NewnsError(
                f"only one clear in a file, and line {self.unions.cleared.line} started the new namespace "
                "(a clear, or a line onto /): newns keeps one #old",
                op.where,
            )
        self.unions.reroot(op, action, keep=False)

    def _net(self, op: Net, action: Action) -> None:
        """net allow, net forward, net loopback: a network of the command's own, reached
        through the engine (the network module: loaded only for a file with a net line)."""
        from . import network

        what = self.expand(op.what)
        if what not in ("allow", "forward", "loopback"):
            raise NewnsError(
                f"net: {what!r}: net allow DEST ..., net forward [HOSTPORT:]PORT[/udp] or net loopback PORT[/udp] ...",
                op.what.where,
            )
        if not op.args:
            raise NewnsError(f"net {what}: give {'a destination' if what == 'allow' else 'a port'}", op.where)
        if self.settings.network is None:
            self.settings.network = network.Network(op.where, [], [], [])
            if "net" not in self.settings.isolated:
                self.settings.isolated += ("net",)
        for word in op.args:
            text = self.expand(word)
            if what == "allow":
                self.settings.network.allowed.append(network.destination(text, word.where))
            else:
                listed = self.settings.network.forwarded if what == "forward" else self.settings.network.loopback
                listed.append(network.forward(text, word.where, both=what == "forward"))

    def _unmount(self, op: Unmount, action: Action) -> None:
        old = self.path(op.old)
        self.unions.check_new(old, op.old, "unmount")
        if old == NEW_ROOT:
            raise NewnsError("unmount: the new root stays: unmount what is mounted inside it", op.old.where)
        self.unions.flush_under((old,))
        target = self.unions.table.get(old)
        if op.new is None:
            if target is None:
                if self.unions.mounted_on(old) is False:
                    raise NewnsError(f"unmount: nothing is mounted on {self.unions.show(old)}", op.old.where)
                action.steps.append(Detach(target=old, every=True))
                self.unions.table.unknown.add(old)
                for inside in self.unions.table.under(old):
                    self.unions.forget(inside)
            elif target.mounted:
                self.unions.detach(old, action)
            else:
                self.unions.forget(old)
            return
        new = self.unions.show(self.path(op.new))
        if target is None:
            raise NewnsError(f"unmount: nothing is bound on {self.unions.show(old)} by this file", op.old.where)
        for member in target.members:
            if member.label == new:
                break
        else:
            labels = ", ".join(m.label for m in target.members)
            raise NewnsError(f"unmount: {new} is not in the union at {self.unions.show(old)} ({labels})", op.new.where)
        target.members.remove(member)
        target.where = op.where
        if not target.members:
            if target.mounted:
                self.unions.detach(old, action, every=False)
            else:
                self.unions.forget(old)
        elif len(target.members) == 1:
            self.unions.materialize(old, action)
        else:
            self.unions.pending.add(old)

    # -- mounting what the table says ----------------------------------------


def is_normal(path: str) -> bool:
    """Whether path is absolute and os.path.normpath leaves it as it is (a quick look, which
    may say no of some that are)."""
    return path == "/" or path[:1] == "/" and "//" not in path and "/." not in path and path[-1:] != "/"


def line_text(op: Op, env: Mapping[str, str]) -> str:
    """The line as -d echoes it: command, flags and expanded, quoted words."""
    words = [op.name] + (["-" + op.flags] if op.flags else [])
    texts = [expand(word, env) for word in op.arguments()]
    if any(text.startswith("-") for text in texts):
        words.append("--")
    return " ".join(words + [quote(text) for text in texts])


def _once_per_variable(problems: list[Diagnostic]) -> list[Diagnostic]:
    """Each unset variable reported once, at its first use, naming the lines of the others."""
    first: dict[str, int] = {}  # a variable's name -> its first report's place in out
    again: dict[str, list[str]] = {}
    out: list[Diagnostic] = []
    for problem in problems:
        if not isinstance(problem, UnsetVariable):
            out.append(problem)
        elif problem.name not in first:
            first[problem.name] = len(out)
            again[problem.name] = []
            out.append(problem)
        elif problem.where is not None and problem.where.line != out[first[problem.name]].where.line:  # type: ignore[union-attr]
            shown = out[first[problem.name]].where
            place = str(problem.where.line) if shown and shown.file == problem.where.file else str(problem.where)
            if place not in again[problem.name]:
                again[problem.name].append(place)
    for name, index in first.items():
        if again[name]:
            report = out[index]
            lines = again[name]
            out[index] = UnsetVariable(
                f"{report.message} (and on line{'s' if len(lines) > 1 else ''} {', '.join(lines)})", report.where, name=name
            )
    return out


def _release_after_last_use(actions: list[Action]) -> None:
    """End each action with the release of the slots no later action uses."""
    last: dict[int, int] = {}  # slot -> the place of the last action using it
    for index, action in enumerate(actions):
        for step in action.steps:
            for slot in slots_used(step):
                last[slot] = index
    done: dict[int, list[int]] = {}
    for slot, index in last.items():
        done.setdefault(index, []).append(slot)
    for index, slots in done.items():
        actions[index].steps.append(Release(slots=tuple(slots)))


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


_SHIFTS = {"k": 10, "m": 20, "g": 30, "t": 40, "p": 50, "e": 60}
"""The suffixes of a tmpfs size, as the kernel's memparse reads them."""


def _check_limits(spec: str, where: Where) -> None:
    """A tmpfs's limits are kept or refused, never dropped: the kernel takes size=0 and
    nr_inodes=0 as no limit, and a number past its range wraps."""
    for option in spec.split(","):
        name, _, value = option.partition("=")
        if name not in ("size", "nr_inodes") or not value:
            continue
        text = value.lower().removesuffix("%") if name == "size" else value.lower()
        shift = _SHIFTS.get(text[-1:], 0)
        digits = text[:-1] if shift else text
        try:
            base = 16 if digits.startswith("0x") else 8 if digits.startswith("0") and len(digits) > 1 else 10
            number = int(digits, base)
        except ValueError:
            continue  # the kernel says what it makes of it
        if number == 0:
            raise NewnsError(
                f"mount: {option}: to the kernel a tmpfs limit of 0 is no limit at all: give the limit you mean "
                f"({name}={'64m' if name == 'size' else '10000'}), or leave the option out for the default",
                where,
            )
        if number << shift >= 1 << 64:
            raise NewnsError(f"mount: {option}: past the kernel's range (2^64)", where)


def _device_hint(name: str) -> str:
    """What a Plan 9 device path (#name) is nearest to on Linux."""
    letter = name[:1]
    if letter in PLAN9_DEVICES:
        return f"a Plan 9 device path, {PLAN9_DEVICES[letter]}"
    return "Plan 9 device paths have no Linux equivalent; mount kernel filesystems by type instead, as in mount '#tmpfs' /tmp"


