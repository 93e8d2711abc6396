/*
 * Random bytes for decision ids, drawn from OpenSSL in blocks.
 *
 * One RAND_bytes call costs about as much as the rest of an id (a lock
 * and a DRBG generate), so each decision keeps a pool and draws
 * MIAOPI__IDPOOL_SIZE bytes at a time. The pool's one danger is a copy
 * of it: two holders of the same unused bytes would issue the same ids.
 * fork() makes exactly such a copy, so the pool records the process's
 * fork generation and is discarded when that has changed.
 */
#include "internal.h"

#include <pthread.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

/* Counts the fork()s between this process and the one that loaded the
 * library; a child handler increments it, so a pool drawn before a fork
 * is stale in the child and still good in the parent. The only mutable
 * process-wide state besides libxml2's pthread_once: per-decision state
 * cannot notice a fork on its own, short of a getpid() system call per
 * id. Accessed with __atomic builtins. */
static unsigned long fork_generation;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static bool atfork_registered;

static void after_fork_child(void)
{
    __atomic_add_fetch(&fork_generation, 1, __ATOMIC_RELAXED);
}

static void register_atfork(void)
{
    /* glibc removes a handler registered from a shared object when the
     * object is unloaded, so dlclose() leaves no dangling handler. */
    atfork_registered = pthread_atfork(NULL, NULL, after_fork_child) == 0;
}

void miaopi__idpool_wipe(miaopi__idpool *p)
{
    OPENSSL_cleanse(p->bytes, sizeof(p->bytes));
    p->next = sizeof(p->bytes);
    p->owner = NULL;
}

/* The stale bytes are wiped before the draw, so a failed draw leaves an
 * empty pool, never the old bytes. */
static bool refill(miaopi__idpool *p, unsigned long gen)
{
    miaopi__idpool_wipe(p);
    if (RAND_bytes(p->bytes, (int)sizeof(p->bytes)) != 1) {
        miaopi__idpool_wipe(p);
        return false;
    }
    p->next = 0;
    p->gen = gen;
    p->owner = p;
    return true;
}

int miaopi__idpool_take(miaopi__idpool *p, unsigned char *out, size_t n)
{
    if (n > sizeof(p->bytes))
        return MIAOPI_EINTERNAL;
    pthread_once(&atfork_once, register_atfork);
    /* Without the handler a fork cannot be noticed: draw each id on its
     * own, as if there were no pool. */
    if (!atfork_registered)
        return RAND_bytes(out, (int)n) == 1 ? MIAOPI_OK : MIAOPI_EINTERNAL;
    unsigned long gen = __atomic_load_n(&fork_generation, __ATOMIC_RELAXED);
    /* owner != p: never drawn, wiped, or this pool is a byte copy of
     * another (the copy would repeat the original's ids). */
    if (p->owner != p || p->gen != gen || sizeof(p->bytes) - p->next < n) {
        if (!refill(p, gen))
            return MIAOPI_EINTERNAL;
    }
    memcpy(out, p->bytes + p->next, n);
    /* Consumed bytes are zeroed so that nothing, not even a copy taken
     * later, can hand them out again. */
    memset(p->bytes + p->next, 0, n);
    p->next += n;
    return MIAOPI_OK;
}
