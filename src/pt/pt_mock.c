// SPDX-License-Identifier: MIT
/* pt_mock.c - the walker instantiated for fmt/mock.h. */
#define PT_FMT mock
#include "fmt/mock.h"
#include "pt_walk.h"
