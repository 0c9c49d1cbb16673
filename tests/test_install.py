"""Installing newns and first using it as people do: a fresh clone, pipx, a pyenv machine,
and the toolchain trees people really have (Debian's Go packages, pyenv's Pythons, nvm's
Node)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import uuid
from pathlib import Path

import pytest
from helpers import NEWNS, ROOT, Tree

REPO = Path(__file__).resolve().parent.parent
NAMESPACES = REPO / "namespaces"
PLAIN_PATH = "/usr/local/bin:/usr/bin:/bin"
WITH_NEWNS = f"{Path(NEWNS).parent}:{PLAIN_PATH}"
"""A PATH on which the shipped files' #!/usr/bin/env newns finds newns."""
HANG = 300


@pytest.fixture
def home(place):
    """A home directory of the caller's, outside /tmp (the demo makes /tmp private)."""
    return place


def clone(home: Tree) -> Path:
    """A fresh clone of this checkout in the home directory (its working tree as it is)."""
    target = home / "newns"
    ignore = shutil.ignore_patterns(".git", "*.egg-info", "build", "dist", "__pycache__", ".hypothesis", ".pytest_cache")
    shutil.copytree(REPO, target, ignore=ignore, symlinks=True)
    home.own()
    return target


def readme_command(heading: str) -> str:
    """The first code block of a section of the README."""
    text = (REPO / "README.md").read_text()
    section = text[text.index(f"## {heading}\n") :]
    return re.search(r"```\n(.*?)\n```", section, re.S).group(1)


def test_the_readmes_first_command_runs_as_written_from_a_fresh_clone(home):
    checkout = clone(home)
    command = readme_command("Try it")
    assert command.startswith("./newns -f namespaces/demo ")
    note_existed = os.path.lexists("/tmp/note")
    result = home.caller.run(["sh", "-c", command], cwd=checkout, env={"PATH": PLAIN_PATH, "HOME": str(home.base)})
    assert result.returncode == 0, result.stderr
    listed = result.stdout.split()
    assert "README.md" not in listed and "newns" in listed and "note" in listed, result.stdout
    assert (checkout / "README.md").exists()
    assert os.path.lexists("/tmp/note") == note_existed


def test_the_fast_subset_runs_as_the_readme_says():
    """The command a contributor runs before a commit, as the README prints it."""
    assert "```\n./tests/run -m fast\n```" in (REPO / "README.md").read_text()
    result = subprocess.run(["sh", "-c", "./tests/run -m fast"], cwd=REPO, capture_output=True, text=True, timeout=HANG)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    summary = result.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary and "deselected" in summary, summary


def system_has(*modules: str) -> bool:
    """Whether the launcher's Python finds these modules, where site looks."""
    code = "import site, sys; site.main(); " + "; ".join(f"import {m}" for m in modules)
    return subprocess.run(["/usr/bin/python3", "-I", "-S", "-c", code], capture_output=True).returncode == 0


FIRST_COMMANDS = {
    "--help": (0, "Usage: newns [OPTIONS]"),
    "-h": (0, "Usage: newns [OPTIONS]"),
    "--version": (0, "newns, version "),
    "--chek": (2, "No such option: --chek"),
    "-f": (2, "Option '-f' requires an argument"),
}


@pytest.mark.parametrize("option", list(FIRST_COMMANDS))
def test_the_launchers_first_commands_on_a_fresh_clone(home, option):
    if not system_has("click"):
        pytest.skip("the system's Python has no click (apt install python3-click)")
    checkout = clone(home)
    result = home.caller.run(["./newns", option], cwd=checkout, env={"PATH": PLAIN_PATH})
    code, said = FIRST_COMMANDS[option]
    assert result.returncode == code, result
    assert said in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_the_launcher_without_lark_or_click_says_what_to_install(home):
    if system_has("lark") and system_has("click"):
        pytest.skip("the system's Python has lark and click: nothing to report")
    checkout = clone(home)
    ns = home.ns("bind $HOME $HOME\n")
    for args in (["--check", "-f", "namespaces/demo"], ["-f", str(ns), "true"]):
        result = home.caller.run([str(checkout / "newns"), *args], cwd=checkout, env={"PATH": PLAIN_PATH})
        assert result.returncode == 125
        assert len(result.stderr.splitlines()) == 1 and "apt install python3-lark python3-click" in result.stderr


@pytest.mark.parametrize("package", ["lark", "click"])
def test_a_missing_package_is_one_line_saying_how_to_get_it(home, package):
    """Python finds no package that sys.modules holds as None: as if it were not installed."""
    ns = home.ns("bind $HOME $HOME\n")
    code = f"import sys; sys.modules['{package}'] = None; from newns.entry import main; main()"
    args = ["--check", "-f", str(ns)] if package == "click" else ["-f", str(ns), "true"]
    result = home.caller.run([sys.executable, "-S", "-c", code, *args], cwd=home.base,
                             env={"PATH": PLAIN_PATH, "PYTHONPATH": sysconfig.get_paths()["purelib"]})
    assert (result.returncode, result.stdout) == (125, "")
    assert result.stderr == (f"newns: the Python package {package} is missing: apt install python3-lark python3-click, "
                             "or install newns with them (pipx install .)\n")


def test_pipx_install_with_manual_pages_and_completion(home):
    if subprocess.run([sys.executable, "-m", "pipx", "--version"], capture_output=True).returncode != 0:
        pytest.skip("pipx is not installed in the test environment")
    checkout = clone(home)
    env = {"PATH": f"{Path(sys.executable).parent}:{PLAIN_PATH}", "HOME": str(home.base),
           "PIPX_HOME": str(home / "pipx"), "PIPX_BIN_DIR": str(home / "bin"), "PIPX_MAN_DIR": str(home / "man")}
    install = home.caller.run([sys.executable, "-m", "pipx", "install", str(checkout)], cwd=home.base, env=env,
                              timeout=HANG)
    assert install.returncode == 0, install.stderr
    newns = str(home / "bin/newns")
    ns = home.ns("mount -c '#tmpfs' $T\n")
    run = home.caller.run([newns, "-f", str(ns), "sh", "-c", 'echo hi > "$T/x" && cat "$T/x"'], cwd=home.base,
                          env={"PATH": PLAIN_PATH, "T": str(home / "pipx")})
    assert (run.returncode, run.stdout) == (0, "hi\n"), run.stderr
    if shutil.which("man"):
        found = subprocess.run(["man", "-w", "newns"], env={"MANPATH": str(home / "man"), "PATH": PLAIN_PATH},
                               capture_output=True, text=True)
        assert found.returncode == 0, found.stderr
        assert Path(found.stdout.strip()).resolve() == (home / "man/man1/newns.1").resolve()
    completion = home.caller.run([newns], cwd=home.base, env={"PATH": PLAIN_PATH, "_NEWNS_COMPLETE": "bash_source"})
    assert "complete -o nosort -F _newns_completion newns" in completion.stdout, completion.stderr


def test_newns_started_by_a_pyenv_shim_takes_that_python_off_path(home):
    """pyenv exec puts the bin directory of the Python newns was installed with first on PATH;
    a namespace file that chooses another Python must still win."""
    root = home / "pyenv"
    shim_bin = root / "versions/3.0.0/bin"
    chosen = root / "versions/3.9.18/bin"
    home.make({"pyenv/versions/current/": ""})
    for directory, version in ((shim_bin, "3.0.0"), (chosen, "3.9.18")):
        directory.mkdir(parents=True)
        (directory / "python3").write_text(f"#!/bin/sh\necho python {version}\n")
        (directory / "python3").chmod(0o755)
    os.symlink(NEWNS, shim_bin / "newns")
    home.own()
    env = {"PYENV_ROOT": str(root), "PYVERSION": "3.9.18",
           "PATH": f"{shim_bin}:{root / 'versions/current/bin'}:{PLAIN_PATH}"}
    result = home.caller.run([str(shim_bin / "newns"), "-f", str(NAMESPACES / "python"), "python3"], cwd=home.base,
                             env=env)
    assert (result.returncode, result.stdout) == (0, "python 3.9.18\n"), result.stderr
    unrelated = home.caller.run([NEWNS, "-f", str(NAMESPACES / "python"), "sh", "-c", 'echo "$PATH"'], cwd=home.base,
                                env=env)
    first, second = unrelated.stdout.split(":")[:2]  # the file's own setenv -b PATH, then the caller's PATH
    assert (first, second) == (str(root / "versions/current/bin"), str(shim_bin)), "only a PATH that pyenv exec made is changed"


# -- real toolchain trees ----------------------------------------------------------------


def test_debians_go_packages_through_go_debian(home):
    versions = sorted(p.name[3:] for p in Path("/usr/lib").glob("go-1.*"))
    if not versions or not os.path.exists("/usr/lib/go"):
        pytest.skip("no Debian golang-1.X package with golang-go here")
    work = home / "mod"
    home.make({"mod/go.mod": "module example.com/m\n\ngo 1.19\n",
               "mod/main.go": 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("built") }\n'})
    for version in versions:
        env = {"PATH": WITH_NEWNS, "HOME": str(home.base), "GOVERSION": version, "GOTOOLCHAIN": "local",
               "GOCACHE": str(home / ".cache/go-build"), "GOFLAGS": "-mod=mod"}
        result = home.caller.run([str(NAMESPACES / "go-debian"), "sh", "-c", "go version && go run ."], cwd=work, env=env,
                                 timeout=HANG)
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines() == [result.stdout.splitlines()[0], "built"]
        assert f"go{version}" in result.stdout.splitlines()[0]
        # /usr/bin/go leads to the default version's tree itself, not through /usr/lib/go
        found = home.caller.run([str(NAMESPACES / "go-debian"), "sh", "-c", "command -v go"], cwd=work, env=env)
        assert found.stdout == "/usr/lib/go/bin/go\n", found


def linked_copy(source: Path, target: Path) -> None:
    """A copy of a tree, its files hard links where the filesystem allows (as root)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if subprocess.run(["cp", "-al", str(source), str(target)], capture_output=True).returncode != 0:
        shutil.rmtree(target, ignore_errors=True)
        subprocess.run(["cp", "-a", str(source), str(target)], check=True)


@pytest.mark.skipif(not ROOT, reason="needs root to copy root's pyenv Python")
def test_a_pyenv_python_copied_for_another_user(home):
    """pyenv builds link libpython by an absolute RUNPATH into the owner's tree: a copy works
    for another user with LD_LIBRARY_PATH, as docs/toolchains.md says."""
    pythons = sorted(Path("/root/.pyenv/versions").glob("3.*")) if os.path.isdir("/root/.pyenv/versions") else []
    if not pythons:
        pytest.skip("no pyenv Python here")
    source = pythons[0]
    root = home / "pyenv"
    linked_copy(source, root / "versions" / source.name)
    (root / "versions/current").mkdir()
    subprocess.run(["chown", "-h", f"{home.caller.uid}:{home.caller.gid}", str(root), str(root / "versions"),
                    str(root / "versions/current")], check=True)
    env = {"PATH": f"{root / 'versions/current/bin'}:{WITH_NEWNS}", "PYENV_ROOT": str(root), "PYVERSION": source.name,
           "LD_LIBRARY_PATH": str(root / "versions/current/lib")}
    result = home.caller.run([str(NAMESPACES / "python"), "python3", "-c", "import sys; print(sys.version.split()[0])"],
                             cwd=home.base, env=env)
    assert (result.returncode, result.stdout) == (0, f"{source.name}\n"), result.stderr


@pytest.mark.skipif(not ROOT, reason="needs root to lay out the machine's Node as nvm does")
def test_node_laid_out_as_nvm_does(home):
    if not (os.path.exists("/usr/bin/node") and os.path.isdir("/usr/lib/node_modules/npm")):
        pytest.skip("no Node with npm here")
    version = subprocess.run(["/usr/bin/node", "--version"], capture_output=True, text=True).stdout.strip()
    tree = home / "nvm/versions/node" / version
    (tree / "bin").mkdir(parents=True)
    linked_copy(Path("/usr/lib/node_modules/npm"), tree / "lib/node_modules/npm")
    os.link("/usr/bin/node", tree / "bin/node") if os.stat("/usr/bin/node").st_dev == os.stat(tree).st_dev else shutil.copy2(
        "/usr/bin/node", tree / "bin/node")
    os.symlink("../lib/node_modules/npm/bin/npm-cli.js", tree / "bin/npm")
    (home / "nvm/versions/node/current").mkdir()
    subprocess.run(["chown", "-R", "-h", f"{home.caller.uid}:{home.caller.gid}", str(home / "nvm")], check=False)
    env = {"PATH": f"{home / 'nvm/versions/node/current/bin'}:{WITH_NEWNS}", "HOME": str(home.base),
           "NVM_DIR": str(home / "nvm"), "NODEVERSION": version}
    result = home.caller.run([str(NAMESPACES / "node"), "sh", "-c", "command -v node; node --version; npm --version"],
                             cwd=home.base, env=env, timeout=HANG)
    assert result.returncode == 0, result.stderr
    where, node_version, _npm = result.stdout.splitlines()
    assert (where, node_version) == (f"{home / 'nvm/versions/node/current/bin/node'}", version)


# -- CI ---------------------------------------------------------------------------------


def test_the_actions_example_installs_newns_from_the_submodule(home):
    """The example's install step, as the runner runs it: the submodule's launcher on PATH."""
    text = (REPO / "examples/github-actions.yml").read_text()
    step = text[text.index("- name: Install newns") :]
    line = re.search(r'^ +(echo "\$GITHUB_WORKSPACE/tools/newns" >> "\$GITHUB_PATH")$', step, re.M).group(1)
    workspace = home / "repo"
    workspace.mkdir()
    shutil.copytree(REPO, workspace / "tools/newns", ignore=shutil.ignore_patterns(".git", "*.egg-info", "build"))
    home.make({"repo/namespaces/ci": (NAMESPACES / "ci").read_text(), "repo/README.md": "hello\n",
               "_temp/github_path": ""})
    env = {"PATH": PLAIN_PATH, "GITHUB_WORKSPACE": str(workspace), "GITHUB_PATH": str(home / "_temp/github_path")}
    assert home.caller.run(["bash", "-c", line], cwd=workspace, env=env).returncode == 0
    added = (home / "_temp/github_path").read_text().split()
    step_env = {"PATH": ":".join([*added, PLAIN_PATH]), "HOME": str(home.base), "RUNNER_TEMP": str(home / "_temp")}
    script = home / "_temp" / f"{uuid.uuid4()}.sh"
    script.write_text("rm README.md && echo ran\n")
    home.own()
    result = home.caller.run(["newns", "-f", "namespaces/ci", "bash", "-e", str(script)], cwd=workspace, env=step_env)
    assert (result.returncode, result.stdout) == (0, "ran\n"), result.stderr
    assert (workspace / "README.md").exists()


def test_sandbox_shows_the_runners_temporary_directory(home):
    home.make({"checkout/README": "x\n", "_temp/step.sh": "cat README; echo from-temp\n"})
    env = {"PATH": PLAIN_PATH, "RUNNER_TEMP": str(home / "_temp"), "PWD": str(home / "checkout")}
    for name in ("sandbox", "sandbox-rw"):
        result = home.caller.run([NEWNS, "-f", str(NAMESPACES / name), "/usr/bin/sh", str(home / "_temp/step.sh")],
                                 cwd=home / "checkout", env=env)
        assert (result.returncode, result.stdout) == (0, "x\nfrom-temp\n"), result.stderr
    without = home.caller.run([NEWNS, "-f", str(NAMESPACES / "sandbox"), "/usr/bin/true"], cwd=home / "checkout",
                              env={"PATH": PLAIN_PATH, "PWD": str(home / "checkout")})
    assert (without.returncode, without.stderr) == (0, ""), "-q skips the line when RUNNER_TEMP is unset"


# -- the README's install routes, on a fresh account ------------------------------------

LOGIN_PATH = {"root": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
              "user": "/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games"}
"""The PATH Debian's /etc/profile gives a login shell of root's and of a user's."""
MACHINE = ("/usr/local/bin", "/usr/local/share/man", "/opt")
"""Where root's routes install."""


def install_table(which: int) -> dict[str, tuple[str, str]]:
    """A table of the README's Install section (0: the commands, 1: the manual pages):
    for each way, the command a user runs and the one root runs."""
    text = (REPO / "README.md").read_text()
    section = text[text.index("## Install\n") : text.index("\n### ", text.index("## Install\n"))]
    rows = re.findall(r"(?:^\|.*\|\n)+", section, re.M)[which].splitlines()[2:]
    cells = [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows]
    return {how: tuple(re.match(r"`([^`]*)`", cell).group(1) for cell in commands) for how, *commands in cells}


def route(which: int, way: str) -> tuple[str, str]:
    """The row of an Install table that begins with way."""
    return next(commands for how, commands in install_table(which).items() if how.startswith(way))


def fresh_account(home: Tree) -> None:
    """The files Debian gives a new account: useradd's /etc/skel, or base-files's for root."""
    if home.caller.rootless:
        shutil.copytree("/etc/skel", home.base, dirs_exist_ok=True)
    else:
        for name in ("profile", "bashrc"):
            shutil.copy(f"/usr/share/base-files/dot.{name}", home / f".{name}")
    home.own()


def on_this_machine(home: Tree, args: list[str]) -> list[str]:
    """For root, args in a mount namespace of their own where root's routes install copy-on-write,
    the writes kept in the test's directory from one call to the next; a user's args as they are."""
    if home.caller.rootless:
        return args
    mounts = []
    for n, place in enumerate(MACHINE):
        upper, work = home / f".machine/{n}/upper", home / f".machine/{n}/work"
        upper.mkdir(parents=True, exist_ok=True)
        work.mkdir(exist_ok=True)
        mounts.append(f"mount -t overlay overlay -o lowerdir={place},upperdir={upper},workdir={work} {place}")
    return ["unshare", "--mount", "sh", "-c", " && ".join(mounts) + ' && exec "$@"', "sh", *args]


def login_shell(home: Tree, command: str, *, cwd: Path) -> subprocess.CompletedProcess:
    """The command in a login shell of the caller's on their fresh account, as after logging in again."""
    return home.caller.run(on_this_machine(home, ["bash", "-l", "-c", command]), cwd=cwd,
                           env={"HOME": str(home.base), "TERM": "dumb"}, timeout=HANG)


def pyenv_shell(home: Tree, *also: Path) -> str:
    """A PATH as a pyenv shell has it: shims first, whose python3 is not the system's."""
    shims = home / ".pyenv/shims"
    shims.mkdir(parents=True)
    for name in ("python", "python3", "pip", "pip3"):
        (shims / name).write_text("#!/bin/sh\necho \"pyenv's $0 ran\" >&2\nexit 1\n")
        (shims / name).chmod(0o755)
    return ":".join([*map(str, also), str(shims), LOGIN_PATH["user" if home.caller.rootless else "root"]])


def pipx_of(version: str) -> Path | None:
    """Debian 12's pipx (1.1) or the test environment's (1.4 and later), where there is one."""
    pipx = Path("/usr/bin/pipx") if version == "1.1" else Path(sys.executable).parent / "pipx"
    if not pipx.exists():
        return None
    said = subprocess.run([str(pipx), "--version"], capture_output=True, text=True).stdout.strip()
    major_minor = tuple(int(n) for n in said.split(".")[:2] if n.isdigit())
    return pipx if (major_minor == (1, 1) if version == "1.1" else major_minor >= (1, 4)) else None


ROUTES = {"launcher": ("the launcher", "the launcher"), "pipx 1.1": ("pipx", "pipx 1.1"),
          "pipx 1.4": ("pipx", "pipx 1.4"), "venv": ("a virtual environment", "a virtual environment")}
"""Each way to install, by the rows of the Install tables that say how, and where the manual pages are."""


@pytest.mark.parametrize("way", list(ROUTES))
def test_each_install_route_as_the_readme_prints_it_on_a_fresh_account(home, way):
    """The install command in a pyenv shell, then newns and its manual page from a new login
    (and, for a user, from the same shell after the README's export)."""
    if way == "launcher" and not system_has("lark", "click"):
        pytest.skip("the system's Python has no lark and click (apt install python3-lark python3-click)")
    pipx = pipx_of(way.split()[1]) if way.startswith("pipx") else None
    if way.startswith("pipx") and pipx is None:
        pytest.skip(f"no {way} here (Debian 12's: apt install pipx; the test environment's: pipx>=1.4)")
    fresh_account(home)
    checkout = clone(home)
    user = home.caller.rootless
    install = route(0, ROUTES[way][0])[0 if user else 1]
    manual = route(1, ROUTES[way][1])[0 if user else 1]
    tools = home / ".tools"
    tools.mkdir()
    if pipx:
        (tools / "pipx").symlink_to(pipx)
    path = pyenv_shell(home, tools)
    home.own()
    env = {"HOME": str(home.base), "PATH": path}
    done = home.caller.run(on_this_machine(home, ["bash", "-c", install]), cwd=checkout, env=env, timeout=HANG)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "pyenv's" not in done.stderr
    if way == "venv":
        venv = home / ".local/share/newns" if user else home / ".machine/2/upper/newns"
        assert "home = /usr/bin\n" in (venv / "pyvenv.cfg").read_text()
    if user:
        export = readme_command("Install")
        assert export == 'export PATH="$HOME/.local/bin:$PATH"'
        same_shell = home.caller.run(["bash", "-c", f"{export}\nnewns --version"], cwd=checkout, env=env)
        assert same_shell.returncode == 0 and "newns, version " in same_shell.stdout, same_shell.stderr
    where = home / ".local/bin/newns" if user else Path("/usr/local/bin/newns")
    login = login_shell(home, "command -v newns && newns --version && newns -f namespaces/demo sh -c 'ls /tmp | wc -l'",
                        cwd=checkout)
    assert login.returncode == 0, login.stdout + login.stderr
    assert login.stdout.splitlines()[:1] == [str(where)] and "newns, version " in login.stdout, login.stdout
    assert login.stdout.splitlines()[-1] == "0", "the demo's /tmp is private and empty"
    page = login_shell(home, manual, cwd=checkout)
    assert page.returncode == 0, page.stderr
    assert "newns - run a command in a new mount namespace" in " ".join(page.stdout.split()), page.stdout[:500]


def test_a_user_without_a_login_since_the_install_finds_no_newns(home):
    """Why the README says what to do next: a shell started before ~/.local/bin existed has no newns."""
    fresh_account(home)
    checkout = clone(home)
    install = route(0, "the launcher")[0]
    env = {"HOME": str(home.base), "PATH": LOGIN_PATH["user"]}
    assert home.caller.run(["bash", "-c", install], cwd=checkout, env=env).returncode == 0
    before = home.caller.run(["bash", "-c", "newns --version"], cwd=checkout, env=env)
    assert before.returncode == 127, before
