// SPDX-License-Identifier: MIT
/* pt_arm_s1.c - the walker instantiated for fmt/arm_s1.h. */
#define PT_FMT arm_s1
#include "fmt/arm_s1.h"
#include "pt_walk.h"
