// SPDX-License-Identifier: MIT
/* pt_vtdss.c - the walker instantiated for fmt/vtdss.h. */
#define PT_FMT vtdss
#include "fmt/vtdss.h"
#include "pt_walk.h"
