"""The four arms as drivers with one life cycle: ``prepare`` (start every instance up to the point
where it waits for the go signal; start latency measured here), ``targets`` (what the sampler reads),
``go`` (release all instances at once), ``wait`` (collect each instance's sysbench output) and
``cleanup`` (always, also on Ctrl-C)."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from migrate.bench import host
from migrate.bench.artifact import Artifact
from migrate.errors import ExternalToolError

LABEL = "migrate.bench.run"


@dataclass
class Target:
    """One instance as the sampler sees it: a process (PSS + CPU) or a cgroup (memory + CPU)."""

    index: int
    pid: int | None = None
    cgroup: host.CgroupReader | None = None
    overhead_pid: int | None = None  # containerd shim

    def sample(self) -> tuple[float | None, float | None, float | None]:
        if self.cgroup is not None:
            over = host.pss_kib(self.overhead_pid) if self.overhead_pid else None
            return self.cgroup.cpu_s(), self.cgroup.mem_kib(), over
        if self.pid is not None:
            return host.proc_cpu_s(self.pid), host.pss_kib(self.pid), None
        return None, None, None


@dataclass
class InstanceOutput:
    index: int
    output: str
    start_latency_s: float | None
    error: str | None = None


class Driver:
    arm = "?"
    component = ""

    def __init__(self, n: int, argv: list[str], memory_mib: int, run_id: str) -> None:
        self.n, self.argv, self.memory_mib, self.run_id = n, argv, memory_mib, run_id
        self.start_latency: list[float | None] = [None] * n

    def prepare(self, timeout: float) -> None: ...
    def targets(self) -> list[Target]:
        return []
    def go(self) -> None: ...
    def wait(self, timeout: float) -> list[InstanceOutput]:
        return []
    def cleanup(self) -> None: ...
    def storage(self) -> tuple[int | None, str]:
        return None, ""


def _kill_group(p: subprocess.Popen) -> None:
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            p.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        p.wait(timeout=5)


class BareDriver(Driver):
    """R: the same sysbench binary, run as plain host processes (the artifact's copy, via its loader)."""

    arm = "R"
    component = "process PSS"

    def __init__(self, n, argv, memory_mib, run_id, artifact: Artifact) -> None:
        super().__init__(n, argv, memory_mib, run_id)
        self.artifact = artifact
        self.procs: list[subprocess.Popen] = []

    def prepare(self, timeout: float) -> None:
        root = self.artifact.rootfs
        env = {"LD_LIBRARY_PATH": f"{root}/usr/lib/x86_64-linux-gnu", "PATH": "/usr/bin:/bin"}
        cmd = " ".join(shlex.quote(a) for a in [f"{root}/usr/lib64/ld-linux-x86-64.so.2",
                                                 f"{root}/usr/bin/sysbench", *self.argv])
        for i in range(self.n):
            t0 = time.monotonic()
            p = subprocess.Popen(["/bin/sh", "-c", f"read go; exec {cmd}"], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                 start_new_session=True)
            self.procs.append(p)
            self.start_latency[i] = time.monotonic() - t0

    def targets(self) -> list[Target]:
        return [Target(i, pid=p.pid) for i, p in enumerate(self.procs)]

    def go(self) -> None:
        for p in self.procs:
            p.stdin.write("go\n")
            p.stdin.flush()

    def wait(self, timeout: float) -> list[InstanceOutput]:
        outs = []
        for i, p in enumerate(self.procs):
            try:
                out, _ = p.communicate(timeout=timeout)
                err = None if p.returncode == 0 else f"exit status {p.returncode}"
            except subprocess.TimeoutExpired:
                _kill_group(p)
                out, err = "", "timeout"
            outs.append(InstanceOutput(i, out, self.start_latency[i], err))
        return outs

    def cleanup(self) -> None:
        for p in self.procs:
            _kill_group(p)

    def storage(self) -> tuple[int | None, str]:
        return 0, "binaries on the host (shared, not per instance)"


class ContainerDriver(Driver):
    """B: N containers from the imported artifact image, 1 CPU (nano_cpus) and ``memory_mib`` each,
    no network; released together through a file in a shared bind mount."""

    arm = "B"
    component = "cgroup memory + shim PSS"

    def __init__(self, n, argv, memory_mib, run_id, artifact: Artifact, client) -> None:
        super().__init__(n, argv, memory_mib, run_id)
        self.artifact, self.client = artifact, client
        self.containers: list = []
        self.sync = Path(tempfile.mkdtemp(prefix="migrate-bench-sync-"))

    def prepare(self, timeout: float) -> None:
        script = ("echo MB-READY; while [ ! -e /sync/go ]; do usleep 10000; done; exec sysbench "
                  + " ".join(shlex.quote(a) for a in self.argv))
        t0s = []
        for i in range(self.n):
            t0 = time.monotonic()
            c = self.client.containers.create(
                self.artifact.image_tag, ["/bin/sh", "-c", script], name=f"mb-{self.run_id}-{i}",
                labels={LABEL: self.run_id}, network_mode="none", nano_cpus=1_000_000_000,
                mem_limit=f"{self.memory_mib}m", volumes={str(self.sync): {"bind": "/sync", "mode": "ro"}},
                detach=True)
            self.containers.append(c)
            c.start()
            t0s.append(t0)
        deadline = time.monotonic() + timeout
        pending = set(range(self.n))
        while pending and time.monotonic() < deadline:
            for i in list(pending):
                if b"MB-READY" in self.containers[i].logs():
                    self.start_latency[i] = time.monotonic() - t0s[i]
                    pending.discard(i)
            time.sleep(0.02)
        if pending:
            raise ExternalToolError(f"containers {sorted(pending)} did not start within {timeout:.0f}s")
        for c in self.containers:
            c.reload()

    def targets(self) -> list[Target]:
        out = []
        for i, c in enumerate(self.containers):
            pid = c.attrs["State"]["Pid"]
            out.append(Target(i, cgroup=host.CgroupReader(pid), overhead_pid=host.ppid(pid)))
        return out

    def go(self) -> None:
        (self.sync / "go").touch()

    def wait(self, timeout: float) -> list[InstanceOutput]:
        outs = []
        for i, c in enumerate(self.containers):
            try:
                status = c.wait(timeout=timeout).get("StatusCode", -1)
                log = c.logs().decode(errors="replace").replace("MB-READY\n", "", 1)
                outs.append(InstanceOutput(i, log, self.start_latency[i],
                                           None if status == 0 else f"exit status {status}"))
            except Exception as exc:  # noqa: BLE001 - timeouts surface as requests exceptions
                outs.append(InstanceOutput(i, "", self.start_latency[i], f"wait failed: {exc}"))
        return outs

    def storage(self) -> tuple[int | None, str]:
        try:
            img = self.client.images.get(self.artifact.image_tag).attrs.get("Size", 0)
            rw = 0
            for c in self.containers:
                for info in self.client.api.containers(all=True, size=True, filters={"id": c.id}):
                    rw += info.get("SizeRw") or 0
            return int(img / self.n + rw / self.n), "image size / N (shared layer) + writable layer"
        except Exception:  # noqa: BLE001
            return None, "unavailable"

    def cleanup(self) -> None:
        remove_labelled(self.client, self.run_id)
        for p in self.sync.glob("*"):
            p.unlink()
        self.sync.rmdir()


def remove_labelled(client, run_id: str | None = None) -> int:
    """Remove the containers of one run (or of every bench run when ``run_id`` is None)."""
    flt = {"label": f"{LABEL}={run_id}" if run_id else LABEL}
    n = 0
    for c in client.containers.list(all=True, filters=flt):
        try:
            c.remove(force=True)
            n += 1
        except Exception:  # noqa: BLE001
            pass
    return n


class _Console:
    """Collect a QEMU serial console (stdout) line by line in a thread, noting when markers appear."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc, self.lines, self.marks = proc, [], {}
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for line in self.proc.stdout:
            line = line.replace("\r", "")
            self.lines.append(line)
            key = line.split(" ", 1)[0].strip()
            if key.startswith("MB-") and key not in self.marks:
                self.marks[key] = time.monotonic()

    def text(self) -> str:
        return "".join(self.lines)


def qemu_argv(artifact: Artifact, accel: str, *, smp: int, memory_mib: int, mode: str, n: int,
              argv: list[str]) -> list[str]:
    cpu = "host" if accel == "kvm" else "max"
    append = (f"console=ttyS0 quiet loglevel=1 panic=-1 mbmode={mode} mbn={n} "
              f"mbargs={','.join(argv)}")
    return ["qemu-system-x86_64", "-accel", accel, "-cpu", cpu, "-m", str(memory_mib), "-smp", str(smp),
            "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
            "-chardev", "stdio,id=s0,signal=off", "-serial", "chardev:s0",
            "-kernel", str(artifact.kernel), "-initrd", str(artifact.initramfs), "-append", append]


def split_console(text: str) -> dict[int, str]:
    """The per-instance outputs between MB-BEGIN i / MB-END i markers of the guest's /init."""
    out: dict[int, str] = {}
    cur: int | None = None
    buf: list[str] = []
    for line in text.splitlines(keepends=True):
        s = line.strip()
        if s.startswith("MB-BEGIN "):
            cur, buf = int(s.split()[1]), []
        elif s.startswith("MB-END ") and cur is not None:
            out[cur] = "".join(buf)
            cur = None
        elif cur is not None:
            buf.append(line)
    return out


class VMDriver(Driver):
    """A: N VMs with one vCPU and ``memory_mib`` each; C (``containers=True``): one VM with N vCPUs
    and N × ``memory_mib`` running N runc containers."""

    def __init__(self, n, argv, memory_mib, run_id, artifact: Artifact, accel: str,
                 containers: bool = False) -> None:
        super().__init__(n, argv, memory_mib, run_id)
        self.artifact, self.accel, self.containers = artifact, accel, containers
        self.arm = "C" if containers else "A"
        self.component = "QEMU PSS"
        self.procs: list[subprocess.Popen] = []
        self.consoles: list[_Console] = []
        self.t0: list[float] = []

    def _spawn(self, smp: int, mem: int, mode: str, n: int) -> None:
        cmd = qemu_argv(self.artifact, self.accel, smp=smp, memory_mib=mem, mode=mode, n=n, argv=self.argv)
        self.t0.append(time.monotonic())
        try:
            p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True, start_new_session=True)
        except FileNotFoundError as exc:
            raise ExternalToolError("qemu-system-x86_64 not found (apt-get install qemu-system-x86)") from exc
        self.procs.append(p)
        self.consoles.append(_Console(p))

    def prepare(self, timeout: float) -> None:
        if self.containers:
            self._spawn(self.n, self.memory_mib * self.n, "ctr", self.n)
        else:
            for _ in range(self.n):
                self._spawn(1, self.memory_mib, "vm", 1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all("MB-BOOTED" in c.marks for c in self.consoles):
                break
            dead = [i for i, p in enumerate(self.procs) if p.poll() is not None]
            if dead:
                raise ExternalToolError(f"VM {dead[0]} exited during boot",
                                        output=self.consoles[dead[0]].text()[-2000:])
            time.sleep(0.05)
        else:
            raise ExternalToolError(f"VMs did not boot within {timeout:.0f}s (accel={self.accel})",
                                    output=self.consoles[0].text()[-2000:])
        boots = [c.marks["MB-BOOTED"] - t0 for c, t0 in zip(self.consoles, self.t0, strict=True)]
        self.start_latency = boots * self.n if self.containers else boots

    def targets(self) -> list[Target]:
        return [Target(i, pid=p.pid) for i, p in enumerate(self.procs)]

    def go(self) -> None:
        for p in self.procs:
            p.stdin.write("go\n")
            p.stdin.flush()

    def wait(self, timeout: float) -> list[InstanceOutput]:
        deadline = time.monotonic() + timeout
        for p in self.procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _kill_group(p)
        for c in self.consoles:
            c.thread.join(timeout=5)
        outs: list[InstanceOutput] = []
        if self.containers:
            parts = split_console(self.consoles[0].text())
            for i in range(self.n):
                err = None if i in parts else "no output from container (see console)"
                outs.append(InstanceOutput(i, parts.get(i, self.consoles[0].text()[-1500:] if err else ""),
                                           self.start_latency[i], err))
        else:
            for i, c in enumerate(self.consoles):
                parts = split_console(c.text())
                err = None if 0 in parts else "no output from VM (see console)"
                outs.append(InstanceOutput(i, parts.get(0, c.text()[-1500:]), self.start_latency[i], err))
        return outs

    def storage(self) -> tuple[int | None, str]:
        size = self.artifact.kernel_bytes + self.artifact.initramfs_bytes
        if self.containers:
            return size // self.n, "(kernel + initramfs) / N: one VM image shared by N containers"
        return size, "kernel + initramfs per VM (a VM needs its own boot image/disk)"

    def cleanup(self) -> None:
        for p in self.procs:
            _kill_group(p)


def probe_accel(artifact: Artifact, timeout: float = 6.0) -> tuple[str, str]:
    """Try KVM briefly (the kernel must reach /init); fall back to TCG. Returns (accel, probe note)."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "tcg", "/dev/kvm not accessible"
    cmd = qemu_argv(artifact, "kvm", smp=1, memory_mib=128, mode="vm", n=1, argv=["cpu"])
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, start_new_session=True)
    con = _Console(p)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if "MB-BOOTED" in con.marks:
                return "kvm", "kvm guest reached /init"
            if p.poll() is not None:
                break
            time.sleep(0.05)
    finally:
        _kill_group(p)
        con.thread.join(timeout=2)
    first = next((ln.strip() for ln in con.lines if ln.strip()), "no output")
    return "tcg", f"kvm unusable ({'exited' if p.returncode is not None else 'timeout'}: {first[:160]})"
