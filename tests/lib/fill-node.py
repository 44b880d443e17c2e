#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Fill a NUMA node until only a given amount above its reserve stays free.

  numactl --membind=NODE fill-node.py NODE ABOVE_MIB

Allocates and touches anonymous memory 4 MiB at a time, rereading the
node's MemFree between chunks, until at most ABOVE_MIB + 4 MiB is free
above the node's high watermark (the reserve the kernel keeps free, read
from /proc/zoneinfo); then prints "ready HELD_MIB FREE_MIB HIGH_MIB SECS"
and sleeps until killed.  Progress goes to stderr every 5 s.

Why chunks: the numa suite once computed the amount up front (CI,
2026-11-29) and the process was OOM-killed half way, because its own
interpreter, the page cache it read and the other processes of the test
host took node memory after the reading.  Filling against a fresh reading
adapts to whatever else the node holds.

Why relative to the watermark: the next version aimed at 32 MiB free, and
CI timed it out at 60 s (2026-11-30).  With THP on, the kernel reserves
~40 MiB of a 700 MiB node (min_free_kbytes grows for huge pages); every
allocation below the low watermark goes through reclaim, so the last
tens of MiB took 30-50 s, free memory hovering at the reserve.  Above the
high watermark allocations take the fast path: the fill takes seconds.
A move onto the node still runs out of memory, as the caller wants,
because the node has ABOVE_MIB plus what reclaim can free, no more.
"""
import sys
import time

CHUNK_MIB = 4
PAGE_KIB = 4


def free_mib(node):
    with open(f"/sys/devices/system/node/node{node}/meminfo") as f:
        for line in f:
            if "MemFree:" in line:
                return int(line.split()[3]) // 1024
    raise SystemExit(f"fill-node.py: no MemFree for node {node}")


def high_watermark_mib(node):
    """Sum of the node's zones' high watermarks (and any boost), in MiB."""
    pages, in_node = 0, False
    with open("/proc/zoneinfo") as f:
        for line in f:
            words = line.split()
            if line.startswith("Node "):
                in_node = words[1].rstrip(",") == str(node)
            elif in_node and len(words) == 2 and words[0] in ("high", "boost"):
                pages += int(words[1])
    return pages * PAGE_KIB // 1024


def main():
    if len(sys.argv) != 3:
        raise SystemExit("usage: fill-node.py NODE ABOVE_MIB")
    node, above = sys.argv[1], int(sys.argv[2])
    held = []
    start = last = time.monotonic()
    while (free := free_mib(node)) > high_watermark_mib(node) + above + CHUNK_MIB:
        # bytes * n writes every byte: the pages are really allocated.
        held.append(bytearray(b"\x01") * (CHUNK_MIB << 20))
        if time.monotonic() - last >= 5:
            # A slow fill says how far it got, for the test's failure message.
            last = time.monotonic()
            print(f"fill-node.py: {len(held) * CHUNK_MIB} MiB held, {free} MiB free on node "
                  f"{node} (high watermark {high_watermark_mib(node)} MiB) after "
                  f"{last - start:.0f} s", file=sys.stderr, flush=True)
    print("ready", len(held) * CHUNK_MIB, free_mib(node), high_watermark_mib(node),
          f"{time.monotonic() - start:.1f}", flush=True)
    while True:
        time.sleep(3600)


main()
