/* SPDX-License-Identifier: MIT */
/* Time is passed into the library as monotonic milliseconds; this is the real source. */
#ifndef RUPHIN_CLOCK_H
#define RUPHIN_CLOCK_H

#include <stdint.h>

uint64_t rph_now_ms(void);
/* CLOCK_REALTIME minus CLOCK_MONOTONIC, in ms: wall time = rph_now_ms() + this. */
int64_t rph_wall_offset_ms(void);

#endif
