"""Where newns is used: CI steps, toolchain switching, shells, the manual pages and the package.

CI steps run as GitHub Actions runs a `shell:`: the step's text in a file, its
path put at {0}, from a checkout that is not under /tmp (CI checkouts never
are; namespaces/ci gives the step a private /tmp, which would hide one). The
toolchain files run against fake trees whose programs print their version.
"""
import contextlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest
from helpers import (
    NEWNS, ROOT, ROOT_CALLER, SHIPPED, Tree, outside_cache, shipped_env, snapshot, spawn, tun_open_to_all, unprivileged,
)

REPO = Path(__file__).resolve().parent.parent
NAMESPACES = REPO / "namespaces"
EXAMPLES = REPO / "examples"
DOCS = REPO / "docs"
BIN = str(Path(NEWNS).parent)
PATH = f"{BIN}:/usr/local/bin:/usr/bin:/bin"
ACTIONS_SHELL = "newns -f namespaces/ci bash -e {0}"


def executable(tree: Tree, files: dict[str, str]) -> None:
    tree.make(files)
    for name in files:
        (tree / name).chmod(0o755)


# -- CI: namespaces/ci, as GitHub Actions, GitLab CI and a wrapper run it ---------------

MAKEFILE = """\
.PHONY: all test check report
all:
\t@mkdir -p build && echo built > build/out && echo made
test check: all
\t@test -f build/out && echo tested
report:
\t@echo one; echo two
"""

SECRETS = {
    "home/.ssh/id_rsa": "SSH-SECRET\n",
    "home/.aws/credentials": "AWS-SECRET\n",
    "home/.config/gh/hosts.yml": "GH-SECRET\n",
    "home/.gnupg/private-keys-v1.d/key": "GPG-SECRET\n",
    "home/.docker/config.json": "DOCKER-SECRET\n",
    "home/.netrc": "NETRC-SECRET\n",
    "home/.azure/accessTokens.json": "AZURE-SECRET\n",
    "home/.config/gcloud/credentials.db": "GCLOUD-SECRET\n",
    "home/.kube/config": "KUBE-SECRET\n",
    "home/.git-credentials": "GIT-SECRET\n",
    "home/.config/git/credentials": "GIT-XDG-SECRET\n",
    "home/.npmrc": "//registry.npmjs.org/:_authToken=NPM-SECRET\n",
    "home/.pypirc": "[pypi]\npassword = PYPI-SECRET\n",
    "home/.cargo/credentials.toml": "CARGO-SECRET\n",
    "home/.gem/credentials": "GEM-SECRET\n",
    "account/.ssh/id_ed25519": "ACCOUNT-SSH-SECRET\n",
    "account/.netrc": "ACCOUNT-NETRC-SECRET\n",
    "account/.kube/config": "ACCOUNT-KUBE-SECRET\n",
    "account/.npmrc": "ACCOUNT-NPM-SECRET\n",
}
HIDDEN_DIRS = [
    "$HOME/.ssh", "$HOME/.aws", "$HOME/.azure", "$HOME/.config/gcloud", "$HOME/.kube", "$HOME/.config/gh",
    "$HOME/.gnupg", "$HOME/.docker", "$home/.ssh", "$home/.kube",
]
HIDDEN_FILES = [
    "$HOME/.netrc", "$HOME/.git-credentials", "$HOME/.config/git/credentials", "$HOME/.npmrc", "$HOME/.pypirc",
    "$HOME/.cargo/credentials.toml", "$HOME/.gem/credentials", "$home/.netrc", "$home/.npmrc",
]


def runner(place: Tree) -> tuple[Path, dict[str, str]]:
    """A runner's machine: the checkout (with namespaces/ci committed in it), a home
    with credentials, the runner's temp directory; the environment a step gets."""
    checkout = "work/repo/repo"
    place.make(
        {
            f"{checkout}/README.md": "hello\n",
            f"{checkout}/Makefile": MAKEFILE,
            f"{checkout}/namespaces/ci": (NAMESPACES / "ci").read_text(),
            f"{checkout}/examples/ci-step.sh": (EXAMPLES / "ci-step.sh").read_text(),
            f"{checkout}/ci/lint.sh": "echo linted\n",
            "work/_temp/": "",
            "home/.gitconfig": "[user]\n\tname = ci\n",
            "home/.config/other/settings": "kept\n",
            **SECRETS,
        }
    )
    (place / checkout / "examples/ci-step.sh").chmod(0o755)
    env = {
        "PATH": PATH,
        "HOME": str(place / "home"),
        "home": str(place / "account"),
        "RUNNER_TEMP": str(place / "work/_temp"),
        "GITHUB_OUTPUT": str(place / "work/_temp/output"),
        # A CI runner starts the step's shell with its own PWD, not the step's directory.
        "PWD": "/",
    }
    return place / checkout, env


def actions_step(place: Tree, checkout: Path, env: dict, text: str, shell: str = ACTIONS_SHELL, **kwargs):
    """Run a step as the runner does: its text in a file, the file's path at {0}."""
    script = place / "work/_temp" / str(uuid.uuid4())
    script.write_text(text)
    place.own()
    argv = shlex.split(shell.replace("{0}", str(script)))
    return place.caller.run(argv, cwd=checkout, env=env, input="", **kwargs)


@pytest.mark.parametrize(
    "text, status, out, err",
    [
        ("echo out\necho err >&2\n", 0, "out\n", "err\n"),
        ("echo out\necho err >&2\nexit 3\n", 3, "out\n", "err\n"),
        ("echo before\nfalse\necho after\n", 1, "before\n", ""),
    ],
    ids=["passing", "exit-3", "failing-command"],
)
def test_an_actions_step_keeps_its_output_and_status(place, text, status, out, err):
    checkout, env = runner(place)
    result = actions_step(place, checkout, env, text)
    assert (result.returncode, result.stdout, result.stderr) == (status, out, err)


CI_STEP = """
for d in {dirs}; do echo "$d: $(ls -A "$d")"; done
cat {files}
echo --
cat "$HOME/.gitconfig" "$HOME/.config/other/settings"
echo --
ls -A /tmp
echo --
echo more >> README.md; rm Makefile; mkdir build; echo built > build/out
echo known > "$HOME/.ssh/known_hosts"; echo scratch > /tmp/{probe}
ls -A; pwd
"""


def test_ci_hides_secrets_keeps_the_checkout_and_tmp_private(place):
    checkout, env = runner(place)
    probe = f"newns-ci-probe-{uuid.uuid4().hex}"
    host_file = Path(f"/tmp/newns-ci-host-{uuid.uuid4().hex}")
    host_file.write_text("host\n")
    before, home = snapshot(checkout), outside_cache(place / "home")
    try:
        files = " ".join(f'"{f}"' for f in HIDDEN_FILES)
        result = actions_step(place, checkout, env, CI_STEP.format(dirs=" ".join(HIDDEN_DIRS), files=files, probe=probe))
    finally:
        host_file.unlink()
    assert result.returncode == 0, result.stderr
    assert "SECRET" not in result.stdout
    hidden, kept, tmp, written = result.stdout.split("--\n")
    names = [line.split(":")[0] for line in hidden.splitlines()]
    assert hidden == "".join(f"{d}: \n" for d in names) and len(names) == len(HIDDEN_DIRS)
    assert kept == "[user]\n\tname = ci\nkept\n"
    assert tmp == ""
    *listed, cwd = written.split()
    assert (sorted(listed), cwd) == (["README.md", "build", "ci", "examples", "namespaces"], str(checkout))
    assert snapshot(checkout) == before
    assert outside_cache(place / "home") == home
    assert not os.path.lexists(f"/tmp/{probe}")


def test_ci_refuses_a_checkout_under_tmp_rather_than_hide_it(tree):
    tree.make({"co/README.md": "hello\n", "co/namespaces/ci": (NAMESPACES / "ci").read_text()})
    env = {"PATH": PATH, "HOME": str(tree / "co")}
    result = tree.caller.run(["newns", "-f", "namespaces/ci", "sh", "-c", "echo ran; ls"], cwd=tree / "co", env=env)
    assert result.returncode == 125
    assert result.stdout == ""
    assert result.stderr.startswith("newns: namespaces/ci:")


def actions_workflow() -> tuple[str, list[dict[str, str]]]:
    """The example workflow's default `shell:` and its steps (name, shell, run), read
    with just enough YAML for that file."""
    text = (EXAMPLES / "github-actions.yml").read_text()
    default = re.search(r"^    defaults:\n      run:\n(?: *#.*\n)* +shell: (.+)$", text, re.M).group(1)
    steps: list[dict[str, str]] = []
    lines = text[text.index("\n    steps:\n") :].splitlines()[2:]
    block = None
    for line in lines:
        if block is not None and (line.startswith(" " * 10) or not line.strip()):
            steps[-1][block] += line[10:] + "\n"
            continue
        block = None
        if line.startswith("      - "):
            steps.append({})
            line = "        " + line[8:]
        if match := re.match(r"^        (\w[\w-]*):(?: (.*))?$", line):
            key, value = match.groups()
            if value == "|":
                block, steps[-1][key] = key, ""
            else:
                steps[-1][key] = value or ""
    return default, steps


def test_the_actions_example_runs_its_steps_in_namespaces_ci(place):
    default, steps = actions_workflow()
    assert default == ACTIONS_SHELL
    ours = [step for step in steps if "run" in step and step.get("shell", default).startswith("newns ")]
    assert [step["name"] for step in ours] == ["Build and test", "Report"]
    assert all(step.get("shell", default) == ACTIONS_SHELL for step in ours)
    checkout, env = runner(place)
    before = snapshot(checkout)
    outputs = []
    for step in ours:
        result = actions_step(place, checkout, env, step["run"], step.get("shell", default))
        assert result.returncode == 0, (step["name"], result.stderr)
        outputs.append(result.stdout)
    assert outputs[0].split()[-1] == "tested"
    assert (place / "work/_temp/report.txt").read_text() == "one\ntwo\n"
    assert (place / "work/_temp/output").read_text() == "lines=2\n"
    assert snapshot(checkout) == before
    later = actions_step(place, checkout, env, "test -e build/out\n")
    assert later.returncode == 1


def gitlab_script() -> list[str]:
    """The `script:` items of the example's job, a `- |` item as one text."""
    text = (EXAMPLES / "gitlab-ci.yml").read_text()
    items: list[str] = []
    block = False
    for line in text[text.index("\n  script:\n") :].splitlines()[2:]:
        if block and line.startswith("      "):
            items[-1] += line[6:] + "\n"
        elif line.startswith("    - "):
            block = line == "    - |"
            items.append("" if block else line[6:])
        elif line.strip() and not line.lstrip().startswith("#"):
            break
    return items


def test_the_gitlab_example_runs_its_script_in_namespaces_ci(place):
    items = gitlab_script()
    assert len(items) == 4 and all(re.match(r"(newns -f namespaces/ci |examples/ci-step\.sh )", i) for i in items)
    checkout, env = runner(place)
    before = snapshot(checkout)
    script = "set -eo pipefail\n" + "".join(item if item.endswith("\n") else item + "\n" for item in items)
    result = place.caller.run(["bash", "-c", script], cwd=checkout, env=env, input="")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["made", "tested", "linted", "made", "tested", "made", "one", "two"]
    assert snapshot(checkout) == before


def test_the_ci_step_wrapper_runs_a_command_or_a_script_on_stdin(place):
    checkout, env = runner(place)
    wrapper = str(checkout / "examples/ci-step.sh")
    command = place.caller.run([wrapper, "sh", "-c", "echo out; echo err >&2; exit 4"], cwd=checkout, env=env)
    assert (command.returncode, command.stdout, command.stderr) == (4, "out\n", "err\n")
    script = 'cat "$HOME/.ssh/id_rsa" 2>/dev/null || echo hidden\nrm README.md\nfalse\necho never\n'
    piped = place.caller.run([wrapper], cwd=checkout, env=env, input=script)
    assert (piped.returncode, piped.stdout, piped.stderr) == (1, "hidden\n", "")
    assert (checkout / "README.md").read_text() == "hello\n"


def test_pwd_in_a_file_is_the_directory_newns_starts_in(place):
    place.make({"checkout/README.md": "hello\n", "elsewhere/": ""})
    env = {"PATH": PATH, "PWD": str(place / "elsewhere")}
    result = place.caller.newns("-f", str(NAMESPACES / "demo"), "rm", "README.md", cwd=place / "checkout", env=env)
    assert result.returncode == 0, result.stderr
    assert (place / "checkout/README.md").exists()


def test_the_demo_run_under_tmp_says_to_run_it_from_elsewhere(tree):
    """A clone under /tmp, which the demo makes private: the message says what to do."""
    tree.make({"README.md": "hello\n", "namespaces/demo": (NAMESPACES / "demo").read_text()})
    result = tree.newns("-f", "namespaces/demo", "ls")
    assert result.returncode == 125
    assert f"mount: {tree.base}: no such directory (in what line 7 put on /tmp), which hides it" in result.stderr
    assert "run newns from a directory outside /tmp" in result.stderr


# -- toolchains --------------------------------------------------------------------

# name: (environment, the trees, the fixed path, the program, the version chosen, another version)
TOOLCHAINS = {
    "go": ({"GOS": "gos", "GOVERSION": "go1.22.5"}, "gos", "gos/current", "go", "go1.22.5", "go1.2"),
    "go1.2": ({"GOS": "gos"}, "gos", "gos/current", "go", "go1.2", None),
    "python": ({"PYENV_ROOT": "pyenv", "PYVERSION": "3.9.18"}, "pyenv/versions", "pyenv/versions/current", "python3", "3.9.18", "3.12.4"),
    "node": ({"NVM_DIR": "nvm", "NODEVERSION": "v20.11.1"}, "nvm/versions/node", "nvm/versions/node/current", "node", "v20.11.1", "v18.19.0"),
}
VERSIONS = {"go": ["go1.2", "go1.22.5"], "python3": ["3.9.18", "3.12.4"], "node": ["v18.19.0", "v20.11.1"]}


def toolchain_trees(tree: Tree) -> None:
    """Every fake tree: each program prints its version and the path it was run as."""
    files = {}
    for _env, trees, current, program, _chosen, _other in TOOLCHAINS.values():
        for version in VERSIONS[program]:
            files[f"{trees}/{version}/bin/{program}"] = f'#!/bin/sh\necho "{program} {version} $0"\n'
        files[current + "/"] = ""
    executable(tree, {name: text for name, text in files.items() if not name.endswith("/")})
    tree.make({name: "" for name in files if name.endswith("/")})


def toolchain_env(tree: Tree, name: str, **changes) -> dict[str, str]:
    variables, _trees, current, *_ = TOOLCHAINS[name]
    env = {k: str(tree / v) if k in ("GOS", "PYENV_ROOT", "NVM_DIR") else v for k, v in variables.items()}
    env.update(changes)
    env["PATH"] = f"{tree / current}/bin:{PATH}"
    return env


@pytest.mark.parametrize("name", TOOLCHAINS)
def test_a_toolchain_file_puts_the_chosen_version_on_the_fixed_path(place, name):
    _variables, _trees, current, program, chosen, other = TOOLCHAINS[name]
    toolchain_trees(place)
    expected = f"{program} {chosen} {place / current}/bin/{program}\n"
    by_option = place.caller.newns("-f", str(NAMESPACES / name), program, cwd=place.base, env=toolchain_env(place, name))
    assert (by_option.returncode, by_option.stdout) == (0, expected), by_option.stderr
    by_shebang = place.caller.run([str(NAMESPACES / name), program], cwd=place.base, env=toolchain_env(place, name))
    assert (by_shebang.returncode, by_shebang.stdout) == (0, expected), by_shebang.stderr
    if other is not None:
        variable = [k for k in TOOLCHAINS[name][0] if k.endswith("VERSION")][0]
        switched = place.caller.newns(
            "-f", str(NAMESPACES / name), program, cwd=place.base, env=toolchain_env(place, name, **{variable: other})
        )
        assert switched.stdout == f"{program} {other} {place / current}/bin/{program}\n", switched.stderr
    assert os.listdir(place / current) == []


PYENV = Path("/root/.pyenv")
"""A real pyenv, copied for the test: what a developer's .bashrc initialises."""


@pytest.mark.skipif(not ROOT or not (PYENV / "libexec/pyenv").exists(), reason="needs root's pyenv to copy")
def test_pyenvs_line_in_bashrc_keeps_the_python_the_file_chose(place):
    """`eval "$(pyenv init -)"` in ~/.bashrc puts pyenv's shims first on PATH in every
    interactive shell, the one newns starts too: the shims must still run the chosen Python."""
    toolchain_trees(place)
    root = place / "pyenv"
    for part in ("bin", "libexec", "pyenv.d", "completions"):
        shutil.copytree(PYENV / part, root / part, symlinks=True)
    place.make({
        "pyenv/version": "3.12.4\n",  # pyenv's global choice
        "home/.bashrc": 'export PATH="$PYENV_ROOT/bin:$PATH"\neval "$(pyenv init -)"\n',
    })
    place.own()
    env = {**toolchain_env(place, "python"), "HOME": str(place / "home")}
    result = place.caller.newns("-f", str(NAMESPACES / "python"), "bash", "-ic", "python3", cwd=place.base, env=env)
    assert result.stdout.startswith("python3 3.9.18 "), result


def docs_block(document: Path, heading: str, index: int = 0) -> str:
    """A code block of a section of a document, as printed."""
    text = document.read_text()
    section = text[text.index(f"## {heading}\n") :]
    return re.findall(r"```\n(.*?)\n```", section, re.S)[index]


def test_a_projects_own_newns_file_gives_the_versions_it_names(place):
    """docs/toolchains.md's .newns, and its commands as printed, with other versions of go and
    node first on the system's PATH."""
    toolchain_trees(place)
    recipe = docs_block(DOCS / "toolchains.md", "A project's own `.newns`")
    commands = docs_block(DOCS / "toolchains.md", "A project's own `.newns`", 1).splitlines()
    executable(place, {
        "project/.newns": recipe + "\n",
        "system/go": '#!/bin/sh\necho "go go1.19 system"\n', "system/node": '#!/bin/sh\necho "node v18 system"\n',
    })
    place.make({"project/Makefile": "all:\n\t@go; node\n"})
    env = {"PATH": f"{place / 'system'}:{PATH}", "GOS": str(place / "gos"), "NVM_DIR": str(place / "nvm"),
           "SHELL": "/bin/sh"}
    base = place.base
    expected = f"go go1.22.5 {base}/gos/current/bin/go\nnode v20.11.1 {base}/nvm/versions/node/current/bin/node\n"
    for command in commands:
        line = command.split("#")[0].strip()
        result = place.caller.run(["sh", "-c", line], cwd=place / "project", env=env, input="go; node\n")
        assert (result.returncode, result.stdout) == (0, expected), (line, result)


@pytest.mark.parametrize("name", ["go", "python", "node"])
def test_a_toolchain_version_unset_or_missing_stops_newns(place, name):
    variable = [k for k in TOOLCHAINS[name][0] if k.endswith("VERSION")][0]
    program = TOOLCHAINS[name][3]
    toolchain_trees(place)
    env = toolchain_env(place, name)
    del env[variable]
    unset = place.caller.newns("-f", str(NAMESPACES / name), program, cwd=place.base, env=env)
    assert unset.returncode == 125 and unset.stdout == ""
    assert f"${variable} is not set" in unset.stderr
    missing = place.caller.newns(
        "-f", str(NAMESPACES / name), program, cwd=place.base, env=toolchain_env(place, name, **{variable: "9.9.9"})
    )
    assert missing.returncode == 125 and missing.stdout == ""
    assert "9.9.9: no such file or directory" in missing.stderr


def test_two_terminals_two_versions_at_once(place):
    toolchain_trees(place)
    ns = str(NAMESPACES / "go")
    first = spawn(place, ["newns", "-f", ns, "bash"], toolchain_env(place, "go", GOVERSION="go1.2"), stdin=subprocess.PIPE, stderr=None)
    try:
        first.stdin.write('go\necho "$NEWNS"\n')
        first.stdin.flush()
        assert first.stdout.readline().split()[:2] == ["go", "go1.2"]
        assert first.stdout.readline() == ns + "\n"
        second = place.caller.newns("-f", ns, "bash", cwd=place.base, env=toolchain_env(place, "go"), input="go\n")
        assert second.stdout.split()[:2] == ["go", "go1.22.5"], second.stderr
        first.stdin.write("go\nexit 3\n")
        first.stdin.close()
        assert first.stdout.readline().split()[:2] == ["go", "go1.2"]
        assert first.wait(timeout=30) == 3
    finally:
        first.kill()
        first.wait()
        first.stdout.close()


def test_a_projects_own_newns_file(place):
    toolchain_trees(place)
    project = """\
#!/usr/bin/env newns
# .newns: what this project builds with
bind $GOS/go1.2 $GOS/current
bind $NVM_DIR/versions/node/v18.19.0 $NVM_DIR/versions/node/current
"""
    executable(place, {"project/.newns": project})
    place.make({"project/Makefile": "all:\n\t@go\n\t@node\n"})
    env = toolchain_env(place, "go")
    env.update(NVM_DIR=str(place / "nvm"), PATH=f"{place / 'nvm/versions/node/current/bin'}:{env['PATH']}")
    expected = [["go", "go1.2"], ["node", "v18.19.0"]]
    for argv in (["newns", "-f", ".newns", "make"], ["./.newns", "make"]):
        result = place.caller.run(argv, cwd=place / "project", env=env)
        assert result.returncode == 0, result.stderr
        assert [line.split()[:2] for line in result.stdout.splitlines()] == expected
    several = f". {NAMESPACES / 'go'}\n. {NAMESPACES / 'node'}\n"
    place.make({"ns/work": several})
    env["NODEVERSION"] = "v20.11.1"
    result = place.caller.newns("-f", str(place / "ns/work"), "sh", "-c", "go; node", cwd=place.base, env=env)
    assert [line.split()[:2] for line in result.stdout.splitlines()] == [["go", "go1.22.5"], ["node", "v20.11.1"]], result.stderr


def test_a_script_names_newns_and_its_toolchain_in_its_first_line(place):
    toolchain_trees(place)
    place.make({"ns/go1.2": f"bind {place / 'gos/go1.2'} {place / 'gos/current'}\n"})
    executable(place, {"build.sh": f"#!/usr/bin/env -S newns -f {place / 'ns/go1.2'} bash -e\ngo\nfalse\necho never\n"})
    env = {"PATH": f"{place / 'gos/current/bin'}:{PATH}"}
    result = place.caller.run([str(place / "build.sh")], cwd=place.base, env=env)
    assert result.returncode == 1
    assert result.stdout.split()[:2] == ["go", "go1.2"], result.stderr


# -- every shipped namespace file ----------------------------------------------------

# What --check needs to find for each file: its variables, relative to the place.
FRAGMENTS = {"sandbox.system": ["sandbox", "sandbox-rw"], "sandbox.checkout": ["sandbox", "sandbox-rw"]}


def test_every_namespace_file_is_a_command_or_an_included_fragment():
    assert sorted(os.listdir(NAMESPACES)) == sorted([*SHIPPED, *FRAGMENTS])
    for name in SHIPPED:
        path = NAMESPACES / name
        assert path.read_text().startswith("#!/usr/bin/env newns\n"), name
        assert path.stat().st_mode & 0o111 == 0o111, name
    for fragment, users in FRAGMENTS.items():
        assert not (NAMESPACES / fragment).read_text().startswith("#!")
        for user in users:
            assert f"\n. {fragment}\n" in (NAMESPACES / user).read_text()


@pytest.mark.parametrize("name", SHIPPED)
def test_every_namespace_file_passes_check(place, name):
    if name == "go-debian" and not (os.path.isdir("/usr/lib/go-1.19") and os.path.exists("/usr/lib/go")):
        pytest.skip("Debian's golang-1.19-go and golang-go are not installed")
    toolchain_trees(place)
    place.make({"checkout/README.md": "", "root/": "", **SECRETS})
    place.make({f"account/{d}/": "" for d in (".aws", ".config/gh", ".gnupg", ".docker")})
    env = {"PATH": PATH, "HOME": str(place / "home"),
           **shipped_env(name, place)}
    if "FETCH" in env and os.geteuid() != 0 and not os.access("/dev/net/tun", os.R_OK | os.W_OK):
        pytest.skip("pasta needs /dev/net/tun, which is not open to this user")
    with tun_open_to_all() if os.geteuid() == 0 else contextlib.nullcontext():  # a net line's check opens it
        result = place.caller.newns("--check", "-f", str(NAMESPACES / name), cwd=place / "checkout", env=env)
    assert (result.returncode, result.stderr) == (0, ""), result.stdout
    for line in result.stdout.splitlines():
        # Only a -q line for a system directory this machine lacks (such as /lib32) may be skipped.
        skipped = re.search(r": warning: skipped \(-q\): bind: #old(/\S+): no such file or directory$", line)
        unset = re.search(r": warning: skipped \(-q\): \$RUNNER_TEMP is not set", line)
        assert unset or skipped and not os.path.lexists(skipped.group(1)), line


# -- shells --------------------------------------------------------------------------


def completion(**env) -> subprocess.CompletedProcess:
    return subprocess.run([NEWNS], env={"PATH": PATH, **env}, capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize(
    "shell, registers",
    [
        ("bash", "complete -o nosort -F _newns_completion newns"),
        ("zsh", "compdef _newns_completion newns"),
        ("fish", "complete --no-files --command newns --arguments"),
    ],
)
def test_a_completion_script_for_each_shell(shell, registers):
    result = completion(_NEWNS_COMPLETE=f"{shell}_source")
    assert result.returncode == 0, result.stderr
    assert "_newns_completion" in result.stdout and registers in result.stdout
    checker = shutil.which(shell)
    if checker:
        syntax = subprocess.run([checker, "-n"], input=result.stdout, capture_output=True, text=True, timeout=30)
        assert syntax.returncode == 0, syntax.stderr


def test_bash_completes_options():
    script = f"""
        eval "$(_NEWNS_COMPLETE=bash_source {NEWNS})"
        COMP_WORDS=(newns --ch); COMP_CWORD=1; _newns_completion newns; echo "${{COMPREPLY[@]}}"
        COMPREPLY=(); COMP_WORDS=(newns --allow); COMP_CWORD=1; _newns_completion newns; echo "${{COMPREPLY[@]}}"
    """
    result = subprocess.run(["bash", "-c", script], env={"PATH": PATH}, capture_output=True, text=True, timeout=30)
    assert result.stdout.splitlines() == ["--check", "--allow-host-namespace"], result.stderr


def test_completion_offers_files_after_f():
    result = completion(_NEWNS_COMPLETE="bash_complete", COMP_WORDS="newns -f ", COMP_CWORD="2")
    assert result.stdout.splitlines() == ["file,"]


def test_completion_offers_the_hosts_of_ssh_config_after_cpu(tmp_path):
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh/config").write_text("Host alpha web-*\n  HostName 10.0.0.1\nhost gamma !delta\nMatch all\n")
    every = completion(_NEWNS_COMPLETE="bash_complete", COMP_WORDS="newns --cpu ", COMP_CWORD="2", HOME=str(tmp_path))
    assert every.stdout.splitlines() == ["plain,alpha", "plain,gamma"], every.stderr
    some = completion(_NEWNS_COMPLETE="bash_complete", COMP_WORDS="newns --cpu g", COMP_CWORD="2", HOME=str(tmp_path))
    assert some.stdout.splitlines() == ["plain,gamma"], some.stderr


def test_NEWNS_is_the_namespace_files_absolute_path(tree):
    tree.make({"part.ns": ""})
    executable(tree, {"sub/x.ns": "#!/usr/bin/env newns\n. ../part.ns\n"})
    show = ["sh", "-c", 'echo "${NEWNS-unset}"']
    env = {"PATH": PATH}
    for argv in (["newns", "-f", "sub/x.ns", *show], ["./sub/x.ns", *show], ["newns", "-f", "./sub/../sub/x.ns", *show]):
        result = tree.caller.run(argv, cwd=tree.base, env=env)
        assert result.stdout == f"{tree / 'sub/x.ns'}\n", (argv, result.stderr)
    assert tree.caller.run(["newns", *show], cwd=tree.base, env=env).stdout == "unset\n"


# -- manual pages ----------------------------------------------------------------------

PAGES = [DOCS / "newns.1", DOCS / "newns.5"]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_a_manual_page_renders_without_warnings(page):
    groff, man = shutil.which("groff"), shutil.which("man")
    if not groff and not man:
        pytest.skip("neither groff nor man is installed")
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "MANWIDTH": "80"}
    if groff:
        result = subprocess.run([groff, "-man", "-ww", "-z", str(page)], env=env, capture_output=True, text=True)
        assert (result.returncode, result.stderr) == (0, "")
    if man:
        result = subprocess.run([man, "--warnings", "-l", str(page)], env=env, capture_output=True, text=True)
        assert (result.returncode, result.stderr) == (0, "")
        assert "NAME" in result.stdout and "SEE ALSO" in result.stdout


def roff_text(page: Path) -> str:
    """A page's source with roff's escapes for - and ' undone, font changes removed."""
    text = page.read_text().replace("\\-", "-").replace("\\(aq", "'").replace("\\%", "").replace("\\&", "")
    return re.sub(r"\\f[BIRP]", "", text)


def test_newns_1_names_every_option_and_exit_status():
    from newns import __version__
    from newns.options import newns

    text = roff_text(DOCS / "newns.1")
    assert text.startswith(f'.TH NEWNS 1 "" "newns {__version__}"')
    params = newns.get_params(newns.make_context("newns", []))
    options = [opt for param in params for opt in param.opts + param.secondary_opts if opt.startswith("-")]
    assert len(options) >= 12
    for option in options:
        assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text), option
    for word in ("125", "126", "127", "NEWNS", "SHELL", "XDG_CACHE_HOME", "bash_source", "zsh_source", "fish_source"):
        assert word in text, word


def test_newns_5_names_every_command_and_flag():
    from newns import __version__
    from newns.ops import COMMANDS

    text = roff_text(DOCS / "newns.5")
    assert text.startswith(f'.TH NEWNS 5 "" "newns {__version__}"')
    synopsis = text[text.index(".SH SYNOPSIS") : text.index(".SH DESCRIPTION")]
    for command, op in COMMANDS.items():
        line = re.search(rf"^{re.escape(command)}(?: |$).*$", synopsis, re.M)
        assert line, command
        if len(op.letters) > 1 or command in ("unmount", "."):
            assert f"[-{op.letters}]" in line.group(), line.group()
        assert re.search(rf"^\.(?:B|BR|BI) {re.escape(command)}(?=\s|$)", text[text.index(".SH COMMANDS") :], re.M), command
    flags = text[text.index(".SH FLAGS") : text.index(".SH UNIONS")]
    assert re.findall(r"^\.TP\n\.B -(\w)$", flags, re.M) == list(COMMANDS["bind"].letters)


# -- the package -----------------------------------------------------------------------


def base_python() -> str:
    """A Python with no packages of this project: the system's, else the one the tests run on."""
    for candidate in ("/usr/bin/python3", getattr(sys, "_base_executable", sys.executable)):
        version = subprocess.run(
            [candidate, "-c", "import sys, venv; print(sys.version_info >= (3, 11))"], capture_output=True, text=True
        )
        if version.stdout.strip() == "True":
            return candidate
    pytest.skip("no Python 3.11 or later with venv")


def test_the_wheel_installs_on_a_fresh_python_with_its_manual_pages():
    work = Path(tempfile.mkdtemp(prefix="newns-wheel-", dir="/var/tmp"))
    try:
        work.chmod(0o755)
        pip = ["--disable-pip-version-check", "-q"]
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", *pip, "--no-deps", "-w", str(work / "dist"), str(REPO)],
            check=True, capture_output=True, timeout=300,
        )
        [wheel] = (work / "dist").glob("newns-*.whl")
        venv = work / "venv"
        subprocess.run([base_python(), "-m", "venv", str(venv)], check=True, timeout=300)
        subprocess.run([str(venv / "bin/python"), "-m", "pip", "install", *pip, str(wheel)], check=True, timeout=300)
        subprocess.run(["chmod", "-R", "a+rX", str(work)], check=True)
        newns = str(venv / "bin/newns")

        from newns import __version__

        version = subprocess.run([newns, "--version"], capture_output=True, text=True)
        assert version.stdout == f"newns, version {__version__}\n"
        assert "Examples:" in subprocess.run([newns, "--help"], capture_output=True, text=True).stdout
        for page in PAGES:
            installed = venv / f"share/man/man{page.suffix[1:]}/{page.name}"
            assert installed.read_bytes() == page.read_bytes()
        if shutil.which("man"):
            found = subprocess.run(
                ["man", "-w", "5", "newns"], env={"MANPATH": str(venv / "share/man"), "PATH": "/usr/bin:/bin"},
                capture_output=True, text=True,
            )
            assert found.stdout == f"{venv}/share/man/man5/newns.5\n", found.stderr

        # The README's first command, from a directory of one's own, as root and as another user.
        callers = [ROOT_CALLER, unprivileged()] if ROOT else [unprivileged()]
        for caller in callers:
            scratch = Tree(work / f"scratch-{caller.name}", caller)
            scratch.make({"README.md": "hello\n", "namespaces/demo": (NAMESPACES / "demo").read_text()})
            note = f"note-{uuid.uuid4().hex}"
            command = f"rm README.md; echo hi > /tmp/{note}; ls; ls /tmp"
            result = caller.run(
                [newns, "-f", "namespaces/demo", "sh", "-c", command],
                cwd=scratch.base, env={"PWD": str(scratch.base)},
            )
            assert result.returncode == 0, result.stderr
            assert result.stdout.split() == ["namespaces", note]
            assert (scratch / "README.md").read_text() == "hello\n"
            assert not os.path.lexists(f"/tmp/{note}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
