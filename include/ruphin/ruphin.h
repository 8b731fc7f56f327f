/* SPDX-License-Identifier: MIT */
/* libruphin: the ruphin hole-punching protocol in C. */
#ifndef RUPHIN_RUPHIN_H
#define RUPHIN_RUPHIN_H

#include "ruphin/addr.h"
#include "ruphin/clock.h"
#include "ruphin/error.h"
#include "ruphin/ev.h"
#include "ruphin/holepuncher.h"
#include "ruphin/passive.h"
#include "ruphin/peer.h"
#include "ruphin/store.h"
#include "ruphin/wire.h"

#endif
