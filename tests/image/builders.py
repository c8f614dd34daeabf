"""Small disk images built from host trees for the image-layer tests, without root or loop mounts:
``mkfs.ext4 -d`` and ``mkfs.xfs -p <protofile>`` populate filesystems from a directory, sfdisk
writes the partition table, and the filesystems are copied in at their partition offsets."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

MiB = 1 << 20


def run(*cmd: str | os.PathLike[str]) -> None:
    subprocess.run([os.fspath(c) for c in cmd], check=True, capture_output=True)


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


def make_ext4(path: Path, tree: Path | None, size_mib: int, *, uuid: str | None = None,
              label: str | None = None) -> Path:
    path.unlink(missing_ok=True)
    with open(path, "wb") as fh:
        fh.truncate(size_mib * MiB)
    cmd: list[str | os.PathLike[str]] = ["mkfs.ext4", "-q", "-F", "-E", "root_owner=0:0"]
    if tree is not None:
        cmd += ["-d", tree]
    if uuid:
        cmd += ["-U", uuid]
    if label:
        cmd += ["-L", label]
    run(*cmd, path)
    return path


def _proto_lines(directory: Path, indent: str) -> list[str]:
    lines = []
    for entry in sorted(directory.iterdir()):
        st = entry.lstat()
        perm = stat.S_IMODE(st.st_mode)
        suid = "u" if perm & stat.S_ISUID else "-"
        sgid = "g" if perm & stat.S_ISGID else "-"
        mode = f"{suid}{sgid}{perm & 0o777:03o}"
        if stat.S_ISLNK(st.st_mode):
            lines.append(f"{indent}{entry.name} l{mode} {st.st_uid} {st.st_gid} {os.readlink(entry)}")
        elif stat.S_ISDIR(st.st_mode):
            lines.append(f"{indent}{entry.name} d{mode} {st.st_uid} {st.st_gid}")
            lines += _proto_lines(entry, indent + " ")
            lines.append(f"{indent}$")
        elif stat.S_ISREG(st.st_mode):
            lines.append(f"{indent}{entry.name} -{mode} {st.st_uid} {st.st_gid} {entry}")
    return lines


def make_xfs(path: Path, tree: Path | None, size_mib: int = 300, *, label: str | None = None,
             uuid: str | None = None) -> Path:
    """XFS populated from a tree through a mkfs.xfs prototype file (names without blanks)."""
    path.unlink(missing_ok=True)
    with open(path, "wb") as fh:
        fh.truncate(size_mib * MiB)
    cmd: list[str | os.PathLike[str]] = ["mkfs.xfs", "-q", "-f"]
    if tree is not None:
        proto = path.with_suffix(".proto")
        proto.write_text("\n".join(["/dev/null", "0 0", "d--755 0 0", *_proto_lines(tree, " "), "$", ""]))
        cmd += ["-p", proto]
    if label:
        cmd += ["-L", label]
    if uuid:
        cmd += ["-m", f"uuid={uuid}"]
    run(*cmd, path)
    return path


def make_disk(path: Path, size_mib: int, parts: list[tuple[int, Path | None, str]], *, label: str = "gpt") -> Path:
    """A raw disk with a partition table; ``parts`` = [(size MiB, filesystem image or None, type)],
    partitions start at 1 MiB and follow each other."""
    path.unlink(missing_ok=True)
    with open(path, "wb") as fh:
        fh.truncate(size_mib * MiB)
    script = [f"label: {label}"]
    start = 1
    for size, _img, ptype in parts:
        script.append(f"start={start}MiB, size={size}MiB, type={ptype}")
        start += size
    subprocess.run(["sfdisk", "-q", os.fspath(path)], input="\n".join(script) + "\n", text=True, check=True,
                   capture_output=True)
    start = 1
    for size, img, _ptype in parts:
        if img is not None:
            run("dd", f"if={img}", f"of={path}", "bs=1M", f"seek={start}", "conv=notrunc,sparse", "status=none")
        start += size
    return path


def convert(src: Path, dst: Path, fmt: str, *opts: str) -> Path:
    dst.unlink(missing_ok=True)
    run("qemu-img", "convert", "-f", "raw", "-O", fmt, *opts, src, dst)
    return dst


def guest_tree(root: Path) -> Path:
    """A tiny Linux-looking root: os-release behind a relative symlink, fstab behind a symlink,
    setuid bits, odd owners, a dangling link, a hard link, an empty file, a binary file."""
    (root / "etc").mkdir(parents=True)
    (root / "usr/lib").mkdir(parents=True)
    (root / "usr/bin").mkdir(parents=True)
    (root / "bin").symlink_to("usr/bin")
    (root / "usr/lib/os-release").write_text('ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12"\n')
    (root / "etc/os-release").symlink_to("../usr/lib/os-release")
    (root / "etc/hostname").write_text("tiny\n")
    (root / "usr/bin/tool").write_bytes(bytes(range(256)) * 300)
    os.chmod(root / "usr/bin/tool", 0o4755)
    (root / "etc/shadow").write_text("root:*:19000:0:99999:7:::\n")
    os.chmod(root / "etc/shadow", 0o640)
    os.chown(root / "etc/shadow", 0, 42)
    (root / "home/alice").mkdir(parents=True)
    (root / "home/alice/notes.txt").write_text("hello alice\n" * 1000)
    os.chown(root / "home/alice", 1000, 1000)
    os.chown(root / "home/alice/notes.txt", 1000, 1000)
    (root / "home/alice/dangling").symlink_to("/nonexistent/target")
    os.lchown(root / "home/alice/dangling", 1000, 1000)
    (root / "empty").write_bytes(b"")
    (root / "tmp").mkdir()
    os.chmod(root / "tmp", 0o1777)
    os.link(root / "etc/hostname", root / "etc/hostname.hardlink")
    (root / "var").mkdir()
    (root / "srv").mkdir()
    return root


def make_luks1(path: Path, payload: Path, passphrase: bytes, *, iterations: int = 1000,
               uuid: str | None = None) -> Path:
    return make_luks(path, payload, passphrase, luks_type="luks1", pbkdf=("pbkdf2", iterations), uuid=uuid)


def make_luks(path: Path, payload: Path, passphrase: bytes, *, luks_type: str = "luks2",
              pbkdf: tuple[str, int] = ("argon2id", 4), memory_kib: int = 32768, uuid: str | None = None) -> Path:
    """A LUKS1/LUKS2 volume whose payload is ``payload`` (a filesystem image). The header and key slot are
    cryptsetup's own (``luksFormat`` with a volume key we chose, data at 2 MiB); the kernel here has no
    device-mapper, so the payload is encrypted with that key as dm-crypt's aes-xts-plain64 does it (one
    AES-XTS data unit per 512-byte sector, the sector number as tweak) through OpenSSL."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    data = payload.read_bytes()
    header_bytes = 2 * MiB
    path.unlink(missing_ok=True)
    with open(path, "wb") as fh:
        fh.truncate(header_bytes + len(data))
    key = os.urandom(64)
    keyfile = path.with_name(path.name + ".volume-key")
    keyfile.write_bytes(key)
    kdf, cost = pbkdf
    opts = ["--pbkdf", kdf, "--pbkdf-force-iterations", str(cost)]
    if kdf != "pbkdf2":
        opts += ["--pbkdf-memory", str(memory_kib), "--pbkdf-parallel", "1"]
    if luks_type == "luks1":
        opts += ["--align-payload", "4096"]
    else:
        opts += ["--offset", "4096", "--luks2-metadata-size", "16k", "--luks2-keyslots-size", "1m",
                 "--sector-size", "512"]  # 512-byte data units, as the phony guests' appliance-made LUKS2 has
    try:
        subprocess.run(["cryptsetup", "luksFormat", "--batch-mode", "--type", luks_type, "--cipher", "aes-xts-plain64",
                        "--key-size", "512", "--volume-key-file", os.fspath(keyfile), *opts,
                        *(["--uuid", uuid] if uuid else []), "--key-file", "-", os.fspath(path)],
                       input=passphrase, check=True, capture_output=True)
    finally:
        keyfile.unlink()
    out = bytearray(len(data))
    for sector in range(len(data) // 512):
        enc = Cipher(algorithms.AES(key), modes.XTS(sector.to_bytes(16, "little"))).encryptor()
        out[sector * 512:(sector + 1) * 512] = enc.update(data[sector * 512:(sector + 1) * 512]) + enc.finalize()
    with open(path, "r+b") as fh:
        fh.seek(header_bytes)
        fh.write(out)
    return path
