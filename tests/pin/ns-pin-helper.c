/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ns-pin-helper PID [MIB]: pin, long term, the memfd-backed memory of
 * process PID (a QEMU whose guest RAM is share=on memfd), as a device
 * would: all of each memfd, or its first MIB MiB.
 *
 * It opens each of PID's memfds through /proc/PID/fd, maps it shared, and
 * registers the mapping as an io_uring fixed buffer: the kernel pins each
 * page with FOLL_LONGTERM, the same kind of pin VFIO takes for a device's
 * DMA.  Such a page cannot migrate: move_pages(2) keeps answering that it
 * is busy, whatever the flags.  This is the closest real long-term pin the
 * multi-NUMA test host can make without an IOMMU to assign a device with
 * (docs/testing.md).
 *
 * Prints "pinned BYTES in N buffers" on stdout once the pins are taken,
 * then holds them until stdin reaches EOF or a signal ends it (the pins go
 * with the process).  Exit: 0, 1 on any failure (one line on stderr),
 * 2 for bad usage.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_BUFFERS 64
#define IOV_MAX_BYTES (1ull << 30) /* io_uring's limit per registered buffer */

int
main(int argc, char **argv)
{
    struct iovec iov[MAX_BUFFERS];
    unsigned n = 0;
    unsigned long long bytes = 0;
    struct io_uring_params params;
    char dir_path[64];
    struct dirent *d;
    DIR *dir;
    char *end = NULL;
    unsigned long long limit = ~0ull; /* bytes pinned of each memfd */
    long pid;
    int ring;

    if (argc < 2 || argc > 3 || (pid = strtol(argv[1], &end, 10)) <= 0 || *end != '\0') {
        fprintf(stderr, "usage: ns-pin-helper PID [MIB]\n");
        return 2;
    }
    if (argc == 3) {
        long mib = strtol(argv[2], &end, 10);

        if (mib <= 0 || *end != '\0') {
            fprintf(stderr, "usage: ns-pin-helper PID [MIB]\n");
            return 2;
        }
        limit = (unsigned long long)mib << 20;
    }
    snprintf(dir_path, sizeof dir_path, "/proc/%ld/fd", pid);
    dir = opendir(dir_path);
    if (dir == NULL) {
        fprintf(stderr, "ns-pin-helper: %s: %s\n", dir_path, strerror(errno));
        return 1;
    }
    while ((d = readdir(dir)) != NULL) {
        char path[320];
        char target[256];
        struct stat st;
        ssize_t len;
        char *p;
        int fd;

        if (d->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir_path, d->d_name);
        len = readlink(path, target, sizeof target - 1);
        if (len <= 0)
            continue;
        target[len] = '\0';
        if (strncmp(target, "/memfd:", 7) != 0)
            continue;
        fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) != 0 || st.st_size == 0) {
            if (fd >= 0)
                close(fd);
            continue;
        }
        p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        close(fd);
        if (p == MAP_FAILED) {
            fprintf(stderr, "ns-pin-helper: mmap %s: %s\n", target, strerror(errno));
            return 1;
        }
        for (off_t off = 0; off < st.st_size && (unsigned long long)off < limit && n < MAX_BUFFERS;
             off += (off_t)IOV_MAX_BYTES) {
            unsigned long long left = (unsigned long long)(st.st_size - off);

            if (left > limit - (unsigned long long)off)
                left = limit - (unsigned long long)off;

            iov[n].iov_base = p + off;
            iov[n].iov_len = left < IOV_MAX_BYTES ? left : IOV_MAX_BYTES;
            bytes += iov[n].iov_len;
            n++;
        }
    }
    closedir(dir);
    if (n == 0) {
        fprintf(stderr, "ns-pin-helper: process %ld has no memfd memory\n", pid);
        return 1;
    }
    memset(&params, 0, sizeof params);
    ring = (int)syscall(__NR_io_uring_setup, 1, &params);
    if (ring < 0) {
        fprintf(stderr, "ns-pin-helper: io_uring_setup: %s\n", strerror(errno));
        return 1;
    }
    if (syscall(__NR_io_uring_register, ring, IORING_REGISTER_BUFFERS, iov, n) != 0) {
        fprintf(stderr, "ns-pin-helper: io_uring_register(IORING_REGISTER_BUFFERS, %u buffers): %s\n",
                n, strerror(errno));
        return 1;
    }
    printf("pinned %llu in %u buffers\n", bytes, n);
    fflush(stdout);
    while (getchar() != EOF)
        ;
    return 0;
}
