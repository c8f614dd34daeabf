"""Measure the native backend on a Debian-sized disk: time and peak RSS to open a compressed qcow2
of a ~1 GiB ext4 root (the host's /etc, /usr/share and /usr/lib/python3* as content) and read 200
small files. Not a pytest test (it takes a minute to build the image); run:

    .venv/bin/python -m tests.image.bench_native_open [WORKDIR]
"""

from __future__ import annotations

import glob
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from migrate.image.native import NativeBackend
from tests.image.builders import convert, make_disk, make_ext4


def build(work: Path) -> Path:
    image = work / "debian-like.qcow2"
    if image.exists():
        return image
    tree = work / "tree"
    if not tree.exists():
        (tree / "usr/lib").mkdir(parents=True)
        subprocess.run(["cp", "-a", "/etc", str(tree / "etc")], check=False)
        subprocess.run(["cp", "-a", "/usr/share", str(tree / "usr/share")], check=True)
        for d in glob.glob("/usr/lib/python3*"):
            subprocess.run(["cp", "-a", d, str(tree / "usr/lib")], check=True)
        (tree / "bin").symlink_to("usr/bin")
        (tree / "usr/bin").mkdir()
        (tree / "etc/fstab").write_text("/dev/sda1 / ext4 defaults 0 1\n")
    root = make_ext4(work / "root.img", tree, 1200)
    disk = make_disk(work / "disk.raw", 1210, [(1200, root, "linux")])
    convert(disk, image, "qcow2", "-c")
    for p in (root, disk):
        p.unlink()
    return image


def main() -> None:
    work = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/native-bench")
    work.mkdir(parents=True, exist_ok=True)
    image = build(work)
    subprocess.run(["sync"], check=False)
    t0 = time.perf_counter()
    with NativeBackend().open([image]) as guest:
        t_open = time.perf_counter() - t0
        fs = guest.rootfs
        tw = time.perf_counter()
        walked = list(fs.walk("/usr/share/doc", max_entries=100_000)) + list(fs.walk("/etc"))
        t_walk = time.perf_counter() - tw
        small = [p for p, st in walked if st.kind == "file" and st.size < 64_000]
        candidates = small[:150] + [p for p in small if p.startswith("/etc/")][:50]
        t1 = time.perf_counter()
        total = sum(len(fs.read_bytes(p)) for p in candidates)
        t_read = time.perf_counter() - t1
    t_all = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"image {image} ({image.stat().st_size / 2**20:.0f} MiB file, {guest.images[0].virtual_size / 2**20:.0f} "
          f"MiB virtual, {guest.images[0].variant})")
    print(f"open (detect, partitions, probe, root, fstab): {t_open * 1000:.0f} ms")
    print(f"walk {len(walked)} entries (lstat each): {t_walk * 1000:.0f} ms")
    print(f"read {len(candidates)} small files ({total} bytes): {t_read * 1000:.0f} ms")
    print(f"open + walk + read, total: {t_all:.2f} s; peak RSS {rss:.0f} MiB")
    if os.environ.get("BENCH_CLEAN"):
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
