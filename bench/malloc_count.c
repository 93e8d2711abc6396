/*
 * A counting allocator for figure (g): the benchmark executable defines
 * malloc and friends, so every call from libmiaopi and from its
 * dependencies (jansson, PCRE2, OpenSSL, libxml2) binds to these through
 * the dynamic linker and is counted before going on to glibc's own
 * allocator (__libc_malloc and friends, which glibc exports for exactly
 * this kind of wrapper). Not built under sanitizers, which bring their own
 * malloc.
 */
#include "malloc_count.h"

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t align, size_t n);
extern void __libc_free(void *p);

void *memalign(size_t align, size_t n);

static atomic_ulong allocs;

unsigned long mc_allocations(void)
{
    return atomic_load_explicit(&allocs, memory_order_relaxed);
}

int mc_available(void)
{
    return 1;
}

void *malloc(size_t n)
{
    atomic_fetch_add_explicit(&allocs, 1, memory_order_relaxed);
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
    atomic_fetch_add_explicit(&allocs, 1, memory_order_relaxed);
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
    atomic_fetch_add_explicit(&allocs, 1, memory_order_relaxed);
    return __libc_realloc(p, n);
}

void free(void *p)
{
    __libc_free(p);
}

void *aligned_alloc(size_t align, size_t n)
{
    atomic_fetch_add_explicit(&allocs, 1, memory_order_relaxed);
    return __libc_memalign(align, n);
}

void *memalign(size_t align, size_t n)
{
    return aligned_alloc(align, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
    void *p = aligned_alloc(align, n);
    if (!p && n)
        return ENOMEM;
    *out = p;
    return 0;
}
