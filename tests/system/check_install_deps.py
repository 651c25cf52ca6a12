#!/usr/bin/env python3
"""Runs scripts/install-deps against stub apt-get, dpkg-query, id and sudo on PATH, so that its
first-run path (packages missing) is tested on a machine that already has them all.

Cases: policy-rc.d present (every Debian container image) or absent, as root or through sudo,
nothing missing, apt-get failing, no root and no sudo. Each checks the exit status, what apt-get
was asked, and that a policy-rc.d the script made is gone afterwards while one it found is kept.
"""
import argparse
import os
import stat
import subprocess
import sys
import tempfile

STUBS = {
    # Reports every package as missing unless STUB_ALL_INSTALLED is set.
    "dpkg-query": """#!/bin/sh
if [ -n "$STUB_ALL_INSTALLED" ]; then printf installed; else printf not-installed; fi
""",
    # Logs its arguments and whether policy-rc.d exists at that moment.
    "apt-get": """#!/bin/sh
if [ -e "$FS_POLICY_RC_D" ]; then p=policy; else p=nopolicy; fi
echo "apt-get $p $*" >> "$STUB_LOG"
[ -z "$STUB_APT_FAIL" ] || [ "$1" != install ] || exit 100
exit 0
""",
    # Pretends to be an ordinary user when STUB_UID is set.
    "id": """#!/bin/sh
if [ "$1" = -u ] && [ -n "$STUB_UID" ]; then echo "$STUB_UID"; exit 0; fi
exec /usr/bin/id "$@"
""",
    "sudo": """#!/bin/sh
echo "sudo $1" >> "$STUB_LOG"
exec "$@"
""",
}


def run_case(script, work, name, *, policy_present, uid=None, sudo=True, all_installed=False,
             apt_fail=False):
    case = os.path.join(work, name)
    stubs = os.path.join(case, "bin")
    os.makedirs(stubs)
    for tool, body in STUBS.items():
        if tool == "sudo" and not sudo:
            continue
        path = os.path.join(stubs, tool)
        with open(path, "w") as f:
            f.write(body)
        os.chmod(path, 0o755)
    policy = os.path.join(case, "policy-rc.d")
    original = "#!/bin/sh\n# the image's own\nexit 101\n"
    if policy_present:
        with open(policy, "w") as f:
            f.write(original)
        os.chmod(policy, 0o755)
    log = os.path.join(case, "log")
    open(log, "w").close()
    env = {
        # No /usr/bin sudo when the case says there is none: PATH holds only the stubs and the
        # few system tools the script needs, copied as links into a second folder.
        "PATH": stubs + ":" + sys_tools(case, with_sudo=sudo),
        "FS_POLICY_RC_D": policy,
        "STUB_LOG": log,
    }
    if uid is not None:
        env["STUB_UID"] = str(uid)
    if all_installed:
        env["STUB_ALL_INSTALLED"] = "1"
    if apt_fail:
        env["STUB_APT_FAIL"] = "1"
    r = subprocess.run(["/bin/bash", script], env=env, capture_output=True, text=True, timeout=60)
    with open(log) as f:
        calls = f.read().splitlines()
    after = None
    if os.path.exists(policy):
        with open(policy) as f:
            after = f.read()
    return r, calls, after, original


def sys_tools(case, with_sudo):
    """A folder of links to the real tools install-deps uses, and nothing else (so no sudo)."""
    d = os.path.join(case, "sys")
    os.makedirs(d)
    for tool in ["bash", "sh", "tee", "chmod", "rm", "printf", "cat", "env", "true"]:
        for prefix in ["/usr/bin", "/bin"]:
            src = os.path.join(prefix, tool)
            if os.path.exists(src):
                os.symlink(src, os.path.join(d, tool))
                break
    return d


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--script", required=True)
    ap.add_argument("--work-dir", required=True)
    a = ap.parse_args()
    if not os.path.exists("/etc/debian_version"):
        print("SKIP: install-deps supports Debian only")
        return 77
    os.makedirs(a.work_dir, exist_ok=True)
    work = tempfile.mkdtemp(dir=a.work_dir)
    failures = []

    def check(name, cond, detail):
        status = "ok" if cond else "FAIL"
        print(f"{status}: {name}")
        if not cond:
            print("   ", detail)
            failures.append(name)

    def show(r, calls):
        return f"exit {r.returncode}; stdout {r.stdout!r}; stderr {r.stderr!r}; calls {calls}"

    # 1. The container case that broke the first run: policy-rc.d already there, as root.
    r, calls, after, original = run_case(a.script, work, "present_root", policy_present=True, uid=0)
    check("policy present, root: exit 0", r.returncode == 0, show(r, calls))
    check("policy present, root: says done", "install-deps: done" in r.stdout, show(r, calls))
    check("policy present, root: update then install",
          [c.split()[2] for c in calls] == ["update", "install"], show(r, calls))
    check("policy present, root: the image's policy-rc.d is kept as it was", after == original,
          repr(after))

    # 2. No policy-rc.d: one is made for apt-get's run and removed afterwards.
    r, calls, after, _ = run_case(a.script, work, "absent_root", policy_present=False, uid=0)
    check("policy absent, root: exit 0", r.returncode == 0, show(r, calls))
    check("policy absent, root: apt-get ran with a policy-rc.d in place",
          len(calls) == 2 and all(c.split()[1] == "policy" for c in calls), show(r, calls))
    check("policy absent, root: the policy-rc.d it made is removed", after is None, repr(after))

    # 3 and 4. The same through sudo, as an ordinary user.
    for present in (True, False):
        tag = "present" if present else "absent"
        r, calls, after, original = run_case(a.script, work, f"{tag}_sudo", policy_present=present,
                                             uid=1000)
        check(f"policy {tag}, sudo: exit 0", r.returncode == 0, show(r, calls))
        apt = [c for c in calls if c.startswith("apt-get")]
        check(f"policy {tag}, sudo: apt-get went through sudo",
              len(apt) == 2 and calls.count("sudo apt-get") == 2, show(r, calls))
        check(f"policy {tag}, sudo: policy-rc.d left as found",
              (after == original) if present else (after is None), repr(after))

    # 5. Nothing missing: no apt-get at all.
    r, calls, after, _ = run_case(a.script, work, "installed", policy_present=True, uid=0,
                                  all_installed=True)
    check("all installed: exit 0 without apt-get", r.returncode == 0 and calls == [],
          show(r, calls))

    # 6. apt-get fails: the failure is the script's status, and the made policy is still removed.
    r, calls, after, _ = run_case(a.script, work, "apt_fails", policy_present=False, uid=0,
                                  apt_fail=True)
    check("apt-get fails: non-zero exit", r.returncode != 0, show(r, calls))
    check("apt-get fails: the policy-rc.d it made is removed", after is None, repr(after))

    # 7. Not root and no sudo: a clear error, no apt-get.
    r, calls, _, _ = run_case(a.script, work, "no_sudo", policy_present=True, uid=1000,
                              sudo=False)
    check("no root, no sudo: exit 1 with a message",
          r.returncode == 1 and "need root" in r.stderr and calls == [], show(r, calls))

    print(f"{len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
