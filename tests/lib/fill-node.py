#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Fill a NUMA node until only a given amount of it stays free.

  numactl --membind=NODE fill-node.py NODE LEAVE_MIB

Allocates and touches anonymous memory 4 MiB at a time, rereading the
node's MemFree between chunks, until at most LEAVE_MIB + 4 MiB is free;
then prints "ready HELD_MIB FREE_MIB" and sleeps until killed.

Why not one allocation of (free - LEAVE) MiB: the numa suite once computed
that amount up front (CI, 2026-11-29) and the process was OOM-killed half
way, because its own interpreter, the page cache it read and the other
processes of the test host took node memory after the reading.  Filling in
chunks against a fresh reading adapts to whatever else the node holds.
"""
import sys
import time

CHUNK_MIB = 4


def free_mib(node):
    with open(f"/sys/devices/system/node/node{node}/meminfo") as f:
        for line in f:
            if "MemFree:" in line:
                return int(line.split()[3]) // 1024
    raise SystemExit(f"fill-node.py: no MemFree for node {node}")


def main():
    if len(sys.argv) != 3:
        raise SystemExit("usage: fill-node.py NODE LEAVE_MIB")
    node, leave = sys.argv[1], int(sys.argv[2])
    held = []
    while free_mib(node) > leave + CHUNK_MIB:
        # bytes * n writes every byte: the pages are really allocated.
        held.append(bytearray(b"\x01") * (CHUNK_MIB << 20))
    print("ready", len(held) * CHUNK_MIB, free_mib(node), flush=True)
    while True:
        time.sleep(3600)


main()
