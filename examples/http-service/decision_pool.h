/*
 * A small pool of decision objects.
 *
 * A miaopi_decision is one thread's working state (caches, buffers, regex
 * match data), so two requests must never evaluate into the same one at
 * once. libmicrohttpd's worker threads belong to libmicrohttpd, so rather
 * than one decision per thread each request borrows one from this pool and
 * gives it back. Once warm, the pool holds about as many decisions as
 * there are worker threads, and evaluating into a warm decision does not
 * allocate.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef HTTPD_DECISION_POOL_H
#define HTTPD_DECISION_POOL_H

#include <miaopi.h>

#include <pthread.h>
#include <stddef.h>

typedef struct decision_pool {
    pthread_mutex_t lock;
    miaopi_decision **free;
    size_t nfree, cap;
} decision_pool;

void decision_pool_init(decision_pool *pool);
/* A decision to use (NULL on allocation failure). */
miaopi_decision *decision_pool_take(decision_pool *pool);
/* Give @d back (NULL-safe). Its results are no longer the caller's. */
void decision_pool_give(decision_pool *pool, miaopi_decision *d);
void decision_pool_destroy(decision_pool *pool);

#endif
