#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Per part of a process's mapping: which share of its pages were written
since the soft-dirty bits were cleared (pagemap bit 55,
CONFIG_MEM_SOFT_DIRTY), or which share is on a NUMA node (move_pages(2)).

    page-parts.py works
    page-parts.py clear PID
    page-parts.py dirty PID HVA SIZE_MIB N
    page-parts.py node PID HVA SIZE_MIB N NODE
    page-parts.py dirty-blocks PID HVA SIZE_MIB
    page-parts.py wait-node PID HVA BLOCKS NODE PERCENT SECS

works: exit 0 when this kernel tracks soft-dirty (a page of our own, cleared
then written, shows the bit), 1 when not (this machine's own kernel: no
CONFIG_MEM_SOFT_DIRTY; Debian's, in the test host, has it).
clear: write 4 to /proc/PID/clear_refs (clears every soft-dirty bit of PID).
dirty: split [HVA, HVA + SIZE_MIB MiB) into N equal parts and print, one per
line, the percentage of each part's present pages that are soft-dirty.
Under THP the bit is the huge page's, so the grain is 2 MiB.
node: the same parts, the percentage of each part's present pages that
the kernel says are on NODE (move_pages(2) with no target: a query).
dirty-blocks: the 2 MiB blocks of the range with a soft-dirty page, one
"FIRST COUNT" line each (pages from HVA).
wait-node: until PERCENT % of the present pages of the blocks in the file
BLOCKS (every 8th page) are on NODE, query every 0.1 s; then print the wall
clock time (seconds since the epoch), or after SECS seconds the time then.
Python 3 standard library only.
"""
import struct
import sys

PAGE = 4096
PRESENT = 1 << 63
SOFT_DIRTY = 1 << 55


def works():
    import ctypes
    import mmap
    import os

    buf = mmap.mmap(-1, PAGE)
    buf[0:1] = b"x"
    addr = ctypes.addressof(ctypes.c_char.from_buffer(buf))
    with open(f"/proc/{os.getpid()}/clear_refs", "w") as f:
        f.write("4")
    buf[0:1] = b"y"
    with open(f"/proc/{os.getpid()}/pagemap", "rb") as f:
        f.seek(addr // PAGE * 8)
        entry = struct.unpack("<Q", f.read(8))[0]
    return bool(entry & SOFT_DIRTY)


def query_nodes(pid, addrs):
    """The node of each address of process @pid (negative: -errno), by
    move_pages(2) without targets; None when the call itself failed."""
    import ctypes

    numa = ctypes.CDLL("libnuma.so.1", use_errno=True)
    numa.move_pages.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.POINTER(ctypes.c_void_p),
                                ctypes.c_void_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    pages = (ctypes.c_void_p * len(addrs))(*addrs)
    status = (ctypes.c_int * len(addrs))()
    if numa.move_pages(pid, len(addrs), pages, None, status, 0) != 0:
        print(f"move_pages query failed: errno {ctypes.get_errno()}", file=sys.stderr)
        return None
    return list(status)


def share_on(status, node):
    """Percent of the present pages in @status that are on @node."""
    present = [s for s in status if s >= 0]
    return 100 * sum(1 for s in present if s == node) / len(present) if present else 0


def node_parts(pid, hva, size, parts, node):
    per = size // PAGE // parts
    for p in range(parts):
        status = query_nodes(pid, [hva + (p * per + i) * PAGE for i in range(per)])
        if status is None:
            return 1
        print(round(share_on(status, node)))
    return 0


def read_entries(pid, hva, pages):
    with open(f"/proc/{pid}/pagemap", "rb") as f:
        f.seek(hva // PAGE * 8)
        data = f.read(pages * 8)
    return struct.unpack(f"<{len(data) // 8}Q", data)


def dirty_blocks(pid, hva, size):
    block = (2 << 20) // PAGE
    entries = read_entries(pid, hva, size // PAGE)
    for b in range(0, len(entries), block):
        if any(e & PRESENT and e & SOFT_DIRTY for e in entries[b:b + block]):
            print(b, block)
    return 0


def wait_node(pid, hva, blocks, node, percent, secs):
    import time

    runs = [tuple(map(int, line.split())) for line in open(blocks)]
    addrs = [hva + (first + i) * PAGE for first, n in runs for i in range(0, n, 8)]
    t0 = time.monotonic()
    while time.monotonic() - t0 < secs:
        status = query_nodes(pid, addrs)
        if status is not None and share_on(status, node) >= percent:
            break
        time.sleep(0.1)
    print(f"{time.time():.3f}")
    return 0


def main(argv):
    if len(argv) == 2 and argv[1] == "works":
        return 0 if works() else 1
    if len(argv) == 3 and argv[1] == "clear":
        with open(f"/proc/{argv[2]}/clear_refs", "w") as f:
            f.write("4")
        return 0
    if len(argv) == 5 and argv[1] == "dirty-blocks":
        return dirty_blocks(int(argv[2]), int(argv[3], 16), int(argv[4]) << 20)
    if len(argv) == 8 and argv[1] == "wait-node":
        return wait_node(int(argv[2]), int(argv[3], 16), argv[4], int(argv[5]), float(argv[6]),
                         float(argv[7]))
    if len(argv) == 7 and argv[1] == "node":
        return node_parts(int(argv[2]), int(argv[3], 16), int(argv[4]) << 20, int(argv[5]),
                          int(argv[6]))
    if len(argv) != 6 or argv[1] != "dirty":
        print(__doc__, file=sys.stderr)
        return 2
    pid, hva, size, parts = argv[2], int(argv[3], 16), int(argv[4]) << 20, int(argv[5])
    entries = read_entries(pid, hva, size // PAGE)
    per = len(entries) // parts
    for p in range(parts):
        chunk = entries[p * per:(p + 1) * per]
        present = [e for e in chunk if e & PRESENT]
        dirty = sum(1 for e in present if e & SOFT_DIRTY)
        print(round(100 * dirty / len(present)) if present else 0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
