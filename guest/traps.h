/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Exceptions reported instead of a silent triple fault (traps.S, traps.c). */
#pragma once

#include <stdint.h>

/* Build the IDT once (BSP, before any AP starts). */
void traps_init(void);

/* Load it on the calling CPU (every CPU, the BSP included). */
void traps_load(void);
