/*
 * The rule author's view of evaluation: stand-alone expressions compiled
 * in a ruleset's scope, and traces of the sub-expressions each rule
 * evaluated with the values they had.
 *
 * A stand-alone expression is compiled into its own scope: a shallow copy
 * of the ruleset (declarations, constants, tables) with a pool of its own,
 * so compiling never writes to a ruleset other threads may be using.
 *
 * A trace is recorded after the decision is made, by walking each rule's
 * expressions again with the decision's warm slot cache. Evaluation is
 * pure, so every sub-expression has the value it had during the decision;
 * the walk follows the evaluator's short-circuits so that operands the
 * evaluator skipped are not shown. This keeps the evaluator itself free of
 * any tracing test.
 */
#include "authoring.h"

#include <string.h>

typedef struct mp_step {
    size_t rule;
    const char *rule_id;
    miaopi_trace_part part;
    int depth;
    size_t start;
    size_t len;
    const char *expr;
    const char *value;
    const char *type;
    const char *reason;
    bool known;
} mp_step;

struct mp_aux {
    bool trace;
    bool failed;          /* an allocation failed while tracing */
    mp_step *steps;
    size_t n;
    size_t cap;
    miaopi__arena arena;  /* strings of steps and expression results */
    miaopi__buf buf;
    miaopi__buf scratch;
};

#define EXPR_MAX_WARNINGS 8

typedef struct expr_warning {
    miaopi__diag_id id;
    int offset;
    char msg[400];
} expr_warning;

struct miaopi_expr {
    miaopi_ruleset *scope; /* own reference */
    mp_node *root;
    const char *type;
    const char *text;      /* in the scope's pool, for warning positions */
    size_t len;
    expr_warning warnings[EXPR_MAX_WARNINGS];
    size_t nwarnings;
};

mp_aux *miaopi__aux_new(void)
{
    mp_aux *a = miaopi__calloc(NULL, 1, sizeof(*a));
    if (a)
        miaopi__arena_init(&a->arena, NULL);
    return a;
}

void miaopi__aux_free(mp_aux *a)
{
    if (!a)
        return;
    miaopi__free(NULL, a->steps);
    miaopi__arena_free(&a->arena);
    miaopi__buf_free(&a->buf);
    miaopi__buf_free(&a->scratch);
    miaopi__free(NULL, a);
}

bool miaopi__aux_tracing(const mp_aux *a)
{
    return a && a->trace;
}

/* ---- showing values ---- */

/* The personal-data class a value inherits: a classified field, or a
 * string or list computed from one (as for message placeholders). */
static miaopi__pii node_pii(const mp_node *n)
{
    if (n->op == MP_OP_PATH || n->op == MP_OP_FIELD)
        return n->field->pii;
    if (n->type.kind != MP_T_STRING && n->type.kind != MP_T_LIST)
        return MIAOPI__PII_NONE;
    for (int i = 0; i < n->nargs; i++) {
        miaopi__pii p = node_pii(n->args[i]);
        if (p != MIAOPI__PII_NONE)
            return p;
    }
    return MIAOPI__PII_NONE;
}

static void add_quoted(miaopi__buf *out, const char *s, size_t n)
{
    miaopi__buf_addc(out, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') {
            miaopi__buf_addc(out, '\\');
            miaopi__buf_addc(out, (char)ch);
        } else if (ch == '\n') {
            miaopi__buf_adds(out, "\\n");
        } else if (ch == '\t') {
            miaopi__buf_adds(out, "\\t");
        } else if (ch < 0x20) {
            miaopi__buf_printf(out, "\\u%04x", ch);
        } else {
            miaopi__buf_addc(out, (char)ch);
        }
    }
    miaopi__buf_addc(out, '"');
}

#define MAX_SHOWN_ITEMS 20

static void show(miaopi__buf *out, const mp_value *v, const mp_type *t,
                 miaopi__pii pii, miaopi__buf *scratch)
{
    if (MP_IS_UNKNOWN(v)) {
        miaopi__buf_adds(out, "UNKNOWN");
        return;
    }
    switch (v->kind) {
    case MP_T_STRING:
        if (pii == MIAOPI__PII_NONE) {
            add_quoted(out, v->u.s.p, v->u.s.len);
        } else {
            miaopi__buf masked;
            miaopi__buf_init(&masked);
            mp_value_format(v, t, pii, &masked, scratch);
            add_quoted(out, masked.data ? masked.data : "", masked.len);
            miaopi__buf_free(&masked);
        }
        return;
    case MP_T_LIST:
        miaopi__buf_addc(out, '[');
        for (size_t i = 0; i < v->u.list.n; i++) {
            if (i)
                miaopi__buf_adds(out, ", ");
            if (i == MAX_SHOWN_ITEMS) {
                miaopi__buf_printf(out, "… %zu more", v->u.list.n - i);
                break;
            }
            mp_value e;
            const mp_type *et = t && t->elem ? t->elem : NULL;
            mp_list_get(v, et, i, NULL, &e);
            show(out, &e, et, pii, scratch);
        }
        miaopi__buf_addc(out, ']');
        return;
    case MP_T_RECORD:
        miaopi__buf_adds(out, "{…}");
        return;
    default:
        mp_value_format(v, t, pii, out, scratch);
        return;
    }
}

static const char *arena_buf(mp_aux *a)
{
    if (a->buf.failed) {
        a->failed = true;
        return NULL;
    }
    char *s = miaopi__arena_strndup(&a->arena, a->buf.data ? a->buf.data : "",
                                    a->buf.len);
    if (!s)
        a->failed = true;
    return s;
}

static const char *show_value(mp_aux *a, const mp_value *v, const mp_node *n)
{
    a->buf.len = 0;
    show(&a->buf, v, &n->type, node_pii(n), &a->scratch);
    return arena_buf(a);
}

static const char *show_type(mp_aux *a, const mp_type *t)
{
    a->buf.len = 0;
    mp_type_name(t, &a->buf);
    return arena_buf(a);
}

static const char *unknown_path(const mp_node *n)
{
    if (n && (n->op == MP_OP_PATH || n->op == MP_OP_FIELD) && n->text)
        return n->text;
    return "";
}

/* ---- traces ---- */

typedef struct walker {
    mp_aux *a;
    miaopi_decision *d;
    mp_eval *ev;
    size_t rule;
    const char *rule_id;
    miaopi_trace_part part;
    const char *text;
    int budget; /* steps this expression may still record */
} walker;

/* Re-walking costs one evaluation per level of nesting, so a deep chain
 * (a + b + c + … in a hostile file) would be quadratic: show at most this
 * many levels and steps per expression. */
#define TRACE_MAX_DEPTH 24
#define TRACE_MAX_STEPS 256

/* Is s[0..n) one literal token: a number, a quoted string, a list
 * literal, true or false? */
static bool one_literal(const char *s, size_t n)
{
    if (n == 0)
        return false;
    if (s[0] == '"' || s[0] == '\'') {
        size_t i = 1;
        while (i < n && s[i] != s[0])
            i += s[i] == '\\' ? 2 : 1;
        return i == n - 1;
    }
    if (s[0] == '[')
        return s[n - 1] == ']';
    if ((n == 4 && memcmp(s, "true", 4) == 0) ||
        (n == 5 && memcmp(s, "false", 5) == 0))
        return true;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || s[i] == '.' ||
              (i == 0 && s[i] == '-')))
            return false;
    return true;
}

/* Plain literals ("x", 35, [1, 2], true) say nothing their text does not;
 * named constants and folded expressions do, so those are shown. */
static bool plain_literal(const walker *w, const mp_node *n)
{
    return n->op == MP_OP_LIT &&
           one_literal(w->text + n->start, (size_t)n->len);
}

static void record(walker *w, const mp_node *n, const mp_value *v,
                   int depth)
{
    mp_aux *a = w->a;
    if (a->failed)
        return;
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        mp_step *s = miaopi__realloc(NULL, a->steps, cap * sizeof(*s));
        if (!s) {
            a->failed = true;
            return;
        }
        a->steps = s;
        a->cap = cap;
    }
    mp_step *s = &a->steps[a->n];
    memset(s, 0, sizeof(*s));
    s->rule = w->rule;
    s->rule_id = w->rule_id;
    s->part = w->part;
    s->depth = depth;
    s->start = (size_t)n->start;
    s->len = (size_t)n->len;
    s->expr = miaopi__arena_strndup(&a->arena, w->text + n->start,
                                    (size_t)n->len);
    s->known = !MP_IS_UNKNOWN(v);
    s->value = show_value(a, v, n);
    s->type = show_type(a, &n->type);
    s->reason = s->known ? ""
                         : miaopi__decision_why(w->d, v->why, v->where);
    if (!s->expr || !s->value || !s->type || !s->reason) {
        a->failed = true;
        return;
    }
    a->n++;
}

static bool decides(const mp_value *v, bool is_or)
{
    return !MP_IS_UNKNOWN(v) && v->u.b == is_or;
}

/* Evaluate n, record it, then its operands in the order and under the
 * conditions the evaluator (eval.c) evaluates them. */
static mp_value walk(walker *w, const mp_node *n, int depth)
{
    mp_value v, x;
    mp_eval_node(w->ev, n, &v);
    if (depth > 0 && plain_literal(w, n))
        return v;
    record(w, n, &v, depth);
    if (depth >= TRACE_MAX_DEPTH || --w->budget <= 0)
        return v;
    switch (n->op) {
    case MP_OP_AND:
    case MP_OP_OR:
        x = walk(w, n->args[0], depth + 1);
        if (!decides(&x, n->op == MP_OP_OR))
            walk(w, n->args[1], depth + 1);
        break;
    case MP_OP_IF:
        x = walk(w, n->args[0], depth + 1);
        if (!MP_IS_UNKNOWN(&x))
            walk(w, n->args[x.u.b ? 1 : 2], depth + 1);
        break;
    case MP_OP_CALL:
        for (int i = 0; i < n->nargs; i++) {
            x = walk(w, n->args[i], depth + 1);
            if (MP_IS_UNKNOWN(&x))
                break;
        }
        break;
    case MP_OP_ANY:
    case MP_OP_ALL:
    case MP_OP_COUNT:
        /* The condition runs once per element; its result is the
         * quantifier's own value. */
        walk(w, n->args[0], depth + 1);
        break;
    case MP_OP_LIT:
    case MP_OP_PATH:
    case MP_OP_VAR:
        break;
    default:
        /* Unary operators, fields, table keys, present(); binary
         * operators stop after an UNKNOWN left operand. */
        x = walk(w, n->args[0], depth + 1);
        if (n->nargs > 1 && !MP_IS_UNKNOWN(&x))
            walk(w, n->args[1], depth + 1);
        break;
    }
    return v;
}

void miaopi__trace_all(mp_aux *a, miaopi_decision *d, mp_eval *ev,
                       const miaopi_ruleset *rs)
{
    a->n = 0;
    a->failed = false;
    miaopi__arena_reset(&a->arena);
    for (size_t i = 0; i < rs->nrules; i++) {
        const mp_rule *r = &rs->rules[i];
        walker w = {a, d, ev, i, r->id, MIAOPI_TRACE_WHEN, r->when_text,
                    TRACE_MAX_STEPS};
        if (r->when) {
            mp_value v = walk(&w, r->when, 0);
            if (MP_IS_UNKNOWN(&v) || !v.u.b)
                continue;
        }
        w.part = MIAOPI_TRACE_REQUIRE;
        w.text = r->require_text;
        w.budget = TRACE_MAX_STEPS;
        walk(&w, r->require, 0);
    }
}

json_t *miaopi__trace_json(const mp_aux *a)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < a->n; i++) {
        const mp_step *s = &a->steps[i];
        json_t *o = json_pack(
            "{s:s, s:s, s:i, s:I, s:I, s:s, s:s, s:s, s:b}", "rule",
            s->rule_id, "part",
            s->part == MIAOPI_TRACE_WHEN ? "when" : "require", "depth",
            s->depth, "start", (json_int_t)s->start, "length",
            (json_int_t)s->len, "expr", s->expr, "value", s->value, "type",
            s->type, "known", s->known);
        if (o && !s->known)
            json_object_set_new(o, "unknown", json_string(s->reason));
        if (!o || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

int miaopi_decision_set_trace(miaopi_decision *d, int enable)
{
    if (!d)
        return MIAOPI_EINVAL;
    mp_aux *a = miaopi__decision_aux(d, enable != 0);
    if (!a)
        return enable ? MIAOPI_ENOMEM : MIAOPI_OK;
    a->trace = enable != 0;
    a->n = 0;
    return MIAOPI_OK;
}

size_t miaopi_decision_trace_count(const miaopi_decision *d)
{
    const mp_aux *a = miaopi__decision_valid_aux(d);
    return a && a->trace ? a->n : 0;
}

int miaopi_decision_trace(miaopi_trace_step *out, const miaopi_decision *d,
                          size_t index)
{
    if (!out || !d || out->size < sizeof(*out))
        return MIAOPI_EINVAL;
    if (index >= miaopi_decision_trace_count(d))
        return MIAOPI_ENOTFOUND;
    const mp_step *s = &miaopi__decision_valid_aux(d)->steps[index];
    out->rule = s->rule;
    out->rule_id = s->rule_id;
    out->part = s->part;
    out->depth = s->depth;
    out->start = s->start;
    out->length = s->len;
    out->expr = s->expr;
    out->known = s->known;
    out->value = s->value;
    out->type = s->type;
    out->unknown_reason = s->reason;
    return MIAOPI_OK;
}

/* ---- stand-alone expressions ---- */

/* The scope of a stand-alone expression: a shallow copy of base (which it
 * keeps a reference to) with its own pool and PCRE2 contexts and no
 * rules, or an empty scope that knows only context.decision_date. */
static miaopi_ruleset *scope_new(const miaopi_ruleset *base)
{
    /* The scope lives (and is freed) with the base's allocator. */
    miaopi_ruleset *s = miaopi__calloc(base ? base->al : NULL, 1, sizeof(*s));
    if (!s)
        return NULL;
    if (base) {
        *s = *base;
        s->al = base->al ? &s->alloc : NULL;
        s->base = miaopi_ruleset_ref((miaopi_ruleset *)base);
    }
    s->refcount = 1;
    miaopi__arena_init(&s->pool, s->al);
    s->regexes = NULL;
    s->nregexes = s->capregexes = 0;
    s->pcre_gctx = NULL;
    s->pcre_cctx = NULL;
    s->pcre_mctx = NULL;
    s->rules = NULL;
    s->nrules = 0;
    if (miaopi__ruleset_setup_pcre(s, NULL) != MIAOPI_OK)
        goto fail;
    if (base)
        return s;
    mp_field *dd = miaopi__arena_alloc(&s->pool, sizeof(*dd));
    s->id = miaopi__arena_strndup(&s->pool, "", 0);
    s->version = s->id;
    if (!dd || !s->id)
        goto fail;
    memset(dd, 0, sizeof(*dd));
    dd->name = miaopi__arena_strndup(&s->pool, "decision_date", 13);
    if (!dd->name)
        goto fail;
    dd->name_len = 13;
    dd->type.kind = MP_T_DATE;
    dd->required = true;
    dd->slot = 0;
    dd->offset = -1;
    s->context.fields = dd;
    s->context.nfields = 1;
    s->nslots = 1;
    s->from_day = INT32_MIN;
    s->until_day = INT32_MAX;
    return s;
fail:
    miaopi_ruleset_unref(s);
    return NULL;
}

typedef struct expr_error {
    miaopi__diag_id id;
    int offset;
    char msg[400];
    bool seen;
    miaopi_expr *expr; /* collects the warnings */
} expr_error;

static void on_expr_error(void *payload, miaopi__diag_id id, int offset,
                          const char *msg)
{
    expr_error *e = payload;
    if (id != MIAOPI__D_NONE &&
        miaopi__diag_severity(id) != MIAOPI_SEVERITY_ERROR) {
        /* Warnings do not stop a stand-alone expression; they are kept
         * for miaopi_expr_warning. */
        miaopi_expr *x = e->expr;
        if (x->nwarnings < EXPR_MAX_WARNINGS) {
            expr_warning *w = &x->warnings[x->nwarnings++];
            w->id = id;
            w->offset = offset;
            snprintf(w->msg, sizeof(w->msg), "%s", msg);
        }
        return;
    }
    if (e->seen)
        return;
    e->seen = true;
    e->id = id;
    e->offset = offset;
    snprintf(e->msg, sizeof(e->msg), "%s", msg);
}

/* Line and column (in characters) of byte offset off in text. */
static void text_position(const char *text, size_t len, size_t off,
                          int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off && i < len; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else if (((unsigned char)text[i] & 0xC0) != 0x80) {
            (*col)++;
        }
    }
}

static int expr_fail(miaopi_error *err, const expr_error *e,
                     const char *text, size_t len)
{
    if (e->id == MIAOPI__D_NONE)
        return miaopi__error_set(err, MIAOPI_ENOMEM, "out of memory");
    miaopi__error_set(err, MIAOPI_EEXPR, "%s", e->msg);
    if (err) {
        snprintf(err->id, sizeof(err->id), "%s",
                 miaopi__diag_id_string(e->id));
        size_t off = e->offset < 0 ? 0 : (size_t)e->offset;
        if (off > len)
            off = len;
        text_position(text, len, off, &err->line, &err->column);
        err->offset = (long)off;
    }
    return MIAOPI_EEXPR;
}

int miaopi_expr_compile(miaopi_expr **out, const miaopi_ruleset *rs,
                        const char *text, size_t len, miaopi_error *err)
{
    miaopi__error_clear(err);
    if (!out || (!text && len))
        return miaopi__error_set(err, MIAOPI_EINVAL, "invalid argument");
    *out = NULL;
    if (!text)
        text = "";
    if (!miaopi__utf8_valid(text, len))
        return miaopi__error_set(err, MIAOPI_EEXPR,
                                 "the expression is not valid UTF-8");
    miaopi_expr *e = miaopi__calloc(NULL, 1, sizeof(*e));
    if (!e || !(e->scope = scope_new(rs))) {
        miaopi__free(NULL, e);
        return miaopi__error_set(err, MIAOPI_ENOMEM, "out of memory");
    }
    char *src = miaopi__arena_strndup(&e->scope->pool, text, len);
    if (!src) {
        miaopi_expr_free(e);
        return miaopi__error_set(err, MIAOPI_ENOMEM, "out of memory");
    }
    expr_error ee;
    memset(&ee, 0, sizeof(ee));
    ee.expr = e;
    e->text = src;
    e->len = len;
    mp_compiler c;
    memset(&c, 0, sizeof(c));
    c.rs = e->scope;
    c.on_error = on_expr_error;
    c.payload = &ee;
    c.max_depth = 256;
    c.keep_unknown = true;
    e->root = mp_compile(&c, src, len);
    if (!e->root || ee.seen) {
        int rc = ee.seen ? expr_fail(err, &ee, text, len)
                         : miaopi__error_set(err, MIAOPI_ENOMEM,
                                             "out of memory");
        miaopi_expr_free(e);
        return rc;
    }
    miaopi__buf t;
    miaopi__buf_init(&t);
    mp_type_name(&e->root->type, &t);
    e->type = t.failed ? NULL
                       : miaopi__arena_strndup(&e->scope->pool,
                                               miaopi__buf_cstr(&t), t.len);
    miaopi__buf_free(&t);
    if (!e->type) {
        miaopi_expr_free(e);
        return miaopi__error_set(err, MIAOPI_ENOMEM, "out of memory");
    }
    *out = e;
    return MIAOPI_OK;
}

void miaopi_expr_free(miaopi_expr *e)
{
    if (!e)
        return;
    miaopi_ruleset_unref(e->scope);
    miaopi__free(NULL, e);
}

const char *miaopi_expr_type(const miaopi_expr *e)
{
    return e ? e->type : NULL;
}

int miaopi_expr_warning(miaopi_error *out, const miaopi_expr *e,
                        size_t index)
{
    if (!out || !e)
        return MIAOPI_EINVAL;
    if (index >= e->nwarnings)
        return MIAOPI_ENOTFOUND;
    const expr_warning *w = &e->warnings[index];
    miaopi__error_set(out, MIAOPI_OK, "%s", w->msg);
    snprintf(out->id, sizeof(out->id), "%s", miaopi__diag_id_string(w->id));
    size_t off = w->offset < 0 ? 0 : (size_t)w->offset;
    if (off > e->len)
        off = e->len;
    text_position(e->text, e->len, off, &out->line, &out->column);
    out->offset = (long)off;
    return MIAOPI_OK;
}

int miaopi_expr_eval(miaopi_value_info *out, miaopi_decision *work,
                     const miaopi_expr *e, const miaopi_case *c,
                     miaopi_error *err)
{
    miaopi__error_clear(err);
    if (!out || !work || !e || out->size < sizeof(*out))
        return miaopi__error_set(err, MIAOPI_EINVAL, "invalid argument");
    mp_aux *a = miaopi__decision_aux(work, true);
    if (!a)
        return miaopi__error_set(err, MIAOPI_ENOMEM, "out of memory");
    mp_eval *ev;
    int rc = miaopi__decision_begin_expr(work, e->scope, c, &ev);
    if (rc != MIAOPI_OK)
        return miaopi__error_set(err, rc, "out of memory");
    miaopi__arena_reset(&a->arena);
    a->n = 0;
    a->failed = false;
    mp_value v;
    mp_eval_node(ev, e->root, &v);
    out->known = !MP_IS_UNKNOWN(&v);
    out->value = show_value(a, &v, e->root);
    out->type = e->type;
    out->unknown_reason =
        out->known ? "" : miaopi__decision_why(work, v.why, v.where);
    out->unknown_path = out->known ? "" : unknown_path(v.where);
    if (ev->nomem || a->failed || !out->value) {
        out->value = "";
        return miaopi__error_set(err, MIAOPI_ENOMEM, "out of memory");
    }
    return MIAOPI_OK;
}
