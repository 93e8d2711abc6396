/* Allocation counting for the benchmarks (see malloc_count.c). */
#ifndef MIAOPI_BENCH_MALLOC_COUNT_H
#define MIAOPI_BENCH_MALLOC_COUNT_H

/* Heap allocations (malloc, calloc, realloc, aligned) so far. */
unsigned long mc_allocations(void);
/* 1 when counting is compiled in. */
int mc_available(void);

#endif
