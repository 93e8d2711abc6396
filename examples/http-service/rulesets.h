/*
 * The rulesets an HTTP decision service serves, and how it swaps them.
 *
 * A `rulesets` is one generation: every rule file found in a directory,
 * loaded together, immutable once built. Requests take a reference to the
 * current generation for as long as they use it; SIGHUP builds a new
 * generation and swaps it in; the old one is freed when its last request
 * lets go. (The data branch's ruleset registry will replace this file.)
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef HTTPD_RULESETS_H
#define HTTPD_RULESETS_H

#include <miaopi.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

typedef struct rulesets rulesets;

/* Load every rule file under @dir: DIR/ *.xml and DIR/ * /ruleset.xml (the
 * layout of the repository's rules/ directory). All or nothing: if any file
 * fails to load, diagnostics go to @diag and nothing is returned.
 * Returns 0 and a new generation with one reference, or a MIAOPI_E* code. */
int rulesets_load(rulesets **out, const char *dir, unsigned long generation,
                  FILE *diag);

rulesets *rulesets_ref(rulesets *set);
void rulesets_unref(rulesets *set);

unsigned long rulesets_generation(const rulesets *set);
size_t rulesets_count(const rulesets *set);
/* Ruleset @i (borrowed from the set) and the file it came from. */
const miaopi_ruleset *rulesets_get(const rulesets *set, size_t i,
                                   const char **file);

/* The candidates for @id (NULL: the only id loaded), newest
 * effective-from first: *first is the index of the first candidate and
 * *n their number. Returns 0; MIAOPI_ENOTFOUND for an unknown id;
 * MIAOPI_EINVAL when @id is NULL and several ids are loaded. */
int rulesets_find(const rulesets *set, const char *id, size_t *first,
                  size_t *n);

/* The current generation, swappable while requests are in flight. */
typedef struct rulesets_slot {
    _Atomic(rulesets *) current;
    /* Held only to make "read the pointer, then take a reference" one
     * step with respect to the swap; see rulesets_acquire. */
    pthread_mutex_t lock;
} rulesets_slot;

void rulesets_slot_init(rulesets_slot *slot, rulesets *initial);
/* A new reference to the current generation; release with
 * rulesets_unref. */
rulesets *rulesets_acquire(rulesets_slot *slot);
/* Install @next (the slot takes its reference) and drop the slot's
 * reference to the previous generation. */
void rulesets_swap(rulesets_slot *slot, rulesets *next);
void rulesets_slot_destroy(rulesets_slot *slot);

#endif
