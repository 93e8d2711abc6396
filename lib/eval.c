/*
 * Expression evaluation with three-valued (Kleene) logic. A value is
 * either known or UNKNOWN with a reason and the node that caused it;
 * UNKNOWN propagates through every operator except and/or, the list
 * quantifiers and present(). Nothing here allocates from the heap: strings
 * made during evaluation come from the decision's arena.
 */
#include "model.h"

#include <string.h>

/* ---- types ---- */

bool mp_type_eq(const mp_type *a, const mp_type *b)
{
    if (a->kind != b->kind)
        return false;
    if (a->kind == MP_T_LIST)
        return a->elem && b->elem && mp_type_eq(a->elem, b->elem);
    if (a->kind == MP_T_RECORD)
        return a->record == b->record;
    return true;
}

bool mp_type_numeric(const mp_type *t)
{
    return t->kind == MP_T_INT || t->kind == MP_T_DEC;
}

void mp_type_name(const mp_type *t, miaopi__buf *out)
{
    switch (t->kind) {
    case MP_T_STRING: miaopi__buf_adds(out, "string"); break;
    case MP_T_INT: miaopi__buf_adds(out, "integer"); break;
    case MP_T_DEC: miaopi__buf_adds(out, "decimal"); break;
    case MP_T_BOOL: miaopi__buf_adds(out, "boolean"); break;
    case MP_T_DATE: miaopi__buf_adds(out, "date"); break;
    case MP_T_RECORD: miaopi__buf_adds(out, "record"); break;
    case MP_T_LIST:
        miaopi__buf_adds(out, "list of ");
        if (t->elem)
            mp_type_name(t->elem, out);
        break;
    default: miaopi__buf_adds(out, "nothing"); break;
    }
}

const mp_field *mp_schema_find(const mp_schema *s, const char *name,
                               size_t len)
{
    /* A name may still be NULL while its schema is being loaded (the
     * context's built-in decision_date is named after its siblings). */
    for (size_t i = 0; i < s->nfields; i++)
        if (s->fields[i].name_len == len &&
            memcmp(s->fields[i].name, name, len) == 0)
            return &s->fields[i];
    return NULL;
}

bool mp_schema_index(miaopi__arena *pool, mp_schema *s, size_t first)
{
    s->index = NULL;
    s->index_mask = 0;
    if (s->nfields == 0 || s->nfields > 254)
        return true;
    for (size_t i = 0; i < s->nfields; i++)
        if (!s->fields[i].name)
            return true;
    /* At most a quarter full, so a miss (a case member the rules do not
     * declare) usually ends at the first empty cell. */
    if (first >= s->nfields)
        return true;
    uint32_t cap = 8;
    while (cap < 4 * s->nfields)
        cap *= 2;
    uint8_t *idx = miaopi__arena_alloc(pool, cap);
    if (!idx)
        return false;
    memset(idx, 0, cap);
    for (size_t k = first; k < s->nfields; k++) {
        const mp_field *f = &s->fields[k];
        uint32_t i = mp_name_hash(f->name, f->name_len) & (cap - 1);
        while (idx[i])
            i = (i + 1) & (cap - 1);
        idx[i] = (uint8_t)(k + 1);
    }
    s->index = idx;
    s->index_mask = cap - 1;
    s->index_first = (uint32_t)first;
    return true;
}

const char *mp_why_text(mp_why w)
{
    switch (w) {
    case MP_WHY_MISSING: return "the value is missing";
    case MP_WHY_UNAVAILABLE: return "the source is unavailable";
    case MP_WHY_TYPE: return "the value has the wrong type";
    case MP_WHY_INVALID: return "an argument is outside the function's domain";
    case MP_WHY_OVERFLOW: return "the result is out of range";
    case MP_WHY_DIV_ZERO: return "division by zero";
    case MP_WHY_NO_KEY: return "the table has no row for the key";
    case MP_WHY_REGEX_LIMIT: return "the regular expression hit its match limit";
    case MP_WHY_LIMIT: return "an evaluation limit was hit";
    case MP_WHY_NOMEM: return "out of memory";
    case MP_WHY_INTERNAL: return "internal error";
    case MP_WHY_NOT_FOUND: return "the source has no record for the applicant";
    case MP_WHY_STALE: return "the source record is too old";
    default: return "unknown";
    }
}

/* ---- values ---- */

void mp_value_unknown(mp_value *out, mp_why why, const mp_node *where)
{
    memset(out, 0, sizeof(*out));
    out->kind = MP_T_NONE;
    out->why = why;
    out->where = where;
}

/* Convert a member (as the case's member table holds it, or as read from
 * a jansson value) to the declared type. */
static inline __attribute__((always_inline)) void
value_from_member(const mp_member *m, const mp_type *t, const mp_node *where,
                  mp_value *out)
{
    if (m->type == JSON_NULL) {
        mp_value_unknown(out, MP_WHY_MISSING, where);
        return;
    }
    memset(out, 0, sizeof(*out));
    out->kind = t->kind;
    switch (t->kind) {
    case MP_T_STRING:
        if (m->type != JSON_STRING)
            break;
        out->u.s.p = m->u.s.p;
        out->u.s.len = m->u.s.len;
        return;
    case MP_T_INT:
        if (m->type != JSON_INTEGER)
            break;
        out->u.i = m->u.i;
        return;
    case MP_T_DEC:
        if (m->type == JSON_INTEGER) {
            out->u.d = miaopi__dec_from_int(m->u.i);
            return;
        }
        if (m->type == JSON_REAL && miaopi__dec_from_double(m->u.r, &out->u.d))
            return;
        if (m->type == JSON_STRING &&
            miaopi__dec_parse(m->u.s.p, m->u.s.len, &out->u.d))
            return;
        break;
    case MP_T_BOOL:
        if (m->type != JSON_TRUE && m->type != JSON_FALSE)
            break;
        out->u.b = m->type == JSON_TRUE;
        return;
    case MP_T_DATE:
        if (m->type == JSON_STRING &&
            miaopi__date_parse(m->u.s.p, m->u.s.len, &out->u.date))
            return;
        break;
    case MP_T_LIST:
        if (m->type != JSON_ARRAY)
            break;
        out->u.list.json = m->u.j;
        out->u.list.n = json_array_size(m->u.j);
        return;
    case MP_T_RECORD:
        if (m->type != JSON_OBJECT)
            break;
        out->u.rec = m->u.j;
        return;
    default:
        break;
    }
    mp_value_unknown(out, MP_WHY_TYPE, where);
}

static inline __attribute__((always_inline)) void
value_from_json(const json_t *j, const mp_type *t, const mp_node *where,
                mp_value *out)
{
    mp_member m;
    mp_member_of_json(j, &m);
    value_from_member(&m, t, where, out);
}

void mp_value_from_json(const json_t *j, const mp_type *t,
                        const mp_node *where, mp_value *out)
{
    value_from_json(j, t, where, out);
}

void mp_list_get(const mp_value *list, const mp_type *elem, size_t i,
                 const mp_node *where, mp_value *out)
{
    if (list->u.list.items)
        *out = list->u.list.items[i];
    else
        mp_value_from_json(json_array_get(list->u.list.json, i), elem, where,
                           out);
}

static miaopi__dec as_dec(const mp_value *v)
{
    return v->kind == MP_T_DEC ? v->u.d : miaopi__dec_from_int(v->u.i);
}

static int cmp_bytes(const char *a, size_t an, const char *b, size_t bn)
{
    int r = memcmp(a, b, an < bn ? an : bn);
    if (r)
        return r < 0 ? -1 : 1;
    return an < bn ? -1 : an > bn ? 1 : 0;
}

/* Both values known and comparable (the type checker saw to that). */
int mp_value_cmp(const mp_value *a, const mp_value *b)
{
    if (a->kind == MP_T_INT && b->kind == MP_T_INT)
        return a->u.i < b->u.i ? -1 : a->u.i > b->u.i;
    if ((a->kind == MP_T_INT || a->kind == MP_T_DEC) &&
        (b->kind == MP_T_INT || b->kind == MP_T_DEC))
        return miaopi__dec_cmp(as_dec(a), as_dec(b));
    switch (a->kind) {
    case MP_T_STRING:
        return cmp_bytes(a->u.s.p, a->u.s.len, b->u.s.p, b->u.s.len);
    case MP_T_DATE:
        return a->u.date < b->u.date ? -1 : a->u.date > b->u.date;
    case MP_T_BOOL:
        return (int)a->u.b - (int)b->u.b;
    default:
        return 0;
    }
}

bool mp_value_eq(const mp_value *a, const mp_value *b)
{
    if (a->kind == MP_T_STRING && b->kind == MP_T_STRING)
        return a->u.s.len == b->u.s.len &&
               mp_name_eq(a->u.s.p, b->u.s.p, a->u.s.len);
    return mp_value_cmp(a, b) == 0;
}

static void format_plain(const mp_value *v, const mp_type *t,
                         miaopi__buf *out)
{
    char tmp[64];
    switch (v->kind) {
    case MP_T_STRING:
        mp_buf_add(out, v->u.s.p, v->u.s.len);
        break;
    case MP_T_INT: {
        /* Integers are formatted by hand: vsnprintf was a tenth of the
         * cost of rendering a rejected decision's messages. */
        uint64_t u = v->u.i < 0 ? 0 - (uint64_t)v->u.i : (uint64_t)v->u.i;
        char *e = tmp + sizeof(tmp), *p = e;
        do
            *--p = (char)('0' + u % 10);
        while ((u /= 10) != 0);
        if (v->u.i < 0)
            *--p = '-';
        mp_buf_add(out, p, (size_t)(e - p));
        break;
    }
    case MP_T_DEC:
        miaopi__dec_format(v->u.d, tmp);
        miaopi__buf_adds(out, tmp);
        break;
    case MP_T_BOOL:
        miaopi__buf_adds(out, v->u.b ? "true" : "false");
        break;
    case MP_T_DATE:
        /* 10 bytes, or 0 (an empty string) out of range. */
        mp_buf_add(out, tmp, miaopi__date_format(v->u.date, tmp));
        break;
    case MP_T_LIST: {
        miaopi__buf_addc(out, '[');
        for (size_t i = 0; i < v->u.list.n; i++) {
            mp_value e;
            mp_list_get(v, t && t->elem ? t->elem : t, i, NULL, &e);
            if (i)
                miaopi__buf_adds(out, ", ");
            if (MP_IS_UNKNOWN(&e))
                miaopi__buf_adds(out, "?");
            else
                format_plain(&e, t ? t->elem : NULL, out);
        }
        miaopi__buf_addc(out, ']');
        break;
    }
    case MP_T_RECORD:
        miaopi__buf_adds(out, "{…}");
        break;
    default:
        miaopi__buf_adds(out, "?");
        break;
    }
}

void mp_value_format(const mp_value *v, const mp_type *t, miaopi__pii pii,
                     miaopi__buf *out, miaopi__buf *scratch)
{
    if (pii == MIAOPI__PII_NONE || v->kind == MP_T_LIST ||
        v->kind == MP_T_RECORD) {
        if (pii != MIAOPI__PII_NONE) {
            miaopi__buf_adds(out, "***");
            return;
        }
        format_plain(v, t, out);
        return;
    }
    scratch->len = 0;
    scratch->failed = false;
    format_plain(v, t, scratch);
    if (scratch->failed) {
        /* Masking a truncated value could reveal or misplace characters:
         * fail the whole output instead. */
        out->failed = true;
        return;
    }
    const char *p = miaopi__buf_cstr(scratch);
    /* Masked text is rarely longer than the value plus a few stars, so
     * one call into a generous reserve usually does it; measuring first
     * doubled the cost of masking. */
    size_t room = scratch->len + 16;
    if (!miaopi__buf_reserve(out, room))
        return;
    size_t need = miaopi__mask(pii, p, scratch->len, out->data + out->len,
                               room + 1);
    if (need > room) {
        if (!miaopi__buf_reserve(out, need))
            return;
        miaopi__mask(pii, p, scratch->len, out->data + out->len, need + 1);
    }
    out->len += need;
}

/* ---- evaluation ---- */

/* The field of schema s a member named k is bound to, or NULL (see
 * bind_object). */
static inline __attribute__((always_inline)) const mp_field *
bind_field(const mp_schema *s, size_t *next, const char *k, size_t len)
{
    /* Case objects usually list their members in the order the ruleset
     * declares them: the field after the last one bound is tried first,
     * by length and name, before the index (its hash, probe and
     * comparison cost three times as much). Names are unique in a
     * schema, so either way finds the same field. */
    const mp_field *fields = s->fields;
    const mp_field *f;
    if (*next < s->nfields && fields[*next].name_len == len &&
        mp_name_eq(fields[*next].name, k, len)) {
        f = &fields[(*next)++];
    } else {
        f = mp_schema_lookup(s, k, len);
        if (f)
            *next = (size_t)(f - fields) + 1;
    }
    return f;
}

static inline __attribute__((always_inline)) void
bind_slot(mp_eval *ev, const mp_field *f, const mp_member *m)
{
    mp_slot *slot = &ev->slots[f->slot];
    slot->jgen = ev->gen;
    slot->gen = ev->gen;
    value_from_member(m, &f->type, NULL, &slot->v);
}

static inline bool is_provenance(const char *k, size_t len)
{
    return len == 11 && memcmp(k, "_provenance", 11) == 0;
}

static inline __attribute__((always_inline)) void
bind_object(mp_eval *ev, const json_t *obj, const mp_schema *s,
            const json_t **prov)
{
    /* Each declared member is converted here, into the slot cache, as
     * the first read of the field would have done (its unknown reason
     * gets the reading node as `where` when read, as every cached read
     * does). jansson keeps one member per key, so each slot is bound at
     * most once. An object in the case's member table is read from it:
     * contiguous, with its scalars already out of the tree. Others
     * (records returned by resolvers) are walked in jansson's ordered
     * member list, a few loads per member; json_object_getn would hash
     * each name with a seeded hash, about 140 instructions per field. */
    size_t next = s->index_first;
    const mp_flatobj *fo = mp_flat_find(ev->flat, obj);
    if (fo) {
        const char *pool = ev->flat->pool;
        for (const mp_member *m = fo->m, *e = m + fo->n; m < e; m++) {
            const char *k = pool + m->key;
            if (prov && is_provenance(k, m->key_len))
                *prov = m->type == JSON_OBJECT
                            ? m->u.j /* else not a record: rare */
                            : json_object_getn(obj, k, m->key_len);
            const mp_field *f = bind_field(s, &next, k, m->key_len);
            if (f)
                bind_slot(ev, f, m);
        }
        return;
    }
    json_t *o = (json_t *)obj;
    for (void *it = json_object_iter(o); it; it = json_object_iter_next(o, it)) {
        const char *k = json_object_iter_key(it);
        size_t len = json_object_iter_key_len(it);
        if (prov && is_provenance(k, len))
            *prov = json_object_iter_value(it);
        const mp_field *f = bind_field(s, &next, k, len);
        if (f) {
            mp_member m;
            mp_member_of_json(json_object_iter_value(it), &m);
            bind_slot(ev, f, &m);
        }
    }
}

void mp_bind_object(mp_eval *ev, const json_t *obj, const mp_schema *s)
{
    bind_object(ev, obj, s, NULL);
}

const json_t *mp_bind_record(mp_eval *ev, const json_t *obj,
                             const mp_schema *s)
{
    const json_t *prov = NULL;
    bind_object(ev, obj, s, &prov);
    return prov;
}

static void eval_path(mp_eval *ev, const mp_node *n, mp_value *out)
{
    const mp_field *f = n->field;
    mp_slot *slot = &ev->slots[f->slot];
    if (slot->gen == ev->gen) {
        *out = slot->v;
        if (MP_IS_UNKNOWN(out))
            out->where = n;
        return;
    }
    const json_t *obj = NULL;
    const mp_schema *s = NULL;
    uint32_t *bound = NULL;
    switch (n->root) {
    case MP_ROOT_APPLICATION:
        obj = ev->application;
        s = &ev->rs->application;
        bound = &ev->app_bound;
        break;
    case MP_ROOT_CONTEXT:
        if (f == &ev->rs->context.fields[0]) {
            memset(out, 0, sizeof(*out));
            out->kind = MP_T_DATE;
            out->u.date = ev->decision_date;
            goto done;
        }
        obj = ev->context;
        s = &ev->rs->context;
        bound = &ev->ctx_bound;
        break;
    case MP_ROOT_SOURCE: {
        /* Inline in the case, or fetched lazily through a resolver; not
         * found, unavailable and stale records are UNKNOWN. */
        mp_why why = MP_WHY_NONE;
        obj = mp_source_record(ev, n->source, &why);
        if (!obj) {
            mp_value_unknown(out, why, n);
            goto done;
        }
        s = &n->source->schema;
        bound = &ev->src[n->source->index].bound_gen;
        break;
    }
    }
    /* Already bound in this evaluation (a source's record may have been
     * bound by mp_source_record just now): the slot says it all, without
     * reading the object's jansson node again. */
    if (s->index && *bound == ev->gen)
        goto bound;
    if (!obj || !json_is_object(obj)) {
        mp_value_unknown(out, MP_WHY_MISSING, n);
        goto done;
    }
    if (!s->index) {
        mp_value_from_json(json_object_getn(obj, f->name, f->name_len),
                           &f->type, n, out);
        goto done;
    }
    /* The first read of an object binds all its declared members; a
     * field whose slot is still empty after that is absent. */
    mp_bind_object(ev, obj, s);
    *bound = ev->gen;
bound:
    if (slot->gen == ev->gen) {
        *out = slot->v;
        if (MP_IS_UNKNOWN(out))
            out->where = n;
        return;
    }
    mp_value_unknown(out, MP_WHY_MISSING, n);
done:
    slot->gen = ev->gen;
    slot->v = *out;
}

static void eval_field(mp_eval *ev, const mp_node *n, mp_value *out)
{
    mp_value rec;
    mp_eval_node(ev, n->args[0], &rec);
    if (MP_IS_UNKNOWN(&rec)) {
        *out = rec;
        return;
    }
    mp_value_from_json(json_object_getn(rec.u.rec, n->field->name,
                                        n->field->name_len),
                       &n->field->type, n, out);
}

static void set_bool(mp_value *out, bool b)
{
    memset(out, 0, sizeof(*out));
    out->kind = MP_T_BOOL;
    out->u.b = b;
}

/* Kleene and/or: a known deciding operand wins over an unknown one. */
static void eval_logic(mp_eval *ev, const mp_node *n, bool is_or,
                       mp_value *out)
{
    mp_value a, b;
    mp_eval_node(ev, n->args[0], &a);
    if (!MP_IS_UNKNOWN(&a) && a.u.b == is_or) {
        set_bool(out, is_or);
        return;
    }
    mp_eval_node(ev, n->args[1], &b);
    if (!MP_IS_UNKNOWN(&b) && b.u.b == is_or) {
        set_bool(out, is_or);
        return;
    }
    if (MP_IS_UNKNOWN(&a)) {
        *out = a;
        return;
    }
    if (MP_IS_UNKNOWN(&b)) {
        *out = b;
        return;
    }
    set_bool(out, !is_or);
}

static void eval_in(mp_eval *ev, const mp_node *n, mp_value *out)
{
    mp_value x, list;
    mp_eval_node(ev, n->args[0], &x);
    if (MP_IS_UNKNOWN(&x)) {
        *out = x;
        return;
    }
    mp_eval_node(ev, n->args[1], &list);
    if (MP_IS_UNKNOWN(&list)) {
        *out = list;
        return;
    }
    bool negate = n->op == MP_OP_NOT_IN;
    mp_value unknown;
    bool seen_unknown = false;
    if (list.u.list.items && x.kind == MP_T_STRING) {
        /* A constant list of strings (eligible_degrees): compared in
         * place, without copying each item out. */
        const mp_value *it = list.u.list.items;
        for (size_t i = 0; i < list.u.list.n; i++) {
            if (MP_IS_UNKNOWN(&it[i])) {
                if (!seen_unknown)
                    unknown = it[i];
                seen_unknown = true;
                continue;
            }
            if (it[i].kind == MP_T_STRING && it[i].u.s.len == x.u.s.len &&
                mp_name_eq(it[i].u.s.p, x.u.s.p, x.u.s.len)) {
                set_bool(out, !negate);
                return;
            }
            if (it[i].kind != MP_T_STRING && mp_value_eq(&x, &it[i])) {
                set_bool(out, !negate);
                return;
            }
        }
        if (seen_unknown)
            *out = unknown;
        else
            set_bool(out, negate);
        return;
    }
    for (size_t i = 0; i < list.u.list.n; i++) {
        mp_value e;
        mp_list_get(&list, n->args[1]->type.elem, i, n->args[1], &e);
        if (MP_IS_UNKNOWN(&e)) {
            if (!seen_unknown)
                unknown = e;
            seen_unknown = true;
            continue;
        }
        if (mp_value_eq(&x, &e)) {
            set_bool(out, !negate);
            return;
        }
    }
    if (seen_unknown)
        *out = unknown;
    else
        set_bool(out, negate);
}

static bool eval_two(mp_eval *ev, const mp_node *n, mp_value *a, mp_value *b,
                     mp_value *out)
{
    mp_eval_node(ev, n->args[0], a);
    if (MP_IS_UNKNOWN(a)) {
        *out = *a;
        return false;
    }
    mp_eval_node(ev, n->args[1], b);
    if (MP_IS_UNKNOWN(b)) {
        *out = *b;
        return false;
    }
    return true;
}

static void eval_compare(mp_eval *ev, const mp_node *n, mp_value *out)
{
    mp_value a, b;
    if (!eval_two(ev, n, &a, &b, out))
        return;
    if (n->op == MP_OP_EQ || n->op == MP_OP_NE) {
        bool eq = mp_value_eq(&a, &b);
        set_bool(out, n->op == MP_OP_EQ ? eq : !eq);
        return;
    }
    int c = mp_value_cmp(&a, &b);
    switch (n->op) {
    case MP_OP_LT: set_bool(out, c < 0); break;
    case MP_OP_LE: set_bool(out, c <= 0); break;
    case MP_OP_GT: set_bool(out, c > 0); break;
    default: set_bool(out, c >= 0); break;
    }
}

static void eval_int_arith(const mp_node *n, int64_t x, int64_t y,
                           mp_value *out)
{
    int64_t r = 0;
    bool overflow = false;
    switch (n->op) {
    case MP_OP_ADD: overflow = __builtin_add_overflow(x, y, &r); break;
    case MP_OP_SUB: overflow = __builtin_sub_overflow(x, y, &r); break;
    case MP_OP_MUL: overflow = __builtin_mul_overflow(x, y, &r); break;
    case MP_OP_MOD:
        if (y == 0) {
            mp_value_unknown(out, MP_WHY_DIV_ZERO, n);
            return;
        }
        /* INT64_MIN % -1 traps on x86. */
        r = (y == -1) ? 0 : x % y;
        break;
    default:
        mp_value_unknown(out, MP_WHY_INTERNAL, n);
        return;
    }
    if (overflow) {
        mp_value_unknown(out, MP_WHY_OVERFLOW, n);
        return;
    }
    memset(out, 0, sizeof(*out));
    out->kind = MP_T_INT;
    out->u.i = r;
}

static void eval_arith(mp_eval *ev, const mp_node *n, mp_value *out)
{
    mp_value a, b;
    if (!eval_two(ev, n, &a, &b, out))
        return;
    if (n->type.kind == MP_T_INT) {
        eval_int_arith(n, a.u.i, b.u.i, out);
        return;
    }
    miaopi__dec x = as_dec(&a), y = as_dec(&b), r;
    bool ok;
    switch (n->op) {
    case MP_OP_ADD: ok = miaopi__dec_add(x, y, &r); break;
    case MP_OP_SUB: ok = miaopi__dec_sub(x, y, &r); break;
    case MP_OP_MUL: ok = miaopi__dec_mul(x, y, &r); break;
    default:
        if (y.coef == 0) {
            mp_value_unknown(out, MP_WHY_DIV_ZERO, n);
            return;
        }
        ok = miaopi__dec_div(x, y, &r);
        break;
    }
    if (!ok) {
        mp_value_unknown(out, MP_WHY_OVERFLOW, n);
        return;
    }
    memset(out, 0, sizeof(*out));
    out->kind = MP_T_DEC;
    out->u.d = r;
}

static void eval_neg(mp_eval *ev, const mp_node *n, mp_value *out)
{
    mp_eval_node(ev, n->args[0], out);
    if (MP_IS_UNKNOWN(out))
        return;
    if (out->kind == MP_T_INT) {
        if (out->u.i == INT64_MIN)
            mp_value_unknown(out, MP_WHY_OVERFLOW, n);
        else
            out->u.i = -out->u.i;
    } else if (!miaopi__dec_neg(out->u.d, &out->u.d)) {
        mp_value_unknown(out, MP_WHY_OVERFLOW, n);
    }
}

static void promote(const mp_node *n, mp_value *v)
{
    if (n->type.kind == MP_T_DEC && v->kind == MP_T_INT) {
        v->u.d = miaopi__dec_from_int(v->u.i);
        v->kind = MP_T_DEC;
    }
}

static void eval_quantifier(mp_eval *ev, const mp_node *n, mp_value *out)
{
    mp_value list;
    mp_eval_node(ev, n->args[0], &list);
    if (MP_IS_UNKNOWN(&list)) {
        *out = list;
        return;
    }
    const mp_type *elem = n->args[0]->type.elem;
    int64_t count = 0;
    mp_value unknown;
    bool seen_unknown = false;
    for (size_t i = 0; i < list.u.list.n; i++) {
        mp_value *var = &ev->vars[n->var];
        mp_list_get(&list, elem, i, n->args[0], var);
        mp_value p;
        mp_eval_node(ev, n->args[1], &p);
        if (MP_IS_UNKNOWN(&p)) {
            if (!seen_unknown)
                unknown = p;
            seen_unknown = true;
            continue;
        }
        if (p.u.b)
            count++;
        if (n->op == MP_OP_ANY && p.u.b) {
            set_bool(out, true);
            return;
        }
        if (n->op == MP_OP_ALL && !p.u.b) {
            set_bool(out, false);
            return;
        }
    }
    if (seen_unknown) {
        *out = unknown;
        return;
    }
    if (n->op == MP_OP_COUNT) {
        memset(out, 0, sizeof(*out));
        out->kind = MP_T_INT;
        out->u.i = count;
        return;
    }
    set_bool(out, n->op == MP_OP_ALL);
}

static void eval_call(mp_eval *ev, const mp_node *n, mp_value *out)
{
    mp_value args[8];
    for (int i = 0; i < n->nargs; i++) {
        mp_eval_node(ev, n->args[i], &args[i]);
        if (MP_IS_UNKNOWN(&args[i])) {
            *out = args[i];
            return;
        }
    }
    memset(out, 0, sizeof(*out));
    n->fn->eval(ev, n, args, out);
    if (MP_IS_UNKNOWN(out) && !out->where)
        out->where = n;
}

#define MP_NOINLINE __attribute__((noinline))

MP_NOINLINE static void eval_limit(mp_value *out, const mp_node *n)
{
    mp_value_unknown(out, MP_WHY_LIMIT, n);
}

MP_NOINLINE static void eval_path_node(mp_eval *ev, const mp_node *n,
                                       mp_value *out)
{
    eval_path(ev, n, out);
}

MP_NOINLINE static void eval_table(mp_eval *ev, const mp_node *n,
                                   mp_value *out)
{
    mp_value key;
    mp_eval_node(ev, n->args[0], &key);
    if (MP_IS_UNKNOWN(&key)) {
        *out = key;
        return;
    }
    const mp_value *v = mp_table_lookup(n->table, &key);
    if (v)
        *out = *v;
    else
        mp_value_unknown(out, MP_WHY_NO_KEY, n);
}

MP_NOINLINE static void eval_not(mp_eval *ev, const mp_node *n, mp_value *out)
{
    mp_eval_node(ev, n->args[0], out);
    if (!MP_IS_UNKNOWN(out))
        out->u.b = !out->u.b;
}

MP_NOINLINE static void eval_and(mp_eval *ev, const mp_node *n, mp_value *out)
{
    eval_logic(ev, n, false, out);
}

MP_NOINLINE static void eval_or(mp_eval *ev, const mp_node *n, mp_value *out)
{
    eval_logic(ev, n, true, out);
}

MP_NOINLINE static void eval_compare_node(mp_eval *ev, const mp_node *n,
                                          mp_value *out)
{
    eval_compare(ev, n, out);
}

MP_NOINLINE static void eval_in_node(mp_eval *ev, const mp_node *n,
                                     mp_value *out)
{
    eval_in(ev, n, out);
}

MP_NOINLINE static void eval_call_node(mp_eval *ev, const mp_node *n,
                                       mp_value *out)
{
    eval_call(ev, n, out);
}

/* The operators the sample rules rarely use. */
MP_NOINLINE static void eval_rare(mp_eval *ev, const mp_node *n,
                                  mp_value *out)
{
    switch (n->op) {
    case MP_OP_FIELD:
        eval_field(ev, n, out);
        return;
    case MP_OP_ADD:
    case MP_OP_SUB:
    case MP_OP_MUL:
    case MP_OP_DIV:
    case MP_OP_MOD:
        eval_arith(ev, n, out);
        return;
    case MP_OP_NEG:
        eval_neg(ev, n, out);
        return;
    case MP_OP_IF: {
        mp_value c;
        mp_eval_node(ev, n->args[0], &c);
        if (MP_IS_UNKNOWN(&c)) {
            *out = c;
            return;
        }
        mp_eval_node(ev, n->args[c.u.b ? 1 : 2], out);
        if (!MP_IS_UNKNOWN(out))
            promote(n, out);
        return;
    }
    case MP_OP_ANY:
    case MP_OP_ALL:
    case MP_OP_COUNT:
        eval_quantifier(ev, n, out);
        return;
    case MP_OP_PRESENT: {
        mp_value v;
        mp_eval_node(ev, n->args[0], &v);
        if (!MP_IS_UNKNOWN(&v))
            set_bool(out, true);
        else if (v.why == MP_WHY_MISSING)
            set_bool(out, false);
        else
            *out = v; /* present but malformed: not evidence either way */
        return;
    }
    default:
        break;
    }
    mp_value_unknown(out, MP_WHY_INTERNAL, n);
}

/*
 * The dispatcher does the cheap cases itself (a literal, a field already
 * read in this evaluation, a quantifier variable) and tail-calls one
 * out-of-line function per operator for the rest. When every operator
 * was inlined here, each of the ~45 nodes of a decision paid for saving
 * and restoring the registers and stack frame of all of them.
 */
void mp_eval_node(mp_eval *ev, const mp_node *n, mp_value *out)
{
    /* Once the budget is spent every node is UNKNOWN at once, so even an
     * exponential expression ends quickly. */
    if (__builtin_expect(--ev->budget < 0, 0)) {
        eval_limit(out, n);
        return;
    }
    /* Two nodes in three are paths: tested before the jump table, which
     * costs twice as many instructions. */
    if (__builtin_expect(n->op == MP_OP_PATH, 1)) {
        const mp_slot *slot = &ev->slots[n->field->slot];
        if (slot->gen == ev->gen) {
            *out = slot->v;
            if (MP_IS_UNKNOWN(out))
                out->where = n;
            return;
        }
        eval_path_node(ev, n, out);
        return;
    }
    switch (n->op) {
    case MP_OP_LIT:
        *out = n->lit;
        return;
    case MP_OP_VAR:
        *out = ev->vars[n->var];
        return;
    case MP_OP_TABLE:
        eval_table(ev, n, out);
        return;
    case MP_OP_NOT:
        eval_not(ev, n, out);
        return;
    case MP_OP_AND:
        eval_and(ev, n, out);
        return;
    case MP_OP_OR:
        eval_or(ev, n, out);
        return;
    case MP_OP_EQ:
    case MP_OP_NE:
    case MP_OP_LT:
    case MP_OP_LE:
    case MP_OP_GT:
    case MP_OP_GE:
        eval_compare_node(ev, n, out);
        return;
    case MP_OP_IN:
    case MP_OP_NOT_IN:
        eval_in_node(ev, n, out);
        return;
    case MP_OP_CALL:
        eval_call_node(ev, n, out);
        return;
    default:
        eval_rare(ev, n, out);
        return;
    }
}

/* ---- regex ---- */

int mp_regex_match(mp_eval *ev, const pcre2_code *re, const char *s,
                   size_t len)
{
    if (!ev->md) {
        ev->md = pcre2_match_data_create(1, ev->gctx ? ev->gctx
                                                     : ev->rs->pcre_gctx);
        if (!ev->md) {
            ev->nomem = true;
            return -1;
        }
    }
    int rc = pcre2_match(re, (PCRE2_SPTR)s, len, 0, 0, ev->md,
                         ev->rs->pcre_mctx);
    if (rc >= 0)
        return 1;
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    /* The interpreter's backtracking frames come from the heap: failing
     * to get them is out of memory, not the pattern's limit. */
    if (rc == PCRE2_ERROR_NOMEMORY)
        ev->nomem = true;
    return -1;
}

/* ---- tables ---- */

uint64_t mp_value_hash(const mp_value *v)
{
    uint64_t h = 1469598103934665603ULL;
    const unsigned char *p;
    size_t n;
    int64_t i;
    switch (v->kind) {
    case MP_T_STRING:
        p = (const unsigned char *)v->u.s.p;
        n = v->u.s.len;
        break;
    case MP_T_DATE:
        i = v->u.date;
        p = (const unsigned char *)&i;
        n = sizeof(i);
        break;
    default:
        i = v->u.i;
        p = (const unsigned char *)&i;
        n = sizeof(i);
        break;
    }
    for (size_t k = 0; k < n; k++) {
        h ^= p[k];
        h *= 1099511628211ULL;
    }
    return h;
}

const mp_value *mp_table_lookup(const mp_table *t, const mp_value *key)
{
    if (!t->index_cap)
        return NULL;
    uint64_t h = mp_value_hash(key);
    size_t mask = t->index_cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        uint32_t r = t->index[i];
        if (r == 0)
            return NULL;
        const mp_table_row *row = &t->rows[r - 1];
        if (row->hash == h && mp_value_eq(&row->key, key))
            return &row->value;
    }
}
