/*
 * Government data: source records fetched lazily through resolvers, their
 * provenance and freshness, and pre-filling an application from them.
 *
 * A source is resolved the first time an expression reads one of its
 * fields in an evaluation, and the outcome (record, not found,
 * unavailable, stale) is kept for the rest of that evaluation, so a
 * resolver is called at most once per evaluation and only when an
 * applicable rule needs the source.
 *
 * Freshness never reads the clock: a record's "_provenance.retrieved_at"
 * is compared with the case's reference instant (context.decision_time, or
 * the end of context.decision_date in China Standard Time).
 */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const json_t *miaopi__case_root(const miaopi_case *c);

/* ---- resolvers ---- */

typedef struct resolver {
    char *name;
    miaopi_resolver_cb cb;
    void *payload;
} resolver;

struct miaopi_resolvers {
    resolver *items;
    size_t n;
};

struct miaopi_fetch_reply {
    json_t *rec;
};

int miaopi_resolvers_new(miaopi_resolvers **out)
{
    if (!out)
        return MIAOPI_EINVAL;
    *out = miaopi__calloc(NULL, 1, sizeof(**out));
    return *out ? MIAOPI_OK : MIAOPI_ENOMEM;
}

void miaopi_resolvers_free(miaopi_resolvers *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        miaopi__free(NULL, r->items[i].name);
    miaopi__free(NULL, r->items);
    miaopi__free(NULL, r);
}

int miaopi_resolvers_add(miaopi_resolvers *r, const char *source,
                         miaopi_resolver_cb cb, void *payload)
{
    if (!r || !source || !cb || !*source)
        return MIAOPI_EINVAL;
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->items[i].name, source) == 0) {
            r->items[i].cb = cb;
            r->items[i].payload = payload;
            return MIAOPI_OK;
        }
    char *name = miaopi__strdup(NULL, source);
    resolver *items = name ? miaopi__realloc(NULL, r->items,
                                             (r->n + 1) * sizeof(*items))
                           : NULL;
    if (!items) {
        miaopi__free(NULL, name);
        return MIAOPI_ENOMEM;
    }
    r->items = items;
    r->items[r->n].name = name;
    r->items[r->n].cb = cb;
    r->items[r->n].payload = payload;
    r->n++;
    return MIAOPI_OK;
}

static const resolver *find_resolver(const miaopi_resolvers *r,
                                     const char *name)
{
    for (size_t i = 0; r && i < r->n; i++)
        if (strcmp(r->items[i].name, name) == 0)
            return &r->items[i];
    return NULL;
}

int miaopi_fetch_reply_set_json(miaopi_fetch_reply *out, const char *json,
                                size_t len)
{
    if (!out || !json)
        return MIAOPI_EINVAL;
    json_error_t je;
    json_t *j = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (!j)
        return MIAOPI_ECASE;
    if (!json_is_object(j)) {
        json_decref(j);
        return MIAOPI_ECASE;
    }
    json_decref(out->rec);
    out->rec = j;
    return MIAOPI_OK;
}

static int set_member(json_t *obj, const char *key, const char *value)
{
    if (!value)
        return MIAOPI_OK;
    json_t *s = json_string(value);
    if (!s)
        return MIAOPI_EINVAL;
    return json_object_set_new(obj, key, s) == 0 ? MIAOPI_OK : MIAOPI_ENOMEM;
}

int miaopi_fetch_reply_set_provenance(miaopi_fetch_reply *out,
                                      const char *origin,
                                      const char *retrieved_at,
                                      const char *version)
{
    if (!out || !out->rec)
        return MIAOPI_EINVAL;
    json_t *p = json_object();
    if (!p)
        return MIAOPI_ENOMEM;
    int rc = set_member(p, "origin", origin);
    if (rc == MIAOPI_OK)
        rc = set_member(p, "retrieved_at", retrieved_at);
    if (rc == MIAOPI_OK)
        rc = set_member(p, "version", version);
    if (rc != MIAOPI_OK) {
        json_decref(p);
        return rc;
    }
    return json_object_set_new(out->rec, "_provenance", p) == 0
               ? MIAOPI_OK
               : MIAOPI_ENOMEM;
}

/* ---- instants (RFC 3339) ---- */

static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* "YYYY-MM-DDTHH:MM:SS[.fff…](Z|±HH:MM)" to Unix milliseconds. The offset
 * is required: a local time without one would make the same case mean
 * different instants on different machines. */
static bool instant_parse_ms(const char *s, size_t len, int64_t *out)
{
    int32_t day;
    int hh, mm, ss, oh = 0, om = 0, ms = 0;
    if (len < 20 || !miaopi__date_parse(s, 10, &day) ||
        (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        !digits(s + 11, 2, &hh) || s[13] != ':' ||
        !digits(s + 14, 2, &mm) || s[16] != ':' || !digits(s + 17, 2, &ss) ||
        hh > 23 || mm > 59 || ss > 60)
        return false;
    size_t i = 19;
    if (i < len && s[i] == '.') {
        int scale = 100;
        i++;
        size_t start = i;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            ms += (s[i] - '0') * scale;
            scale /= 10;
            i++;
        }
        if (i == start)
            return false;
    }
    int sign = 0;
    if (i + 1 == len && (s[i] == 'Z' || s[i] == 'z')) {
        sign = 1;
    } else if (i + 6 == len && (s[i] == '+' || s[i] == '-') &&
               digits(s + i + 1, 2, &oh) && s[i + 3] == ':' &&
               digits(s + i + 4, 2, &om) && oh <= 23 && om <= 59) {
        sign = s[i] == '+' ? 1 : -1;
    } else {
        return false;
    }
    int64_t secs = (int64_t)day * 86400 + hh * 3600 + mm * 60 + ss -
                   sign * (oh * 3600 + om * 60);
    *out = secs * 1000 + ms;
    return true;
}

bool miaopi__instant_parse(const char *s, size_t len, int64_t *out)
{
    int64_t ms;
    if (!instant_parse_ms(s, len, &ms))
        return false;
    *out = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
    return true;
}

/* ---- resolving one source ---- */

const char *miaopi__src_status_name(mp_src_status s)
{
    switch (s) {
    case MP_SRC_INLINE: return "inline";
    case MP_SRC_FETCHED: return "fetched";
    case MP_SRC_NOT_FOUND: return "not-found";
    case MP_SRC_UNAVAILABLE: return "unavailable";
    case MP_SRC_STALE: return "stale";
    default: return "unused";
    }
}

static const char *arena_str(mp_eval *ev, const char *s)
{
    const char *r = miaopi__arena_strndup(ev->arena, s, strlen(s));
    if (!r)
        ev->nomem = true;
    return r ? r : "";
}

static const char *prov_member(mp_eval *ev, const json_t *prov,
                               const char *key)
{
    const json_t *v = json_object_get(prov, key);
    return json_is_string(v) ? arena_str(ev, json_string_value(v)) : "";
}

/* Copy the provenance of st->rec (prov, its "_provenance" member, or
 * NULL) and apply the source's max-age. */
static void check_record(mp_eval *ev, const mp_source *src, mp_src_state *st,
                         const json_t *prov)
{
    if (prov) {
        st->origin = prov_member(ev, prov, "origin");
        st->retrieved_at = prov_member(ev, prov, "retrieved_at");
        st->version = prov_member(ev, prov, "version");
    }
    if (src->max_age_s <= 0)
        return;
    int64_t t;
    char buf[160];
    if (!*st->retrieved_at ||
        !miaopi__instant_parse(st->retrieved_at, strlen(st->retrieved_at),
                               &t)) {
        st->status = MP_SRC_STALE;
        st->detail = arena_str(ev, "the record has no valid "
                                   "_provenance.retrieved_at, and the "
                                   "source has a max-age");
        return;
    }
    /* A record retrieved after the reference instant is not older than
     * the decision; only age beyond max-age is stale. */
    if (ev->ref_instant - t > src->max_age_s) {
        st->status = MP_SRC_STALE;
        snprintf(buf, sizeof(buf),
                 "the record was retrieved at %s, more than %lld seconds "
                 "before the decision",
                 st->retrieved_at, (long long)src->max_age_s);
        st->detail = arena_str(ev, buf);
    }
}

static bool key_text(mp_eval *ev, const mp_source *src, miaopi__buf *out)
{
    mp_value kv;
    mp_eval_node(ev, src->key, &kv);
    if (MP_IS_UNKNOWN(&kv))
        return false;
    miaopi__buf scratch;
    miaopi__buf_init(&scratch);
    mp_value_format(&kv, &src->key->type, MIAOPI__PII_NONE, out, &scratch);
    miaopi__buf_free(&scratch);
    return !out->failed;
}

static void call_resolver(mp_eval *ev, const mp_source *src,
                          const resolver *res, mp_src_state *st)
{
    st->from_resolver = true;
    st->status = MP_SRC_UNAVAILABLE;
    miaopi__buf key;
    miaopi__buf_init(&key);
    if (src->key && !key_text(ev, src, &key)) {
        miaopi__buf_free(&key);
        st->detail = arena_str(ev, "the record's key is missing");
        return;
    }
    char date[11];
    miaopi__date_format(ev->decision_date, date);
    miaopi_fetch_request req;
    memset(&req, 0, sizeof(req));
    req.size = sizeof(req);
    req.source = src->name;
    req.key_path = src->key_text ? src->key_text : "";
    req.key = miaopi__buf_cstr(&key);
    req.decision_date = date;
    req.deadline = ev->deadline ? ev->deadline : "";
    int64_t ms;
    if (*req.deadline &&
        instant_parse_ms(req.deadline, strlen(req.deadline), &ms))
        req.deadline_unix_ms = ms;
    miaopi_fetch_reply reply = {NULL};
    ev->fetch_calls++;
    int rc = res->cb(&reply, &req, res->payload);
    miaopi__buf_free(&key);
    if (rc == MIAOPI_FETCH_FOUND && reply.rec) {
        if (!ev->fetched)
            ev->fetched = json_object();
        if (ev->fetched &&
            json_object_set(ev->fetched, src->name, reply.rec) == 0) {
            st->status = MP_SRC_FETCHED;
            st->rec = reply.rec;
        } else {
            ev->nomem = true;
        }
    } else if (rc == MIAOPI_FETCH_NOT_FOUND) {
        st->status = MP_SRC_NOT_FOUND;
        st->detail = arena_str(ev, "the source has no record for the key");
    } else {
        st->detail = arena_str(ev, rc == MIAOPI_FETCH_FOUND
                                       ? "the resolver returned no record"
                                       : "the resolver reported an error");
    }
    json_decref(reply.rec); /* ev->fetched holds its own reference */
}

/* Rulesets with more sources than this look each one up by name. */
#define WALK_MAX_SOURCES 16

/* Find every source of the ruleset in case.sources with one walk over its
 * members, when the first source is resolved in an evaluation:
 * json_object_getn costs about 120 instructions per source (a seeded hash
 * of the name and strcmp), a step of the walk a few loads. Each source
 * compares its own name, as its lookup would. */
static void walk_sources(mp_eval *ev)
{
    const mp_source *srcs = ev->rs->sources;
    size_t ns = ev->rs->nsources;
    mp_src_state *states = ev->src;
    uint32_t gen = ev->gen;
    json_t *o = (json_t *)ev->sources;
    ev->srcs_walked = gen;
    /* Source names are unique in a ruleset; a case usually lists its
     * sources in the ruleset's order, so the search starts after the
     * source last found. */
    size_t next = 0;
    const mp_flatobj *fo = mp_flat_find(ev->flat, o);
    size_t nflat = fo ? fo->n : 0;
    void *it = fo ? NULL : json_object_iter(o);
    for (size_t m = 0; m < nflat || it;) {
        const char *k;
        size_t len;
        const json_t *v;
        if (fo) {
            k = mp_member_key(ev->flat, &fo->m[m]);
            len = fo->m[m].key_len;
            /* A source given as null or a scalar is read in the tree, for
             * what resolve says of it. */
            v = mp_member_json(&fo->m[m]);
            if (!v)
                v = json_object_getn(o, k, len);
            m++;
        } else {
            k = json_object_iter_key(it);
            len = json_object_iter_key_len(it);
            v = json_object_iter_value(it);
            it = json_object_iter_next(o, it);
        }
        size_t i = next;
        for (size_t t = 0; t < ns; t++) {
            const mp_source *s = &srcs[i];
            if (++i == ns)
                i = 0;
            if (s->name_len == len && mp_name_eq(s->name, k, len)) {
                mp_src_state *st = &states[s->index];
                st->inline_gen = gen;
                st->inline_j = v;
                next = i;
                break;
            }
        }
    }
}

__attribute__((noinline)) static void resolve(mp_eval *ev,
                                              const mp_source *src,
                                              mp_src_state *st)
{
    const json_t *j;
    const miaopi_ruleset *rs = ev->rs;
    /* Sources without a name index (test_binding's plain copy) keep the
     * lookup by name the walk replaced. */
    if (src->schema.index && rs->nsources <= WALK_MAX_SOURCES &&
        src->index >= 0 &&
        (size_t)src->index < rs->nsources &&
        src == &rs->sources[src->index]) {
        if (ev->srcs_walked != ev->gen)
            walk_sources(ev);
        j = st->inline_gen == ev->gen ? st->inline_j : NULL;
    } else {
        j = ev->sources ? json_object_getn(ev->sources, src->name,
                                           src->name_len)
                        : NULL;
    }
    uint32_t inline_gen = st->inline_gen;
    const json_t *inline_j = st->inline_j;
    memset(st, 0, sizeof(*st));
    st->inline_gen = inline_gen;
    st->inline_j = inline_j;
    st->gen = ev->gen;
    st->origin = st->retrieved_at = st->version = st->detail = "";
    if (j) {
        /* An object in the case's member table is an object. */
        if (mp_flat_find(ev->flat, j) || json_is_object(j)) {
            st->status = MP_SRC_INLINE;
            st->rec = j;
        } else {
            st->status = MP_SRC_UNAVAILABLE;
            st->detail = json_is_null(j) ? "the case gives the source as null"
                                         : "the case's record is not an "
                                           "object";
        }
    } else {
        const resolver *res = find_resolver(ev->resolvers, src->name);
        if (res) {
            call_resolver(ev, src, res, st);
        } else {
            st->status = MP_SRC_UNAVAILABLE;
            st->detail = "the case does not hold the source and no "
                         "resolver is registered for it";
        }
    }
    if (!st->rec)
        return;
    const json_t *prov;
    if (src->max_age_s <= 0 && src->schema.index) {
        /* Without a max-age nothing in the record can make it unusable,
         * so its members are bound to their slots now (as the first read
         * of a field would do) and "_provenance" is found in the same
         * walk. With a max-age, freshness is settled first and the
         * members are bound at the first read, as before. */
        prov = mp_bind_record(ev, st->rec, &src->schema);
        st->bound_gen = ev->gen;
    } else {
        prov = json_object_getn(st->rec, "_provenance", 11);
    }
    check_record(ev, src, st, prov);
}

const json_t *mp_source_record(mp_eval *ev, const mp_source *src,
                               mp_why *why)
{
    mp_src_state *st = &ev->src[src->index];
    if (st->gen != ev->gen)
        resolve(ev, src, st);
    switch (st->status) {
    case MP_SRC_INLINE:
    case MP_SRC_FETCHED:
        return st->rec;
    case MP_SRC_NOT_FOUND:
        *why = MP_WHY_NOT_FOUND;
        return NULL;
    case MP_SRC_STALE:
        *why = MP_WHY_STALE;
        return NULL;
    default:
        *why = MP_WHY_UNAVAILABLE;
        return NULL;
    }
}

/* ---- pre-fill ---- */

int miaopi__decision_begin(miaopi_decision *d, const miaopi_ruleset *rs,
                           const miaopi_case *c,
                           const miaopi_eval_options *opts, bool prefill,
                           miaopi_error *err);
mp_eval *miaopi__decision_eval(miaopi_decision *d);
json_t *miaopi__sources_json(const miaopi_decision *d);

static const char *field_status(mp_eval *ev, const mp_binding *b,
                                json_t **value)
{
    mp_why why = MP_WHY_NONE;
    const json_t *rec = mp_source_record(ev, b->src, &why);
    *value = NULL;
    if (!rec)
        return why == MP_WHY_NOT_FOUND ? "not-found"
               : why == MP_WHY_STALE   ? "stale"
                                       : "unavailable";
    json_t *v = json_object_get(rec, b->src_field->name);
    mp_value check;
    mp_value_from_json(v, &b->src_field->type, NULL, &check);
    if (MP_IS_UNKNOWN(&check))
        return "missing"; /* absent, null or of the wrong type */
    *value = v;
    return "filled";
}

static json_t *prefill_json(mp_eval *ev, const miaopi_ruleset *rs,
                            const json_t *app)
{
    json_t *out = json_object(), *fields = json_array();
    json_t *napp = app ? json_deep_copy(app) : json_object();
    if (!out || !fields || !napp)
        goto fail;
    for (size_t i = 0; i < rs->nbindings; i++) {
        const mp_binding *b = &rs->bindings[i];
        if (!b->prefill)
            continue;
        json_t *value;
        const char *st = field_status(ev, b, &value);
        if (value && json_object_set(napp, b->field->name, value) != 0)
            goto fail;
        char from[300];
        snprintf(from, sizeof(from), "%s.%s", b->src->name,
                 b->src_field->name);
        if (json_array_append_new(fields,
                                  json_pack("{s:s, s:s, s:s}", "field",
                                            b->field->name, "from", from,
                                            "status", st)) != 0)
            goto fail;
    }
    if (json_object_set_new(out, "application", napp) != 0) {
        napp = NULL;
        goto fail;
    }
    napp = NULL;
    if (json_object_set_new(out, "fields", fields) != 0) {
        fields = NULL;
        goto fail;
    }
    return out;
fail:
    json_decref(napp);
    json_decref(fields);
    json_decref(out);
    return NULL;
}

int miaopi_prefill(char **out, const miaopi_ruleset *rs, const miaopi_case *c,
                   const miaopi_eval_options *opts, miaopi_error *err)
{
    miaopi__error_clear(err);
    if (!out || !rs || !c)
        return miaopi__error_set(err, MIAOPI_EINVAL, "invalid argument");
    *out = NULL;
    miaopi_decision *d = NULL;
    int rc = miaopi_decision_new(&d);
    if (rc != MIAOPI_OK)
        return miaopi__error_set(err, rc, "out of memory");
    rc = miaopi__decision_begin(d, rs, c, opts, true, err);
    json_t *o = NULL;
    if (rc == MIAOPI_OK) {
        mp_eval *ev = miaopi__decision_eval(d);
        o = prefill_json(ev, rs, json_object_get(miaopi__case_root(c),
                                                 "application"));
        json_t *srcs = miaopi__sources_json(d);
        if (!o || !srcs || ev->nomem ||
            json_object_set_new(o, "sources", srcs) != 0)
            rc = MIAOPI_ENOMEM;
    }
    if (rc == MIAOPI_OK) {
        *out = miaopi__json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
        if (!*out)
            rc = MIAOPI_ENOMEM;
    }
    if (rc == MIAOPI_ENOMEM)
        miaopi__error_set(err, rc, "out of memory");
    json_decref(o);
    miaopi_decision_free(d);
    return rc;
}
