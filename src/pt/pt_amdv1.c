// SPDX-License-Identifier: MIT
/* pt_amdv1.c - the walker instantiated for fmt/amdv1.h. */
#define PT_FMT amdv1
#include "fmt/amdv1.h"
#include "pt_walk.h"
