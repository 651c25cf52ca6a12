#!/usr/bin/env python3
"""The sysusers.d and tmpfiles.d files, applied for real to a scratch root (--root), not the host.

  check_accounts.py --sysusers FILE --tmpfiles FILE --work-dir W

systemd 252 has no --dry-run for tmpfiles, and sysusers' only prints; applying both to a folder
shows what a Debian box gets: the framestamp user and group, membership of audio, and
/var/lib/framestamp 0750 framestamp:framestamp, which is never cleaned up.
"""

import argparse
import os
import pathlib
import shutil
import stat
import subprocess

from unitfile import fail, need_tool

AUDIO_GID = 29  # Debian's base-passwd


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    print(f"$ {' '.join(cmd)}: exit {r.returncode}")
    for line in (r.stdout + r.stderr).splitlines():
        print(f"  {line}")
    if r.returncode != 0:
        fail(f"{cmd[0]} failed")
    return r.stdout + r.stderr


def table(path):
    """{name: fields} of an /etc/passwd or /etc/group file."""
    out = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            fields = line.split(":")
            out[fields[0]] = fields
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sysusers", required=True)
    ap.add_argument("--tmpfiles", required=True)
    ap.add_argument("--work-dir", required=True)
    args = ap.parse_args()
    sysusers = need_tool("systemd-sysusers", "systemd")
    tmpfiles = need_tool("systemd-tmpfiles", "systemd")

    root = pathlib.Path(args.work_dir).resolve() / "root"
    if root.exists():
        shutil.rmtree(root)
    # A Debian root: root and the audio group exist before the package is installed.
    (root / "etc").mkdir(parents=True)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (root / "etc/group").write_text(f"root:x:0:\naudio:x:{AUDIO_GID}:\n")
    for name in ("usr/lib/sysusers.d", "usr/lib/tmpfiles.d"):
        (root / name).mkdir(parents=True)
    shutil.copy(args.sysusers, root / "usr/lib/sysusers.d/framestamp.conf")
    shutil.copy(args.tmpfiles, root / "usr/lib/tmpfiles.d/framestamp.conf")

    run([sysusers, f"--root={root}"])
    passwd = table(root / "etc/passwd")
    group = table(root / "etc/group")
    if "framestamp" not in passwd:
        fail("no framestamp user")
    user = passwd["framestamp"]
    uid, gid = int(user[2]), int(user[3])
    print(f"framestamp: uid {uid}, gid {gid}, home {user[5]}, shell {user[6]}")
    if not 0 < uid < 1000:
        fail(f"uid {uid} is not a system uid")
    if user[6] not in ("/usr/sbin/nologin", "/sbin/nologin"):
        fail(f"shell {user[6]} lets someone log in as framestamp")
    if "framestamp" not in group or int(group["framestamp"][2]) != gid:
        fail("no group framestamp as the user's primary group")
    if int(group["audio"][2]) != AUDIO_GID:
        fail("sysusers changed the existing audio group's gid")
    if "framestamp" not in group["audio"][3].split(","):
        fail("framestamp is not a member of audio")

    before = (root / "etc/passwd").read_text(), (root / "etc/group").read_text()
    run([sysusers, f"--root={root}"])
    if before != ((root / "etc/passwd").read_text(), (root / "etc/group").read_text()):
        fail("a second systemd-sysusers run changed the accounts (postinst runs on every upgrade)")

    data = root / "var/lib/framestamp"
    run([tmpfiles, "--create", f"--root={root}"])
    st = data.stat()
    print(f"{data}: mode {stat.S_IMODE(st.st_mode):04o}, uid {st.st_uid}, gid {st.st_gid}")
    if not stat.S_ISDIR(st.st_mode) or stat.S_IMODE(st.st_mode) != 0o750:
        fail("/var/lib/framestamp is not a 0750 directory")
    if (st.st_uid, st.st_gid) != (uid, gid):
        fail("/var/lib/framestamp does not belong to framestamp:framestamp")

    # A wrong mode (someone's chmod) is put right on the next run (postinst, boot).
    os.chmod(data, 0o777)
    run([tmpfiles, "--create", f"--root={root}"])
    if stat.S_IMODE(data.stat().st_mode) != 0o750:
        fail("systemd-tmpfiles --create did not restore mode 0750")

    # Recordings survive what boot runs (systemd-tmpfiles-setup.service: --create --remove
    # --boot; a "D" line would empty the folder) and the daily --clean.
    chunk = data / "front" / "2025-01-01" / "front_20250101T000000Z.flac"
    chunk.parent.mkdir(parents=True)
    chunk.write_bytes(b"fLaC")
    run([tmpfiles, "--create", "--remove", "--boot", f"--root={root}"])
    run([tmpfiles, "--clean", f"--root={root}"])
    if not chunk.exists():
        fail("systemd-tmpfiles removed a recording")
    # --clean ages by the newest of atime, mtime and ctime, and a test cannot make ctime old:
    # the age field itself must be "-".
    for line in pathlib.Path(args.tmpfiles).read_text().splitlines():
        fields = line.split()
        if fields and not fields[0].startswith("#") and len(fields) > 5 and fields[5] != "-":
            fail(f"tmpfiles line with an age would clean recordings up: {line}")
    print("OK: user, group, audio membership and the data folder are as the unit expects")


if __name__ == "__main__":
    main()
