/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target: the libvirt hook's handling of its command line and
 * stdin (proto/hook.c), without the socket.
 *
 * Input: up to four NUL-terminated arguments (DOMAIN OPERATION
 * SUBOPERATION EXTRA), then the bytes of stdin.  Invariants: a UUID found
 * in the XML is a valid lower-case UUID; every call the hook acts on
 * yields a request line that numashiftd's parser accepts, with the same
 * domain, uuid and operation; stdin read from a file keeps exactly
 * min(size, cap) bytes.
 */
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <glib.h>

#include "numashift/control.h"
#include "numashift/error.h"
#include "numashift/hook.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Feed @xml through a file descriptor, as stdin, with a cap of @cap bytes. */
static void
check_read_input(const char *xml, gsize len, gsize cap)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *kept = NULL;
    gsize kept_len = 0;
    int fd = memfd_create("fuzz-hook-stdin", MFD_CLOEXEC);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(write(fd, xml, len), ==, (ssize_t)len);
    g_assert_cmpint(lseek(fd, 0, SEEK_SET), ==, 0);
    kept = ns_hook_read_input(fd, cap, g_get_monotonic_time() + 10 * G_USEC_PER_SEC, &kept_len,
                              &error);
    close(fd);
    g_assert_no_error(error);
    g_assert_cmpuint(kept_len, ==, MIN(len, cap));
    g_assert_true(memcmp(kept, xml, kept_len) == 0);
    g_assert_cmpint(kept[kept_len], ==, '\0');
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GError) error = NULL;
    g_autoptr(NsHookCall) call = NULL;
    g_autoptr(NsControlRequest) request = NULL;
    g_autofree char *uuid = NULL;
    g_autofree char *line = NULL;
    gsize at = 0;

    g_ptr_array_add(args, g_strdup("numashift"));
    while (args->len < 5) {
        const uint8_t *nul = memchr(data + at, '\0', size - at);

        if (nul == NULL)
            break;
        g_ptr_array_add(args, g_strndup((const char *)data + at, (gsize)(nul - (data + at))));
        at = (gsize)(nul - data) + 1;
    }
    g_ptr_array_add(args, NULL);

    call = ns_hook_parse_args((int)args->len - 1, (char *const *)args->pdata, &error);
    if (call == NULL && error != NULL) {
        g_assert_error(error, NS_ERROR, NS_ERROR_INVALID_INPUT);
        g_assert_null(strchr(error->message, '\n'));
    }
    uuid = ns_hook_uuid_from_xml((const char *)data + at, size - at);
    if (uuid != NULL) {
        g_autofree char *lower = g_ascii_strdown(uuid, -1);

        g_assert_true(g_uuid_string_is_valid(uuid));
        g_assert_cmpstr(uuid, ==, lower);
    }
    check_read_input((const char *)data + at, size - at, size > 0 ? data[0] : 0);
    if (call == NULL)
        return 0;

    g_clear_error(&error);
    line = ns_hook_request_line(call, uuid, &error);
    g_assert_no_error(error);
    request = ns_control_request_parse(line, strlen(line), &error);
    g_assert_no_error(error);
    g_assert_cmpint(request->op, ==, NS_CONTROL_OP_HOOK);
    g_assert_cmpstr(request->domain, ==, call->domain);
    g_assert_cmpstr(request->uuid, ==, uuid);
    g_assert_cmpstr(request->operation, ==, call->operation);
    g_assert_cmpstr(request->suboperation, ==, call->suboperation);
    return 0;
}
