/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Hot pages first: which parts of a plan the guest writes (hot-sample.h). */
#include "numashift/hot-sample.h"

#include <errno.h>

#include "numashift/radix.h"

/* Pagemap entries read at once. */
#define RUN 512u

/* Whether any page of [hva, hva + bytes) is present and soft-dirty; the
 * count of such pages is added to @pages. */
static gboolean
block_written(const NsKernel *k, NsKernelPages *reader, guint64 hva, guint64 bytes,
              guint64 *pages)
{
    guint64 entries[RUN];
    guint64 first = hva >> NS_GUEST_PAGE_SHIFT, n = bytes >> NS_GUEST_PAGE_SHIFT, written = 0;

    for (guint64 done = 0; done < n;) {
        gssize got = k->pagemap_read(reader, first + done, entries, (gsize)MIN(n - done, RUN));

        if (got <= 0)
            break;
        for (gssize i = 0; i < got; i++)
            if ((entries[i] & NS_PAGEMAP_PRESENT) && (entries[i] & NS_PAGEMAP_SOFT_DIRTY))
                written++;
        done += (guint64)got;
    }
    *pages += written;
    return written > 0;
}

/* Append [gpa, gpa + size) to @plan for @node, merged with the last step
 * when they touch and go to the same node. */
static void
append_part(NsPlan *plan, guint64 gpa, guint64 size, guint node)
{
    if (plan->steps->len > 0) {
        NsPlanStep *last = &g_array_index(plan->steps, NsPlanStep, plan->steps->len - 1);

        if (last->node == node && last->gpa + last->size == gpa) {
            last->size += size;
            return;
        }
    }
    NsPlanStep st = { .gpa = gpa, .size = size, .node = node };

    g_array_append_val(plan->steps, st);
}

/*
 * The host address of @gpa in @map, and the bytes of RAM from there on in
 * its range; 0 when @gpa is not RAM, with @ret_room the bytes to the next
 * range (G_MAXUINT64: none).
 */
static guint64
hva_of(const NsMemMap *map, guint64 gpa, guint64 *ret_room)
{
    *ret_room = G_MAXUINT64;
    for (guint i = 0; i < map->ranges->len; i++) {
        const NsMemRange *r = &g_array_index(map->ranges, NsMemRange, i);

        if (gpa >= r->gpa && gpa < r->gpa + r->size) {
            *ret_room = r->gpa + r->size - gpa;
            return r->hva + (gpa - r->gpa);
        }
        if (r->gpa > gpa)
            *ret_room = MIN(*ret_room, r->gpa - gpa);
    }
    return 0;
}

NsPlan *
ns_hot_sample(const NsKernel *kernel, const NsMemMap *map, const NsPlan *plan,
              gint64 sample_us, gboolean (*cancelled)(gpointer data), gpointer data,
              guint64 *ret_hot_pages, int *ret_errno)
{
    NsKernel k;
    NsKernelPages *reader;
    int rc;

    ns_kernel_resolve(kernel, &k);
    *ret_hot_pages = 0;
    *ret_errno = 0;
    reader = k.pages_open != NULL ? k.pages_open(k.data, map->pid) : NULL;
    if (reader == NULL) {
        *ret_errno = ENOTSUP;
        return NULL;
    }
    rc = k.clear_soft_dirty(k.data, map->pid);
    if (rc < 0) {
        k.pages_close(reader);
        *ret_errno = -rc;
        return NULL;
    }
    for (gint64 waited = 0; waited < sample_us && !(cancelled != NULL && cancelled(data));) {
        gint64 step = MIN(sample_us - waited, (gint64)10000);

        g_usleep((gulong)step);
        waited += step;
    }

    NsPlan *hot = ns_plan_new();

    for (guint s = 0; s < plan->steps->len; s++) {
        const NsPlanStep *st = &g_array_index(plan->steps, NsPlanStep, s);
        guint64 end = st->gpa + st->size;

        for (guint64 gpa = st->gpa; gpa < end;) {
            /* To the next block boundary, the step's end, or the range's
             * (or the hole's) end. */
            guint64 room = 0, hva = hva_of(map, gpa, &room);
            guint64 block_end = MIN((gpa / NS_HOT_BLOCK_BYTES + 1) * NS_HOT_BLOCK_BYTES, end);
            guint64 len = block_end - gpa;

            len = MIN(len, room);
            /* A hole (the ISA hole below 1 MiB): on to the RAM after it. */
            if (hva != 0 && block_written(&k, reader, hva, len, ret_hot_pages))
                append_part(hot, gpa, len, st->node);
            gpa += len;
        }
    }
    k.pages_close(reader);
    return hot;
}

NsPlan *
ns_plan_subtract(const NsPlan *plan, const NsPlan *hot)
{
    NsPlan *rest = ns_plan_new();
    guint h = 0;

    for (guint s = 0; s < plan->steps->len; s++) {
        const NsPlanStep *st = &g_array_index(plan->steps, NsPlanStep, s);
        guint64 at = st->gpa, end = st->gpa + st->size;

        while (h < hot->steps->len &&
               g_array_index(hot->steps, NsPlanStep, h).gpa +
                       g_array_index(hot->steps, NsPlanStep, h).size <= at)
            h++;
        for (guint j = h; j < hot->steps->len && at < end; j++) {
            const NsPlanStep *x = &g_array_index(hot->steps, NsPlanStep, j);

            if (x->gpa >= end)
                break;
            if (x->gpa > at)
                append_part(rest, at, x->gpa - at, st->node);
            at = MAX(at, MIN(x->gpa + x->size, end));
        }
        if (at < end)
            append_part(rest, at, end - at, st->node);
    }
    return rest;
}
