"""Encryption of backups that leave the appliance, with age (Debian's `age` package).

A backup on a USB stick is gzipped, then encrypted to the public keys of the facility file
(`[backup] recipients`, X25519 `age1…`): whoever finds the stick learns nothing, and the
appliance never holds a key that decrypts (the district keeps the identity). The `age`
command is the reference implementation, packaged by Debian for the Pi and the laptop alike.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import threading
import zlib
from collections.abc import Callable
from pathlib import Path

from appliance.backup.copy import BackupError

AGE = "age"
HEADER = b"age-encryption.org/v1\n"
CHUNK = 1 << 20
# gzip level 6: a quarter of the size of a seeded database; level 9 costs twice the time on
# the Pi for 2 % less.
GZIP_LEVEL = 6


def age_command() -> str:
    found = shutil.which(AGE)
    if not found:
        raise BackupError("the `age` command is missing: apt-get install age")
    return found


def encrypt_stream(
    src: Path, write: Callable[[bytes], object], recipients: list[str]
) -> tuple[int, str]:
    """gzip `src` and encrypt it to `recipients`, handing the ciphertext to `write` chunk by
    chunk. Returns (bytes, sha256 hex) of the ciphertext."""
    if not recipients:
        raise BackupError("no recipient public key to encrypt to ([backup] recipients)")
    args = [age_command(), "--encrypt"]
    for r in recipients:
        args += ["--recipient", r]
    digest, size = hashlib.sha256(), 0
    with subprocess.Popen(
        args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        assert proc.stdin and proc.stdout and proc.stderr
        failure: list[BaseException] = []

        def feed() -> None:
            packer = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)  # 31: gzip framing
            try:
                with open(src, "rb") as f:
                    while block := f.read(CHUNK):
                        proc.stdin.write(packer.compress(block))
                    proc.stdin.write(packer.flush())
            except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
                failure.append(e)
            finally:
                proc.stdin.close()

        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        try:
            while chunk := proc.stdout.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
                write(chunk)
        except BaseException:
            proc.kill()
            raise
        finally:
            feeder.join()
        err = proc.stderr.read().decode(errors="replace").strip()
    if failure and not isinstance(failure[0], BrokenPipeError):
        raise failure[0]
    if proc.returncode != 0:
        raise BackupError(f"age could not encrypt: {_age_said(err.encode())}")
    return size, digest.hexdigest()


def encrypt(src: str | Path, dest: str | Path, recipients: list[str]) -> dict[str, object]:
    """`src` gzipped and encrypted into `dest` (written whole, then fsynced)."""
    dest = Path(dest)
    with open(dest, "wb") as out:
        size, sha = encrypt_stream(Path(src), out.write, recipients)
        out.flush()
        os.fsync(out.fileno())
    return {"file": str(dest), "bytes": size, "sha256": sha}


def looks_encrypted(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(len(HEADER)) == HEADER


def decrypt(src: str | Path, identity_file: str | Path, dest_dir: str | Path) -> Path:
    """Decrypt an age backup with the district's identity; returns the `.db.gz` written in
    `dest_dir` (named after `src` without `.age`)."""
    src, identity_file, dest_dir = Path(src), Path(identity_file), Path(dest_dir)
    if not src.is_file():
        raise BackupError(f"{src}: no such file")
    if not identity_file.is_file():
        raise BackupError(f"{identity_file}: no such key file (the district's age identity)")
    if not looks_encrypted(src):
        raise BackupError(f"{src} is not an age-encrypted file")
    name = src.name[: -len(".age")] if src.name.endswith(".age") else src.name + ".gz"
    dest = dest_dir / name
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest.unlink(missing_ok=True)
    # The plaintext records are private from their first byte: the file is made 0600 here
    # and age writes into it through stdout.
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(src, "rb") as ciphertext, os.fdopen(fd, "wb") as plaintext:
        done = subprocess.run(
            [age_command(), "--decrypt", "--identity", str(identity_file)],
            stdin=ciphertext,
            stdout=plaintext,
            stderr=subprocess.PIPE,
            text=False,
        )
    if done.returncode != 0:
        dest.unlink(missing_ok=True)
        raise BackupError(f"cannot decrypt {src} with {identity_file}: {_age_said(done.stderr)}")
    return dest


def _age_said(stderr: bytes) -> str:
    """age's own words, every line (its "no identity matched" comes before its last line)."""
    lines = [ln.strip() for ln in stderr.decode(errors="replace").splitlines() if ln.strip()]
    # age ends with a line pointing at its bug tracker, which is no help to a technician.
    lines = [ln for ln in lines if "report" not in ln.lower() or "age" not in ln.lower()]
    return " ".join(ln.removeprefix("age: ") for ln in lines) or "failed"
