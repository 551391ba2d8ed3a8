// The cap on the Python heap (c/vm/heap.c).
#pragma once
#include <stddef.h>

// Bytes the Python heap may grow to in total: the host's --heap-max (pg_init).
extern size_t pg_heap_limit;
