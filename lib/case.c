/*
 * Case documents. A case is a jansson tree; evaluation reads it in place,
 * converting only the fields that rules touch, once per evaluation.
 */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct miaopi_case {
    json_t *root;
    /* The member table (model.h); NULL when the case has none (built or
     * changed with the setters, read from a log, or the table could not
     * be allocated). Next to root: an evaluation reads both, and a case
     * evaluated cold then costs one cache miss here, not two. */
    mp_flat *flat;
    miaopi_allocator alloc;
    const miaopi_allocator *al; /* &alloc, or NULL for malloc */
    size_t max_bytes;
    int max_depth;
    /* The text the case was parsed from, for the decision log (see
     * miaopi__case_text), in the same allocation; NULL for a case built
     * with the setters or changed by them after parsing. */
    const char *text;
    size_t text_len;
};

/* A real case is a few KiB; 8 MiB leaves room for attached lists while a
 * hostile 50 MB document is refused before jansson builds a tree for it
 * (twice, see load_checked). */
#define CASE_MAX_BYTES ((size_t)8 << 20)
#define CASE_MAX_DEPTH 64

/* The caller's options, completed with defaults (see load_options in
 * ruleset.c for why a shorter struct is copied field by field). */
static int case_options(miaopi_case_options *o, const miaopi_case_options *in,
                        miaopi_allocator *alloc, const miaopi_allocator **al)
{
    miaopi_case_options dflt = MIAOPI_CASE_OPTIONS_INIT;
    *o = dflt;
    if (in && in->size > sizeof(size_t)) {
        size_t n = in->size < sizeof(*o) ? in->size : sizeof(*o);
        memcpy(o, in, n);
        o->size = sizeof(*o);
    }
    if (!o->max_bytes)
        o->max_bytes = CASE_MAX_BYTES;
    /* jansson itself stops at 2048 levels; the check below recurses. */
    if (!o->max_depth)
        o->max_depth = CASE_MAX_DEPTH;
    else if (o->max_depth > 2048)
        o->max_depth = 2048;
    return miaopi__allocator_copy(alloc, o->allocator, al) ? MIAOPI_OK
                                                          : MIAOPI_EINVAL;
}

/* JSON's whitespace. */
static bool json_ws(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

/* A case, with room for text (len bytes, or none when text is NULL) in the
 * same allocation: keeping the parsed text costs no extra allocation.
 * Text on several lines (a pretty-printed file) is not kept: the log
 * writes such a case compactly from its tree, one entry per line, as
 * before. A JSON Lines line, an HTTP body or any compact document is. */
static miaopi_case *case_alloc_text(const miaopi_case_options *o,
                                    const miaopi_allocator *al,
                                    const miaopi_allocator *alloc,
                                    const char *text, size_t len)
{
    if (text && (len > SIZE_MAX - sizeof(miaopi_case) - 1 ||
                 memchr(text, '\n', len) || memchr(text, '\r', len)))
        text = NULL;
    size_t extra = text ? len + 1 : 0;
    miaopi_case *c = miaopi__malloc(al, sizeof(*c) + extra);
    if (!c)
        return NULL;
    memset(c, 0, sizeof(*c));
    c->alloc = *alloc;
    c->al = al ? &c->alloc : NULL;
    c->max_bytes = o->max_bytes;
    c->max_depth = (int)o->max_depth;
    if (text) {
        char *t = (char *)(c + 1);
        memcpy(t, text, len);
        t[len] = '\0';
        c->text = t;
        c->text_len = len;
    }
    return c;
}

static miaopi_case *case_alloc(const miaopi_case_options *o,
                               const miaopi_allocator *al,
                               const miaopi_allocator *alloc)
{
    return case_alloc_text(o, al, alloc, NULL, 0);
}

const json_t *miaopi__case_root(const miaopi_case *c);
const json_t *miaopi__case_root(const miaopi_case *c)
{
    return c ? c->root : NULL;
}

/* ---- the member table ---- */

/* Bounds on the table: a real case has a few dozen members in these
 * objects. Objects past the limits are left out (evaluation walks them in
 * jansson, with the same result), and strings longer than FLAT_COPY_STR
 * are not copied (the member points into the tree), so the table and its
 * pool stay within the case's own size. */
#define FLAT_MAX_MEMBERS 512
#define FLAT_MAX_OBJECTS 64
#define FLAT_COPY_STR 256

typedef struct flat_plan {
    const json_t *objs[FLAT_MAX_OBJECTS];
    size_t nobj, nmem;
} flat_plan;

static void plan_add(flat_plan *p, const json_t *obj)
{
    size_t n = json_object_size(obj);
    if (p->nobj < FLAT_MAX_OBJECTS && n <= FLAT_MAX_MEMBERS - p->nmem) {
        p->objs[p->nobj++] = obj;
        p->nmem += n;
    }
}

/* The bytes the keys and copied strings of the planned objects take. */
static size_t plan_bytes(const flat_plan *p)
{
    size_t bytes = 0;
    for (size_t i = 0; i < p->nobj; i++) {
        json_t *o = (json_t *)p->objs[i];
        for (void *it = json_object_iter(o); it;
             it = json_object_iter_next(o, it)) {
            bytes += json_object_iter_key_len(it) + 1;
            const json_t *v = json_object_iter_value(it);
            if (json_is_string(v) && json_string_length(v) <= FLAT_COPY_STR)
                bytes += json_string_length(v) + 1;
        }
    }
    return bytes;
}

static size_t pool_copy(char *pool, size_t *used, const char *s, size_t len)
{
    size_t at = *used;
    memcpy(pool + at, s, len);
    pool[at + len] = '\0';
    *used += len + 1;
    return at;
}

static void flat_free(miaopi_case *c)
{
    if (c->flat) {
        miaopi__free(c->al, (char *)c->flat->pool);
        miaopi__free(c->al, c->flat);
        c->flat = NULL;
    }
}

/* (Re)build c's member table: the root, its application, context and
 * sources objects, and each object in sources (a source's record).
 *
 * Three allocations (the case with its text, the table, the pool) rather
 * than one: for a case of a few dozen members each stays under 1 KiB,
 * which glibc serves from its per-thread cache; one block of 2-3 KiB is a
 * "large" request, which first consolidates the small chunks jansson has
 * just freed, and made parsing a case 18% slower. */
static void flat_build(miaopi_case *c)
{
    flat_free(c);
    if (!json_is_object(c->root))
        return;
    flat_plan p;
    p.nobj = p.nmem = 0;
    plan_add(&p, c->root);
    if (p.nobj == 0)
        return;
    const json_t *sources = NULL;
    json_t *r = c->root;
    for (void *it = json_object_iter(r); it; it = json_object_iter_next(r, it)) {
        const char *k = json_object_iter_key(it);
        const json_t *v = json_object_iter_value(it);
        if (!json_is_object(v))
            continue;
        if (strcmp(k, "application") == 0 || strcmp(k, "context") == 0)
            plan_add(&p, v);
        else if (strcmp(k, "sources") == 0)
            plan_add(&p, sources = v);
    }
    if (sources) {
        json_t *so = (json_t *)sources;
        for (void *it = json_object_iter(so); it;
             it = json_object_iter_next(so, it)) {
            const json_t *v = json_object_iter_value(it);
            if (json_is_object(v))
                plan_add(&p, v);
        }
    }
    /* A key or copied string with its NUL is no longer than it is in the
     * JSON text with its quotes: a case parsed from text needs no pass to
     * size the pool. */
    size_t bytes = c->text ? c->text_len : plan_bytes(&p);
    if (bytes > UINT32_MAX)
        return;
    size_t size = sizeof(mp_flat) + p.nobj * sizeof(mp_flatobj) +
                  p.nmem * sizeof(mp_member);
    mp_flat *f = miaopi__malloc(c->al, size);
    char *pool = miaopi__malloc(c->al, bytes ? bytes : 1);
    if (!f || !pool) { /* evaluation walks the tree instead */
        miaopi__free(c->al, f);
        miaopi__free(c->al, pool);
        return;
    }
    mp_member *m = (mp_member *)&f->objs[p.nobj];
    size_t used = 0;
    f->pool = pool;
    f->size = (uint32_t)size; /* FLAT_MAX_* keep it far below */
    f->nobj = 0;
    for (size_t i = 0; i < p.nobj; i++) {
        json_t *o = (json_t *)p.objs[i];
        mp_member *first = m;
        bool ok = true;
        for (void *it = json_object_iter(o); it;
             it = json_object_iter_next(o, it), m++) {
            size_t kl = json_object_iter_key_len(it);
            if (kl > UINT16_MAX) { /* in no real case: the object is left out */
                ok = false;
                break;
            }
            mp_member_of_json(json_object_iter_value(it), m);
            m->key = (uint32_t)pool_copy(pool, &used, json_object_iter_key(it),
                                         kl);
            m->key_len = (uint16_t)kl;
            if (m->type == JSON_STRING && m->u.s.len <= FLAT_COPY_STR)
                m->u.s.p = pool + pool_copy(pool, &used, m->u.s.p,
                                            m->u.s.len);
        }
        if (ok)
            f->objs[f->nobj++] = (mp_flatobj){o, first, (size_t)(m - first)};
        else
            m = first;
    }
    f->pool_size = (uint32_t)used;
    c->flat = f;
}

const mp_flat *miaopi__case_flat(const miaopi_case *c)
{
    return c ? c->flat : NULL;
}

/* For tests: drop the table, so that evaluation walks the tree. */
void miaopi__case_drop_flat(miaopi_case *c);
void miaopi__case_drop_flat(miaopi_case *c)
{
    flat_free(c);
}

/* The JSON text the case was parsed from, on one line, without the
 * surrounding whitespace; NULL when the case was built or changed with the
 * setters. Parsed with jansson it gives the case's tree again (the same
 * parser, the same values: numbers are not reformatted, and duplicate
 * keys were refused), so the decision log can embed it instead of
 * serialising the tree again. */
const char *miaopi__case_text(const miaopi_case *c, size_t *len);
const char *miaopi__case_text(const miaopi_case *c, size_t *len)
{
    *len = c && c->text ? c->text_len : 0;
    return c ? c->text : NULL;
}

static int depth_of(const json_t *j, int limit)
{
    if (limit < 0)
        return 1;
    int d = 0;
    if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v) {
            int c = depth_of(v, limit - 1);
            if (c > d)
                d = c;
        }
        return d + 1;
    }
    if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) {
            int c = depth_of(v, limit - 1);
            if (c > d)
                d = c;
        }
        return d + 1;
    }
    return 0;
}

static int shape_error(miaopi_error *err, const char *what)
{
    return miaopi__error_set(err, MIAOPI_ECASE, "invalid case: %s", what);
}

static int check_shape(const json_t *root, int max_depth, miaopi_error *err)
{
    if (!json_is_object(root))
        return shape_error(err, "the document must be a JSON object");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)root, k, v) {
        if (json_is_null(v))
            continue; /* null is absent, as everywhere in a case */
        if (strcmp(k, "application") == 0 || strcmp(k, "context") == 0) {
            if (!json_is_object(v))
                return miaopi__error_set(err, MIAOPI_ECASE,
                                         "invalid case: \"%s\" must be an "
                                         "object",
                                         k);
        } else if (strcmp(k, "sources") == 0) {
            if (!json_is_object(v))
                return shape_error(err, "\"sources\" must be an object");
        }
        /* Other top-level members (ids, metadata) are the portal's
         * business and are ignored. */
    }
    if (depth_of(root, max_depth + 1) > max_depth)
        return miaopi__error_set(err, MIAOPI_ELIMIT,
                                 "invalid case: nested deeper than %d",
                                 max_depth);
    return MIAOPI_OK;
}

/* ---- telling jansson's out-of-memory from a syntax error ---- */

/* A JSON syntax check (RFC 8259) that allocates nothing. jansson reports
 * many allocation failures as syntax errors ("invalid token near ..."), so
 * when it reports a syntax error this decides whether the document really
 * has one. */
typedef struct jscan {
    const unsigned char *s;
    size_t len, i;
} jscan;

static void js_ws(jscan *j)
{
    while (j->i < j->len && (j->s[j->i] == ' ' || j->s[j->i] == '\t' ||
                             j->s[j->i] == '\n' || j->s[j->i] == '\r'))
        j->i++;
}

static bool js_lit(jscan *j, const char *w)
{
    size_t n = strlen(w);
    if (j->len - j->i < n || memcmp(j->s + j->i, w, n) != 0)
        return false;
    j->i += n;
    return true;
}

static bool js_digits(jscan *j)
{
    size_t start = j->i;
    while (j->i < j->len && j->s[j->i] >= '0' && j->s[j->i] <= '9')
        j->i++;
    return j->i > start;
}

static bool js_number(jscan *j)
{
    if (j->i < j->len && j->s[j->i] == '-')
        j->i++;
    if (j->i < j->len && j->s[j->i] == '0')
        j->i++;
    else if (!js_digits(j))
        return false;
    if (j->i < j->len && j->s[j->i] == '.') {
        j->i++;
        if (!js_digits(j))
            return false;
    }
    if (j->i < j->len && (j->s[j->i] == 'e' || j->s[j->i] == 'E')) {
        j->i++;
        if (j->i < j->len && (j->s[j->i] == '+' || j->s[j->i] == '-'))
            j->i++;
        if (!js_digits(j))
            return false;
    }
    return true;
}

/* The four hex digits after "\\u" (j->i is on the 'u'), leaving j->i
 * on the last; > 0xFFFF when they are not hex digits. */
static unsigned js_hex4(jscan *j)
{
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        if (++j->i >= j->len)
            return 0x10000;
        unsigned char h = j->s[j->i];
        unsigned d = h >= '0' && h <= '9'   ? (unsigned)(h - '0')
                     : h >= 'a' && h <= 'f' ? (unsigned)(h - 'a' + 10)
                     : h >= 'A' && h <= 'F' ? (unsigned)(h - 'A' + 10)
                                            : 16u;
        if (d > 15)
            return 0x10000;
        v = v * 16 + d;
    }
    return v;
}

static bool js_string(jscan *j)
{
    size_t start = ++j->i; /* past the quote */
    while (j->i < j->len && j->s[j->i] != '"') {
        unsigned char c = j->s[j->i];
        if (c < 0x20)
            return false;
        if (c == '\\') {
            if (++j->i >= j->len)
                return false;
            c = j->s[j->i];
            if (c == 'u') {
                /* As jansson: no U+0000, no unpaired surrogate. */
                unsigned cp = js_hex4(j);
                if (cp == 0 || cp > 0xFFFF || (cp >= 0xDC00 && cp <= 0xDFFF))
                    return false;
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    if (j->len - j->i < 3 || j->s[j->i + 1] != '\\' ||
                        j->s[j->i + 2] != 'u')
                        return false;
                    j->i += 2;
                    unsigned lo = js_hex4(j);
                    if (lo < 0xDC00 || lo > 0xDFFF)
                        return false;
                }
            } else if (!strchr("\"\\/bfnrt", c) || c == 0) {
                return false;
            }
        }
        j->i++;
    }
    if (j->i >= j->len ||
        !miaopi__utf8_valid((const char *)j->s + start, j->i - start))
        return false;
    j->i++;
    return true;
}

/* Is text one JSON object or array (what json_loadb accepts without
 * JSON_DECODE_ANY)? */
static bool json_syntax_ok(const char *text, size_t len)
{
    jscan j = {(const unsigned char *)text, len, 0};
    unsigned char stack[2048]; /* '{' or '[' */
    size_t depth = 0;
    js_ws(&j);
    if (j.i >= j.len || (j.s[j.i] != '{' && j.s[j.i] != '['))
        return false;
    for (;;) {
        /* A value. */
        js_ws(&j);
        if (j.i >= j.len)
            return false;
        unsigned char c = j.s[j.i];
        if (c == '{' || c == '[') {
            if (depth == sizeof(stack))
                return false;
            stack[depth++] = c;
            j.i++;
            js_ws(&j);
            if (j.i < j.len && j.s[j.i] == (c == '{' ? '}' : ']')) {
                depth--;
                j.i++;
                goto after_value;
            }
            if (c == '{')
                goto key;
            continue;
        }
        if (c == '"' ? !js_string(&j)
            : c == 't' ? !js_lit(&j, "true")
            : c == 'f' ? !js_lit(&j, "false")
            : c == 'n' ? !js_lit(&j, "null")
                       : !js_number(&j))
            return false;
    after_value:
        js_ws(&j);
        if (depth == 0)
            return j.i == j.len;
        if (j.i >= j.len)
            return false;
        c = j.s[j.i++];
        if (c == (stack[depth - 1] == '{' ? '}' : ']')) {
            depth--;
            goto after_value;
        }
        if (c != ',')
            return false;
        if (stack[depth - 1] == '[')
            continue;
    key:
        js_ws(&j);
        if (j.i >= j.len || j.s[j.i] != '"' || !js_string(&j))
            return false;
        js_ws(&j);
        if (j.i >= j.len || j.s[j.i++] != ':')
            return false;
    }
}

/* Did json_loadb fail for lack of memory? jansson says so itself only
 * sometimes: an allocation failure in its lexer or parser reads as a
 * syntax error, or as an error without a message. */
static bool json_oom(const json_error_t *je, const char *text, size_t len)
{
    /* An error without a message: jansson failed before it could say
     * anything (its error code byte is not even set then). */
    if (je->text[0] == '\0')
        return true;
    switch (json_error_code(je)) {
    case json_error_out_of_memory:
        return true;
    case json_error_unknown:
    case json_error_invalid_syntax:
    case json_error_premature_end_of_input:
        return json_syntax_ok(text, len);
    default:
        return false;
    }
}

/* Is jansson allocating with the C library's malloc? Only a replaced
 * allocator (an embedder's, or a failure-injection test's) makes an
 * allocation failure during a parse a real possibility: with glibc's
 * malloc on Linux a small allocation fails only under an address-space
 * rlimit, and the process is usually killed before that. */
static bool jansson_default_alloc(void)
{
    json_malloc_t m;
    json_free_t f;
    json_get_alloc_funcs(&m, &f);
    return m == malloc && f == free;
}

/* json_loadb, checked. jansson 2.14's lexer ignores a failed append to
 * its token buffer: when memory runs short it can return a tree in which
 * a string or number has silently lost a character ("440305199807151231"
 * read as "44030519980715231"). A decision must never rest on such a
 * value, so when jansson's allocator has been replaced the document is
 * parsed twice and the trees compared; a difference means an allocation
 * failed, and is MIAOPI_ENOMEM. With the default allocator the second
 * parse, which would halve the throughput of every case and log read, is
 * skipped (docs/design.md). Returns NULL with *oom set, or with je
 * describing a real error. */
json_t *miaopi__json_load_checked(const char *text, size_t len, size_t flags,
                                  json_error_t *je, bool *oom)
{
    *oom = false;
    memset(je, 0, sizeof(*je));
    json_t *a = json_loadb(text, len, flags, je);
    if (!a) {
        *oom = (flags & JSON_DECODE_ANY) ? je->text[0] == '\0' ||
                                               json_error_code(je) ==
                                                   json_error_out_of_memory
                                         : json_oom(je, text, len);
        return NULL;
    }
    if (jansson_default_alloc())
        return a;
    json_error_t je2;
    json_t *b = json_loadb(text, len, flags, &je2);
    bool same = b && json_equal(a, b);
    json_decref(b);
    if (!same) {
        json_decref(a);
        *oom = true;
        return NULL;
    }
    return a;
}

int miaopi_case_from_json_with(miaopi_case **out, const char *json,
                               size_t len, const miaopi_case_options *opts,
                               miaopi_error *err)
{
    miaopi__error_clear(err);
    if (!out || (!json && len))
        return miaopi__error_set(err, MIAOPI_EINVAL, "invalid argument");
    *out = NULL;
    miaopi_case_options o;
    miaopi_allocator alloc;
    const miaopi_allocator *al;
    if (case_options(&o, opts, &alloc, &al) != MIAOPI_OK)
        return miaopi__error_set(err, MIAOPI_EINVAL,
                                 "the allocator lacks a function");
    if (len > o.max_bytes)
        return miaopi__error_set(err, MIAOPI_ELIMIT,
                                 "the case is larger than %zu bytes",
                                 o.max_bytes);
    json_error_t je;
    bool oom;
    json_t *root = miaopi__json_load_checked(json ? json : "", len,
                                             JSON_REJECT_DUPLICATES,
                                &je, &oom);
    if (!root) {
        if (oom)
            return miaopi__error_set(err, MIAOPI_ENOMEM, "out of memory");
        /* jansson stops at its own depth limit (2048) before ours: that
         * is still "nested too deep", not a malformed document. */
        int rc = miaopi__error_set(err,
                                   json_error_code(&je) ==
                                           json_error_stack_overflow
                                       ? MIAOPI_ELIMIT
                                       : MIAOPI_ECASE,
                                   "invalid JSON: %s", je.text);
        if (err) {
            err->line = je.line;
            err->column = je.column;
            /* jansson's position counts the bytes read, the one it
             * stopped at included; line and column name that byte. */
            err->offset = je.position > 0 ? je.position - 1 : 0;
        }
        return rc;
    }
    int rc = check_shape(root, (int)o.max_depth, err);
    if (rc != MIAOPI_OK) {
        json_decref(root);
        return rc;
    }
    /* Keep the text for the log, without the whitespace around it (a
     * line read with getline ends with its newline). */
    const char *t = json;
    while (len > 0 && json_ws(*t)) {
        t++;
        len--;
    }
    while (len > 0 && json_ws(t[len - 1]))
        len--;
    miaopi_case *c = case_alloc_text(&o, al, &alloc, t, len);
    if (!c) {
        json_decref(root);
        return miaopi__error_set(err, MIAOPI_ENOMEM, "out of memory");
    }
    c->root = root;
    flat_build(c);
    *out = c;
    return MIAOPI_OK;
}

int miaopi_case_from_json(miaopi_case **out, const char *json, size_t len,
                          miaopi_error *err)
{
    return miaopi_case_from_json_with(out, json, len, NULL, err);
}

int miaopi_case_load_file_with(miaopi_case **out, const char *path,
                               const miaopi_case_options *opts,
                               miaopi_error *err)
{
    miaopi__error_clear(err);
    if (!out || !path)
        return miaopi__error_set(err, MIAOPI_EINVAL, "invalid argument");
    *out = NULL;
    miaopi_case_options o;
    miaopi_allocator alloc;
    const miaopi_allocator *al;
    if (case_options(&o, opts, &alloc, &al) != MIAOPI_OK)
        return miaopi__error_set(err, MIAOPI_EINVAL,
                                 "the allocator lacks a function");
    char *data;
    size_t len;
    int rc = miaopi__read_file(al, path, o.max_bytes, &data, &len, err);
    if (rc != MIAOPI_OK)
        return rc;
    rc = miaopi_case_from_json_with(out, data, len, &o, err);
    miaopi__free(al, data);
    if (rc != MIAOPI_OK && err)
        snprintf(err->file, sizeof(err->file), "%s", path);
    return rc;
}

int miaopi_case_load_file(miaopi_case **out, const char *path,
                          miaopi_error *err)
{
    return miaopi_case_load_file_with(out, path, NULL, err);
}

int miaopi_case_new_with(miaopi_case **out, const miaopi_case_options *opts)
{
    if (!out)
        return MIAOPI_EINVAL;
    *out = NULL;
    miaopi_case_options o;
    miaopi_allocator alloc;
    const miaopi_allocator *al;
    if (case_options(&o, opts, &alloc, &al) != MIAOPI_OK)
        return MIAOPI_EINVAL;
    miaopi_case *c = case_alloc(&o, al, &alloc);
    if (!c)
        return MIAOPI_ENOMEM;
    c->root = json_object();
    if (!c->root) {
        miaopi__free(al, c);
        return MIAOPI_ENOMEM;
    }
    *out = c;
    return MIAOPI_OK;
}

int miaopi_case_new(miaopi_case **out)
{
    return miaopi_case_new_with(out, NULL);
}

void miaopi_case_free(miaopi_case *c)
{
    if (!c)
        return;
    json_decref(c->root);
    flat_free(c);
    miaopi_allocator alloc = c->alloc;
    miaopi__free(c->al ? &alloc : NULL, c);
}

static bool valid_segment(const char *s, size_t n)
{
    if (n == 0 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '.' || (unsigned char)s[i] < 0x20)
            return false;
    return true;
}

/* Set value (stolen) at a dotted path; the first segment must be one of
 * application, sources, context. */
static int set_path_tree(miaopi_case *c, const char *path, json_t *value)
{
    if (!c || !path || !value) {
        json_decref(value);
        return value ? MIAOPI_EINVAL : MIAOPI_ENOMEM;
    }
    /* Whatever happens below, the tree may no longer be the text. */
    c->text = NULL;
    c->text_len = 0;
    if (strncmp(path, "application.", 12) != 0 &&
        strncmp(path, "sources.", 8) != 0 &&
        strncmp(path, "context.", 8) != 0) {
        json_decref(value);
        return MIAOPI_EINVAL;
    }
    /* Check every segment first: a refused path changes nothing. */
    for (const char *p = path;;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (!valid_segment(p, n)) {
            json_decref(value);
            return MIAOPI_EINVAL;
        }
        if (!dot)
            break;
        p = dot + 1;
    }
    json_t *obj = c->root;
    const char *p = path;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (!valid_segment(p, n)) {
            json_decref(value);
            return MIAOPI_EINVAL;
        }
        char key[129];
        memcpy(key, p, n);
        key[n] = '\0';
        if (!dot)
            return json_object_set_new(obj, key, value) == 0 ? MIAOPI_OK
                                                             : MIAOPI_ENOMEM;
        json_t *next = json_object_get(obj, key);
        if (!next || !json_is_object(next)) {
            next = json_object();
            if (!next || json_object_set_new(obj, key, next) != 0) {
                json_decref(value);
                return MIAOPI_ENOMEM;
            }
        }
        obj = next;
        p = dot + 1;
    }
}

/* set_path_tree, and the member table dropped (a refused path may have
 * added objects on the way). A case built member by member is evaluated
 * by walking its tree, as before the table existed: rebuilding the table
 * after every setter would cost a case built with thirty setters more
 * than the table saves. */
static int set_path(miaopi_case *c, const char *path, json_t *value)
{
    if (c)
        flat_free(c);
    return set_path_tree(c, path, value);
}

int miaopi_case_set_string(miaopi_case *c, const char *path,
                           const char *value)
{
    if (!value)
        return MIAOPI_EINVAL;
    json_t *v = json_string(value); /* NULL also for invalid UTF-8 */
    if (!v)
        return miaopi__utf8_valid(value, strlen(value)) ? MIAOPI_ENOMEM
                                                        : MIAOPI_EINVAL;
    return set_path(c, path, v);
}

int miaopi_case_set_int(miaopi_case *c, const char *path, int64_t value)
{
    return set_path(c, path, json_integer((json_int_t)value));
}

int miaopi_case_set_bool(miaopi_case *c, const char *path, int value)
{
    return set_path(c, path, json_boolean(value));
}

int miaopi_case_set_json(miaopi_case *c, const char *path, const char *json,
                         miaopi_error *err)
{
    miaopi__error_clear(err);
    if (!json)
        return miaopi__error_set(err, MIAOPI_EINVAL, "invalid argument");
    json_error_t je;
    bool oom;
    json_t *v = miaopi__json_load_checked(json, strlen(json),
                             JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je,
                             &oom);
    if (!v && oom)
        return miaopi__error_set(err, MIAOPI_ENOMEM, "out of memory");
    if (!v)
        return miaopi__error_set(err,
                                 json_error_code(&je) ==
                                         json_error_stack_overflow
                                     ? MIAOPI_ELIMIT
                                     : MIAOPI_EINVAL,
                                 "invalid JSON: %s", je.text);
    if (depth_of(v, c ? c->max_depth + 1 : CASE_MAX_DEPTH + 1) >
        (c ? c->max_depth : CASE_MAX_DEPTH)) {
        json_decref(v);
        return miaopi__error_set(err, MIAOPI_ELIMIT, "nested too deep");
    }
    int rc = set_path(c, path, v);
    if (rc != MIAOPI_OK)
        miaopi__error_set(err, rc, "cannot set %s", path ? path : "(null)");
    return rc;
}

int miaopi_case_set_source_unavailable(miaopi_case *c, const char *source)
{
    if (!source)
        return MIAOPI_EINVAL;
    char path[160];
    int n = snprintf(path, sizeof(path), "sources.%s", source);
    if (n < 0 || (size_t)n >= sizeof(path))
        return MIAOPI_EINVAL;
    return set_path(c, path, json_null());
}

int miaopi_case_to_json(char **out, const miaopi_case *c)
{
    if (!out || !c)
        return MIAOPI_EINVAL;
    /* For the caller: C library malloc, freed by miaopi_free. */
    *out = miaopi__json_dumps(c->root, JSON_COMPACT | JSON_SORT_KEYS);
    return *out ? MIAOPI_OK : MIAOPI_ENOMEM;
}

/* Wrap a parsed case object (takes ownership of the reference), for the
 * decision-log reader, whose entries hold the case as evaluated. */
int miaopi__case_wrap(miaopi_case **out, json_t *root);
int miaopi__case_wrap(miaopi_case **out, json_t *root)
{
    *out = NULL;
    miaopi_case_options o;
    miaopi_allocator alloc;
    const miaopi_allocator *al;
    case_options(&o, NULL, &alloc, &al);
    miaopi_case *c = case_alloc(&o, al, &alloc);
    if (!c) {
        json_decref(root);
        return MIAOPI_ENOMEM;
    }
    c->root = root;
    *out = c;
    return MIAOPI_OK;
}
