"""Reading systemd unit files the way systemd does, for framestamp's system tests.

Only what the tests need: sections with repeated keys (and drop-ins appended in order), and the
effective SystemCallFilter= allow list, with groups expanded by `systemd-analyze syscall-filter`
so the sets are systemd's own, not a copy that could go stale.
"""

import pathlib
import shutil
import subprocess
import sys

SKIP = 77  # ctest SKIP_RETURN_CODE


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def skip(message):
    print(f"SKIP: {message}")
    sys.exit(SKIP)


def need_tool(name, package):
    path = shutil.which(name)
    if path is None:
        fail(f"{name} not found: install the Debian package '{package}' (scripts/install-deps)")
    return path


class Unit:
    """A unit file plus its drop-ins: {section: [(key, value), ...]} in the order systemd reads."""

    def __init__(self, path, dropins=()):
        self.path = pathlib.Path(path)
        self.sections = {}
        for p in [self.path, *dropins]:
            self._read(pathlib.Path(p))

    def _read(self, path):
        section = None
        pending = ""
        for raw in path.read_text().splitlines():
            line = pending + raw.strip()
            pending = ""
            if line.endswith("\\"):
                pending = line[:-1] + " "
                continue
            if not line or line[0] in "#;":
                continue
            if line.startswith("[") and line.endswith("]"):
                section = line[1:-1]
                self.sections.setdefault(section, [])
                continue
            if section is None or "=" not in line:
                fail(f"{path}: cannot parse line: {raw!r}")
            key, value = line.split("=", 1)
            self.sections[section].append((key.strip(), value.strip()))

    def values(self, section, key):
        """Every assignment of key, in order (an empty assignment resets a list in systemd)."""
        out = []
        for k, v in self.sections.get(section, []):
            if k == key:
                if v == "":
                    out = []
                else:
                    out.append(v)
        return out

    def last(self, section, key, default=None):
        vals = [v for k, v in self.sections.get(section, []) if k == key]
        return vals[-1] if vals else default

    def words(self, section, key):
        return [w for v in self.values(section, key) for w in v.split()]


def syscall_groups():
    """{'@group': [member, ...]} as this systemd defines them (members may be groups)."""
    analyze = need_tool("systemd-analyze", "systemd")
    out = subprocess.run([analyze, "syscall-filter", "--no-pager"], check=True,
                         capture_output=True, text=True).stdout
    groups = {}
    current = None
    for line in out.splitlines():
        if line.startswith("@"):
            current = line.strip()
            groups[current] = []
        elif line.startswith("    ") and current and not line.strip().startswith("#"):
            groups[current].append(line.strip())
        elif not line.strip():
            current = None
    if "@system-service" not in groups or "@default" not in groups:
        fail("systemd-analyze syscall-filter printed no @system-service/@default group")
    return groups


def expand(name, groups, seen=None):
    if not name.startswith("@"):
        return {name}
    if name not in groups:
        fail(f"unknown system call group {name}")
    seen = set() if seen is None else seen
    if name in seen:
        return set()
    seen.add(name)
    out = set()
    for member in groups[name]:
        out |= expand(member, groups, seen)
    return out


def allowed_syscalls(unit, groups=None):
    """The allow list SystemCallFilter= builds: lines apply in order, '~' removes, and @default
    is implied (systemd adds it to every allow list). None if the unit has no allow list."""
    groups = groups or syscall_groups()
    lines = unit.values("Service", "SystemCallFilter")
    if not lines or lines[0].startswith("~"):
        return None
    allowed = expand("@default", groups)
    for line in lines:
        remove = line.startswith("~")
        for word in line.lstrip("~").split():
            names = expand(word.split(":", 1)[0], groups)
            allowed = allowed - names if remove else allowed | names
    return allowed
