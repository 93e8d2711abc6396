/*
 * The ruleset registry: every rule file of a directory, selected by
 * effective date, reloaded and swapped without a lock on the reading side.
 *
 * The current set is a pointer to an immutable, reference-counted
 * snapshot. A reader marks itself in one of two reader counters (chosen by
 * the low bit of an epoch counter), loads the pointer, takes a reference
 * to the ruleset it needs (or to the snapshot itself, for
 * miaopi_registry_snapshot_take) and leaves; it never blocks. A reload
 * builds a new snapshot, swaps the pointer, then twice flips the epoch and
 * waits for the counter new readers no longer use to drain, before
 * dropping the registry's reference to the old snapshot. Readers of the
 * old snapshot hold it only for a few instructions; their evaluations keep
 * the ruleset alive by its own reference count, and a caller's snapshot
 * keeps the set alive by the snapshot's.
 *
 * The grace period is what makes taking a reference safe: without it a
 * reader could load the pointer, be preempted, and increment the count of
 * a snapshot the reload had already released.
 */
#include "model.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const json_t *miaopi__case_root(const miaopi_case *c);

/* The public miaopi_registry_snapshot is the registry's own set: handing
 * it out costs one reference, and it cannot differ from what the registry
 * selected in. */
typedef struct miaopi_registry_snapshot {
    miaopi_ruleset **rs; /* sorted by id, then effective-from */
    size_t n;
    uint64_t generation; /* 1 for the first load, +1 per reload */
    int refcount;        /* atomic; the registry holds one while current */
} snapshot;

struct miaopi_registry {
    char *dir;
    miaopi_load_options opts;
    snapshot *cur;          /* accessed with __atomic builtins */
    unsigned epoch;         /* accessed with __atomic builtins */
    unsigned readers[2];    /* accessed with __atomic builtins */
    pthread_mutex_t reload; /* serialises writers only */
};

static void snapshot_free(snapshot *s)
{
    for (size_t i = 0; i < s->n; i++)
        miaopi_ruleset_unref(s->rs[i]);
    miaopi__free(NULL, s->rs);
    miaopi__free(NULL, s);
}

miaopi_registry_snapshot *
miaopi_registry_snapshot_ref(miaopi_registry_snapshot *snap)
{
    if (snap)
        __atomic_add_fetch(&snap->refcount, 1, __ATOMIC_RELAXED);
    return snap;
}

void miaopi_registry_snapshot_unref(miaopi_registry_snapshot *snap)
{
    if (snap && __atomic_sub_fetch(&snap->refcount, 1, __ATOMIC_ACQ_REL) == 0)
        snapshot_free(snap);
}

/* ---- loading a directory ---- */

static void report(const miaopi_load_options *o, miaopi__diag_id id,
                   const char *file, const char *msg)
{
    if (!o->on_diagnostic)
        return;
    miaopi_diagnostic d = {miaopi__diag_severity(id),
                           miaopi__diag_id_string(id), msg, file, 0, 0, -1};
    o->on_diagnostic(&d, o->payload);
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_rs(const void *a, const void *b)
{
    const miaopi_ruleset *x = *(miaopi_ruleset *const *)a;
    const miaopi_ruleset *y = *(miaopi_ruleset *const *)b;
    int c = strcmp(x->id, y->id);
    if (c)
        return c;
    return x->from_day < y->from_day ? -1 : x->from_day > y->from_day;
}

/* The *.xml names in dir, sorted, so loading order and diagnostics are
 * the same on every machine. */
static int list_dir(const char *dir, char ***out, size_t *n,
                    miaopi_error *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return miaopi__error_set(err, MIAOPI_EIO, "%s: %s", dir,
                                 strerror(errno));
    char **names = NULL;
    size_t cap = 0;
    *n = 0;
    struct dirent *e;
    int rc = MIAOPI_OK;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".xml") != 0 ||
            e->d_name[0] == '.')
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nn = miaopi__realloc(NULL, names, cap * sizeof(*nn));
            if (!nn) {
                rc = MIAOPI_ENOMEM;
                break;
            }
            names = nn;
        }
        if (!(names[*n] = miaopi__strdup(NULL, e->d_name))) {
            rc = MIAOPI_ENOMEM;
            break;
        }
        (*n)++;
    }
    closedir(d);
    if (rc == MIAOPI_OK && *n)
        qsort(names, *n, sizeof(*names), cmp_name);
    *out = names;
    return rc == MIAOPI_OK ? rc
                           : miaopi__error_set(err, rc, "out of memory");
}

/* Overlaps of one id's ranges are errors; gaps are warnings. */
static int check_ranges(const snapshot *s, const miaopi_load_options *o,
                        miaopi_error *err)
{
    int rc = MIAOPI_OK;
    char msg[512];
    for (size_t i = 1; i < s->n; i++) {
        const miaopi_ruleset *a = s->rs[i - 1], *b = s->rs[i];
        if (strcmp(a->id, b->id) != 0)
            continue;
        if (b->from_day < a->until_day) {
            snprintf(msg, sizeof(msg),
                     "%s %s (from %s) overlaps %s %s in %s (from %s until "
                     "%s): two versions would be in force on the same day",
                     b->id, b->version, b->effective_from, a->id, a->version,
                     a->file, a->effective_from,
                     a->effective_until[0] ? a->effective_until : "open end");
            report(o, MIAOPI__D_REGISTRY_OVERLAP, b->file, msg);
            if (rc == MIAOPI_OK) {
                rc = miaopi__error_set(err, MIAOPI_ERULES, "%s", msg);
                if (err) {
                    snprintf(err->id, sizeof(err->id), "%s",
                             miaopi__diag_id_string(
                                 MIAOPI__D_REGISTRY_OVERLAP));
                    snprintf(err->file, sizeof(err->file), "%s", b->file);
                }
            }
        } else if (b->from_day > a->until_day) {
            snprintf(msg, sizeof(msg),
                     "%s has no version in force from %s until %s (between "
                     "%s and %s)",
                     a->id, a->effective_until, b->effective_from,
                     a->version, b->version);
            report(o, MIAOPI__D_REGISTRY_GAP, b->file, msg);
        }
    }
    return rc;
}

static int load_all(const char *dir, const miaopi_load_options *o,
                    snapshot **out, miaopi_error *err)
{
    char **names = NULL;
    size_t n = 0;
    *out = NULL;
    int rc = list_dir(dir, &names, &n, err);
    /* An empty directory is a wrong path or a deployment caught half
     * way (old files removed, new ones not yet written): serving nothing
     * would fail every decision, so it is refused and a reload keeps the
     * set in service. */
    if (rc == MIAOPI_OK && n == 0) {
        miaopi__free(NULL, names);
        return miaopi__error_set(err, MIAOPI_ENOTFOUND,
                                 "no rule files (*.xml) in %s", dir);
    }
    snapshot *s = rc == MIAOPI_OK ? miaopi__calloc(NULL, 1, sizeof(*s)) : NULL;
    if (s)
        s->refcount = 1;
    if (rc == MIAOPI_OK && s)
        s->rs = miaopi__calloc(NULL, n ? n : 1, sizeof(*s->rs));
    if (rc == MIAOPI_OK && (!s || !s->rs))
        rc = miaopi__error_set(err, MIAOPI_ENOMEM, "out of memory");
    int first = MIAOPI_OK;
    miaopi_error e1;
    for (size_t i = 0; rc == MIAOPI_OK && i < n; i++) {
        size_t len = strlen(dir) + strlen(names[i]) + 2;
        char *path = miaopi__malloc(NULL, len);
        if (!path) {
            rc = miaopi__error_set(err, MIAOPI_ENOMEM, "out of memory");
            break;
        }
        snprintf(path, len, "%s/%s", dir, names[i]);
        int r = miaopi_ruleset_load_file(&s->rs[s->n], path, o, &e1);
        miaopi__free(NULL, path);
        if (r == MIAOPI_OK) {
            s->n++;
        } else if (first == MIAOPI_OK) {
            /* Keep going: every file's diagnostics are reported. */
            first = r;
            if (err)
                *err = e1;
        }
    }
    for (size_t i = 0; i < n; i++)
        miaopi__free(NULL, names[i]);
    miaopi__free(NULL, names);
    if (rc == MIAOPI_OK && s->n)
        qsort(s->rs, s->n, sizeof(*s->rs), cmp_rs);
    if (rc == MIAOPI_OK) {
        int r = check_ranges(s, o, first == MIAOPI_OK ? err : NULL);
        rc = first != MIAOPI_OK ? first : r;
    }
    if (rc != MIAOPI_OK) {
        miaopi_registry_snapshot_unref(s);
        return rc;
    }
    *out = s;
    return MIAOPI_OK;
}

int miaopi_registry_load(miaopi_registry **out, const char *dir,
                         const miaopi_load_options *opts, miaopi_error *err)
{
    miaopi__error_clear(err);
    if (!out || !dir)
        return miaopi__error_set(err, MIAOPI_EINVAL, "invalid argument");
    *out = NULL;
    miaopi_registry *reg = miaopi__calloc(NULL, 1, sizeof(*reg));
    if (!reg || !(reg->dir = miaopi__strdup(NULL, dir))) {
        miaopi__free(NULL, reg);
        return miaopi__error_set(err, MIAOPI_ENOMEM, "out of memory");
    }
    miaopi_load_options dflt = MIAOPI_LOAD_OPTIONS_INIT;
    reg->opts = opts && opts->size >= sizeof(*opts) ? *opts : dflt;
    pthread_mutex_init(&reg->reload, NULL);
    int rc = load_all(dir, &reg->opts, &reg->cur, err);
    if (rc == MIAOPI_OK)
        reg->cur->generation = 1;
    if (rc != MIAOPI_OK) {
        miaopi_registry_free(reg);
        return rc;
    }
    *out = reg;
    return MIAOPI_OK;
}

int miaopi_registry_reload(miaopi_registry *reg, miaopi_error *err)
{
    miaopi__error_clear(err);
    if (!reg)
        return miaopi__error_set(err, MIAOPI_EINVAL, "invalid argument");
    pthread_mutex_lock(&reg->reload);
    snapshot *next;
    int rc = load_all(reg->dir, &reg->opts, &next, err);
    if (rc == MIAOPI_OK) {
        /* Only writers change cur, and they hold the mutex. */
        next->generation =
            __atomic_load_n(&reg->cur, __ATOMIC_SEQ_CST)->generation + 1;
        snapshot *old = __atomic_exchange_n(&reg->cur, next, __ATOMIC_SEQ_CST);
        /* A reader that loaded old had registered in one of the two
         * counters before the swap. Each flip steers new readers to the
         * other counter, so each counter drains in turn; once both have
         * been seen at zero after the swap, no reader can hold old. */
        for (int k = 0; k < 2; k++) {
            unsigned e =
                __atomic_fetch_add(&reg->epoch, 1, __ATOMIC_SEQ_CST) & 1;
            while (__atomic_load_n(&reg->readers[e], __ATOMIC_SEQ_CST) != 0)
                sched_yield();
        }
        miaopi_registry_snapshot_unref(old);
    }
    pthread_mutex_unlock(&reg->reload);
    return rc;
}

void miaopi_registry_free(miaopi_registry *reg)
{
    if (!reg)
        return;
    miaopi_registry_snapshot_unref(reg->cur);
    pthread_mutex_destroy(&reg->reload);
    miaopi__free(NULL, reg->dir);
    miaopi__free(NULL, reg);
}

/* ---- reading ---- */

static const snapshot *enter(miaopi_registry *reg, unsigned *e)
{
    *e = __atomic_load_n(&reg->epoch, __ATOMIC_SEQ_CST) & 1;
    __atomic_add_fetch(&reg->readers[*e], 1, __ATOMIC_SEQ_CST);
    return __atomic_load_n(&reg->cur, __ATOMIC_SEQ_CST);
}

static void leave(miaopi_registry *reg, unsigned e)
{
    __atomic_sub_fetch(&reg->readers[e], 1, __ATOMIC_SEQ_CST);
}

size_t miaopi_registry_count(miaopi_registry *reg)
{
    if (!reg)
        return 0;
    unsigned e;
    size_t n = enter(reg, &e)->n;
    leave(reg, e);
    return n;
}

miaopi_ruleset *miaopi_registry_get(miaopi_registry *reg, size_t index)
{
    if (!reg)
        return NULL;
    unsigned e;
    const snapshot *s = enter(reg, &e);
    miaopi_ruleset *rs = index < s->n ? miaopi_ruleset_ref(s->rs[index])
                                      : NULL;
    leave(reg, e);
    return rs;
}

uint64_t miaopi_registry_generation(miaopi_registry *reg)
{
    if (!reg)
        return 0;
    unsigned e;
    uint64_t g = enter(reg, &e)->generation;
    leave(reg, e);
    return g;
}

miaopi_registry_snapshot *miaopi_registry_snapshot_take(miaopi_registry *reg)
{
    if (!reg)
        return NULL;
    unsigned e;
    /* The cast drops the const enter() puts on the set for plain readers:
     * the reference count is the one mutable member. */
    snapshot *s = miaopi_registry_snapshot_ref((snapshot *)enter(reg, &e));
    leave(reg, e);
    return s;
}

uint64_t
miaopi_registry_snapshot_generation(const miaopi_registry_snapshot *snap)
{
    return snap ? snap->generation : 0;
}

size_t miaopi_registry_snapshot_count(const miaopi_registry_snapshot *snap)
{
    return snap ? snap->n : 0;
}

miaopi_ruleset *
miaopi_registry_snapshot_get(const miaopi_registry_snapshot *snap,
                             size_t index)
{
    return snap && index < snap->n ? miaopi_ruleset_ref(snap->rs[index])
                                   : NULL;
}

static const miaopi_ruleset *in_force(const snapshot *s, const char *id,
                                      int32_t day, bool *id_seen)
{
    for (size_t i = 0; i < s->n; i++) {
        const miaopi_ruleset *rs = s->rs[i];
        if (strcmp(rs->id, id) != 0)
            continue;
        *id_seen = true;
        if (rs->from_day <= day && day < rs->until_day)
            return rs;
    }
    return NULL;
}

static int context_date(const miaopi_case *c, const char *name,
                        int32_t *day, miaopi_error *err)
{
    const json_t *ctx = json_object_get(miaopi__case_root(c), "context");
    const json_t *v = json_object_get(ctx, name);
    if (!json_is_string(v) ||
        !miaopi__date_parse(json_string_value(v), json_string_length(v),
                            day))
        return miaopi__error_set(err, MIAOPI_ECASE,
                                 "the case has no valid context.%s "
                                 "(\"YYYY-MM-DD\")",
                                 name);
    return MIAOPI_OK;
}

/* No id was named and the set holds several: say which, so the caller
 * can name one. The set is sorted by id, so each id is listed once. */
static int ambiguous(const snapshot *s, miaopi_error *err)
{
    char ids[200];
    size_t len = 0;
    ids[0] = '\0';
    for (size_t i = 0; i < s->n && len < sizeof(ids); i++) {
        if (i && strcmp(s->rs[i]->id, s->rs[i - 1]->id) == 0)
            continue;
        int w = snprintf(ids + len, sizeof(ids) - len, "%s%s",
                         len ? ", " : "", s->rs[i]->id);
        len = w < 0 ? sizeof(ids) : len + (size_t)w;
    }
    if (len >= sizeof(ids))
        memcpy(ids + sizeof(ids) - 6, ", ...", 6);
    return miaopi__error_set(err, MIAOPI_EAMBIGUOUS,
                             "the registry holds several ruleset ids (%s); "
                             "name one",
                             ids);
}

/* Pick within one snapshot: one the caller holds, or the current one
 * between enter() and leave(). */
static int select_in(const snapshot *s, const char *id, const miaopi_case *c,
                     miaopi_ruleset **out, miaopi_error *err)
{
    if (!id) {
        for (size_t i = 1; i < s->n; i++)
            if (strcmp(s->rs[i]->id, s->rs[0]->id) != 0)
                return ambiguous(s, err);
        if (!s->n)
            return miaopi__error_set(err, MIAOPI_ENOTFOUND,
                                     "the registry is empty");
        id = s->rs[0]->id;
    }
    int32_t day;
    int rc = context_date(c, "decision_date", &day, err);
    if (rc != MIAOPI_OK)
        return rc;
    bool seen = false;
    const miaopi_ruleset *rs = in_force(s, id, day, &seen);
    if (rs && rs->select_by_filing) {
        /* Transitional provision: the version in force when the
         * application was filed decides it. */
        int32_t filed;
        rc = context_date(c, "filing_date", &filed, err);
        if (rc != MIAOPI_OK)
            return rc;
        if (filed < rs->from_day)
            rs = in_force(s, id, filed, &seen);
        day = filed;
    }
    if (!seen)
        return miaopi__error_set(err, MIAOPI_ENOTFOUND,
                                 "the registry has no ruleset '%s'", id);
    if (!rs) {
        char date[11];
        miaopi__date_format(day, date);
        return miaopi__error_set(err, MIAOPI_ENOTINFORCE,
                                 "no version of %s is in force on %s", id,
                                 date);
    }
    *out = miaopi_ruleset_ref((miaopi_ruleset *)rs);
    return MIAOPI_OK;
}

int miaopi_registry_select(miaopi_ruleset **out, miaopi_registry *reg,
                           const char *id, const miaopi_case *c,
                           miaopi_error *err)
{
    miaopi__error_clear(err);
    if (!out || !reg || !c)
        return miaopi__error_set(err, MIAOPI_EINVAL, "invalid argument");
    *out = NULL;
    unsigned e;
    const snapshot *s = enter(reg, &e);
    int rc = select_in(s, id, c, out, err);
    leave(reg, e);
    return rc;
}

int miaopi_registry_snapshot_select(miaopi_ruleset **out,
                                    const miaopi_registry_snapshot *snap,
                                    const char *id, const miaopi_case *c,
                                    miaopi_error *err)
{
    miaopi__error_clear(err);
    if (!out || !snap || !c)
        return miaopi__error_set(err, MIAOPI_EINVAL, "invalid argument");
    *out = NULL;
    return select_in(snap, id, c, out, err);
}

int miaopi_registry_evaluate(miaopi_decision *out, miaopi_registry *reg,
                             const char *id, const miaopi_case *c,
                             const miaopi_eval_options *opts,
                             miaopi_error *err)
{
    miaopi_ruleset *rs = NULL;
    int rc = miaopi_registry_select(&rs, reg, id, c, err);
    if (rc != MIAOPI_OK) {
        if (out)
            miaopi_evaluate(out, NULL, NULL, NULL, NULL); /* reset */
        return rc;
    }
    miaopi_eval_options o = MIAOPI_EVAL_OPTIONS_INIT;
    if (opts && opts->size > sizeof(size_t))
        memcpy((char *)&o + sizeof(size_t), (const char *)opts + sizeof(size_t),
               (opts->size < sizeof(o) ? opts->size : sizeof(o)) -
                   sizeof(size_t));
    o.ignore_effective_dates = 1; /* the registry chose by date already */
    rc = miaopi_evaluate(out, rs, c, &o, err);
    miaopi_ruleset_unref(rs);
    return rc;
}
