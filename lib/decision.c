/*
 * Evaluating a case into a decision, and the decision's accessors.
 *
 * The decision object owns all per-evaluation working state (slot cache,
 * quantifier variables, string arena, PCRE2 match data, rendered
 * messages), so an embedder that keeps one decision per thread evaluates
 * without touching the heap once the buffers have grown.
 */
#include "model.h"
#include "authoring.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

const json_t *miaopi__case_root(const miaopi_case *c);
int miaopi__case_wrap(miaopi_case **out, json_t *root);
json_t *miaopi__decision_inputs(const miaopi_decision *d, const miaopi_case *c);

typedef struct result {
    miaopi_rule_status status;
    int effect;
    mp_why why;
    const mp_node *where;
    const char *unknown_reason;
    const char *unknown_path;
    const char *message[MP_LANG_COUNT];
} result;

struct miaopi_decision {
    miaopi_allocator alloc;
    const miaopi_allocator *al; /* &alloc, or NULL for malloc */
    miaopi_ruleset *rs;
    bool valid;
    miaopi_outcome outcome;
    char date[11];
    result *results;
    size_t cap_results;
    size_t *reasons;      /* rule indexes; SIZE_MAX = no evidence */
    size_t nreasons;
    size_t cap_reasons;
    mp_eval ev;
    miaopi__arena arena;
    miaopi__buf text;     /* rendering scratch, reused */
    miaopi__buf scratch;
    /* Masked values already rendered in this evaluation: both languages
     * of a message show the same classified fields. Keyed by the value's
     * bytes (address and length: the same bytes for the whole
     * evaluation) and class; the masked text is kept in `masked`. */
    struct {
        const char *p;
        size_t len;
        miaopi__pii pii;
        size_t off, n;
    } mask_memo[8];
    size_t nmask_memo;
    miaopi__buf masked;
    char id[64];          /* decision id; "" until given or made */
    bool spot_check;
    double spot_rate;
    miaopi_decision *shadow; /* candidate's decision, kept for reuse */
    bool has_shadow;      /* the last evaluation had a shadow ruleset */
    bool shadow_ok;       /* ... and the candidate decided */
    bool diverged;
    mp_aux *aux;          /* traces and expressions (authoring.c), or NULL */
    /* Random bytes for ids, last: 512 bytes that most evaluations never
     * touch stay out of the way of the fields above. */
    miaopi__idpool idpool;
};

int miaopi_decision_new_with(miaopi_decision **out,
                             const miaopi_allocator *allocator)
{
    if (!out)
        return MIAOPI_EINVAL;
    *out = NULL;
    miaopi_allocator alloc;
    const miaopi_allocator *al;
    if (!miaopi__allocator_copy(&alloc, allocator, &al))
        return MIAOPI_EINVAL;
    miaopi_decision *d = miaopi__calloc(al, 1, sizeof(*d));
    if (!d)
        return MIAOPI_ENOMEM;
    d->alloc = alloc;
    d->al = al ? &d->alloc : NULL;
    d->outcome = MIAOPI_ESCALATE;
    miaopi__arena_init(&d->arena, d->al);
    miaopi__buf_init_al(&d->text, d->al);
    miaopi__buf_init_al(&d->scratch, d->al);
    miaopi__buf_init_al(&d->masked, d->al);
    d->ev.arena = &d->arena;
    /* PCRE2's match data comes from the decision's allocator too. */
    d->ev.gctx = pcre2_general_context_create(
        miaopi__pcre2_malloc, miaopi__pcre2_free, (void *)d->al);
    if (!d->ev.gctx) {
        miaopi__free(al, d);
        return MIAOPI_ENOMEM;
    }
    *out = d;
    return MIAOPI_OK;
}

int miaopi_decision_new(miaopi_decision **out)
{
    return miaopi_decision_new_with(out, NULL);
}

void miaopi_decision_free(miaopi_decision *d)
{
    if (!d)
        return;
    if (d->ev.md)
        pcre2_match_data_free(d->ev.md);
    pcre2_general_context_free(d->ev.gctx);
    miaopi__free(d->al, d->ev.slots);
    miaopi__free(d->al, d->ev.vars);
    miaopi__free(d->al, d->ev.src);
    json_decref(d->ev.fetched);
    miaopi__free(d->al, d->results);
    miaopi__free(d->al, d->reasons);
    miaopi__arena_free(&d->arena);
    miaopi__buf_free(&d->text);
    miaopi__buf_free(&d->scratch);
    miaopi__buf_free(&d->masked);
    miaopi_decision_free(d->shadow);
    miaopi__aux_free(d->aux);
    miaopi_ruleset_unref(d->rs);
    /* Unused pool bytes are future ids: which decisions will be spot
     * checked must not be readable from freed memory. */
    miaopi__idpool_wipe(&d->idpool);
    miaopi_allocator alloc = d->alloc;
    miaopi__free(d->al ? &alloc : NULL, d);
}

static bool grow(const miaopi_allocator *al, void **p, size_t *cap,
                 size_t want, size_t size)
{
    if (*cap >= want)
        return true;
    if (want > SIZE_MAX / size)
        return false;
    void *n = miaopi__realloc(al, *p, (want ? want : 1) * size);
    if (!n)
        return false;
    *p = n;
    *cap = want;
    return true;
}

/* Make the working state fit rs. Allocates only when rs is bigger than
 * anything this decision has seen. */
static int prepare(miaopi_decision *d, const miaopi_ruleset *rs)
{
    if (d->rs != rs) {
        if (d->ev.md) {
            pcre2_match_data_free(d->ev.md);
            d->ev.md = NULL;
        }
        miaopi_ruleset_unref(d->rs);
        d->rs = miaopi_ruleset_ref((miaopi_ruleset *)rs);
    }
    size_t nslots = (size_t)rs->nslots;
    size_t old = d->ev.cap_slots;
    if (!grow(d->al, (void **)&d->ev.slots, &d->ev.cap_slots, nslots,
              sizeof(mp_slot)))
        return MIAOPI_ENOMEM;
    if (d->ev.cap_slots > old)
        memset(d->ev.slots + old, 0, (d->ev.cap_slots - old) * sizeof(mp_slot));
    size_t old_src = d->ev.cap_src;
    if (!grow(d->al, (void **)&d->ev.src, &d->ev.cap_src, rs->nsources,
              sizeof(mp_src_state)))
        return MIAOPI_ENOMEM;
    if (d->ev.cap_src > old_src)
        memset(d->ev.src + old_src, 0,
               (d->ev.cap_src - old_src) * sizeof(mp_src_state));
    /* Reasons: one per rule plus "no evidence". Grown, never shrunk, so a
     * warm decision does not reallocate on every evaluation. */
    if (!grow(d->al, (void **)&d->ev.vars, &d->ev.cap_vars,
              (size_t)rs->max_vars, sizeof(mp_value)) ||
        !grow(d->al, (void **)&d->results, &d->cap_results, rs->nrules,
              sizeof(result)) ||
        !grow(d->al, (void **)&d->reasons, &d->cap_reasons, rs->nrules + 1,
              sizeof(size_t)))
        return MIAOPI_ENOMEM;
    /* A new generation invalidates every cached slot without a sweep. */
    if (++d->ev.gen == 0) {
        memset(d->ev.slots, 0, d->ev.cap_slots * sizeof(mp_slot));
        memset(d->ev.src, 0, d->ev.cap_src * sizeof(mp_src_state));
        d->ev.app_bound = d->ev.ctx_bound = 0;
        d->ev.srcs_walked = 0;
        d->ev.cnid_gen = 0;
        d->ev.gen = 1;
    }
    /* The previous case's member table may be freed by now: each entry
     * point sets the table of its own case (read_case, begin_expr), and
     * one that did not would walk the tree rather than read freed
     * memory. */
    d->ev.flat = NULL;
    /* Records fetched for the previous case are dropped. */
    if (d->ev.fetched)
        json_object_clear(d->ev.fetched);
    d->ev.fetch_calls = 0;
    miaopi__arena_reset(&d->arena);
    d->ev.rs = rs;
    d->ev.nomem = false;
    d->ev.max_steps = 10000000u; /* callers with options override it */
    mp_eval_reset_budget(&d->ev);
    return MIAOPI_OK;
}

/* ---- unknown reasons ---- */

static const char *source_label(const mp_source *s)
{
    return s->title && s->title[0] ? s->title : s->name;
}

/* Concatenate NULL-terminated string arguments into the arena. The
 * unknown reasons and fallback messages are plain concatenations, and
 * vsnprintf cost more than the rest of rendering them. */
static const char *arena_cat(miaopi_decision *d, ...)
{
    va_list ap;
    size_t n = 0;
    va_start(ap, d);
    for (const char *s; (s = va_arg(ap, const char *)) != NULL;)
        n += strlen(s);
    va_end(ap);
    char *out = miaopi__arena_alloc(&d->arena, n + 1);
    if (!out) {
        d->ev.nomem = true; /* the evaluation fails with MIAOPI_ENOMEM */
        return "";
    }
    char *p = out;
    va_start(ap, d);
    for (const char *s; (s = va_arg(ap, const char *)) != NULL;) {
        size_t k = strlen(s);
        memcpy(p, s, k);
        p += k;
    }
    va_end(ap);
    *p = '\0';
    return out;
}

static const char *node_path(const mp_node *n)
{
    if (!n)
        return "";
    if ((n->op == MP_OP_PATH || n->op == MP_OP_FIELD) && n->text)
        return n->text;
    return "";
}

/* English, for reviewers and logs. */
static const char *why_en(miaopi_decision *d, mp_why why, const mp_node *n)
{
    const char *path = node_path(n);
    switch (why) {
    case MP_WHY_UNAVAILABLE:
        return arena_cat(d, "source ", n && n->source ? n->source->name : "?",
                         " is unavailable", (char *)NULL);
    case MP_WHY_NOT_FOUND:
        return arena_cat(d, "source ", n && n->source ? n->source->name : "?",
                         " has no record for the applicant", (char *)NULL);
    case MP_WHY_STALE:
        return arena_cat(d, "the record from source ",
                         n && n->source ? n->source->name : "?",
                         " is older than its maximum age", (char *)NULL);
    case MP_WHY_MISSING:
        return arena_cat(d, *path ? path : "a value", " is missing",
                         (char *)NULL);
    case MP_WHY_TYPE:
        return arena_cat(d, *path ? path : "a value",
                         " has the wrong type or format", (char *)NULL);
    case MP_WHY_NO_KEY:
        return arena_cat(d, "table ", n && n->table ? n->table->name : "?",
                         " has no row for the key", (char *)NULL);
    case MP_WHY_INVALID:
        return arena_cat(d, n && n->fn ? n->fn->name : "a function",
                         "() got a value outside its domain", (char *)NULL);
    default:
        return mp_why_text(why);
    }
}

/* Chinese, for the citizen. */
static const char *why_zh(miaopi_decision *d, const result *r)
{
    const mp_node *n = r->where;
    switch (r->why) {
    case MP_WHY_UNAVAILABLE:
        return arena_cat(d, n && n->source ? source_label(n->source) : "数据",
                         "暂时无法获取", (char *)NULL);
    case MP_WHY_NOT_FOUND:
        return arena_cat(d, n && n->source ? source_label(n->source) : "数据",
                         "中没有申请人的记录", (char *)NULL);
    case MP_WHY_STALE:
        return arena_cat(d, n && n->source ? source_label(n->source) : "数据",
                         "的数据已超过有效时限", (char *)NULL);
    case MP_WHY_MISSING:
        if (n && n->field && n->field->title)
            return arena_cat(d, "缺少“", n->field->title, "”信息",
                             (char *)NULL);
        return "缺少所需信息";
    case MP_WHY_TYPE:
        return "所需信息格式不正确";
    case MP_WHY_NO_KEY:
        return "没有对应的标准";
    case MP_WHY_INVALID:
        return "所需信息不符合要求";
    case MP_WHY_REGEX_LIMIT:
    case MP_WHY_LIMIT:
        return "核验超出处理限制";
    case MP_WHY_OVERFLOW:
        return "计算结果超出范围";
    default:
        return "系统内部错误";
    }
}

/* ---- message rendering ---- */

/* mp_value_format of a classified string, remembered for the rest of
 * the evaluation. */
static void format_masked(miaopi_decision *d, const mp_value *v,
                          const mp_template_part *p, miaopi__buf *b)
{
    for (size_t i = 0; i < d->nmask_memo; i++)
        if (d->mask_memo[i].p == v->u.s.p &&
            d->mask_memo[i].len == v->u.s.len &&
            d->mask_memo[i].pii == p->pii) {
            mp_buf_add(b, d->masked.data + d->mask_memo[i].off,
                       d->mask_memo[i].n);
            return;
        }
    size_t start = b->len;
    mp_value_format(v, &p->expr->type, p->pii, b, &d->scratch);
    if (b->failed || d->nmask_memo == sizeof(d->mask_memo) /
                                           sizeof(d->mask_memo[0]))
        return;
    /* Not kept if the copy cannot grow: the next use masks again. */
    size_t off = d->masked.len;
    mp_buf_add(&d->masked, b->data + start, b->len - start);
    if (d->masked.failed) {
        d->masked.failed = false;
        d->masked.len = off;
        return;
    }
    d->mask_memo[d->nmask_memo].p = v->u.s.p;
    d->mask_memo[d->nmask_memo].len = v->u.s.len;
    d->mask_memo[d->nmask_memo].pii = p->pii;
    d->mask_memo[d->nmask_memo].off = off;
    d->mask_memo[d->nmask_memo].n = b->len - start;
    d->nmask_memo++;
}

static const char *render_template(miaopi_decision *d, const mp_template *t)
{
    miaopi__buf *b = &d->text;
    b->len = 0;
    b->failed = false;
    for (size_t i = 0; i < t->nparts; i++) {
        const mp_template_part *p = &t->parts[i];
        if (p->text) {
            mp_buf_add(b, p->text, p->len);
            continue;
        }
        mp_value v;
        mp_eval_node(&d->ev, p->expr, &v);
        if (MP_IS_UNKNOWN(&v))
            miaopi__buf_adds(b, "?");
        else if (p->pii != MIAOPI__PII_NONE && v.kind == MP_T_STRING)
            format_masked(d, &v, p, b);
        else
            mp_value_format(&v, &p->expr->type, p->pii, b, &d->scratch);
    }
    const char *s = b->failed ? NULL
                              : miaopi__arena_strndup(&d->arena,
                                                      miaopi__buf_cstr(b),
                                                      b->len);
    if (!s)
        d->ev.nomem = true;
    return s;
}

static void render(miaopi_decision *d, size_t i)
{
    const mp_rule *rule = &d->rs->rules[i];
    result *r = &d->results[i];
    for (int l = 0; l < MP_LANG_COUNT; l++) {
        const char *title = miaopi__pick_lang(rule->title, l);
        const char *msg = NULL;
        if (r->status == MIAOPI_RULE_UNKNOWN) {
            bool rej = r->effect == MIAOPI_REJECT;
            if (l == MP_LANG_ZH)
                msg = arena_cat(d, "“", title, "”无法自动核验：",
                                why_zh(d, r), "。",
                                rej ? "不予批准。" : "已转人工审核。",
                                (char *)NULL);
            else
                msg = arena_cat(d, "\"", title,
                                "\" could not be verified automatically: ",
                                r->unknown_reason, ". ",
                                rej ? "Not approved."
                                    : "Referred for manual review.",
                                (char *)NULL);
        } else {
            const mp_template *t = rule->message[l].present
                                       ? &rule->message[l]
                                       : &rule->message[1 - l];
            if (t->present)
                msg = render_template(d, t);
            else
                msg = arena_cat(d, l == MP_LANG_ZH ? "未通过：" : "Not met: ",
                                title, (char *)NULL);
        }
        r->message[l] = msg ? msg : "";
    }
}

/* ---- evaluation ---- */

static void eval_rule(miaopi_decision *d, size_t i)
{
    const mp_rule *rule = &d->rs->rules[i];
    result *r = &d->results[i];
    memset(r, 0, sizeof(*r));
    r->unknown_reason = "";
    r->unknown_path = "";
    mp_value v;
    if (rule->when) {
        mp_eval_node(&d->ev, rule->when, &v);
        if (!MP_IS_UNKNOWN(&v) && !v.u.b) {
            r->status = MIAOPI_RULE_NOT_APPLICABLE;
            return;
        }
    }
    if (!rule->when || !MP_IS_UNKNOWN(&v))
        mp_eval_node(&d->ev, rule->require, &v);
    if (d->ev.nomem && !MP_IS_UNKNOWN(&v))
        mp_value_unknown(&v, MP_WHY_NOMEM, NULL);
    if (MP_IS_UNKNOWN(&v)) {
        r->status = MIAOPI_RULE_UNKNOWN;
        r->effect = rule->on_unknown;
        r->why = v.why;
        r->where = v.where;
        r->unknown_reason = why_en(d, v.why, v.where);
        r->unknown_path = node_path(v.where);
    } else if (v.u.b) {
        r->status = MIAOPI_RULE_PASS;
    } else {
        r->status = MIAOPI_RULE_FAIL;
        r->effect = rule->on_fail;
    }
}

/* "WHAT ARG" as a case error; a helper keeps the messages below short. */
static int case_error(miaopi_error *err, const char *what, const char *arg)
{
    return miaopi__error_set(err, MIAOPI_ECASE, "%s%s%s", what,
                             arg ? " " : "", arg ? arg : "");
}

/* The decision date and required application fields. */
static int read_context_time(miaopi_decision *d, miaopi_error *err)
{
    /* The freshness reference: context.decision_time when given, else the
     * last instant of the decision date in China Standard Time (UTC+8),
     * the conservative choice when only the date is known. */
    const json_t *t = json_object_getn(d->ev.context, "decision_time", 13);
    d->ev.ref_instant = (int64_t)d->ev.decision_date * 86400 + 86400 -
                        8 * 3600;
    if (t && !json_is_null(t) &&
        (!json_is_string(t) ||
         !miaopi__instant_parse(json_string_value(t), json_string_length(t),
                                &d->ev.ref_instant)))
        return case_error(err, "context.decision_time is not an RFC 3339 "
                               "timestamp with an offset",
                          NULL);
    const json_t *dl = json_object_getn(d->ev.context, "deadline", 8);
    d->ev.deadline = json_is_string(dl) ? json_string_value(dl) : "";
    return MIAOPI_OK;
}

/* The member named k (len bytes) of obj into *m (type JSON_NULL when
 * absent), from the case's member table, or looking at most `near`
 * members into obj (a few loads each) before a hashed lookup. */
static void member_near(const mp_flat *flat, const json_t *obj,
                        const char *k, size_t len, size_t near, mp_member *m)
{
    const mp_flatobj *fo = mp_flat_find(flat, obj);
    if (fo) {
        for (size_t i = 0; i < fo->n; i++)
            if (fo->m[i].key_len == len &&
                memcmp(mp_member_key(flat, &fo->m[i]), k, len) == 0) {
                *m = fo->m[i];
                return;
            }
        mp_member_of_json(NULL, m);
        return;
    }
    json_t *o = (json_t *)obj;
    void *it = json_object_iter(o);
    for (size_t i = 0; it && i < near; it = json_object_iter_next(o, it), i++)
        if (json_object_iter_key_len(it) == len &&
            memcmp(json_object_iter_key(it), k, len) == 0) {
            mp_member_of_json(json_object_iter_value(it), m);
            return;
        }
    mp_member_of_json(it ? json_object_getn(o, k, len) : NULL, m);
}

/* Is a declared member absent or null? After binding, from its slot
 * (binding converts null to MP_WHY_MISSING, and only null). */
static bool slot_absent(const mp_eval *ev, const mp_field *f)
{
    const mp_slot *s = &ev->slots[f->slot];
    return s->jgen != ev->gen ||
           (s->v.kind == MP_T_NONE && s->v.why == MP_WHY_MISSING);
}

/* Where the root member named k goes: application, context or sources. */
static inline const json_t **root_part(mp_eval *ev, const char *k, size_t len)
{
    if (len == 11 && memcmp(k, "application", 11) == 0)
        return &ev->application;
    if (len == 7 && memcmp(k, "context", 7) == 0)
        return &ev->context;
    if (len == 7 && memcmp(k, "sources", 7) == 0)
        return &ev->sources;
    return NULL;
}

static int read_case(miaopi_decision *d, const miaopi_case *c,
                     const miaopi_eval_options *opts, bool prefill,
                     miaopi_error *err)
{
    const miaopi_ruleset *rs = d->rs;
    mp_eval *ev = &d->ev;
    const json_t *root = miaopi__case_root(c);
    ev->flat = miaopi__case_flat(c);
    if (ev->flat) {
        /* The evaluation reads most of the table and its pool: asking for
         * all of it now overlaps the cache misses of a case evaluated
         * cold instead of taking them one after another. */
        const char *t = (const char *)ev->flat;
        for (uint32_t o = 64; o < ev->flat->size; o += 64)
            __builtin_prefetch(t + o);
        for (uint32_t o = 0; o < ev->flat->pool_size; o += 64)
            __builtin_prefetch(ev->flat->pool + o);
    }
    /* One walk over the root's members instead of three lookups. */
    ev->application = ev->context = ev->sources = NULL;
    const mp_flatobj *fo = mp_flat_find(ev->flat, root);
    if (fo) {
        for (size_t i = 0; i < fo->n; i++) {
            const mp_member *m = &fo->m[i];
            const json_t **dst = root_part(ev, mp_member_key(ev->flat, m),
                                           m->key_len);
            /* From the table, an object; anything else (null: absent) is
             * read in the tree. */
            if (dst)
                *dst = mp_member_json(m)
                           ? mp_member_json(m)
                           : json_object_getn(root, mp_member_key(ev->flat, m),
                                              m->key_len);
        }
    } else {
        json_t *r = (json_t *)root;
        for (void *it = json_object_iter(r); it;
             it = json_object_iter_next(r, it)) {
            const json_t **dst = root_part(ev, json_object_iter_key(it),
                                           json_object_iter_key_len(it));
            if (dst)
                *dst = json_object_iter_value(it);
        }
    }
    /* The application's and context's members are bound to their slots
     * now: the required-field checks below and the rules read them
     * there. */
    /* An object in the member table is an object: asking jansson would
     * read its node, a cache miss on a case evaluated cold. */
    bool app_idx = rs->application.index &&
                   (mp_flat_find(ev->flat, ev->application) ||
                    json_is_object(ev->application));
    /* decision_date is not in the context's index: it is read once, here
     * (and the evaluation takes it from ev->decision_date). */
    bool ctx_idx = rs->context.index &&
                   (mp_flat_find(ev->flat, ev->context) ||
                    json_is_object(ev->context));
    if (app_idx) {
        mp_bind_object(ev, ev->application, &rs->application);
        ev->app_bound = ev->gen;
    }
    if (ctx_idx) {
        mp_bind_object(ev, ev->context, &rs->context);
        ev->ctx_bound = ev->gen;
    }
    /* decision_date is usually among the first members of a small
     * context: a short walk finds it for less than a hashed lookup. */
    mp_member dd;
    member_near(ev->flat, ev->context, "decision_date", 13, 4, &dd);
    if (dd.type != JSON_STRING)
        return case_error(err, "the case has no context.decision_date "
                               "(\"YYYY-MM-DD\"); the decision date comes "
                               "from the case, never the clock",
                          NULL);
    if (!miaopi__date_parse(dd.u.s.p, dd.u.s.len, &d->ev.decision_date))
        return case_error(err,
                          "context.decision_date is not a valid YYYY-MM-DD "
                          "date:",
                          dd.u.s.p);
    /* A date that parses is exactly "YYYY-MM-DD" with a year from 0001 to
     * 9999, which is what formatting it would give back. */
    memcpy(d->date, dd.u.s.p, 10);
    d->date[10] = '\0';
    d->ev.resolvers = opts->resolvers;
    /* The decision time and deadline matter only for freshness and for
     * resolvers; most evaluations need neither, and skip the lookups. */
    int rc = MIAOPI_OK;
    d->ev.deadline = "";
    if (rs->any_max_age || opts->resolvers)
        rc = read_context_time(d, err);
    if (rc != MIAOPI_OK || prefill)
        return rc;
    if (!opts->ignore_effective_dates &&
        (d->ev.decision_date < rs->from_day ||
         d->ev.decision_date >= rs->until_day))
        return miaopi__error_set(
            err, MIAOPI_ENOTINFORCE,
            "ruleset %s %s is not in force on %s (effective from %s%s%s)",
            rs->id, rs->version, d->date, rs->effective_from,
            rs->effective_until[0] ? " until " : "", rs->effective_until);
    for (size_t i = 0; i < rs->application.nfields; i++) {
        const mp_field *f = &rs->application.fields[i];
        if (!f->required)
            continue;
        bool absent;
        if (app_idx) {
            absent = slot_absent(ev, f);
        } else {
            const json_t *v = json_object_getn(ev->application, f->name,
                                                f->name_len);
            absent = !v || json_is_null(v);
        }
        if (absent)
            return case_error(err, "the application lacks the required "
                                   "field",
                              f->name);
    }
    for (size_t i = 1; i < rs->context.nfields; i++) {
        const mp_field *f = &rs->context.fields[i];
        if (!f->required)
            continue;
        bool absent;
        if (ctx_idx) {
            absent = slot_absent(ev, f);
        } else {
            const json_t *v = json_object_getn(ev->context, f->name,
                                                f->name_len);
            absent = !v || json_is_null(v);
        }
        if (absent)
            return case_error(err, "the context lacks the required field",
                              f->name);
    }
    return MIAOPI_OK;
}

static void combine(miaopi_decision *d)
{
    bool reject = false, escalate = false, passed = false;
    d->nreasons = 0;
    for (size_t i = 0; i < d->rs->nrules; i++) {
        const result *r = &d->results[i];
        if (r->status == MIAOPI_RULE_PASS)
            passed = true;
        if (r->effect == MIAOPI_REJECT)
            reject = true;
        else if (r->effect == MIAOPI_ESCALATE)
            escalate = true;
        if (r->effect)
            d->reasons[d->nreasons++] = i;
    }
    if (reject) {
        d->outcome = MIAOPI_REJECT;
    } else if (escalate) {
        d->outcome = MIAOPI_ESCALATE;
    } else if (!passed) {
        /* Every rule was not applicable: nothing positive was shown, so
         * nothing may be approved. */
        d->outcome = MIAOPI_ESCALATE;
        d->reasons[d->nreasons++] = SIZE_MAX;
    } else {
        d->outcome = MIAOPI_APPROVE;
    }
}

/* ---- decision ids, spot checks, shadow mode ---- */

static int make_id(miaopi_decision *d)
{
    unsigned char b[16];
    /* From the decision's pool: one RAND_bytes call per 32 ids. */
    if (miaopi__idpool_take(&d->idpool, b, sizeof(b)) != MIAOPI_OK)
        return MIAOPI_EINTERNAL;
    b[6] = (unsigned char)((b[6] & 0x0F) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3F) | 0x80); /* RFC 4122 variant */
    /* 8-4-4-4-12 hex digits, as "%02x" would write them (snprintf was
     * a quarter of logging's own cost, less the hash). */
    static const char hex[] = "0123456789abcdef";
    char *p = d->id;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        *p++ = hex[b[i] >> 4];
        *p++ = hex[b[i] & 15];
    }
    *p = '\0';
    return MIAOPI_OK;
}

/* Selection depends only on the id, so a replay that passes the logged id
 * selects the same decisions. */
static int spot_check(miaopi_decision *d, double rate)
{
    d->spot_rate = rate > 0 ? (rate < 1 ? rate : 1) : 0;
    if (d->outcome != MIAOPI_APPROVE || d->spot_rate <= 0)
        return MIAOPI_OK;
    if (!d->id[0] && make_id(d) != MIAOPI_OK)
        return MIAOPI_EINTERNAL;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (!EVP_Digest(d->id, strlen(d->id), md, &n, EVP_sha256(), NULL))
        return MIAOPI_EINTERNAL;
    uint64_t x = 0;
    for (int i = 0; i < 8; i++)
        x = (x << 8) | md[i];
    /* x / 2^64 < rate, computed without floating-point rounding at 1. */
    d->spot_check = d->spot_rate >= 1 ||
                    (double)x < d->spot_rate * 18446744073709551616.0;
    return MIAOPI_OK;
}

static const result *find_result(const miaopi_decision *d, const char *id)
{
    for (size_t i = 0; i < d->rs->nrules; i++)
        if (strcmp(d->rs->rules[i].id, id) == 0)
            return &d->results[i];
    return NULL;
}

static int run_shadow(miaopi_decision *d, const miaopi_eval_options *opts,
                      const miaopi_case *c)
{
    d->has_shadow = true;
    /* The shadow decision shares the live one's allocator. */
    if (!d->shadow &&
        miaopi_decision_new_with(&d->shadow, d->al) != MIAOPI_OK)
        return MIAOPI_ENOMEM;
    /* A candidate is usually not in force yet: ignore its dates. */
    miaopi_eval_options so = *opts;
    so.shadow = NULL;
    so.decision_id = NULL;
    so.spot_check_rate = 0;
    so.ignore_effective_dates = 1;
    /* The candidate sees exactly the records the live decision used:
     * resolvers are not called a second time. */
    so.resolvers = NULL;
    json_t *inputs = miaopi__decision_inputs(d, c);
    miaopi_case *ic = NULL;
    if (!inputs || miaopi__case_wrap(&ic, inputs) != MIAOPI_OK)
        return MIAOPI_ENOMEM;
    int rc = miaopi_evaluate(d->shadow, opts->shadow, ic, &so, NULL);
    miaopi_case_free(ic);
    if (rc == MIAOPI_ENOMEM)
        return rc;
    d->shadow_ok = rc == MIAOPI_OK;
    if (!d->shadow_ok) {
        d->diverged = true;
        return MIAOPI_OK;
    }
    const miaopi_decision *s = d->shadow;
    d->diverged = s->outcome != d->outcome;
    for (size_t i = 0; !d->diverged && i < d->rs->nrules; i++) {
        const result *o = find_result(s, d->rs->rules[i].id);
        d->diverged = o && o->status != d->results[i].status;
    }
    return MIAOPI_OK;
}

const char *miaopi_decision_id(const miaopi_decision *d)
{
    if (!d || !d->valid)
        return "";
    /* The id is made lazily so that evaluations that are never logged or
     * spot-checked do not pay for randomness. The decision is per-thread
     * state, so filling the cache through a const pointer is safe. */
    miaopi_decision *m = (miaopi_decision *)d;
    if (!m->id[0] && make_id(m) != MIAOPI_OK)
        return "";
    return m->id;
}

int miaopi_decision_spot_check(const miaopi_decision *d)
{
    return d && d->valid && d->spot_check;
}

double miaopi__decision_spot_rate(const miaopi_decision *d);
double miaopi__decision_spot_rate(const miaopi_decision *d)
{
    return d ? d->spot_rate : 0;
}

const miaopi_decision *miaopi_decision_shadow(const miaopi_decision *d)
{
    return d && d->valid && d->has_shadow && d->shadow_ok ? d->shadow : NULL;
}

int miaopi__decision_has_shadow(const miaopi_decision *d);
int miaopi__decision_has_shadow(const miaopi_decision *d)
{
    return d && d->valid && d->has_shadow;
}

int miaopi_decision_diverged(const miaopi_decision *d)
{
    return d && d->valid && d->diverged;
}

int miaopi__decision_begin(miaopi_decision *d, const miaopi_ruleset *rs,
                           const miaopi_case *c,
                           const miaopi_eval_options *opts, bool prefill,
                           miaopi_error *err);

/* Options structs only grow by appending: a caller built against an
 * older header passes a smaller size, and the members it knows are used,
 * the rest default. */
static const miaopi_eval_options *eval_options(const miaopi_eval_options *o,
                                               miaopi_eval_options *known)
{
    miaopi_eval_options dflt = MIAOPI_EVAL_OPTIONS_INIT;
    *known = dflt;
    if (o && o->size > sizeof(size_t))
        memcpy((char *)known + sizeof(size_t), (const char *)o + sizeof(size_t),
               (o->size < sizeof(*o) ? o->size : sizeof(*o)) -
                   sizeof(size_t));
    return known;
}

mp_eval *miaopi__decision_eval(miaopi_decision *d);
json_t *miaopi__sources_json(const miaopi_decision *d);

/* Prepare d for rs and read c's context, as an evaluation does, without
 * the checks that pre-filling must skip (required fields, effective
 * dates). Used by miaopi_prefill. */
int miaopi__decision_begin(miaopi_decision *d, const miaopi_ruleset *rs,
                           const miaopi_case *c,
                           const miaopi_eval_options *opts, bool prefill,
                           miaopi_error *err)
{
    miaopi_eval_options known;
    opts = eval_options(opts, &known);
    int rc = prepare(d, rs);
    if (rc != MIAOPI_OK)
        return miaopi__error_set(err, rc, "out of memory");
    d->ev.max_steps = opts->max_steps ? opts->max_steps : 10000000u;
    mp_eval_reset_budget(&d->ev);
    return read_case(d, c, opts, prefill, err);
}

mp_eval *miaopi__decision_eval(miaopi_decision *d)
{
    return &d->ev;
}

int miaopi_evaluate(miaopi_decision *out, const miaopi_ruleset *rs,
                    const miaopi_case *c, const miaopi_eval_options *opts,
                    miaopi_error *err)
{
    miaopi__error_clear(err);
    if (!out)
        return miaopi__error_set(err, MIAOPI_EINVAL, "invalid argument");
    out->valid = false;
    out->outcome = MIAOPI_ESCALATE;
    out->nreasons = 0;
    out->id[0] = '\0';
    out->spot_check = false;
    out->spot_rate = 0;
    out->has_shadow = out->shadow_ok = out->diverged = false;
    if (!rs || !c)
        return miaopi__error_set(err, MIAOPI_EINVAL, "invalid argument");
    miaopi_eval_options known;
    opts = eval_options(opts, &known);
    int rc = prepare(out, rs);
    if (rc != MIAOPI_OK)
        return miaopi__error_set(err, rc, "out of memory");
    out->ev.max_steps = opts->max_steps ? opts->max_steps : 10000000u;
    mp_eval_reset_budget(&out->ev);
    rc = read_case(out, c, opts, false, err);
    if (rc != MIAOPI_OK)
        return rc;
    for (size_t i = 0; i < rs->nrules; i++)
        eval_rule(out, i);
    combine(out);
    /* Messages get a budget of their own: a spent budget must not blank
     * the explanation of a decision. */
    mp_eval_reset_budget(&out->ev);
    out->nmask_memo = 0;
    out->masked.len = 0;
    for (size_t k = 0; k < out->nreasons; k++)
        if (out->reasons[k] != SIZE_MAX)
            render(out, out->reasons[k]);
    /* Tracing costs this one test when it is off. */
    if (out->aux && miaopi__aux_tracing(out->aux))
        miaopi__trace_all(out->aux, out, &out->ev, rs);
    if (out->ev.nomem) {
        out->outcome = MIAOPI_ESCALATE;
        return miaopi__error_set(err, MIAOPI_ENOMEM, "out of memory");
    }
    if (opts->decision_id)
        snprintf(out->id, sizeof(out->id), "%s", opts->decision_id);
    out->valid = true;
    rc = spot_check(out, opts->spot_check_rate);
    if (rc == MIAOPI_OK && opts->shadow)
        rc = run_shadow(out, opts, c);
    if (rc != MIAOPI_OK) {
        out->valid = false;
        out->outcome = MIAOPI_ESCALATE;
        return miaopi__error_set(err, rc, "out of memory");
    }
    return MIAOPI_OK;
}

/* ---- accessors ---- */

miaopi_outcome miaopi_decision_outcome(const miaopi_decision *d)
{
    return d && d->valid ? d->outcome : MIAOPI_ESCALATE;
}

const char *miaopi_outcome_name(miaopi_outcome o)
{
    switch (o) {
    case MIAOPI_APPROVE: return "APPROVE";
    case MIAOPI_REJECT: return "REJECT";
    default: return "ESCALATE";
    }
}

const char *miaopi_rule_status_name(miaopi_rule_status s)
{
    switch (s) {
    case MIAOPI_RULE_PASS: return "pass";
    case MIAOPI_RULE_FAIL: return "fail";
    case MIAOPI_RULE_NOT_APPLICABLE: return "not-applicable";
    default: return "unknown";
    }
}

const miaopi_ruleset *miaopi_decision_ruleset(const miaopi_decision *d)
{
    return d && d->valid ? d->rs : NULL;
}

const char *miaopi_decision_date(const miaopi_decision *d)
{
    return d && d->valid ? d->date : "";
}

size_t miaopi_decision_rule_count(const miaopi_decision *d)
{
    return d && d->valid ? d->rs->nrules : 0;
}

int miaopi_decision_rule(miaopi_rule_result *out, const miaopi_decision *d,
                         size_t index)
{
    if (!out || !d || out->size < sizeof(*out))
        return MIAOPI_EINVAL;
    if (!d->valid || index >= d->rs->nrules)
        return MIAOPI_ENOTFOUND;
    const mp_rule *rule = &d->rs->rules[index];
    const result *r = &d->results[index];
    out->id = rule->id;
    out->code = rule->code;
    out->status = r->status;
    out->effect = r->effect;
    out->unknown_reason = r->unknown_reason;
    out->unknown_path = r->unknown_path;
    return MIAOPI_OK;
}

size_t miaopi_decision_reason_count(const miaopi_decision *d)
{
    return d && d->valid ? d->nreasons : 0;
}

static int lang_index(const miaopi_ruleset *rs, const char *lang)
{
    if (!lang)
        return rs->default_lang;
    return strncmp(lang, "en", 2) == 0 ? MP_LANG_EN : MP_LANG_ZH;
}

int miaopi_decision_reason(miaopi_reason *out, const miaopi_decision *d,
                           size_t index, const char *lang)
{
    if (!out || !d || out->size < sizeof(*out))
        return MIAOPI_EINVAL;
    if (!d->valid || index >= d->nreasons)
        return MIAOPI_ENOTFOUND;
    int l = lang_index(d->rs, lang);
    size_t ri = d->reasons[index];
    if (ri == SIZE_MAX) {
        out->rule_id = "";
        out->code = "NO_EVIDENCE";
        out->status = MIAOPI_RULE_NOT_APPLICABLE;
        out->effect = MIAOPI_ESCALATE;
        out->title = l == MP_LANG_ZH ? "无可核验的审批条件"
                                     : "No condition could be verified";
        out->message = l == MP_LANG_ZH
                           ? "没有任何审批条件适用于本申请，无法自动批准，"
                             "已转人工审核。"
                           : "No approval condition applied to this "
                             "application, so it cannot be approved "
                             "automatically; referred for manual review.";
        out->basis = "";
        return MIAOPI_OK;
    }
    const mp_rule *rule = &d->rs->rules[ri];
    const result *r = &d->results[ri];
    out->rule_id = rule->id;
    out->code = rule->code;
    out->status = r->status;
    out->effect = r->effect;
    out->title = miaopi__pick_lang(rule->title, l);
    out->basis = miaopi__pick_lang(rule->basis, l);
    out->message = r->message[l];
    return MIAOPI_OK;
}

static json_t *ruleset_json(const miaopi_ruleset *rs)
{
    return json_pack("{s:s, s:s, s:s}", "id", rs->id, "version", rs->version,
                     "sha256", rs->sha256);
}

static json_t *rules_json(const miaopi_decision *d)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < d->rs->nrules; i++) {
        miaopi_rule_result r = MIAOPI_RULE_RESULT_INIT;
        miaopi_decision_rule(&r, d, i);
        json_t *o = json_pack("{s:s, s:s, s:s}", "id", r.id, "status",
                              miaopi_rule_status_name(r.status), "code",
                              r.code);
        if (o && r.status == MIAOPI_RULE_UNKNOWN &&
            json_object_set_new(o, "unknown",
                                json_pack("{s:s, s:s}", "reason",
                                          r.unknown_reason, "path",
                                          r.unknown_path)) != 0) {
            json_decref(o);
            o = NULL;
        }
        if (!o || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

static json_t *reasons_json(const miaopi_decision *d, const char *lang)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < d->nreasons; i++) {
        miaopi_reason r = MIAOPI_REASON_INIT;
        miaopi_decision_reason(&r, d, i, lang);
        json_t *o = json_pack(
            "{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "rule", r.rule_id, "code",
            r.code, "status", miaopi_rule_status_name(r.status), "effect",
            miaopi_outcome_name((miaopi_outcome)r.effect), "title", r.title,
            "message", r.message, "basis", r.basis);
        if (!o || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

/* The decision as a JSON object (new reference), or NULL when out of
 * memory. Shared by miaopi_decision_to_json and the decision log. */
json_t *miaopi__decision_json(const miaopi_decision *d, const char *lang,
                              unsigned flags);
json_t *miaopi__decision_json(const miaopi_decision *d, const char *lang,
                              unsigned flags)
{
    json_t *rs = ruleset_json(d->rs), *rules = rules_json(d);
    if (!rs || !rules) {
        json_decref(rs);
        json_decref(rules);
        return NULL;
    }
    json_t *o = json_pack("{s:s, s:s, s:o, s:o}", "decision",
                          miaopi_outcome_name(d->outcome), "decision_date",
                          d->date, "ruleset", rs, "rules", rules);
    if (!o)
        return NULL;
    if (d->rs->nsources > 0) {
        /* Which sources were used, fetched or missing, with provenance:
         * the audit log keeps this beside the inputs. */
        json_t *src = miaopi__sources_json(d);
        json_t *un = json_array();
        for (size_t i = 0; src && un && i < json_array_size(src); i++) {
            const char *st = json_string_value(
                json_object_get(json_array_get(src, i), "status"));
            if (st && (strcmp(st, "not-found") == 0 ||
                       strcmp(st, "unavailable") == 0 ||
                       strcmp(st, "stale") == 0))
                json_array_append(un, json_object_get(json_array_get(src, i),
                                                      "name"));
        }
        /* json_object_set_new consumes its value even when it fails;
         * whatever was not handed over is released here. */
        bool ok = src && un;
        if (!ok) {
            json_decref(src);
            json_decref(un);
        } else if (json_object_set_new(o, "sources", src) != 0) {
            json_decref(un);
            ok = false;
        } else {
            ok = json_object_set_new(o, "unavailable_sources", un) == 0;
        }
        if (!ok) {
            json_decref(o);
            return NULL;
        }
    }
    if (flags & MIAOPI_JSON_REASONS) {
        json_t *r = reasons_json(d, lang);
        if (!r || json_object_set_new(o, "reasons", r) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    bool ok = true;
    if (d->id[0] || d->spot_check)
        ok = json_object_set_new(o, "id", json_string(d->id)) == 0;
    if (ok && d->spot_rate > 0)
        ok = json_object_set_new(o, "spot_check",
                                 json_pack("{s:b, s:f}", "selected",
                                           d->spot_check, "rate",
                                           d->spot_rate)) == 0;
    if (ok && d->has_shadow) {
        json_t *sh = d->shadow_ok
                         ? miaopi__decision_json(d->shadow, lang, flags)
                         : json_pack("{s:s}", "error",
                                     "the candidate ruleset could not decide");
        ok = sh && json_object_set_new(o, "shadow", sh) == 0 &&
             json_object_set_new(o, "diverged",
                                 json_boolean(d->diverged)) == 0;
    }
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ---- compact JSON without building a jansson tree ---- */

/* A JSON string exactly as json_dumps writes it (no JSON_ENSURE_ASCII, no
 * JSON_ESCAPE_SLASH). Returns false for invalid UTF-8, which jansson would
 * refuse; the caller then takes the jansson path so errors stay the same. */
static bool put_str(miaopi__buf *b, const char *s)
{
    /* A string without control characters, '"' or '\\' (ids, codes,
     * dates, most messages) has nothing to escape: checked for UTF-8
     * (only if it is not ASCII) and copied at once. */
    size_t a = 0;
    unsigned char high = 0;
    for (unsigned char c;
         (c = (unsigned char)s[a]) >= 0x20 && c != '"' && c != '\\'; a++)
        high |= c;
    if (!s[a]) {
        if ((high & 0x80) && !miaopi__utf8_valid(s, a))
            return false;
        if (miaopi__buf_reserve(b, a + 2)) {
            char *p = b->data + b->len;
            p[0] = '"';
            memcpy(p + 1, s, a);
            p[a + 1] = '"';
            p[a + 2] = '\0';
            b->len += a + 2;
        }
        return true;
    }
    size_t n = a + strlen(s + a);
    if (!miaopi__utf8_valid(s, n))
        return false;
    miaopi__buf_addc(b, '"');
    size_t run = 0;
    for (size_t i = a; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        miaopi__buf_add(b, s + run, i - run);
        run = i + 1;
        char esc[8];
        switch (c) {
        case '"': miaopi__buf_adds(b, "\\\""); break;
        case '\\': miaopi__buf_adds(b, "\\\\"); break;
        case '\b': miaopi__buf_adds(b, "\\b"); break;
        case '\f': miaopi__buf_adds(b, "\\f"); break;
        case '\n': miaopi__buf_adds(b, "\\n"); break;
        case '\r': miaopi__buf_adds(b, "\\r"); break;
        case '\t': miaopi__buf_adds(b, "\\t"); break;
        default:
            snprintf(esc, sizeof(esc), "\\u%04X", c);
            miaopi__buf_adds(b, esc);
            break;
        }
    }
    miaopi__buf_add(b, s + run, n - run);
    miaopi__buf_addc(b, '"');
    return true;
}

/* "key":"value" with a leading comma unless first. */
static bool put_kv(miaopi__buf *b, const char *k, const char *v, bool first)
{
    /* A value with nothing to escape (see put_str): the member in one
     * reserve. */
    size_t kl = strlen(k), vl = 0;
    unsigned char high = 0;
    for (unsigned char c;
         (c = (unsigned char)v[vl]) >= 0x20 && c != '"' && c != '\\'; vl++)
        high |= c;
    if (!v[vl]) {
        if ((high & 0x80) && !miaopi__utf8_valid(v, vl))
            return false;
        if (miaopi__buf_reserve(b, kl + vl + 6)) {
            char *p = b->data + b->len;
            if (!first)
                *p++ = ',';
            *p++ = '"';
            memcpy(p, k, kl);
            p += kl;
            memcpy(p, "\":\"", 3);
            p += 3;
            memcpy(p, v, vl);
            p += vl;
            *p++ = '"';
            *p = '\0';
            b->len = (size_t)(p - b->data);
        }
        return true;
    }
    if (!first)
        miaopi__buf_addc(b, ',');
    miaopi__buf_addc(b, '"');
    miaopi__buf_adds(b, k);
    miaopi__buf_adds(b, "\":");
    return put_str(b, v);
}

static bool rules_compact(miaopi__buf *b, const miaopi_decision *d)
{
    bool ok = true;
    miaopi__buf_adds(b, ",\"rules\":[");
    for (size_t i = 0; ok && i < d->rs->nrules; i++) {
        miaopi_rule_result r = MIAOPI_RULE_RESULT_INIT;
        miaopi_decision_rule(&r, d, i);
        miaopi__buf_adds(b, i ? ",{" : "{");
        ok = put_kv(b, "id", r.id, true) &&
             put_kv(b, "status", miaopi_rule_status_name(r.status), false) &&
             put_kv(b, "code", r.code, false);
        if (ok && r.status == MIAOPI_RULE_UNKNOWN) {
            miaopi__buf_adds(b, ",\"unknown\":{");
            ok = put_kv(b, "reason", r.unknown_reason, true) &&
                 put_kv(b, "path", r.unknown_path, false);
            miaopi__buf_addc(b, '}');
        }
        miaopi__buf_addc(b, '}');
    }
    miaopi__buf_addc(b, ']');
    return ok;
}

static bool reasons_compact(miaopi__buf *b, const miaopi_decision *d,
                            const char *lang)
{
    bool ok = true;
    miaopi__buf_adds(b, ",\"reasons\":[");
    for (size_t i = 0; ok && i < d->nreasons; i++) {
        miaopi_reason r = MIAOPI_REASON_INIT;
        miaopi_decision_reason(&r, d, i, lang);
        miaopi__buf_adds(b, i ? ",{" : "{");
        ok = put_kv(b, "rule", r.rule_id, true) &&
             put_kv(b, "code", r.code, false) &&
             put_kv(b, "status", miaopi_rule_status_name(r.status), false) &&
             put_kv(b, "effect",
                    miaopi_outcome_name((miaopi_outcome)r.effect), false) &&
             put_kv(b, "title", r.title, false) &&
             put_kv(b, "message", r.message, false) &&
             put_kv(b, "basis", r.basis, false);
        miaopi__buf_addc(b, '}');
    }
    miaopi__buf_addc(b, ']');
    return ok;
}

static const mp_src_state *src_state(const miaopi_decision *d, size_t i);

/* "sources" and "unavailable_sources" as miaopi__sources_json and
 * miaopi__decision_json write them. */
static bool sources_compact(miaopi__buf *b, const miaopi_decision *d)
{
    bool ok = true;
    miaopi__buf_adds(b, ",\"sources\":[");
    for (size_t i = 0; ok && i < d->rs->nsources; i++) {
        const mp_src_state *st = src_state(d, i);
        miaopi__buf_adds(b, i ? ",{" : "{");
        ok = put_kv(b, "name", d->rs->sources[i].name, true) &&
             put_kv(b, "status", miaopi__src_status_name(st->status), false);
        if (ok && (*st->origin || *st->retrieved_at || *st->version)) {
            miaopi__buf_adds(b, ",\"provenance\":{");
            ok = put_kv(b, "origin", st->origin, true) &&
                 put_kv(b, "retrieved_at", st->retrieved_at, false) &&
                 put_kv(b, "version", st->version, false);
            miaopi__buf_addc(b, '}');
        }
        if (ok && *st->detail)
            ok = put_kv(b, "detail", st->detail, false);
        miaopi__buf_addc(b, '}');
    }
    miaopi__buf_adds(b, "],\"unavailable_sources\":[");
    bool first = true;
    for (size_t i = 0; ok && i < d->rs->nsources; i++) {
        mp_src_status st = src_state(d, i)->status;
        if (st != MP_SRC_NOT_FOUND && st != MP_SRC_UNAVAILABLE &&
            st != MP_SRC_STALE)
            continue;
        if (!first)
            miaopi__buf_addc(b, ',');
        first = false;
        ok = put_str(b, d->rs->sources[i].name);
    }
    miaopi__buf_addc(b, ']');
    return ok;
}

/* The members of the compact form up to and including "rules", without
 * braces, exactly as json_dumps writes them (shared with the decision
 * log). Returns false when the jansson path must be taken instead: spot
 * checks and shadows, which are rare, and strings jansson would refuse. */
bool miaopi__decision_json_members(miaopi__buf *b, const miaopi_decision *d);
bool miaopi__decision_json_members(miaopi__buf *b, const miaopi_decision *d)
{
    if (d->spot_rate > 0 || d->has_shadow)
        return false;
    bool ok = put_kv(b, "decision", miaopi_outcome_name(d->outcome), true) &&
              put_kv(b, "decision_date", d->date, false);
    miaopi__buf_adds(b, ",\"ruleset\":{");
    ok = ok && put_kv(b, "id", d->rs->id, true) &&
         put_kv(b, "version", d->rs->version, false) &&
         put_kv(b, "sha256", d->rs->sha256, false);
    miaopi__buf_addc(b, '}');
    ok = ok && rules_compact(b, d);
    if (ok && d->rs->nsources > 0)
        ok = sources_compact(b, d);
    return ok;
}

/* A JSON string as json_dumps writes it, for the decision log. */
bool miaopi__json_put_str(miaopi__buf *b, const char *s);
bool miaopi__json_put_str(miaopi__buf *b, const char *s)
{
    return put_str(b, s);
}

/* The compact form written directly: byte for byte what json_dumps makes
 * of miaopi__decision_json, at a tenth of the cost (building and freeing
 * the tree was most of an end-to-end decision). Returns 0, 1 to ask for
 * the jansson path, or MIAOPI_ENOMEM. */
static int to_json_compact(char **out, const miaopi_decision *d,
                           const char *lang, unsigned flags)
{
    if ((flags & MIAOPI_JSON_TRACE) && d->aux && miaopi__aux_tracing(d->aux))
        return 1; /* traces are for people: the tree path is fine */
    miaopi__buf b;
    miaopi__buf_init(&b);
    miaopi__buf_reserve(&b, 4096); /* most decisions fit: one allocation */
    miaopi__buf_addc(&b, '{');
    bool ok = miaopi__decision_json_members(&b, d);
    if (ok && (flags & MIAOPI_JSON_REASONS))
        ok = reasons_compact(&b, d, lang);
    if (ok && d->id[0])
        ok = put_kv(&b, "id", d->id, false);
    miaopi__buf_addc(&b, '}');
    if (!ok || b.failed) {
        bool nomem = ok && b.failed;
        miaopi__buf_free(&b);
        return nomem ? MIAOPI_ENOMEM : 1;
    }
    *out = b.data; /* allocated by miaopi__malloc: freed by miaopi_free */
    return MIAOPI_OK;
}

int miaopi_decision_to_json(char **out, const miaopi_decision *d,
                            const char *lang, unsigned flags)
{
    if (!out)
        return MIAOPI_EINVAL;
    *out = NULL;
    if (!d || !d->valid)
        return MIAOPI_EINVAL;
    if (!(flags & MIAOPI_JSON_PRETTY)) {
        int rc = to_json_compact(out, d, lang, flags);
        if (rc <= 0)
            return rc;
    }
    json_t *o = miaopi__decision_json(d, lang, flags);
    if (!o)
        return MIAOPI_ENOMEM;
    if ((flags & MIAOPI_JSON_TRACE) && d->aux &&
        miaopi__aux_tracing(d->aux)) {
        json_t *t = miaopi__trace_json(d->aux);
        if (!t || json_object_set_new(o, "trace", t) != 0) {
            json_decref(o);
            return MIAOPI_ENOMEM;
        }
    }
    size_t jf = JSON_PRESERVE_ORDER |
                ((flags & MIAOPI_JSON_PRETTY) ? JSON_INDENT(2) : JSON_COMPACT);
    /* For the caller: C library malloc, freed by miaopi_free. */
    *out = miaopi__json_dumps(o, jf);
    json_decref(o);
    return *out ? MIAOPI_OK : MIAOPI_ENOMEM;
}

/* ---- sources: provenance and inputs ---- */

static const mp_src_state *src_state(const miaopi_decision *d, size_t i)
{
    static const mp_src_state unused = {.status = MP_SRC_UNUSED,
                                        .origin = "",
                                        .retrieved_at = "",
                                        .version = "",
                                        .detail = ""};
    const mp_src_state *st = &d->ev.src[i];
    return st->gen == d->ev.gen ? st : &unused;
}

size_t miaopi_decision_source_count(const miaopi_decision *d)
{
    return d && d->valid ? d->rs->nsources : 0;
}

int miaopi_decision_source(miaopi_source_info *out, const miaopi_decision *d,
                           size_t index)
{
    if (!out || !d || out->size < sizeof(*out))
        return MIAOPI_EINVAL;
    if (!d->valid || index >= d->rs->nsources)
        return MIAOPI_ENOTFOUND;
    const mp_src_state *st = src_state(d, index);
    out->name = d->rs->sources[index].name;
    out->status = miaopi__src_status_name(st->status);
    out->origin = st->origin;
    out->retrieved_at = st->retrieved_at;
    out->version = st->version;
    out->detail = st->detail;
    return MIAOPI_OK;
}

size_t miaopi_decision_fetch_count(const miaopi_decision *d)
{
    return d && d->valid ? d->ev.fetch_calls : 0;
}

/* [{name, status, provenance?, detail?}] for every declared source. */
json_t *miaopi__sources_json(const miaopi_decision *d)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < d->rs->nsources; i++) {
        const mp_src_state *st = src_state(d, i);
        json_t *o = json_pack("{s:s, s:s}", "name", d->rs->sources[i].name,
                              "status", miaopi__src_status_name(st->status));
        /* A part that cannot be built fails the whole (the audit log
         * records this; it must not silently lose the provenance). */
        if (o && (*st->origin || *st->retrieved_at || *st->version) &&
            json_object_set_new(o, "provenance",
                                json_pack("{s:s, s:s, s:s}", "origin",
                                          st->origin, "retrieved_at",
                                          st->retrieved_at, "version",
                                          st->version)) != 0) {
            json_decref(o);
            o = NULL;
        }
        if (o && *st->detail &&
            json_object_set_new(o, "detail", json_string(st->detail)) != 0) {
            json_decref(o);
            o = NULL;
        }
        if (!o || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

/* The case as evaluated: c's document plus every record a resolver
 * fetched (a failed fetch as null, so a replay is UNKNOWN just the same).
 * A new reference to a new tree (never c's own, see below). Used for
 * miaopi_decision_inputs_json and by the decision log. */
/* Did a resolver contribute to the decision? If not, the case as
 * evaluated is the caller's case itself. */
bool miaopi__decision_fetched(const miaopi_decision *d);
bool miaopi__decision_fetched(const miaopi_decision *d)
{
    for (size_t i = 0; i < d->rs->nsources; i++)
        if (src_state(d, i)->from_resolver)
            return true;
    return false;
}

json_t *miaopi__decision_inputs(const miaopi_decision *d, const miaopi_case *c);
json_t *miaopi__decision_inputs(const miaopi_decision *d, const miaopi_case *c)
{
    bool fetched = miaopi__decision_fetched(d);
    /* A private copy even when nothing was fetched: a case may be shared
     * by threads (read-only), and taking references to its tree from
     * several threads has jansson read the reference count without
     * synchronisation (json_incref's "!= -1" test; ThreadSanitizer,
     * tests/test_threads.c). Copying only reads the tree. */
    if (!fetched)
        return json_deep_copy(miaopi__case_root(c));
    json_t *root = json_deep_copy(miaopi__case_root(c));
    json_t *srcs = root ? json_object_get(root, "sources") : NULL;
    if (root && !json_is_object(srcs)) {
        srcs = json_object();
        if (json_object_set_new(root, "sources", srcs) != 0)
            srcs = NULL;
    }
    bool ok = root && srcs;
    for (size_t i = 0; ok && i < d->rs->nsources; i++) {
        const mp_src_state *st = src_state(d, i);
        if (!st->from_resolver)
            continue;
        json_t *v = st->status == MP_SRC_FETCHED || st->status == MP_SRC_STALE
                        ? json_deep_copy(st->rec)
                        : json_null();
        ok = v && json_object_set_new(srcs, d->rs->sources[i].name, v) == 0;
    }
    if (!ok) {
        json_decref(root);
        return NULL;
    }
    return root;
}

int miaopi_decision_inputs_json(char **out, const miaopi_decision *d,
                                const miaopi_case *c)
{
    if (!out)
        return MIAOPI_EINVAL;
    *out = NULL;
    if (!d || !d->valid || !c)
        return MIAOPI_EINVAL;
    json_t *root = miaopi__decision_inputs(d, c);
    *out = root ? miaopi__json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS)
                : NULL;
    json_decref(root);
    return *out ? MIAOPI_OK : MIAOPI_ENOMEM;
}

int miaopi_decision_fetched_json(char **out, const miaopi_decision *d)
{
    if (!out)
        return MIAOPI_EINVAL;
    *out = NULL;
    if (!d || !d->valid)
        return MIAOPI_EINVAL;
    json_t *o = json_object();
    for (size_t i = 0; o && i < d->rs->nsources; i++) {
        const mp_src_state *st = src_state(d, i);
        if (!st->from_resolver)
            continue;
        json_t *v = st->status == MP_SRC_FETCHED || st->status == MP_SRC_STALE
                        ? json_deep_copy(st->rec)
                        : json_null();
        if (!v || json_object_set_new(o, d->rs->sources[i].name, v) != 0) {
            json_decref(o);
            o = NULL;
        }
    }
    *out = o ? miaopi__json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    return *out ? MIAOPI_OK : MIAOPI_ENOMEM;
}
/* ---- hooks for authoring.c ---- */

mp_aux *miaopi__decision_aux(miaopi_decision *d, bool create)
{
    if (!d->aux && create)
        d->aux = miaopi__aux_new();
    return d->aux;
}

const mp_aux *miaopi__decision_valid_aux(const miaopi_decision *d)
{
    return d && d->valid ? d->aux : NULL;
}

const char *miaopi__decision_why(miaopi_decision *d, mp_why why,
                                 const mp_node *where)
{
    return why_en(d, why, where);
}

int miaopi__decision_begin_expr(miaopi_decision *d,
                                const miaopi_ruleset *scope,
                                const miaopi_case *c, mp_eval **ev)
{
    d->valid = false;
    d->outcome = MIAOPI_ESCALATE;
    d->nreasons = 0;
    int rc = prepare(d, scope);
    if (rc != MIAOPI_OK)
        return rc;
    const json_t *root = c ? miaopi__case_root(c) : NULL;
    d->ev.flat = miaopi__case_flat(c);
    d->ev.application = json_object_get(root, "application");
    d->ev.context = json_object_get(root, "context");
    d->ev.sources = json_object_get(root, "sources");
    const json_t *dd = json_object_get(d->ev.context, "decision_date");
    if (!json_is_string(dd) ||
        !miaopi__date_parse(json_string_value(dd), json_string_length(dd),
                            &d->ev.decision_date)) {
        /* No date in the case: context.decision_date is UNKNOWN, never
         * today's date. */
        mp_slot *slot = &d->ev.slots[scope->context.fields[0].slot];
        slot->gen = d->ev.gen;
        mp_value_unknown(&slot->v, dd ? MP_WHY_TYPE : MP_WHY_MISSING, NULL);
    }
    *ev = &d->ev;
    return MIAOPI_OK;
}
