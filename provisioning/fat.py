"""Where a file's bytes lie in a FAT file system, so that they can be overwritten in place.

mtools replaces or deletes a file by freeing its clusters: the old bytes stay on the card
until something else happens to be written there. For a facility file with secrets, or a
backup with the records in clear, `card.write_file` and `card.remove_file` first overwrite the
old file's clusters found here; mtools then reads the file back as zeros, which proves they
were the right ones.

Offsets and formats from Microsoft's "FAT: General Overview of On-Disk Format" (1.03): the BPB
fields, the FAT type from the count of clusters, 32-byte directory entries, long names in
entries of attribute 0x0F with the checksum of the short name they belong to.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

_LONG_NAME = 0x0F
_VOLUME_LABEL = 0x08
_DIRECTORY = 0x10
_DELETED = 0xE5
_ENTRY = 32


class FatError(ValueError):
    """The file system is not one this reader understands, or is damaged."""


@dataclass(frozen=True)
class Layout:
    start: int  # the partition's first byte in the target
    bytes_per_sector: int
    sectors_per_cluster: int
    fat_offset: int  # bytes from `start`
    root_offset: int  # FAT12/16: the fixed root directory, bytes from `start`
    root_bytes: int  # 0 on FAT32
    root_cluster: int  # FAT32's, 0 otherwise
    data_offset: int  # bytes from `start` to cluster 2
    clusters: int
    bits: int  # 12, 16 or 32

    @property
    def cluster_bytes(self) -> int:
        return self.bytes_per_sector * self.sectors_per_cluster

    def cluster_offset(self, cluster: int) -> int:
        """Where `cluster` begins, in bytes from the start of the target."""
        return self.start + self.data_offset + (cluster - 2) * self.cluster_bytes


def _u16(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 2], "little")


def _u32(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 4], "little")


def layout(f, start: int) -> Layout:
    f.seek(start)
    boot = f.read(512)
    bps, spc = _u16(boot, 11), boot[13]
    reserved, fats, root_entries = _u16(boot, 14), boot[16], _u16(boot, 17)
    total = _u16(boot, 19) or _u32(boot, 32)
    fat_size = _u16(boot, 22) or _u32(boot, 36)
    if not bps or not spc or not fats or not fat_size or not total:
        raise FatError("not a FAT boot sector")
    root_bytes = root_entries * _ENTRY
    root_sectors = (root_bytes + bps - 1) // bps
    first_data = reserved + fats * fat_size + root_sectors
    clusters = (total - first_data) // spc
    bits = 12 if clusters < 4085 else 16 if clusters < 65525 else 32
    return Layout(
        start=start,
        bytes_per_sector=bps,
        sectors_per_cluster=spc,
        fat_offset=reserved * bps,
        root_offset=(reserved + fats * fat_size) * bps,
        root_bytes=root_bytes if bits != 32 else 0,
        root_cluster=_u32(boot, 44) if bits == 32 else 0,
        data_offset=first_data * bps,
        clusters=clusters,
        bits=bits,
    )


def _next(f, lay: Layout, cluster: int) -> int | None:
    """The cluster after `cluster` in its chain, None at the end."""
    if lay.bits == 12:
        f.seek(lay.start + lay.fat_offset + cluster * 3 // 2)
        pair = _u16(f.read(2), 0)
        value = pair >> 4 if cluster & 1 else pair & 0xFFF
        end = 0xFF8
    elif lay.bits == 16:
        f.seek(lay.start + lay.fat_offset + cluster * 2)
        value, end = _u16(f.read(2), 0), 0xFFF8
    else:
        f.seek(lay.start + lay.fat_offset + cluster * 4)
        value, end = _u32(f.read(4), 0) & 0x0FFFFFFF, 0x0FFFFFF8
    if value >= end:
        return None
    if value < 2 or value >= lay.clusters + 2:
        raise FatError(f"cluster {cluster} points to {value}: the FAT is damaged")
    return value


def chain(f, lay: Layout, first: int) -> list[int]:
    if first < 2:
        return []  # an empty file has no cluster
    found = [first]
    while (after := _next(f, lay, found[-1])) is not None:
        if len(found) > lay.clusters:
            raise FatError("a cluster chain loops: the FAT is damaged")
        found.append(after)
    return found


def _checksum(short: bytes) -> int:
    total = 0
    for byte in short:
        total = (((total & 1) << 7) + (total >> 1) + byte) & 0xFF
    return total


def _short_name(raw: bytes) -> str:
    base = raw[:8].replace(b"\x05", b"\xe5", 1).decode("cp437").rstrip()
    ext = raw[8:11].decode("cp437").rstrip()
    return f"{base}.{ext}" if ext else base


def _entries(data: bytes) -> list[tuple[str, int, int, int]]:
    """(name, attributes, first cluster, size) of each live entry of a directory's bytes;
    the long name when it has a valid one."""
    out = []
    long_parts: dict[int, str] = {}
    long_sum = -1
    for at in range(0, len(data) - _ENTRY + 1, _ENTRY):
        entry = data[at : at + _ENTRY]
        if entry[0] == 0x00:
            break
        if entry[0] == _DELETED:
            long_parts, long_sum = {}, -1
            continue
        attr = entry[11]
        if attr & 0x3F == _LONG_NAME:
            text = (entry[1:11] + entry[14:26] + entry[28:32]).decode("utf-16-le", "replace")
            long_parts[entry[0] & 0x1F] = text.split("\x00", 1)[0]
            long_sum = entry[13]
            continue
        name = _short_name(entry[:11])
        if long_parts and long_sum == _checksum(entry[:11]):
            name = "".join(long_parts[k] for k in sorted(long_parts))
        long_parts, long_sum = {}, -1
        if attr & _VOLUME_LABEL:
            continue
        first = (_u16(entry, 20) << 16) | _u16(entry, 26)
        out.append((name, attr, first, _u32(entry, 28)))
    return out


def _read_clusters(f, lay: Layout, clusters: list[int]) -> bytes:
    parts = []
    for cluster in clusters:
        f.seek(lay.cluster_offset(cluster))
        parts.append(f.read(lay.cluster_bytes))
    return b"".join(parts)


def file_extents(target: Path, start: int, path: PurePosixPath) -> list[tuple[int, int]] | None:
    """(offset in the target, length) of every cluster of the file `path` (names compared
    without case, as FAT does); None when there is no such file."""
    with open(target, "rb") as f:
        lay = layout(f, start)
        if lay.bits == 32:
            here = _read_clusters(f, lay, chain(f, lay, lay.root_cluster))
        else:
            f.seek(lay.start + lay.root_offset)
            here = f.read(lay.root_bytes)
        parts = path.parts
        for depth, part in enumerate(parts):
            match = next((e for e in _entries(here) if e[0].casefold() == part.casefold()), None)
            if match is None:
                return None
            _, attr, first, _size = match
            last = depth == len(parts) - 1
            if last:
                if attr & _DIRECTORY:
                    return None
                clusters = chain(f, lay, first)
                return [(lay.cluster_offset(c), lay.cluster_bytes) for c in clusters]
            if not attr & _DIRECTORY:
                return None
            here = _read_clusters(f, lay, chain(f, lay, first))
    return None


def overwrite(target: Path, extents: list[tuple[int, int]]) -> None:
    """Zeros over each extent, flushed to the device."""
    with open(target, "r+b") as f:
        for offset, length in extents:
            f.seek(offset)
            f.write(bytes(length))
        f.flush()
        os.fsync(f.fileno())
