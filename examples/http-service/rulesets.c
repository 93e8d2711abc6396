/* Ruleset generations and the swap slot; see rulesets.h.
 * SPDX-License-Identifier: Apache-2.0 */
#include "rulesets.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct rulesets {
    atomic_ulong refs;
    unsigned long generation;
    size_t n;
    miaopi_ruleset **rs;   /* sorted by id, then newest effective-from */
    char **files;
};

static void print_diag(const miaopi_diagnostic *d, void *payload)
{
    fprintf((FILE *)payload, "%s:%d:%d: %s: %s [%s]\n", d->file, d->line,
            d->column,
            d->severity == MIAOPI_SEVERITY_ERROR ? "error" : "warning",
            d->message, d->id);
}

static void free_set(rulesets *set)
{
    for (size_t i = 0; i < set->n; i++) {
        miaopi_ruleset_unref(set->rs[i]);
        free(set->files[i]);
    }
    free(set->rs);
    free(set->files);
    free(set);
}

static int add_file(rulesets *set, const char *path, FILE *diag)
{
    miaopi_load_options lo = MIAOPI_LOAD_OPTIONS_INIT;
    lo.on_diagnostic = diag ? print_diag : NULL;
    lo.payload = diag;
    miaopi_ruleset **rs = realloc(set->rs, (set->n + 1) * sizeof *rs);
    if (rs)
        set->rs = rs;
    char **files = realloc(set->files, (set->n + 1) * sizeof *files);
    if (files)
        set->files = files;
    char *copy = strdup(path);
    if (!rs || !files || !copy) {
        free(copy);
        return MIAOPI_ENOMEM;
    }
    miaopi_error err;
    int rc = miaopi_ruleset_load_file(&set->rs[set->n], path, &lo, &err);
    if (rc != MIAOPI_OK) {
        if (diag && rc != MIAOPI_ERULES)   /* rule errors were printed */
            fprintf(diag, "%s: %s\n", path, err.message);
        free(copy);
        return rc;
    }
    set->files[set->n++] = copy;
    return MIAOPI_OK;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Sort by id, then by effective-from, newest first ("YYYY-MM-DD" strings
 * order as dates), so a request scans one id's versions newest first. */
static int by_id_then_newest(const void *a, const void *b, const rulesets *s)
{
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    int c = strcmp(miaopi_ruleset_id(s->rs[i]), miaopi_ruleset_id(s->rs[j]));
    if (c == 0)
        c = strcmp(miaopi_ruleset_effective_from(s->rs[j]),
                   miaopi_ruleset_effective_from(s->rs[i]));
    return c;
}

static void sort_set(rulesets *set)
{
    /* Insertion sort: a directory holds a handful of files. */
    for (size_t i = 1; i < set->n; i++) {
        for (size_t j = i; j > 0; j--) {
            size_t a = j - 1, b = j;
            if (by_id_then_newest(&a, &b, set) <= 0)
                break;
            miaopi_ruleset *t = set->rs[a];
            set->rs[a] = set->rs[b];
            set->rs[b] = t;
            char *f = set->files[a];
            set->files[a] = set->files[b];
            set->files[b] = f;
        }
    }
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The rule file under @dir for directory entry @name, or NULL. */
static char *rule_file(const char *dir, const char *name, int *rc)
{
    size_t len = strlen(dir) + strlen(name) + 32;
    char *path = malloc(len);
    if (!path) {
        *rc = MIAOPI_ENOMEM;
        return NULL;
    }
    snprintf(path, len, "%s/%s", dir, name);
    if (ends_with(name, ".xml") && is_file(path))
        return path;
    snprintf(path, len, "%s/%s/ruleset.xml", dir, name);
    if (is_file(path))
        return path;
    free(path);
    return NULL;
}

/* The rule files in @dir, sorted, as a NULL-terminated array (NULL with
 * *rc set on failure). */
static char **list_files(const char *dir, int *rc)
{
    *rc = MIAOPI_OK;
    DIR *dp = opendir(dir);
    if (!dp) {
        *rc = MIAOPI_EIO;
        return NULL;
    }
    size_t n = 0;
    char **names = calloc(1, sizeof *names);
    struct dirent *e = NULL;
    while (names && (e = readdir(dp)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char *path = rule_file(dir, e->d_name, rc);
        if (!path) {
            if (*rc != MIAOPI_OK)
                break;
            continue;
        }
        char **grown = realloc(names, (n + 2) * sizeof *names);
        if (!grown) {
            free(path);
            break;
        }
        names = grown;
        names[n++] = path;
        names[n] = NULL;
    }
    closedir(dp);
    if (!names || *rc != MIAOPI_OK || e != NULL) {
        for (size_t i = 0; names && i < n; i++)
            free(names[i]);
        free(names);
        *rc = MIAOPI_ENOMEM;
        return NULL;
    }
    qsort(names, n, sizeof *names, compare_names);
    return names;
}

int rulesets_load(rulesets **out, const char *dir, unsigned long generation,
                  FILE *diag)
{
    *out = NULL;
    rulesets *set = calloc(1, sizeof *set);
    if (!set)
        return MIAOPI_ENOMEM;
    atomic_init(&set->refs, 1);
    set->generation = generation;
    int rc;
    char **names = list_files(dir, &rc);
    if (!names && diag)
        fprintf(diag, "%s: %s\n", dir, rc == MIAOPI_EIO
                ? "cannot open the rules directory" : "out of memory");
    for (size_t i = 0; names && names[i] && rc == MIAOPI_OK; i++)
        rc = add_file(set, names[i], diag);
    for (size_t i = 0; names && names[i]; i++)
        free(names[i]);
    free(names);
    if (rc == MIAOPI_OK && set->n == 0) {
        if (diag)
            fprintf(diag, "%s: no rule files (*.xml or */ruleset.xml)\n", dir);
        rc = MIAOPI_ENOTFOUND;
    }
    if (rc != MIAOPI_OK) {
        free_set(set);
        return rc;
    }
    sort_set(set);
    *out = set;
    return MIAOPI_OK;
}

rulesets *rulesets_ref(rulesets *set)
{
    if (set)
        atomic_fetch_add_explicit(&set->refs, 1, memory_order_relaxed);
    return set;
}

void rulesets_unref(rulesets *set)
{
    if (set && atomic_fetch_sub_explicit(&set->refs, 1,
                                         memory_order_acq_rel) == 1)
        free_set(set);
}

unsigned long rulesets_generation(const rulesets *set)
{
    return set->generation;
}

size_t rulesets_count(const rulesets *set)
{
    return set->n;
}

const miaopi_ruleset *rulesets_get(const rulesets *set, size_t i,
                                   const char **file)
{
    if (i >= set->n)
        return NULL;
    if (file)
        *file = set->files[i];
    return set->rs[i];
}

int rulesets_find(const rulesets *set, const char *id, size_t *first,
                  size_t *n)
{
    if (!id) {
        /* The set is sorted by id: one id iff first and last agree. */
        if (set->n == 0)
            return MIAOPI_ENOTFOUND;
        if (strcmp(miaopi_ruleset_id(set->rs[0]),
                   miaopi_ruleset_id(set->rs[set->n - 1])) != 0)
            return MIAOPI_EINVAL;
        id = miaopi_ruleset_id(set->rs[0]);
    }
    size_t i = 0;
    while (i < set->n && strcmp(miaopi_ruleset_id(set->rs[i]), id) != 0)
        i++;
    size_t j = i;
    while (j < set->n && strcmp(miaopi_ruleset_id(set->rs[j]), id) == 0)
        j++;
    *first = i;
    *n = j - i;
    return j > i ? MIAOPI_OK : MIAOPI_ENOTFOUND;
}

/* ---- the slot ---- */

void rulesets_slot_init(rulesets_slot *slot, rulesets *initial)
{
    atomic_init(&slot->current, initial);
    pthread_mutex_init(&slot->lock, NULL);
}

/* Reading the pointer and incrementing the count must not be separated by
 * the swapper's final unref, or the reader would revive a freed set. The
 * mutex covers exactly those two steps (a few nanoseconds); evaluation
 * itself runs outside it. RCU or hazard pointers would remove the lock;
 * at a swap per SIGHUP it is not worth their complexity. */
rulesets *rulesets_acquire(rulesets_slot *slot)
{
    pthread_mutex_lock(&slot->lock);
    rulesets *set = rulesets_ref(atomic_load(&slot->current));
    pthread_mutex_unlock(&slot->lock);
    return set;
}

void rulesets_swap(rulesets_slot *slot, rulesets *next)
{
    pthread_mutex_lock(&slot->lock);
    rulesets *old = atomic_exchange(&slot->current, next);
    pthread_mutex_unlock(&slot->lock);
    /* Requests still using the old generation hold their own references;
     * it is freed when the last of them finishes. */
    rulesets_unref(old);
}

void rulesets_slot_destroy(rulesets_slot *slot)
{
    rulesets_unref(atomic_exchange(&slot->current, NULL));
    pthread_mutex_destroy(&slot->lock);
}
