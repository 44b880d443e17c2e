/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "numashift/error.h"

G_DEFINE_QUARK(numashift-error-quark, ns_error)
