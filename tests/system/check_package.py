#!/usr/bin/env python3
"""The .deb, end to end on this machine: build it with cpack, install it with dpkg, check what a
field engineer gets, reinstall over an edited configuration, remove and purge it, and leave the
machine as it was (the framestamp user and /var/lib/framestamp, which a purge keeps on purpose,
are removed too when this test created them).

  check_package.py --build-dir B --version X.Y.Z --unit U --work-dir W

Needs root (skipped otherwise) and a machine without framestamp installed (skipped otherwise:
it would replace a real installation). cpack runs the build's install script itself instead of
its "preinstall" target, which would rebuild the whole shared build folder mid-test.
"""

import argparse
import os
import pathlib
import re
import shutil
import stat
import subprocess

from unitfile import fail, need_tool, skip

CONFIG = pathlib.Path("/etc/framestamp/framestamp.yaml")
DATA = pathlib.Path("/var/lib/framestamp")
INSTALLED = [
    "/usr/bin/framestampd",
    "/usr/bin/framestamp",
    "/usr/lib/systemd/system/framestampd.service",
    "/usr/lib/sysusers.d/framestamp.conf",
    "/usr/lib/tmpfiles.d/framestamp.conf",
    str(CONFIG),
    "/usr/share/doc/framestamp/operations.md",
    "/usr/share/doc/framestamp/configuration.md",
    "/usr/share/doc/framestamp/copyright",
    "/usr/share/doc/framestamp/examples/framestamp.yaml",
    "/usr/share/doc/framestamp/examples/usb-disk.conf",
    "/usr/share/doc/framestamp/examples/chronyc.conf",
]
ENV = dict(os.environ, DEBIAN_FRONTEND="noninteractive")


def run(cmd, check=True, show=True, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, env=ENV, **kw)
    if show:
        print(f"$ {' '.join(map(str, cmd))}: exit {r.returncode}")
        for line in (r.stdout + r.stderr).splitlines()[-30:]:
            print(f"  {line}")
    if check and r.returncode != 0:
        fail(f"{cmd[0]} failed with {r.returncode}")
    return r


def status():
    r = run(["dpkg-query", "-W", "-f=${db:Status-Status}", "framestamp"], check=False,
            show=False)
    return r.stdout.strip() if r.returncode == 0 else "unknown"


def user_exists(name):
    return run(["getent", "passwd", name], check=False, show=False).returncode == 0


def group_exists(name):
    return run(["getent", "group", name], check=False, show=False).returncode == 0


def build_deb(args, out):
    cpack = need_tool("cpack", "cmake")
    build = pathlib.Path(args.build_dir).resolve()
    run([cpack, "-G", "DEB", "--config", build / "CPackConfig.cmake", "-B", out,
         "-D", "CPACK_INSTALL_CMAKE_PROJECTS=",
         "-D", f"CPACK_INSTALL_SCRIPTS={build / 'cmake_install.cmake'}"])
    debs = sorted(out.glob("framestamp_*.deb"))
    if len(debs) != 1:
        fail(f"expected one framestamp_*.deb in {out}, found {debs}")
    deb = debs[0]
    field = lambda f: run(["dpkg-deb", "-f", deb, f], show=False).stdout.strip()
    print(f"{deb.name}: Version {field('Version')}\n  Depends: {field('Depends')}\n"
          f"  Recommends: {field('Recommends')}")
    if field("Package") != "framestamp" or field("Version") != args.version:
        fail("wrong Package or Version field")
    for dep in ("libasound2", "libsystemd0", "procps", "libsoxr0"):
        if dep not in field("Depends"):
            fail(f"Depends lacks {dep}")
    for rec in ("chrony", "alsa-utils"):
        if rec not in field("Recommends"):
            fail(f"Recommends lacks {rec}")
    conffiles = run(["dpkg-deb", "--info", deb, "conffiles"], show=False).stdout.split()
    if conffiles != [str(CONFIG)]:
        fail(f"conffiles is {conffiles}, expected [{CONFIG}]")
    return deb


def check_installed(args):
    missing = [p for p in INSTALLED if not os.path.isfile(p)]
    if missing:
        fail(f"not installed: {missing}")
    if not os.access("/usr/bin/framestampd", os.X_OK):
        fail("/usr/bin/framestampd is not executable")
    if pathlib.Path("/usr/lib/systemd/system/framestampd.service").read_text() != \
            pathlib.Path(args.unit).read_text():
        fail("the installed unit differs from systemd/framestampd.service")
    conffiles = run(["dpkg-query", "-W", "-f=${Conffiles}", "framestamp"], show=False).stdout
    if str(CONFIG) not in conffiles:
        fail(f"dpkg does not treat {CONFIG} as a conffile: {conffiles!r}")
    if not user_exists("framestamp"):
        fail("postinst did not create the framestamp user")
    groups = run(["id", "-nG", "framestamp"], show=False).stdout.split()
    print(f"framestamp's groups: {groups}")
    if "audio" not in groups:
        fail("framestamp is not in group audio")
    st = DATA.stat()
    owner = run(["stat", "-c", "%U:%G", DATA], show=False).stdout.strip()
    print(f"{DATA}: mode {stat.S_IMODE(st.st_mode):04o}, {owner}")
    if stat.S_IMODE(st.st_mode) != 0o750 or owner != "framestamp:framestamp":
        fail(f"{DATA} should be 0750 framestamp:framestamp")
    version = run(["/usr/bin/framestampd", "--version"]).stdout.strip()
    if version != f"framestampd {args.version}":
        fail(f"framestampd --version printed {version!r}")
    version = run(["/usr/bin/framestamp", "--version"]).stdout.strip()
    if version != f"framestamp {args.version}":
        fail(f"framestamp --version printed {version!r}")


def check_config(work):
    """The shipped configuration is valid out of the box, for root and for the service user (the
    data directory exists and framestamp may write to it); a broken one exits 78 (EX_CONFIG), the
    status RestartPreventExitStatus= relies on, naming file and line."""
    check = ["/usr/bin/framestampd", "--check-config", str(CONFIG)]
    as_user = ["setpriv", "--reuid=framestamp", "--regid=framestamp", "--init-groups", "--"]
    for cmd in (check, as_user + check):
        r = run(cmd, check=False, show=False)
        print(f"$ {' '.join(cmd)}: exit {r.returncode}")
        if r.returncode != 0:
            print(r.stdout, r.stderr)
            fail("the shipped configuration does not pass --check-config")
        if not re.search(r'^data_dir: "?/var/lib/framestamp"?$', r.stdout, re.M):
            fail("--check-config did not print data_dir: /var/lib/framestamp")
    broken = work / "broken.yaml"
    broken.write_text(CONFIG.read_text() + "timing_points_per_second: 8\n")
    r = run(["/usr/bin/framestampd", "--check-config", str(broken)], check=False)
    if r.returncode != 78 or f"{broken}:" not in r.stderr:
        fail("a broken configuration should exit 78 and name the file and line")


def check_conffile_kept(deb):
    edited = CONFIG.read_text() + "# edited by the field engineer\n"
    CONFIG.write_text(edited)
    run(["dpkg", "-i", deb])  # a reinstall runs postinst as an upgrade
    if CONFIG.read_text() != edited:
        fail("reinstalling the package overwrote the edited configuration")
    leftovers = [p.name for p in CONFIG.parent.iterdir() if p.name != CONFIG.name]
    if leftovers:
        fail(f"unexpected files next to the configuration: {leftovers}")


def remove_and_purge():
    run(["dpkg", "-r", "framestamp"])
    if os.path.exists("/usr/bin/framestampd") or status() != "config-files":
        fail("dpkg -r left the program behind")
    if not CONFIG.exists():
        fail("dpkg -r removed the configuration (only a purge should)")
    run(["dpkg", "-P", "framestamp"])
    left = [p for p in INSTALLED + [str(CONFIG.parent)] if os.path.exists(p)]
    if left or status() not in ("not-installed", "unknown"):
        fail(f"dpkg -P left {left} (status {status()})")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--version", required=True)
    ap.add_argument("--unit", required=True)
    ap.add_argument("--work-dir", required=True)
    args = ap.parse_args()
    if os.geteuid() != 0:
        skip("installs a .deb with dpkg: run as root (CI does)")
    for tool, package in (("dpkg", "dpkg"), ("dpkg-deb", "dpkg"), ("setpriv", "util-linux")):
        need_tool(tool, package)
    if status() not in ("not-installed", "unknown"):
        skip(f"framestamp is already on this machine (dpkg status '{status()}'); not touching it")
    present = [p for p in INSTALLED if os.path.exists(p)]
    if present:
        skip(f"framestamp files not from this test are present ({present[0]}); not touching them")

    work = pathlib.Path(args.work_dir).resolve()
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    had_user, had_group = user_exists("framestamp"), group_exists("framestamp")
    had_data = DATA.exists()
    try:
        deb = build_deb(args, work / "out")
        r = run(["dpkg", "-i", deb])
        if "installed, not enabled" not in r.stdout + r.stderr:
            fail("postinst did not tell the engineer the next steps")
        check_installed(args)
        check_config(work)
        check_conffile_kept(deb)
        remove_and_purge()
    finally:
        if status() not in ("not-installed", "unknown"):
            run(["dpkg", "-P", "framestamp"], check=False)
        if not had_user and user_exists("framestamp"):
            run(["userdel", "framestamp"], check=False)
        if not had_group and group_exists("framestamp"):
            run(["groupdel", "framestamp"], check=False)
        if not had_data and DATA.is_dir():
            try:
                DATA.rmdir()
            except OSError as e:
                print(f"warning: left {DATA} in place: {e}")
    if (not had_user and user_exists("framestamp")) or (not had_data and DATA.exists()):
        fail("the machine was not left as it was")
    print("OK: built, installed, checked, reinstalled, removed and purged; machine left clean")


if __name__ == "__main__":
    main()
