/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A migration job's report (NsEngineReport) as JSON: one encoding for
 * `numashift migrate --json` and for numashiftd's job descriptions.
 */
#pragma once

#include <json-glib/json-glib.h>

#include "numashift/engine.h"

G_BEGIN_DECLS

/*
 * @r as a new JSON object: outcome (its name), every counter, the failed
 * pages per errno (by strerror name, only those that happened), and the
 * KVM counter deltas when @r has them.
 * Context: any thread; no locks.
 */
JsonNode *ns_engine_report_to_json(const NsEngineReport *r);

G_END_DECLS
