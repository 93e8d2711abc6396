/* The decision pool; see decision_pool.h.
 * SPDX-License-Identifier: Apache-2.0 */
#include "decision_pool.h"

#include <stdlib.h>

void decision_pool_init(decision_pool *pool)
{
    pthread_mutex_init(&pool->lock, NULL);
    pool->free = NULL;
    pool->nfree = pool->cap = 0;
}

miaopi_decision *decision_pool_take(decision_pool *pool)
{
    miaopi_decision *d = NULL;
    pthread_mutex_lock(&pool->lock);
    if (pool->nfree > 0)
        d = pool->free[--pool->nfree];
    pthread_mutex_unlock(&pool->lock);
    if (!d && miaopi_decision_new(&d) != MIAOPI_OK)
        return NULL;
    return d;
}

void decision_pool_give(decision_pool *pool, miaopi_decision *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&pool->lock);
    if (pool->nfree == pool->cap) {
        size_t cap = pool->cap ? pool->cap * 2 : 8;
        miaopi_decision **grown = realloc(pool->free, cap * sizeof *grown);
        if (grown) {
            pool->free = grown;
            pool->cap = cap;
        }
    }
    if (pool->nfree < pool->cap) {
        pool->free[pool->nfree++] = d;
        d = NULL;
    }
    pthread_mutex_unlock(&pool->lock);
    miaopi_decision_free(d);   /* only when the pool could not grow */
}

void decision_pool_destroy(decision_pool *pool)
{
    for (size_t i = 0; i < pool->nfree; i++)
        miaopi_decision_free(pool->free[i]);
    free(pool->free);
    pthread_mutex_destroy(&pool->lock);
}
