/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Hand-made sysfs trees for the topology and policy tests: files under
 * ROOT/devices/system/node, and removal of the whole tree.
 */
#pragma once

/* Write @contents to ROOT/devices/system/node/@rel, creating directories. */
void ns_test_sysfs_write(const char *root, const char *rel, const char *contents);

/* Remove @path and everything below it. */
void ns_test_sysfs_remove(const char *path);
