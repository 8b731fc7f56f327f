// SPDX-License-Identifier: MIT
// The real monotonic clock; everything else in the library takes time as a parameter.
#include "ruphin/clock.h"

#include <time.h>

uint64_t rph_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int64_t rph_wall_offset_ms(void)
{
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    int64_t wall = (int64_t)rt.tv_sec * 1000 + rt.tv_nsec / 1000000;
    return wall - (int64_t)rph_now_ms();
}
