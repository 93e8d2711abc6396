/*
 * The compiled form of a ruleset: types, values, expression trees, rules.
 * Everything here is immutable once miaopi_ruleset_load_* returns, which is
 * what makes a ruleset safe to share between threads.
 */
#ifndef MIAOPI_MODEL_H
#define MIAOPI_MODEL_H

#include "internal.h"
#include "decimal.h"
#include "domain.h"

#include <string.h>

#include <jansson.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* ---- types ---- */

typedef enum mp_kind {
    MP_T_NONE = 0, /* no value: an error in type checking */
    MP_T_STRING,
    MP_T_INT,
    MP_T_DEC,
    MP_T_BOOL,
    MP_T_DATE,
    MP_T_LIST,
    MP_T_RECORD
} mp_kind;

typedef struct mp_schema mp_schema;
typedef struct mp_type mp_type;

/* Types are small and compared structurally. A list's element type and a
 * record's schema live in the ruleset's pool. */
struct mp_type {
    mp_kind kind;
    const mp_type *elem;     /* MP_T_LIST */
    const mp_schema *record; /* MP_T_RECORD */
};

bool mp_type_eq(const mp_type *a, const mp_type *b);
bool mp_type_numeric(const mp_type *t);
void mp_type_name(const mp_type *t, miaopi__buf *out);

/* ---- declared fields ---- */

typedef struct mp_field {
    char *name;
    size_t name_len; /* strlen(name), so lookups need no strlen */
    char *title;
    mp_type type;
    miaopi__pii pii;
    bool required;
    int line;
    long offset; /* of the name attribute in the file; -1 if unknown */
    int slot; /* index into the evaluation slot cache; -1 for nested */
} mp_field;

struct mp_schema {
    mp_field *fields;
    size_t nfields;
    bool licence; /* the built-in electronic-licence record (of="licence") */
    /* Open-addressing index of the top-level fields by name (field index
     * + 1; 0 = empty), built at load so that an evaluation can bind a
     * case object's members to slots in one walk over its keys instead of
     * one jansson lookup per field read. NULL: no index (nested record
     * schemas, a stand-alone expression's empty scope); look fields up
     * with json_object_getn. */
    const uint8_t *index;
    uint32_t index_mask;
    uint32_t index_first; /* fields[index_first..] are in the index */
};

const mp_field *mp_schema_find(const mp_schema *s, const char *name,
                               size_t len);
/* Build s->index in pool over fields[first..]; false only when out of
 * memory. Schemas of more than 254 fields get no index. */
bool mp_schema_index(miaopi__arena *pool, mp_schema *s, size_t first);

/* Hash of a member name for the schema index: cheap (the length and the
 * first and last bytes); collisions are settled by probing and comparing
 * the name. */
static inline uint32_t mp_name_hash(const char *s, size_t len)
{
    if (len == 0)
        return 0;
    return (uint32_t)len * 8u + (uint32_t)(unsigned char)s[0] * 3u +
           (uint32_t)(unsigned char)s[len - 1];
}

/* a[0..len) == b[0..len), inline: member names and most compared values
 * (ID numbers, names, codes) are short, and a call to memcmp cost more
 * than the rest of a lookup. Loads stay inside both strings (two
 * overlapping words). */
static inline bool mp_name_eq(const char *a, const char *b, size_t len)
{
    if (len >= 8) {
        if (len > 16)
            return memcmp(a, b, len) == 0;
        uint64_t x0, y0, x1, y1;
        memcpy(&x0, a, 8);
        memcpy(&y0, b, 8);
        memcpy(&x1, a + len - 8, 8);
        memcpy(&y1, b + len - 8, 8);
        return ((x0 ^ y0) | (x1 ^ y1)) == 0;
    }
    if (len >= 4) {
        uint32_t x0, y0, x1, y1;
        memcpy(&x0, a, 4);
        memcpy(&y0, b, 4);
        memcpy(&x1, a + len - 4, 4);
        memcpy(&y1, b + len - 4, 4);
        return ((x0 ^ y0) | (x1 ^ y1)) == 0;
    }
    for (size_t i = 0; i < len; i++)
        if (a[i] != b[i])
            return false;
    return true;
}

/* miaopi__buf_add with the common case (it fits) inline: rendering
 * appends many short pieces. Same effect as miaopi__buf_add. */
static inline void mp_buf_add(miaopi__buf *b, const char *s, size_t n)
{
    if (!b->failed && b->cap > b->len && n < b->cap - b->len) {
        memcpy(b->data + b->len, s, n);
        b->len += n;
        b->data[b->len] = '\0';
        return;
    }
    miaopi__buf_add(b, s, n);
}

/* The field of s named name[0..len), through the index; NULL if none. */
static inline const mp_field *mp_schema_lookup(const mp_schema *s,
                                               const char *name, size_t len)
{
    for (uint32_t i = mp_name_hash(name, len) & s->index_mask;;
         i = (i + 1) & s->index_mask) {
        unsigned k = s->index[i];
        if (k == 0)
            return NULL;
        const mp_field *f = &s->fields[k - 1];
        if (f->name_len == len && mp_name_eq(f->name, name, len))
            return f;
    }
}

/* Where a top-level path starts. */
typedef enum mp_root {
    MP_ROOT_APPLICATION = 0,
    MP_ROOT_CONTEXT,
    MP_ROOT_SOURCE
} mp_root;

struct mp_node;

typedef struct mp_source {
    char *name;
    size_t name_len;
    char *title;
    mp_schema schema;
    int index; /* position in ruleset->sources */
    int line;
    /* key="application.id_number": what a resolver looks the record up by
     * (an application or context path), or NULL. */
    struct mp_node *key;
    const char *key_text;
    int64_t max_age_s; /* max-age in seconds; 0: no freshness limit */
} mp_source;

/* An application field bound to a source field (prefill= / verify=). */
typedef enum mp_verify_kind {
    MP_VERIFY_EXACT = 0,
    MP_VERIFY_NAME,
    MP_VERIFY_ID,
    MP_VERIFY_DATE
} mp_verify_kind;

typedef struct mp_binding {
    const mp_field *field;      /* the application field */
    const mp_source *src;
    const mp_field *src_field;
    bool prefill;               /* else verify */
    mp_verify_kind kind;
} mp_binding;

/* ---- values ---- */

/* Why a value is unknown. The first reason met is kept. */
typedef enum mp_why {
    MP_WHY_NONE = 0,
    MP_WHY_MISSING,      /* field absent or null */
    MP_WHY_UNAVAILABLE,  /* source null or absent */
    MP_WHY_TYPE,         /* case value of the wrong type */
    MP_WHY_INVALID,      /* argument outside a function's domain */
    MP_WHY_OVERFLOW,     /* arithmetic or date out of range */
    MP_WHY_DIV_ZERO,
    MP_WHY_NO_KEY,       /* table has no row for the key */
    MP_WHY_REGEX_LIMIT,  /* PCRE2 match or depth limit */
    MP_WHY_LIMIT,        /* another evaluation limit */
    MP_WHY_NOMEM,
    MP_WHY_INTERNAL,
    MP_WHY_NOT_FOUND,    /* a resolver found no record for the key */
    MP_WHY_STALE         /* the record is older than the source's max-age */
} mp_why;

const char *mp_why_text(mp_why w);

struct mp_node;

typedef struct mp_value {
    mp_kind kind;          /* MP_T_NONE means UNKNOWN */
    mp_why why;            /* when unknown */
    const struct mp_node *where; /* when unknown: the node that caused it */
    union {
        int64_t i;
        miaopi__dec d;
        int32_t date;
        bool b;
        struct {
            const char *p;
            size_t len;
        } s;
        struct {
            /* Either a JSON array from the case, or a constant array. */
            const json_t *json;
            const struct mp_value *items;
            size_t n;
        } list;
        const json_t *rec;
    } u;
} mp_value;

#define MP_IS_UNKNOWN(v) ((v)->kind == MP_T_NONE)

/* ---- expressions ---- */

typedef enum mp_op {
    MP_OP_LIT = 1,
    MP_OP_PATH,     /* top-level field: application/context/source */
    MP_OP_FIELD,    /* field of a record value: args[0].name */
    MP_OP_VAR,      /* quantifier variable */
    MP_OP_TABLE,    /* table[args[0]] */
    MP_OP_NOT,
    MP_OP_AND,
    MP_OP_OR,
    MP_OP_EQ,
    MP_OP_NE,
    MP_OP_LT,
    MP_OP_LE,
    MP_OP_GT,
    MP_OP_GE,
    MP_OP_IN,
    MP_OP_NOT_IN,
    MP_OP_ADD,
    MP_OP_SUB,
    MP_OP_MUL,
    MP_OP_DIV,
    MP_OP_MOD,
    MP_OP_NEG,
    MP_OP_IF,
    MP_OP_CALL,
    MP_OP_ANY,
    MP_OP_ALL,
    MP_OP_COUNT,
    MP_OP_PRESENT
} mp_op;

typedef struct mp_builtin mp_builtin;
typedef struct mp_table mp_table;

typedef struct mp_node {
    mp_op op;
    mp_type type;
    int pos;        /* byte offset of the node in the expression text */
    /* Source span of the whole sub-expression (for traces): start byte
     * and length in the expression text. pos may point at an operator. */
    int start;
    int len;
    int nargs;
    struct mp_node **args;
    /* MP_OP_PATH / MP_OP_FIELD: the field, its root and the source. */
    const mp_field *field;
    mp_root root;
    const mp_source *source;
    const char *text; /* MP_OP_PATH/FIELD: dotted path for messages */
    /* MP_OP_VAR and quantifiers: variable slot. */
    int var;
    const mp_builtin *fn;   /* MP_OP_CALL */
    const mp_table *table;  /* MP_OP_TABLE */
    pcre2_code *re;         /* MP_OP_CALL of matches() */
    mp_value lit;           /* MP_OP_LIT */
} mp_node;

/* ---- builtins ---- */

struct mp_eval;

typedef struct mp_builtin {
    const char *name;
    int min_args;
    int max_args;
    /* Checks argument types; returns the result type, or sets msg and
     * *bad to the 0-based index of the offending argument (-1: the call). */
    bool (*check)(const mp_type *args, int n, mp_type *result,
                  miaopi__buf *msg, int *bad);
    /* Evaluates with all arguments known. */
    void (*eval)(struct mp_eval *ev, const mp_node *n, const mp_value *args,
                 mp_value *out);
} mp_builtin;

const mp_builtin *mp_builtin_find(const char *name, size_t len);
const char *mp_builtin_suggest(const char *name, size_t len);

/* ---- tables ---- */

typedef struct mp_table_row {
    mp_value key;
    mp_value value;
    uint64_t hash;
} mp_table_row;

struct mp_table {
    char *name;
    mp_type key_type;
    mp_type value_type;
    mp_table_row *rows;
    size_t nrows;
    /* Open-addressing index of row numbers + 1 (0 = empty). */
    uint32_t *index;
    size_t index_cap;
    int line;
};

uint64_t mp_value_hash(const mp_value *v);
const mp_value *mp_table_lookup(const mp_table *t, const mp_value *key);

typedef struct mp_constant {
    char *name;
    mp_value value;
    mp_type type;
    int line;
} mp_constant;

/* ---- rules ---- */

typedef enum mp_lang { MP_LANG_ZH = 0, MP_LANG_EN = 1, MP_LANG_COUNT } mp_lang;

/* A message template: literal pieces and expressions. */
typedef struct mp_template_part {
    const char *text; /* literal, or NULL */
    size_t len;
    mp_node *expr;    /* or an expression */
    miaopi__pii pii;  /* how to mask the expression's value */
} mp_template_part;

typedef struct mp_template {
    mp_template_part *parts;
    size_t nparts;
    bool present;
} mp_template;

typedef struct mp_rule {
    char *id;
    char *code;
    char *title[MP_LANG_COUNT];
    char *basis[MP_LANG_COUNT];
    mp_node *when;   /* or NULL */
    mp_node *require;
    mp_template message[MP_LANG_COUNT];
    const char *when_text;    /* source text of when/require, for traces */
    const char *require_text;
    int on_fail;     /* MIAOPI_REJECT or MIAOPI_ESCALATE */
    int on_unknown;
    int line;
} mp_rule;

const char *miaopi__pick_lang(char *const t[MP_LANG_COUNT], int lang);

/* ---- pool: every allocation of a ruleset, freed at once ---- */

typedef struct mp_pool_block mp_pool_block;

struct miaopi_ruleset {
    int refcount; /* atomic */
    miaopi_allocator alloc;  /* the embedder's, copied */
    const miaopi_allocator *al; /* &alloc, or NULL for malloc */
    char *id;
    char *version;
    char *title[MP_LANG_COUNT];
    char *authority;
    char effective_from[11];
    char effective_until[11];
    int32_t from_day;
    int32_t until_day; /* INT32_MAX when open-ended */
    mp_lang default_lang;
    char sha256[65];
    char *file;

    mp_schema application;
    mp_schema context;       /* includes decision_date at index 0 */
    mp_source *sources;
    size_t nsources;
    mp_constant *constants;
    size_t nconstants;
    mp_table *tables;
    size_t ntables;
    mp_rule *rules;
    size_t nrules;
    size_t nuser_rules;      /* rules written in the file; the rest are
                                generated verify rules */
    mp_binding *bindings;    /* prefill= and verify= declarations */
    size_t nbindings;
    bool select_by_filing;   /* select-by="filing-date" */
    mp_schema *licence_schema;

    int nslots;    /* top-level fields across all roots */
    bool any_max_age; /* some source declares max-age */
    int max_vars;  /* quantifier nesting */

    pcre2_general_context *pcre_gctx;
    pcre2_compile_context *pcre_cctx;
    pcre2_match_context *pcre_mctx;

    miaopi__arena pool; /* owns all strings, nodes and arrays above */
    pcre2_code **regexes;  /* to free */
    size_t nregexes;
    size_t capregexes;

    /* A stand-alone expression's scope is a shallow copy of the ruleset it
     * was compiled against (or an empty one), with its own pool; it holds
     * a reference to that ruleset. NULL for a loaded ruleset. */
    miaopi_ruleset *base;
};

/* ---- the expression compiler (expr.c) ---- */

typedef struct mp_scope_var {
    const char *name;
    size_t len;
    mp_type type;
} mp_scope_var;

/* Error callback: offset is the byte offset within the expression text. */
typedef void (*mp_expr_error_cb)(void *payload, miaopi__diag_id id,
                                 int offset, const char *msg);

typedef struct mp_compiler {
    miaopi_ruleset *rs;
    mp_expr_error_cb on_error;
    void *payload;
    unsigned max_depth;
    /* State for one expression. */
    const char *src;
    size_t len;
    size_t pos;
    unsigned depth;
    mp_scope_var vars[16];
    int nvars;
    bool failed;
    bool in_template;
    /* Stand-alone expressions: a constant that has no value stays an
     * expression that evaluates to UNKNOWN instead of a load error. */
    bool keep_unknown;
    /* When set, one byte per slot: set to 1 when a top-level field is
     * read (for the "declared but never used" warning). */
    unsigned char *used_slots;
} mp_compiler;

/* Compile one expression; NULL on error (reported through on_error). */
mp_node *mp_compile(mp_compiler *c, const char *src, size_t len);
/* Compile the expression at src[*pos] up to the closing '}' of a message
 * template placeholder; advances *pos past the '}'. */
mp_node *mp_compile_placeholder(mp_compiler *c, const char *src, size_t len,
                                size_t *pos);
/* Is the node a compile-time constant (literal)? */
bool mp_node_is_constant(const mp_node *n);

/* ---- a case's member table (case.c) ---- */

/* One member of a case object, with its scalar already read out of the
 * jansson value. A case parsed by miaopi_case_from_json (and not changed
 * by the setters since) keeps these for the objects an evaluation binds
 * (the root, application, context, sources and each source's record) in
 * one array, in jansson's member order, with keys and strings of up to
 * 256 bytes copied into a pool: binding then reads contiguous memory
 * instead of chasing jansson's member list, value nodes and string
 * buffers (docs/design.md, "The case's member table"). */
typedef struct mp_member {
    union {
        struct {
            const char *p; /* NUL-terminated */
            size_t len;
        } s;          /* JSON_STRING */
        json_int_t i; /* JSON_INTEGER */
        double r;     /* JSON_REAL */
        json_t *j;    /* JSON_OBJECT, JSON_ARRAY: the value in the tree */
    } u;
    uint32_t key;     /* the key: offset in the table's pool (NUL-terminated) */
    uint16_t key_len;
    uint8_t type;     /* json_type */
} mp_member;

typedef struct mp_flatobj {
    const json_t *obj;
    const mp_member *m;
    size_t n;
} mp_flatobj;

typedef struct mp_flat {
    const char *pool; /* keys, and strings up to 256 bytes */
    uint32_t size;      /* bytes of this table, members included */
    uint32_t pool_size; /* bytes of the pool in use */
    size_t nobj;
    mp_flatobj objs[]; /* objs[0] is the root */
} mp_flat;

/* The case's member table (NULL: none, evaluation walks jansson). */
const mp_flat *miaopi__case_flat(const miaopi_case *c);

/* The members of obj in the table, or NULL when obj is not in it. */
static inline const mp_flatobj *mp_flat_find(const mp_flat *f,
                                             const json_t *obj)
{
    if (f)
        for (size_t i = 0; i < f->nobj; i++)
            if (f->objs[i].obj == obj)
                return &f->objs[i];
    return NULL;
}

static inline const char *mp_member_key(const mp_flat *f, const mp_member *m)
{
    return f->pool + m->key;
}

/* The value of a member in the tree (NULL for scalars read out of it). */
static inline json_t *mp_member_json(const mp_member *m)
{
    return m->type == JSON_OBJECT || m->type == JSON_ARRAY ? m->u.j : NULL;
}

/* A member's value as the table holds it, read from a jansson value (for
 * objects outside the table: records returned by resolvers, plain
 * lookups). The key is not set. */
static inline void mp_member_of_json(const json_t *j, mp_member *m)
{
    m->type = j ? (uint8_t)json_typeof(j) : (uint8_t)JSON_NULL;
    m->u.s.p = NULL;
    m->u.s.len = 0;
    if (!j)
        return;
    switch (json_typeof(j)) {
    case JSON_STRING:
        m->u.s.p = json_string_value(j);
        m->u.s.len = json_string_length(j);
        break;
    case JSON_INTEGER:
        m->u.i = json_integer_value(j);
        break;
    case JSON_REAL:
        m->u.r = json_real_value(j);
        break;
    case JSON_OBJECT:
    case JSON_ARRAY:
        m->u.j = (json_t *)j;
        break;
    default:
        break;
    }
}

/* ---- evaluation (eval.c) ---- */

typedef struct mp_slot {
    uint32_t gen;   /* v is this evaluation's value when gen == ev->gen */
    uint32_t jgen;  /* == ev->gen: bound to a member of the case object;
                       else the member is absent */
    mp_value v;
} mp_slot;

/* What happened to one source in one evaluation (data.c). */
typedef enum mp_src_status {
    MP_SRC_UNUSED = 0,   /* no applicable rule needed it */
    MP_SRC_INLINE,       /* given in the case */
    MP_SRC_FETCHED,      /* returned by a resolver */
    MP_SRC_NOT_FOUND,    /* resolver: no record for the key */
    MP_SRC_UNAVAILABLE,  /* null in the case, no resolver, or resolver error */
    MP_SRC_STALE         /* older than max-age, or no retrieval time */
} mp_src_status;

typedef struct mp_src_state {
    uint32_t gen;
    mp_src_status status;
    const json_t *rec;
    const char *origin;       /* provenance, copied into the arena, or "" */
    const char *retrieved_at;
    const char *version;
    const char *detail;       /* why unavailable/stale, English, or "" */
    bool from_resolver;
    /* rec's members are bound to the slots when bound_gen == gen (eval.c;
     * resolve() zeroes the state, which unbinds it). */
    uint32_t bound_gen;
    /* The source's member of case.sources, found by the one walk over
     * case.sources in this evaluation (data.c), when inline_gen == gen;
     * else the case does not hold it. Kept by resolve(). */
    uint32_t inline_gen;
    const json_t *inline_j;
} mp_src_state;

typedef struct mp_eval {
    const miaopi_ruleset *rs;
    const json_t *application;
    const json_t *context;
    const json_t *sources;
    const mp_flat *flat;  /* the case's member table, or NULL */
    uint32_t srcs_walked; /* == gen: case.sources walked (data.c) */
    uint32_t app_bound;  /* == gen: application's members bound to slots */
    uint32_t ctx_bound;  /* == gen: context's members bound to slots */
    int32_t decision_date;
    mp_slot *slots;
    size_t cap_slots;
    mp_value *vars;
    size_t cap_vars;
    uint32_t gen;
    miaopi__arena *arena;
    pcre2_general_context *gctx; /* for md; NULL: the ruleset's */
    pcre2_match_data *md;
    bool nomem;
    /* Sources (data.c). */
    mp_src_state *src;
    size_t cap_src;
    const struct miaopi_resolvers *resolvers;
    json_t *fetched;          /* records returned by resolvers, by name */
    int64_t ref_instant;      /* freshness reference, Unix seconds */
    const char *deadline;     /* context.deadline verbatim, or "" */
    unsigned long fetch_calls;
    /* The last ID number parsed in this evaluation (builtins.c): rules
     * and messages check and take apart the same one several times.
     * Keyed by the string's address and length, which name the same bytes
     * for the whole evaluation (case strings, literals and arena strings
     * are not changed or reused before the next one). */
    uint32_t cnid_gen;
    const char *cnid_p;
    size_t cnid_len;
    int cnid_rc;
    miaopi__cnid cnid;
    uint64_t max_steps; /* UINT64_MAX: unlimited (constant folding) */
    /* Nodes the evaluation may still visit: max_steps (at most
     * INT64_MAX, which is never reached) when the budget is reset
     * (mp_eval_reset_budget), decremented per node; negative: spent, and
     * it stays negative. Counting down to a sign is one instruction
     * besides the branch, where counting up to max_steps was four. */
    int64_t budget;
} mp_eval;

static inline void mp_eval_reset_budget(mp_eval *ev)
{
    ev->budget = ev->max_steps > (uint64_t)INT64_MAX ? INT64_MAX
                                                     : (int64_t)ev->max_steps;
}

/* data.c: the record of source src for this evaluation, or NULL with
 * *why set (MP_WHY_UNAVAILABLE, MP_WHY_NOT_FOUND, MP_WHY_STALE,
 * MP_WHY_TYPE). Calls the resolver at most once per evaluation. */
const json_t *mp_source_record(mp_eval *ev, const mp_source *src,
                               mp_why *why);
/* data.c: Unix seconds of an RFC 3339 timestamp with offset. */
bool miaopi__instant_parse(const char *s, size_t len, int64_t *out);
const char *miaopi__src_status_name(mp_src_status s);

void mp_eval_node(mp_eval *ev, const mp_node *n, mp_value *out);
/* Bind the members of obj (a case object of schema s, which has an
 * index) to the slots of s's fields for this evaluation, converted to
 * their declared types: one walk over obj's keys. Members s does not
 * declare (or does not index) are skipped. */
void mp_bind_object(mp_eval *ev, const json_t *obj, const mp_schema *s);
/* mp_bind_object for a source's record, which also finds its
 * "_provenance" member in the same walk: that member, or NULL. */
const json_t *mp_bind_record(mp_eval *ev, const json_t *obj,
                             const mp_schema *s);
void mp_value_unknown(mp_value *out, mp_why why, const mp_node *where);
/* Convert a JSON value of the declared type; unknown with MP_WHY_TYPE
 * if it does not fit. */
void mp_value_from_json(const json_t *j, const mp_type *t, const mp_node *where,
                        mp_value *out);
int mp_value_cmp(const mp_value *a, const mp_value *b); /* same kind */
bool mp_value_eq(const mp_value *a, const mp_value *b);
/* Append v as text, masked by its personal-data class. scratch is reused
 * working space (its contents are replaced). */
void mp_value_format(const mp_value *v, const mp_type *t, miaopi__pii pii,
                     miaopi__buf *out, miaopi__buf *scratch);
/* List element i (0-based) of a known list value. */
void mp_list_get(const mp_value *list, const mp_type *elem, size_t i,
                 const mp_node *where, mp_value *out);

/* Regex match: 1 match, 0 no match, -1 limit hit / error. */
int mp_regex_match(mp_eval *ev, const pcre2_code *re, const char *s,
                   size_t len);

#endif
