"""The rules of docs/architecture.md, held: who may import what, and no import cycles."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import newns
from helpers import Caller, traced_imports

PACKAGE = Path(newns.__file__).parent
CORE = {"diagnostics", "record", "ops", "nsfile", "syntax", "packages", "loader", "interp", "unions", "table", "plan",
        "labels", "explain", "nsdump", "mountinfo", "world", "network"}
"""The pure core: it makes no system call, and imports nothing of linux/."""


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def imports(name: str, path: Path) -> set[str]:
    """Everything a module imports, at its top or inside a function: absolute names, and
    newns's own modules as their names within the package."""
    package = name.split(".")[:-1] if not path.name == "__init__.py" else name.split(".")
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
                if node.module is None:
                    found |= {".".join(base + [alias.name]) for alias in node.names}
                else:
                    found.add(module)
            else:
                found.add(node.module or "")
    return {f"newns.{n}" if n and not n.startswith(("newns", "")) else n for n in found if n}


def own(names: set[str], all_modules: dict[str, Path]) -> set[str]:
    return {n for n in names if n in all_modules}


def test_only_the_linux_package_imports_ctypes():
    for name, path in modules().items():
        if {"ctypes", "_ctypes"} & imports(name, path):
            assert name == "linux.libc", f"{name} imports ctypes: only linux/libc.py may"


def test_the_core_imports_nothing_of_linux():
    for name, path in modules().items():
        if name in CORE:
            assert not any(n == "linux" or n.startswith("linux.") for n in imports(name, path)), name


def test_there_are_no_import_cycles():
    all_modules = modules()
    graph = {name: own(imports(name, path), all_modules) - {name} for name, path in all_modules.items()}
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = "open"
        for other in sorted(graph[name]):
            if state.get(other) == "open":
                raise AssertionError("import cycle: " + " -> ".join(trail[trail.index(other) :] + [other]))
            if other not in state:
                visit(other, trail + [other])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_the_interpreter_loads_without_ctypes_or_typing():
    """The core is in-process testable anywhere, and costs newns's start nothing it needn't."""
    code = "import sys, newns.interp, newns.loader; print(sorted({'ctypes', '_ctypes', 'typing'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout == "[]\n"


SLOW = {"typing", "re", "enum", "dataclasses", "click", "hashlib", "lark"}
"""What a plain run never imports: each costs every start of newns (lark, only where a file
must be parsed)."""


def imported(args: list[str], home: Path) -> set[str]:
    """The modules a real run of newns imports."""
    result, modules = Caller("me", os.geteuid(), os.getegid()).newns_imports(*args, cwd=home, env={"PATH": os.environ["PATH"], "HOME": str(home)})
    assert result.returncode == 0, result.stderr
    return modules


def test_a_plain_run_imports_lark_only_to_parse_a_file_and_only_what_its_lines_use(tmp_path):
    (tmp_path / "a").mkdir()
    ns = tmp_path / "test.ns"
    ns.write_text(f"bind {tmp_path}/a {tmp_path}/a\n")
    first = imported(["-f", str(ns), "true"], tmp_path)
    assert "lark" in first and "newns.syntax" in first
    again = imported(["-f", str(ns), "true"], tmp_path)
    assert again & SLOW == set()
    unused = {"newns.syntax", "newns.packages", "newns.options", "newns.linux.sshfs", "newns.linux.posted", "newns.linux.workdirs",
              "newns.explain", "newns.nsdump"}
    assert again & unused == set()


PLAIN_RUN = {
    "__future__", "_blake2", "_ctypes", "errno", "gc", "select",
    "newns", "newns.cli", "newns.diagnostics", "newns.entry", "newns.interp", "newns.labels", "newns.loader",
    "newns.mountinfo", "newns.nsfile", "newns.ops", "newns.plan", "newns.record", "newns.run", "newns.table",
    "newns.unions", "newns.linux", "newns.linux.cache", "newns.linux.door", "newns.linux.execute", "newns.linux.launch",
    "newns.linux.libc", "newns.linux.namespaces", "newns.linux.seccomp", "newns.linux.supervisor", "newns.linux.world",
}
"""Every module a run of a one-bind file read before imports beyond Python's own start."""


def test_a_plain_run_imports_these_modules_and_no_more(tmp_path):
    """A feature whose code slips onto a plain run's path shows here, as a module more (a
    list, not a time: newns's start is its cost on every call of a toolchain)."""
    (tmp_path / "a").mkdir()
    ns = tmp_path / "test.ns"
    ns.write_text(f"bind {tmp_path}/a {tmp_path}/a\n")
    imported(["-f", str(ns), "true"], tmp_path)
    again = imported(["-f", str(ns), "true"], tmp_path)
    python = Path(sys.executable).parent / "python"
    start = subprocess.run([str(python), "-I", "-X", "importtime", "-c", "pass"], capture_output=True, text=True).stderr
    own = traced_imports(start)
    assert again - own == PLAIN_RUN


def test_what_runs_inside_the_namespace_imports_nothing_late():
    """After clear, newns's own files are out of reach: the door and what launches the command
    import every module they need before the namespace is built. So does --cpu's join before it
    joins the command's namespaces, where the path it imported newns from (/proc/HOLDER/fd/N)
    names whatever the command's /proc has there."""
    allowed = {  # these run before the namespace is entered
        ("linux/launch.py", "work_area"), ("linux/launch.py", "importer"), ("linux/launch.py", "on_own_terminal"),
        ("linux/launch.py", "engine"),
        ("linux/joined.py", "user_name"),
        ("linux/joined.py", "owner_gid"),
    }
    for name in ("linux/door.py", "linux/launch.py", "linux/supervisor.py", "linux/execute.py", "linux/carry.py",
                 "linux/posted.py", "linux/namespaces.py", "linux/joined.py", "linux/processes.py", "linux/seccomp.py",
                 "linux/libc.py", "linux/sshfs.py", "linux/relay.py", "linux/farside.py"):
        tree = ast.parse((PACKAGE / name).read_text())
        for function in ast.walk(tree):
            if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                late = [n for n in ast.walk(function) if isinstance(n, (ast.Import, ast.ImportFrom))]
                assert not late or (name, function.name) in allowed, f"{name}: {function.name} imports late"


def test_no_code_decides_by_a_diagnostics_text():
    """Diagnostics have kinds, as pyflakes's messages are classes: code tests a diagnostic's
    class, never its message's text or its severity's name (diagnostics.py, which shows them, aside)."""
    def judged(node: ast.expr) -> bool:
        return isinstance(node, ast.Attribute) and node.attr in ("message", "severity")

    for path in PACKAGE.rglob("*.py"):
        if path.name == "diagnostics.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare):
                assert not any(judged(side) for side in [node.left, *node.comparators]), f"{path}:{node.lineno}"
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                assert not judged(node.func.value), f"{path}:{node.lineno}: {node.func.attr} on a diagnostic's text"


def calls(path: Path) -> set[str]:
    """Every `module.function(...)` a module calls, as module.function."""
    return {
        f"{node.func.value.id}.{node.func.attr}"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name)
    }


def test_only_the_door_changes_mounts():
    changing = {"libc.mount", "libc.umount_detach", "libc.pivot_root", "libc.move_mount", "libc.open_tree_clone",
                "libc.set_readonly"}
    for name, path in modules().items():
        if name != "linux.door":
            assert not calls(path) & changing, f"{name} changes mounts: only linux/door.py may"


def test_only_the_linux_package_makes_system_calls():
    """Elsewhere os gives the environment, paths, the caller's ids and _exit, and nothing
    imports what makes processes, descriptors or mounts; entry.py alone gives SIGINT back its
    default, before anything else is imported."""
    system = {"ctypes", "select", "signal", "_signal", "socket", "subprocess", "fcntl", "termios", "tty", "pty", "mmap"}
    kept = {"environ", "path", "getuid", "geteuid", "getgid", "getegid", "_exit"}
    for name, path in modules().items():
        if name.startswith("linux"):
            continue
        tree = ast.parse(path.read_text())
        used = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "os"}
        assert used <= kept, f"{name} makes system calls: os.{', os.'.join(sorted(used - kept))}"
        assert name == "entry" or not imports(name, path) & system, f"{name} imports {', '.join(sorted(imports(name, path) & system))}"
