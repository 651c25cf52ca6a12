#!/usr/bin/env python3
"""Does framestampd fit inside framestampd.service's sandbox? It is run under strace, recording
from the emulated sound card as systemd would start it (NOTIFY_SOCKET, WATCHDOG_USEC set), and
everything it did is checked against the unit:

- every system call is in the unit's SystemCallFilter= allow list (else EPERM under systemd);
- sockets only of RestrictAddressFamilies= families;
- files created or changed only under the data directory (ProtectSystem=strict), plus its own
  thread names in /proc/self;
- nothing that worked here but is hidden there: /proc beyond the process's own (ProcSubset=pid),
  /home, /root, /run/user (ProtectHome=yes), devices other than ALSA and the pseudo devices
  (DevicePolicy=closed);
- programs executed: only /usr/bin/chronyc (whose own system calls must pass the filter; its
  failing to reach chronyd without network is expected and reported);
- adjtimex()/clock_adjtime() only with modes=0 (there is no CAP_SYS_TIME).

  check_sandbox.py --unit U --daemon BIN --config YAML --alsa-config-path P --work-dir W
"""

import argparse
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter

from unitfile import Unit, allowed_syscalls, fail, need_tool, skip

CALL_RE = re.compile(r"^(\d+)\s+(?:<\.\.\. (\w+) resumed>|(\w+)\()")
RESULT_RE = re.compile(r"\)\s+=\s+(-?\d+|\?)")
PATH_ARG_RE = re.compile(r'(?:(?:AT_FDCWD|-?\d+)<([^>]*)>, )?"((?:[^"\\]|\\.)*)"')
ENDPOINT_RE = re.compile(r'sun_path="([^"]*)"|inet_(?:addr|pton)\((?:AF_INET6, )?"([^"]*)"')
WRITE_FLAGS = ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND")
MUTATING = {"mkdir", "mkdirat", "rename", "renameat", "renameat2", "unlink", "unlinkat", "rmdir",
            "link", "linkat", "symlink", "symlinkat", "truncate", "chmod", "fchmodat", "chown",
            "fchownat", "lchown", "mknod", "mknodat"}
LOOKUPS = {"open", "openat", "stat", "lstat", "newfstatat", "statx", "access", "faccessat",
           "faccessat2", "readlink", "readlinkat"}
PSEUDO_DEVICES = {"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"}
# Reads that fail harmlessly under ProcSubset=pid: glibc's malloc asks whether it may shrink a
# heap and takes ENOENT as "no".
TOLERATED_HIDDEN = {"/proc/sys/vm/overcommit_memory"}
HIDDEN_PREFIXES = ("/home/", "/root/", "/run/user/")


class NotifyListener:
    """A stand-in for systemd's notify socket: collects the daemon's sd_notify() datagrams."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages = []
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            self.messages.append(data.decode(errors="replace"))

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()


def children_of(pid):
    try:
        text = pathlib.Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def record(args, work):
    strace = need_tool("strace", "strace")
    data = work / "data"
    data.mkdir()
    trace = work / "trace.txt"
    # stderr is a pipe named in JOURNAL_STREAM, as under systemd, so the daemon takes its journal
    # path (sd_journal_sendv, falling back to stderr where no journald listens).
    err_r, err_w = os.pipe()
    st = os.fstat(err_w)
    env = dict(os.environ)
    env.update({"ALSA_CONFIG_PATH": args.alsa_config_path,
                "NOTIFY_SOCKET": str(work / "notify.sock"),
                "WATCHDOG_USEC": "30000000",
                "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
    env.pop("WATCHDOG_PID", None)
    listener = NotifyListener(work / "notify.sock")
    cmd = [strace, "-f", "-y", "-qq", "-s", "256", "-o", str(trace), "--",
           str(pathlib.Path(args.daemon).resolve()), "--config", args.config,
           "--data-dir", str(data)]
    print("$ " + " ".join(cmd))
    proc = subprocess.Popen(cmd, env=env, cwd=work, stderr=err_w)
    os.close(err_w)
    err_chunks = []
    reader = threading.Thread(target=lambda: err_chunks.extend(iter(
        lambda: os.read(err_r, 65536), b"")), daemon=True)
    reader.start()
    deadline = time.monotonic() + args.seconds
    daemon_pid = None
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
        if daemon_pid is None:
            kids = children_of(proc.pid)
            daemon_pid = kids[0] if kids else None
    if proc.poll() is None and daemon_pid is not None:
        os.kill(daemon_pid, signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        fail("framestampd did not stop within 60 s of SIGTERM")
    reader.join(timeout=10)
    os.close(err_r)
    listener.close()
    err = b"".join(err_chunks).decode(errors="replace")
    if "Operation not permitted" in err and "ptrace" in err.lower():
        skip(f"strace cannot trace here (ptrace not permitted): {err.strip()}")
    print(f"framestampd exited with {proc.returncode}; stderr (last lines; empty when the "
          "messages went to the journal's socket):")
    for line in err.splitlines()[-8:]:
        print(f"  {line}")
    if proc.returncode != 0:
        fail(f"framestampd exited with {proc.returncode}, expected 0 after SIGTERM")
    chunks = list(data.rglob("*.flac")) + list(data.rglob("*.wav")) + list(data.rglob("*.rf64"))
    if not chunks:
        fail("framestampd wrote no audio chunk: the trace does not cover recording")
    return trace, data, listener.messages


def resolve(dir_part, path, cwd):
    p = pathlib.PurePosixPath(path)
    if p.is_absolute():
        return str(p)
    return str(pathlib.PurePosixPath(dir_part or cwd) / p)


def under(path, roots):
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def calls(trace):
    """(pid, name, whole line) per system call; a call that strace split into "<unfinished ...>"
    and "<... resumed>" (another thread ran in between) is put back together."""
    pending = {}
    for line in trace.read_text(errors="replace").splitlines():
        m = CALL_RE.match(line)
        if not m:
            continue
        pid = m.group(1)
        if m.group(2) is not None:
            start = pending.pop(pid, None)
            if start is not None:
                yield pid, m.group(2), start + line[m.end():]
            continue
        if line.endswith("<unfinished ...>"):
            pending[pid] = line[: -len("<unfinished ...>")].rstrip()
            continue
        yield pid, m.group(3), line
    for pid, start in pending.items():  # still running at exit
        yield pid, CALL_RE.match(start).group(3), start


def analyse(args, unit, trace, data, work):
    allowed = allowed_syscalls(unit)
    families = set(unit.words("Service", "RestrictAddressFamilies"))
    writable = [str(data), *unit.words("Service", "ReadWritePaths")]
    readable_local = [str(work), str(pathlib.Path(args.daemon).resolve().parent)]
    cwd = str(work)
    counts = Counter()
    problems = {}  # kind -> (count, first example)
    # Processes that became chronyc. The unit cuts chronyc off from chronyd on purpose (no
    # network; docs/operations.md, section 2), so only its system calls are checked: they must
    # pass the filter for the chronyc drop-in to work. What it tried is reported.
    chronyc_pids = set()
    chronyc_tried = Counter()

    def problem(kind, line):
        n, example = problems.get(kind, (0, line.strip()[:220]))
        problems[kind] = (n + 1, example)

    execs = 0
    for pid, name, line in calls(trace):
        counts[name] += 1
        args_text = line[line.index("(") + 1:]
        res = RESULT_RE.search(args_text)
        ok = res is not None and res.group(1) not in ("-1", "?")
        if allowed is not None and name not in allowed:
            who = " (by chronyc)" if pid in chronyc_pids else ""
            problem(f"system call {name}{who} not in SystemCallFilter=", line)
        if pid in chronyc_pids:
            if name == "socket":
                chronyc_tried[f"socket({args_text.split(',', 1)[0]})"] += 1
            elif name in ("connect", "sendto", "sendmsg", "bind"):
                m = ENDPOINT_RE.search(args_text)
                chronyc_tried[f"{name}({m.group(1) or m.group(2) if m else '?'})"] += 1
            continue
        if name == "socket":
            fam = args_text.split(",", 1)[0]
            if families and fam not in families:
                problem(f"socket family {fam} not in RestrictAddressFamilies=", line)
        if name in ("adjtimex", "clock_adjtime", "clock_adjtime64") and "modes=0," not in line:
            problem("clock adjustment (modes != 0) needs CAP_SYS_TIME", line)
        if name in ("execve", "execveat"):
            execs += 1
            target = PATH_ARG_RE.search(args_text)
            if execs > 1:
                if target is None or target.group(2) != "/usr/bin/chronyc":
                    problem("program executed (only /usr/bin/chronyc may be)", line)
                elif ok:
                    chronyc_pids.add(pid)
            continue
        paths = [resolve(d, p, cwd) for d, p in PATH_ARG_RE.findall(args_text.split(") =")[0])]
        writes = name in MUTATING or (
            name in ("open", "openat", "creat") and any(f in args_text for f in WRITE_FLAGS))
        for p in paths[: 2 if name.startswith(("rename", "link", "symlink")) else 1]:
            if p.startswith("/dev/"):
                if not (p.startswith("/dev/snd/") or p in PSEUDO_DEVICES) and ok:
                    problem("device outside DevicePolicy=closed + char-alsa", line)
                continue
            if writes and not under(p, writable) and not re.match(
                    r"/proc/(self|thread-self|\d+)/task/\d+/comm$", p):
                problem("write outside the data directory (ProtectSystem=strict)", line)
            if name in LOOKUPS and ok and not under(p, readable_local):
                if p.startswith("/proc/") and p not in TOLERATED_HIDDEN and not re.match(
                        r"/proc/(self|thread-self|\d+)(/|$)", p):
                    problem("/proc outside the process (ProcSubset=pid)", line)
                if p.startswith(HIDDEN_PREFIXES):
                    problem("home directories (ProtectHome=yes)", line)
    if chronyc_pids:
        print(f"chronyc ran {len(chronyc_pids)} time(s); under the unit it has no network, so "
              "these fail there (expected): " +
              (", ".join(f"{k} x{n}" for k, n in chronyc_tried.items()) or "nothing"))
    return counts, problems


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--unit", required=True)
    ap.add_argument("--daemon", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--alsa-config-path", required=True)
    ap.add_argument("--work-dir", required=True)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--sanitized", action="store_true")
    args = ap.parse_args()
    if args.sanitized:
        skip("ASan/UBSan builds make system calls of their own; run this on a plain build")
    work = pathlib.Path(args.work_dir).resolve()
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    args.config = str(pathlib.Path(args.config).resolve())
    unit = Unit(args.unit)

    trace, data, messages = record(args, work)
    counts, problems = analyse(args, unit, trace, data, work)
    print(f"{sum(counts.values())} system calls of {len(counts)} kinds:")
    print("  " + ", ".join(f"{n} {c}" for n, c in sorted(counts.items(), key=lambda x: -x[1])))
    kinds = Counter(m.split("=", 1)[0] for msg in messages for m in msg.splitlines() if m)
    print(f"sd_notify: {len(messages)} datagram(s): " +
          (", ".join(f"{k} x{c}" for k, c in kinds.items()) or "none"))
    for kind, (n, example) in problems.items():
        print(f"  {kind}: {n} time(s), e.g. {example}", file=sys.stderr)
    if problems:
        fail(f"{len(problems)} kind(s) of thing framestampd did would fail under "
             "framestampd.service")
    print("OK: everything framestampd did is allowed by framestampd.service")


if __name__ == "__main__":
    sys.exit(main())
