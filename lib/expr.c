/*
 * The expression language: lexer, recursive-descent parser and type
 * checker in one pass. Every node is typed when it is built, so a rule
 * that loads cannot meet a type error at evaluation time. Nodes live in the
 * ruleset's pool. Constant sub-expressions are folded here (including
 * date("...") literals) so that a bad constant is a load error.
 */
#include "model.h"

#include <string.h>

#ifdef MIAOPI_HAVE_VALGRIND_H
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

/* ---- tokens ---- */

typedef enum tok_kind {
    TK_EOF = 0,
    TK_IDENT,
    TK_INT,
    TK_DEC,
    TK_STRING,
    TK_LPAREN,
    TK_RPAREN,
    TK_LBRACKET,
    TK_RBRACKET,
    TK_RBRACE,
    TK_COMMA,
    TK_DOT,
    TK_PLUS,
    TK_MINUS,
    TK_STAR,
    TK_SLASH,
    TK_PERCENT,
    TK_EQ,
    TK_NE,
    TK_LT,
    TK_LE,
    TK_GT,
    TK_GE,
    TK_ERROR
} tok_kind;

typedef struct token {
    tok_kind kind;
    size_t start;
    size_t len;
} token;

static void report(mp_compiler *c, miaopi__diag_id id, size_t pos,
                   const char *fmt, ...) MP_PRINTF(4, 5);

static void report(mp_compiler *c, miaopi__diag_id id, size_t pos,
                   const char *fmt, ...)
{
    if (c->failed)
        return; /* one error per expression: later ones are noise */
    c->failed = true;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (c->on_error)
        c->on_error(c->payload, id, (int)pos, msg);
}

/* A warning does not stop the expression from compiling. */
static void warn(mp_compiler *c, miaopi__diag_id id, size_t pos,
                 const char *fmt, ...) MP_PRINTF(4, 5);

static void warn(mp_compiler *c, miaopi__diag_id id, size_t pos,
                 const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (c->on_error)
        c->on_error(c->payload, id, (int)pos, msg);
}

static bool is_ident_start(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}

static bool is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

/* Skip white space, including U+3000 (ideographic space) which a Chinese
 * input method easily leaves between tokens. */
static void skip_space(mp_compiler *c)
{
    for (;;) {
        if (c->pos < c->len && is_space(c->src[c->pos])) {
            c->pos++;
        } else if (c->pos + 3 <= c->len &&
                   memcmp(c->src + c->pos, "\xE3\x80\x80", 3) == 0) {
            c->pos += 3;
        } else {
            return;
        }
    }
}

static token lex(mp_compiler *c)
{
    skip_space(c);
    token t = {TK_EOF, c->pos, 0};
    if (c->pos >= c->len)
        return t;
    const char *s = c->src + c->pos;
    size_t left = c->len - c->pos;
    char ch = s[0];
    size_t n = 1;
    if (is_ident_start(ch)) {
        while (n < left && (is_ident_start(s[n]) || is_digit(s[n])))
            n++;
        t.kind = TK_IDENT;
    } else if (is_digit(ch)) {
        while (n < left && is_digit(s[n]))
            n++;
        t.kind = TK_INT;
        if (n + 1 < left && s[n] == '.' && is_digit(s[n + 1])) {
            n++;
            while (n < left && is_digit(s[n]))
                n++;
            t.kind = TK_DEC;
        }
    } else if (ch == '"' || ch == '\'') {
        while (n < left && s[n] != ch) {
            if (s[n] == '\\' && n + 1 < left)
                n++;
            n++;
        }
        if (n >= left) {
            report(c, MIAOPI__D_SYNTAX, c->pos, "unterminated string");
            t.kind = TK_ERROR;
            return t;
        }
        n++;
        t.kind = TK_STRING;
    } else {
        switch (ch) {
        case '(': t.kind = TK_LPAREN; break;
        case ')': t.kind = TK_RPAREN; break;
        case '[': t.kind = TK_LBRACKET; break;
        case ']': t.kind = TK_RBRACKET; break;
        case '}': t.kind = TK_RBRACE; break;
        case ',': t.kind = TK_COMMA; break;
        case '.': t.kind = TK_DOT; break;
        case '+': t.kind = TK_PLUS; break;
        case '-': t.kind = TK_MINUS; break;
        case '*': t.kind = TK_STAR; break;
        case '/': t.kind = TK_SLASH; break;
        case '%': t.kind = TK_PERCENT; break;
        case '=':
            if (left > 1 && s[1] == '=') {
                t.kind = TK_EQ;
                n = 2;
            }
            break;
        case '!':
            if (left > 1 && s[1] == '=') {
                t.kind = TK_NE;
                n = 2;
            }
            break;
        case '<':
            t.kind = TK_LT;
            if (left > 1 && s[1] == '=') {
                t.kind = TK_LE;
                n = 2;
            }
            break;
        case '>':
            t.kind = TK_GT;
            if (left > 1 && s[1] == '=') {
                t.kind = TK_GE;
                n = 2;
            }
            break;
        default:
            break;
        }
        if (t.kind == TK_EOF) {
            if (ch == '=')
                report(c, MIAOPI__D_SYNTAX, c->pos,
                       "'=' is not an operator; write '==' or 'eq'");
            else if ((unsigned char)ch >= 0x80)
                report(c, MIAOPI__D_SYNTAX, c->pos,
                       "unexpected non-ASCII character; names are ASCII "
                       "and text goes in quotes");
            else
                report(c, MIAOPI__D_SYNTAX, c->pos,
                       "unexpected character '%c'", ch);
            t.kind = TK_ERROR;
            return t;
        }
    }
    t.len = n;
    c->pos += n;
    return t;
}

static token peek(mp_compiler *c)
{
    size_t save = c->pos;
    bool failed = c->failed;
    token t = lex(c);
    c->pos = save;
    /* A lexer error has been reported: keep it the expression's one error
     * (restoring would report it again at every later peek). */
    if (t.kind != TK_ERROR)
        c->failed = failed;
    return t;
}

static bool tok_is(const mp_compiler *c, token t, const char *word)
{
    size_t n = strlen(word);
    return t.kind == TK_IDENT && t.len == n &&
           memcmp(c->src + t.start, word, n) == 0;
}

static bool is_keyword(const char *s, size_t n)
{
    static const char *const kw[] = {
        "and", "or", "not", "in", "if", "then", "else", "true", "false",
        "eq", "ne", "lt", "le", "gt", "ge", NULL};
    for (int i = 0; kw[i]; i++)
        if (strlen(kw[i]) == n && memcmp(kw[i], s, n) == 0)
            return true;
    return false;
}

/* ---- nodes ---- */

static const mp_type T_STRING = {MP_T_STRING, NULL, NULL};
static const mp_type T_INT = {MP_T_INT, NULL, NULL};
static const mp_type T_DEC = {MP_T_DEC, NULL, NULL};
static const mp_type T_BOOL = {MP_T_BOOL, NULL, NULL};

static mp_node *new_node(mp_compiler *c, mp_op op, size_t pos, int nargs)
{
    mp_node *n = miaopi__arena_alloc(&c->rs->pool, sizeof(*n));
    if (!n)
        goto nomem;
    memset(n, 0, sizeof(*n));
    n->op = op;
    n->pos = (int)pos;
    n->start = (int)pos;
    n->var = -1;
    n->nargs = nargs;
    if (nargs > 0) {
        n->args = miaopi__arena_alloc(&c->rs->pool,
                                      sizeof(mp_node *) * (size_t)nargs);
        if (!n->args)
            goto nomem;
        memset(n->args, 0, sizeof(mp_node *) * (size_t)nargs);
    }
    return n;
nomem:
    report(c, MIAOPI__D_NONE, pos, "out of memory");
    return NULL;
}

/* Close a node's source span at the end of the last token consumed. */
static mp_node *finish(mp_compiler *c, mp_node *n)
{
    if (n && n->len == 0)
        n->len = (int)c->pos - n->start;
    return n;
}

bool mp_node_is_constant(const mp_node *n)
{
    return n && n->op == MP_OP_LIT;
}

static mp_type *pool_type(mp_compiler *c, const mp_type *t)
{
    mp_type *p = miaopi__arena_alloc(&c->rs->pool, sizeof(*p));
    if (p)
        *p = *t;
    return p;
}

/* Fold a node whose arguments are all constants into a literal. A fold
 * that has no value (1/0, date("2023-02-29")) is a load error. */
static mp_node *fold(mp_compiler *c, mp_node *n)
{
    if (!n)
        return NULL;
    for (int i = 0; i < n->nargs; i++)
        if (!mp_node_is_constant(n->args[i]))
            return n;
    if (n->op == MP_OP_ANY || n->op == MP_OP_ALL || n->op == MP_OP_COUNT ||
        n->op == MP_OP_PRESENT || n->op == MP_OP_PATH ||
        n->op == MP_OP_VAR || n->op == MP_OP_FIELD || n->op == MP_OP_LIT)
        return n;
    mp_eval ev;
    memset(&ev, 0, sizeof(ev));
    ev.max_steps = UINT64_MAX; /* no budget: a constant is small */
    mp_eval_reset_budget(&ev);
    ev.rs = c->rs;
    ev.arena = &c->rs->pool;
    mp_value v;
    mp_eval_node(&ev, n, &v);
    if (ev.md)
        pcre2_match_data_free(ev.md);
    if (ev.nomem || (MP_IS_UNKNOWN(&v) && v.why == MP_WHY_NOMEM)) {
        report(c, MIAOPI__D_NONE, (size_t)n->pos, "out of memory");
        return NULL;
    }
    if (MP_IS_UNKNOWN(&v)) {
        if (c->keep_unknown)
            return n; /* evaluates to UNKNOWN, with its reason */
        report(c, MIAOPI__D_BAD_CONSTANT, (size_t)n->pos,
               "this constant expression has no value: %s",
               mp_why_text(v.why));
        return NULL;
    }
    n->op = MP_OP_LIT;
    n->lit = v;
    n->nargs = 0;
    return n;
}

/* ---- suggestions ---- */

typedef struct suggest {
    const char *best;
    size_t dist;
} suggest;

static void suggest_try(suggest *s, const char *want, size_t len,
                        const char *cand)
{
    size_t d = miaopi__edit_distance(want, len, cand, strlen(cand));
    size_t limit = len < 5 ? 1 : 2;
    if (d <= limit && d < s->dist) {
        s->dist = d;
        s->best = cand;
    }
}

static void suggest_schema(suggest *s, const char *want, size_t len,
                           const mp_schema *sc)
{
    for (size_t i = 0; i < sc->nfields; i++)
        suggest_try(s, want, len, sc->fields[i].name);
}

/* ---- parser ---- */

static mp_node *parse_expr(mp_compiler *c);

static bool expect(mp_compiler *c, tok_kind k, const char *what)
{
    token t = lex(c);
    if (t.kind == k)
        return true;
    if (t.kind != TK_ERROR)
        report(c, MIAOPI__D_SYNTAX, t.start, "expected %s", what);
    return false;
}

static mp_node *parse_string(mp_compiler *c, token t)
{
    mp_node *n = new_node(c, MP_OP_LIT, t.start, 0);
    if (!n)
        return NULL;
    miaopi__buf b;
    miaopi__buf_init_al(&b, c->rs->al);
    const char *s = c->src + t.start + 1;
    size_t len = t.len - 2;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (ch != '\\') {
            miaopi__buf_addc(&b, ch);
            continue;
        }
        char e = s[++i];
        switch (e) {
        case '"': case '\'': case '\\': case '/':
            miaopi__buf_addc(&b, e);
            break;
        case 'n': miaopi__buf_addc(&b, '\n'); break;
        case 't': miaopi__buf_addc(&b, '\t'); break;
        case 'r': miaopi__buf_addc(&b, '\r'); break;
        case 'u': {
            unsigned cp = 0;
            size_t k;
            for (k = 1; k <= 4 && i + k < len; k++) {
                char h = s[i + k];
                unsigned d = is_digit(h) ? (unsigned)(h - '0')
                             : (h >= 'a' && h <= 'f') ? (unsigned)(h - 'a' + 10)
                             : (h >= 'A' && h <= 'F') ? (unsigned)(h - 'A' + 10)
                                                      : 99u;
                if (d > 15)
                    break;
                cp = cp * 16 + d;
            }
            if (k != 5 || (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0) {
                report(c, MIAOPI__D_SYNTAX, t.start + i, /* the backslash */
                       "\\u needs four hex digits naming a character");
                miaopi__buf_free(&b);
                return NULL;
            }
            char u[3];
            size_t un;
            if (cp < 0x80) {
                u[0] = (char)cp;
                un = 1;
            } else if (cp < 0x800) {
                u[0] = (char)(0xC0 | (cp >> 6));
                u[1] = (char)(0x80 | (cp & 0x3F));
                un = 2;
            } else {
                u[0] = (char)(0xE0 | (cp >> 12));
                u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
                u[2] = (char)(0x80 | (cp & 0x3F));
                un = 3;
            }
            miaopi__buf_add(&b, u, un);
            i += 4;
            break;
        }
        default:
            report(c, MIAOPI__D_SYNTAX, t.start + i, /* the backslash */
                   "unknown escape '\\%c' in a string (to write a regex "
                   "backslash, double it: \"\\\\d\")",
                   e);
            miaopi__buf_free(&b);
            return NULL;
        }
    }
    char *str = miaopi__arena_strndup(&c->rs->pool, b.data ? b.data : "",
                                      b.len);
    bool failed = b.failed;
    miaopi__buf_free(&b);
    if (!str || failed) {
        report(c, MIAOPI__D_NONE, t.start, "out of memory");
        return NULL;
    }
    n->type = T_STRING;
    n->lit.kind = MP_T_STRING;
    n->lit.u.s.p = str;
    n->lit.u.s.len = strlen(str);
    return n;
}

static mp_node *parse_number(mp_compiler *c, token t)
{
    mp_node *n = new_node(c, MP_OP_LIT, t.start, 0);
    if (!n)
        return NULL;
    const char *s = c->src + t.start;
    if (t.kind == TK_INT) {
        int64_t v = 0;
        for (size_t i = 0; i < t.len; i++) {
            int d = s[i] - '0';
            if (v > (INT64_MAX - d) / 10) {
                report(c, MIAOPI__D_SYNTAX, t.start,
                       "integer literal is too large");
                return NULL;
            }
            v = v * 10 + d;
        }
        n->type = T_INT;
        n->lit.kind = MP_T_INT;
        n->lit.u.i = v;
    } else {
        if (!miaopi__dec_parse(s, t.len, &n->lit.u.d)) {
            report(c, MIAOPI__D_SYNTAX, t.start,
                   "decimal literal is too long or too precise "
                   "(at most 18 digits after the point)");
            return NULL;
        }
        n->type = T_DEC;
        n->lit.kind = MP_T_DEC;
    }
    return n;
}

/* [a, b, c]: elements must be constants of one type. */
#define LIST_MAX 1024

static mp_node *parse_list_items(mp_compiler *c, token open,
                                 mp_value *items)
{
    size_t n = 0;
    mp_type elem = {MP_T_NONE, NULL, NULL};
    if (peek(c).kind == TK_RBRACKET) {
        report(c, MIAOPI__D_SYNTAX, open.start,
               "an empty list has no element type");
        return NULL;
    }
    for (;;) {
        mp_node *e = parse_expr(c);
        if (!e)
            return NULL;
        if (!mp_node_is_constant(e)) {
            report(c, MIAOPI__D_NOT_CONSTANT, (size_t)e->pos,
                   "list literals may hold only constants");
            return NULL;
        }
        if (e->type.kind == MP_T_LIST) {
            report(c, MIAOPI__D_TYPE, (size_t)e->pos,
                   "lists of lists are not supported");
            return NULL;
        }
        if (n == 0) {
            elem = e->type;
        } else if (!mp_type_eq(&elem, &e->type)) {
            if (mp_type_numeric(&elem) && mp_type_numeric(&e->type)) {
                elem = T_DEC;
            } else {
                miaopi__buf a, b;
                miaopi__buf_init_al(&a, c->rs->al);
                miaopi__buf_init_al(&b, c->rs->al);
                mp_type_name(&elem, &a);
                mp_type_name(&e->type, &b);
                report(c, MIAOPI__D_TYPE, (size_t)e->pos,
                       "list element is %s but earlier elements are %s",
                       miaopi__buf_cstr(&b), miaopi__buf_cstr(&a));
                miaopi__buf_free(&a);
                miaopi__buf_free(&b);
                return NULL;
            }
        }
        if (n == LIST_MAX) {
            report(c, MIAOPI__D_TOO_DEEP, (size_t)e->pos,
                   "a list literal may hold at most 1024 items; "
                   "use a table");
            return NULL;
        }
        items[n++] = e->lit;
        token t = lex(c);
        if (t.kind == TK_RBRACKET)
            break;
        if (t.kind != TK_COMMA) {
            if (t.kind != TK_ERROR)
                report(c, MIAOPI__D_SYNTAX, t.start, "expected ',' or ']'");
            return NULL;
        }
    }
    /* Promote integers when the list mixes integers and decimals. */
    if (elem.kind == MP_T_DEC)
        for (size_t i = 0; i < n; i++)
            if (items[i].kind == MP_T_INT) {
                items[i].u.d = miaopi__dec_from_int(items[i].u.i);
                items[i].kind = MP_T_DEC;
            }
    mp_node *node = new_node(c, MP_OP_LIT, open.start, 0);
    mp_value *arr = miaopi__arena_alloc(&c->rs->pool, sizeof(mp_value) * n);
    mp_type *et = pool_type(c, &elem);
    if (!node || !arr || !et) {
        report(c, MIAOPI__D_NONE, open.start, "out of memory");
        return NULL;
    }
    memcpy(arr, items, sizeof(mp_value) * n);
    node->type.kind = MP_T_LIST;
    node->type.elem = et;
    node->lit.kind = MP_T_LIST;
    node->lit.u.list.items = arr;
    node->lit.u.list.n = n;
    return node;
}

/* The items live on the heap: 1024 values are 40 KiB, and list literals
 * nest (through parentheses) as deep as the depth limit allows, which
 * would overflow the stack long before the limit. */
static mp_node *parse_list(mp_compiler *c, token open)
{
    mp_value *items =
        miaopi__malloc(c->rs->al, LIST_MAX * sizeof(*items));
    if (!items) {
        report(c, MIAOPI__D_NONE, open.start, "out of memory");
        return NULL;
    }
    mp_node *n = parse_list_items(c, open, items);
    miaopi__free(c->rs->al, items);
    return n;
}

static const mp_source *find_source(const miaopi_ruleset *rs, const char *s,
                                    size_t n)
{
    for (size_t i = 0; i < rs->nsources; i++)
        if (strlen(rs->sources[i].name) == n &&
            memcmp(rs->sources[i].name, s, n) == 0)
            return &rs->sources[i];
    return NULL;
}

static const mp_constant *find_constant(const miaopi_ruleset *rs,
                                        const char *s, size_t n)
{
    for (size_t i = 0; i < rs->nconstants; i++)
        if (strlen(rs->constants[i].name) == n &&
            memcmp(rs->constants[i].name, s, n) == 0)
            return &rs->constants[i];
    return NULL;
}

static const mp_table *find_table(const miaopi_ruleset *rs, const char *s,
                                  size_t n)
{
    for (size_t i = 0; i < rs->ntables; i++)
        if (strlen(rs->tables[i].name) == n &&
            memcmp(rs->tables[i].name, s, n) == 0)
            return &rs->tables[i];
    return NULL;
}

static char *path_text(mp_compiler *c, const char *a, size_t an,
                       const char *b, size_t bn)
{
    char *s = miaopi__arena_alloc(&c->rs->pool, an + bn + 2);
    if (!s)
        return NULL;
    memcpy(s, a, an);
    s[an] = '.';
    memcpy(s + an + 1, b, bn);
    s[an + bn + 1] = '\0';
    return s;
}

/* application.F, context.F, SOURCE.F */
static mp_node *parse_root_path(mp_compiler *c, token root, mp_root kind,
                                const mp_schema *schema,
                                const mp_source *src)
{
    const char *rname = c->src + root.start;
    token dot = lex(c);
    if (dot.kind != TK_DOT) {
        report(c, MIAOPI__D_SYNTAX, root.start,
               "'%.*s' must be followed by '.' and a field name",
               (int)root.len, rname);
        return NULL;
    }
    token f = lex(c);
    if (f.kind != TK_IDENT) {
        report(c, MIAOPI__D_SYNTAX, f.start, "expected a field name");
        return NULL;
    }
    const char *fname = c->src + f.start;
    const mp_field *field = mp_schema_find(schema, fname, f.len);
    if (!field) {
        suggest s = {NULL, 99};
        suggest_schema(&s, fname, f.len, schema);
        report(c, MIAOPI__D_UNKNOWN_PATH, f.start,
               "'%.*s' has no field '%.*s'%s%s%s", (int)root.len, rname,
               (int)f.len, fname, s.best ? "; did you mean '" : "",
               s.best ? s.best : "", s.best ? "'?" : "");
        return NULL;
    }
    mp_node *n = new_node(c, MP_OP_PATH, root.start, 0);
    if (!n)
        return NULL;
    if (c->used_slots && field->slot >= 0)
        c->used_slots[field->slot] = 1;
    n->field = field;
    n->root = kind;
    n->source = src;
    n->type = field->type;
    n->text = path_text(c, rname, root.len, fname, f.len);
    if (!n->text) {
        report(c, MIAOPI__D_NONE, root.start, "out of memory");
        return NULL;
    }
    return n;
}

static int find_var(mp_compiler *c, const char *s, size_t n)
{
    for (int i = c->nvars - 1; i >= 0; i--)
        if (c->vars[i].len == n && memcmp(c->vars[i].name, s, n) == 0)
            return i;
    return -1;
}

static void report_unknown_name(mp_compiler *c, token t)
{
    const char *s = c->src + t.start;
    suggest sg = {NULL, 99};
    static const char *const roots[] = {"application", "context", NULL};
    for (int i = 0; roots[i]; i++)
        suggest_try(&sg, s, t.len, roots[i]);
    const miaopi_ruleset *rs = c->rs;
    for (size_t i = 0; i < rs->nsources; i++)
        suggest_try(&sg, s, t.len, rs->sources[i].name);
    for (size_t i = 0; i < rs->nconstants; i++)
        suggest_try(&sg, s, t.len, rs->constants[i].name);
    for (size_t i = 0; i < rs->ntables; i++)
        suggest_try(&sg, s, t.len, rs->tables[i].name);
    for (int i = 0; i < c->nvars; i++)
        suggest_try(&sg, s, t.len, c->vars[i].name);
    if (mp_builtin_find(s, t.len)) {
        report(c, MIAOPI__D_UNKNOWN_PATH, t.start,
               "'%.*s' is a function; call it as %.*s(...)", (int)t.len, s,
               (int)t.len, s);
        return;
    }
    report(c, MIAOPI__D_UNKNOWN_PATH, t.start,
           "unknown name '%.*s'%s%s%s (paths start with application., "
           "context., a declared source, a constant or a table)",
           (int)t.len, s, sg.best ? "; did you mean '" : "",
           sg.best ? sg.best : "", sg.best ? "'?" : "");
}

static void type_error2(mp_compiler *c, size_t pos, const char *what,
                        const mp_type *a, const mp_type *b)
{
    miaopi__buf x, y;
    miaopi__buf_init_al(&x, c->rs->al);
    miaopi__buf_init_al(&y, c->rs->al);
    mp_type_name(a, &x);
    if (b)
        mp_type_name(b, &y);
    if (b)
        report(c, MIAOPI__D_TYPE, pos, "%s: %s and %s", what,
               miaopi__buf_cstr(&x), miaopi__buf_cstr(&y));
    else
        report(c, MIAOPI__D_TYPE, pos, "%s, not %s", what,
               miaopi__buf_cstr(&x));
    miaopi__buf_free(&x);
    miaopi__buf_free(&y);
}

/* any(x in LIST, PRED) / all(...) / count(...) */
static mp_node *parse_quantifier(mp_compiler *c, token name, mp_op op)
{
    token v = lex(c);
    if (v.kind != TK_IDENT || is_keyword(c->src + v.start, v.len)) {
        report(c, MIAOPI__D_SYNTAX, v.start,
               "expected a variable name: %.*s(x in LIST, CONDITION)",
               (int)name.len, c->src + name.start);
        return NULL;
    }
    token in = lex(c);
    if (!tok_is(c, in, "in")) {
        report(c, MIAOPI__D_SYNTAX, in.start,
               "expected 'in': %.*s(x in LIST, CONDITION)", (int)name.len,
               c->src + name.start);
        return NULL;
    }
    mp_node *list = parse_expr(c);
    if (!list)
        return NULL;
    if (list->type.kind != MP_T_LIST) {
        type_error2(c, (size_t)list->pos, "a quantifier needs a list",
                    &list->type, NULL);
        return NULL;
    }
    if (!expect(c, TK_COMMA, "','"))
        return NULL;
    if (c->nvars >= (int)(sizeof(c->vars) / sizeof(c->vars[0]))) {
        report(c, MIAOPI__D_TOO_DEEP, v.start, "quantifiers nest too deep");
        return NULL;
    }
    if (find_var(c, c->src + v.start, v.len) >= 0 ||
        find_source(c->rs, c->src + v.start, v.len) ||
        find_constant(c->rs, c->src + v.start, v.len) ||
        find_table(c->rs, c->src + v.start, v.len)) {
        report(c, MIAOPI__D_DUPLICATE_NAME, v.start,
               "'%.*s' already names something; pick another variable",
               (int)v.len, c->src + v.start);
        return NULL;
    }
    int slot = c->nvars++;
    c->vars[slot].name = c->src + v.start;
    c->vars[slot].len = v.len;
    c->vars[slot].type = *list->type.elem;
    if (c->nvars > c->rs->max_vars)
        c->rs->max_vars = c->nvars;
    mp_node *pred = parse_expr(c);
    c->nvars--;
    if (!pred)
        return NULL;
    if (pred->type.kind != MP_T_BOOL) {
        type_error2(c, (size_t)pred->pos, "the condition must be boolean",
                    &pred->type, NULL);
        return NULL;
    }
    if (!expect(c, TK_RPAREN, "')'"))
        return NULL;
    mp_node *n = new_node(c, op, name.start, 2);
    if (!n)
        return NULL;
    n->args[0] = list;
    n->args[1] = pred;
    n->var = slot;
    n->type = op == MP_OP_COUNT ? T_INT : T_BOOL;
    return n;
}

static bool path_allows_present(const mp_node *n)
{
    if (n->op == MP_OP_PATH)
        return n->root != MP_ROOT_SOURCE;
    if (n->op == MP_OP_FIELD)
        return path_allows_present(n->args[0]);
    if (n->op == MP_OP_VAR)
        return true;
    return false;
}

static bool var_from_source(mp_compiler *c, const mp_node *n);

static mp_node *parse_present(mp_compiler *c, token name)
{
    mp_node *arg = parse_expr(c);
    if (!arg)
        return NULL;
    if (arg->op != MP_OP_PATH && arg->op != MP_OP_FIELD) {
        report(c, MIAOPI__D_TYPE, (size_t)arg->pos,
               "present() takes a field path");
        return NULL;
    }
    if (!path_allows_present(arg) || var_from_source(c, arg)) {
        report(c, MIAOPI__D_PRESENT_ON_SOURCE, (size_t)arg->pos,
               "present() may test only application and context fields: "
               "a missing source record is never evidence");
        return NULL;
    }
    if (!expect(c, TK_RPAREN, "')'"))
        return NULL;
    mp_node *n = new_node(c, MP_OP_PRESENT, name.start, 1);
    if (!n)
        return NULL;
    n->args[0] = arg;
    n->type = T_BOOL;
    return n;
}

/* Variables bound over source lists are source data too. We do not track
 * the origin of each variable, so present() on a variable field is
 * refused unless every enclosing list is application/context data; the
 * simplest safe rule is to refuse variables entirely. */
static bool var_from_source(mp_compiler *c, const mp_node *n)
{
    MP_UNUSED(c);
    while (n->op == MP_OP_FIELD)
        n = n->args[0];
    return n->op == MP_OP_VAR;
}

static int regex_register(mp_compiler *c, pcre2_code *re)
{
    miaopi_ruleset *rs = c->rs;
    if (rs->nregexes == rs->capregexes) {
        size_t cap = rs->capregexes ? rs->capregexes * 2 : 8;
        pcre2_code **r = miaopi__realloc(rs->al, rs->regexes, cap * sizeof(*r));
        if (!r)
            return -1;
        rs->regexes = r;
        rs->capregexes = cap;
    }
    rs->regexes[rs->nregexes++] = re;
    return 0;
}

/* A counted repetition of a digit/word class or a bracket class, like
 * \d{17} or [0-9X]{18}: the shape of an ID or code format check. */
static bool looks_like_format(const char *p, size_t n)
{
    for (size_t i = 1; i + 1 < n; i++) {
        if (p[i] != '{' || !is_digit(p[i + 1]))
            continue;
        if (p[i - 1] == ']')
            return true;
        if (i >= 2 && p[i - 2] == '\\' && strchr("dwDW", p[i - 1]))
            return true;
    }
    return false;
}

/* A format check without ^...$ also matches inside a longer value:
 * matches(x, "\\d{6}") is true for "abc1234567". Warn where the pattern
 * looks like a whole-value format but is not anchored at both ends. */
static void warn_unanchored(mp_compiler *c, const mp_node *pat)
{
    const char *p = pat->lit.u.s.p;
    size_t n = pat->lit.u.s.len;
    if (!looks_like_format(p, n))
        return;
    bool start = (n >= 1 && p[0] == '^') ||
                 (n >= 2 && p[0] == '\\' && p[1] == 'A');
    bool end = (n >= 1 && p[n - 1] == '$' &&
                (n < 2 || p[n - 2] != '\\')) ||
               (n >= 2 && p[n - 2] == '\\' &&
                (p[n - 1] == 'z' || p[n - 1] == 'Z'));
    if (start && end)
        return;
    warn(c, MIAOPI__D_UNANCHORED_REGEX, (size_t)pat->pos,
         "the pattern looks like a format check but is not anchored at "
         "its %s, so it also matches inside a longer value; write "
         "\"^...$\"",
         !start && !end ? "start or end" : !start ? "start" : "end");
}

static bool compile_regex(mp_compiler *c, mp_node *call)
{
    mp_node *pat = call->args[1];
    if (!mp_node_is_constant(pat)) {
        report(c, MIAOPI__D_NOT_CONSTANT, (size_t)pat->pos,
               "the pattern of matches() must be a string literal, so it "
               "is compiled and checked when the rules load");
        return false;
    }
    int errcode;
    PCRE2_SIZE erroff;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat->lit.u.s.p,
                                   pat->lit.u.s.len,
                                   PCRE2_UTF | PCRE2_DOLLAR_ENDONLY, &errcode,
                                   &erroff, c->rs->pcre_cctx);
    if (!re && errcode == PCRE2_ERROR_HEAP_FAILED) {
        report(c, MIAOPI__D_NONE, (size_t)pat->pos, "out of memory");
        return false;
    }
    if (!re) {
        PCRE2_UCHAR buf[256];
        pcre2_get_error_message(errcode, buf, sizeof(buf));
        report(c, MIAOPI__D_REGEX, (size_t)pat->pos + 1,
               "invalid regular expression at pattern offset %zu: %s",
               (size_t)erroff, (const char *)buf);
        return false;
    }
    warn_unanchored(c, pat);
    /* PCRE2_DOLLAR_ENDONLY: by default `$` also matches before a final
     * newline, so "^1[3-9]\\d{9}$" would accept a phone number with a
     * trailing "\n". A format check must mean the whole value.
     * JIT is an optimisation: where it is unavailable the interpreter
     * runs with the same limits. Under valgrind it is skipped: memcheck
     * cannot see into generated code and reports its reads as
     * uninitialised, which would drown real findings. */
    if (!RUNNING_ON_VALGRIND)
        (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    if (regex_register(c, re) < 0) {
        pcre2_code_free(re);
        report(c, MIAOPI__D_NONE, (size_t)pat->pos, "out of memory");
        return false;
    }
    call->re = re;
    return true;
}

static mp_node *parse_call(mp_compiler *c, token name)
{
    const char *s = c->src + name.start;
    if (tok_is(c, name, "any"))
        return parse_quantifier(c, name, MP_OP_ANY);
    if (tok_is(c, name, "all"))
        return parse_quantifier(c, name, MP_OP_ALL);
    if (tok_is(c, name, "count"))
        return parse_quantifier(c, name, MP_OP_COUNT);
    if (tok_is(c, name, "present"))
        return parse_present(c, name);
    const mp_builtin *fn = mp_builtin_find(s, name.len);
    if (!fn && find_table(c->rs, s, name.len)) {
        report(c, MIAOPI__D_SYNTAX, name.start,
               "'%.*s' is a table: look a key up with %.*s[KEY]",
               (int)name.len, s, (int)name.len, s);
        return NULL;
    }
    if (!fn && find_constant(c->rs, s, name.len)) {
        report(c, MIAOPI__D_SYNTAX, name.start,
               "'%.*s' is a constant, not a function", (int)name.len, s);
        return NULL;
    }
    if (!fn) {
        const char *sug = mp_builtin_suggest(s, name.len);
        report(c, MIAOPI__D_UNKNOWN_FUNCTION, name.start,
               "unknown function '%.*s'%s%s%s", (int)name.len, s,
               sug ? "; did you mean '" : "", sug ? sug : "",
               sug ? "'?" : "");
        return NULL;
    }
    mp_node *args[8];
    int n = 0;
    if (peek(c).kind == TK_RPAREN) {
        lex(c);
    } else {
        for (;;) {
            mp_node *a = parse_expr(c);
            if (!a)
                return NULL;
            if (n == 8) {
                report(c, MIAOPI__D_ARITY, (size_t)a->pos,
                       "too many arguments");
                return NULL;
            }
            args[n++] = a;
            token t = lex(c);
            if (t.kind == TK_RPAREN)
                break;
            if (t.kind != TK_COMMA) {
                if (t.kind != TK_ERROR)
                    report(c, MIAOPI__D_SYNTAX, t.start,
                           "expected ',' or ')'");
                return NULL;
            }
        }
    }
    if (n < fn->min_args || n > fn->max_args) {
        if (fn->min_args == fn->max_args)
            report(c, MIAOPI__D_ARITY, name.start,
                   "%s() takes %d argument%s, not %d", fn->name,
                   fn->min_args, fn->min_args == 1 ? "" : "s", n);
        else
            report(c, MIAOPI__D_ARITY, name.start,
                   "%s() takes %d to %d arguments, not %d", fn->name,
                   fn->min_args, fn->max_args, n);
        return NULL;
    }
    mp_type types[8];
    for (int i = 0; i < n; i++)
        types[i] = args[i]->type;
    mp_type result = {MP_T_NONE, NULL, NULL};
    miaopi__buf msg;
    miaopi__buf_init_al(&msg, c->rs->al);
    int bad = -1;
    bool ok = fn->check(types, n, &result, &msg, &bad);
    if (!ok) {
        report(c, MIAOPI__D_TYPE,
               bad >= 0 && bad < n ? (size_t)args[bad]->pos : name.start,
               "%s(): %s", fn->name, miaopi__buf_cstr(&msg));
        miaopi__buf_free(&msg);
        return NULL;
    }
    miaopi__buf_free(&msg);
    mp_node *node = new_node(c, MP_OP_CALL, name.start, n);
    if (!node)
        return NULL;
    for (int i = 0; i < n; i++)
        node->args[i] = args[i];
    node->fn = fn;
    node->type = result;
    if (result.kind == MP_T_LIST && result.elem) {
        mp_type *e = pool_type(c, result.elem);
        if (!e) {
            report(c, MIAOPI__D_NONE, name.start, "out of memory");
            return NULL;
        }
        node->type.elem = e;
    }
    if (strcmp(fn->name, "matches") == 0 && !compile_regex(c, node))
        return NULL;
    if (node->re)
        return node; /* folding would not keep the compiled regex */
    return fold(c, node);
}

static mp_node *parse_ident(mp_compiler *c, token t)
{
    const char *s = c->src + t.start;
    if (tok_is(c, t, "true") || tok_is(c, t, "false")) {
        mp_node *n = new_node(c, MP_OP_LIT, t.start, 0);
        if (!n)
            return NULL;
        n->type = T_BOOL;
        n->lit.kind = MP_T_BOOL;
        n->lit.u.b = tok_is(c, t, "true");
        return n;
    }
    if (peek(c).kind == TK_LPAREN) {
        lex(c);
        return parse_call(c, t);
    }
    int var = find_var(c, s, t.len);
    if (var >= 0) {
        mp_node *n = new_node(c, MP_OP_VAR, t.start, 0);
        if (!n)
            return NULL;
        n->var = var;
        n->type = c->vars[var].type;
        return n;
    }
    if (tok_is(c, t, "application"))
        return parse_root_path(c, t, MP_ROOT_APPLICATION,
                               &c->rs->application, NULL);
    if (tok_is(c, t, "context"))
        return parse_root_path(c, t, MP_ROOT_CONTEXT, &c->rs->context, NULL);
    const mp_source *src = find_source(c->rs, s, t.len);
    if (src)
        return parse_root_path(c, t, MP_ROOT_SOURCE, &src->schema, src);
    const mp_constant *k = find_constant(c->rs, s, t.len);
    if (k) {
        mp_node *n = new_node(c, MP_OP_LIT, t.start, 0);
        if (!n)
            return NULL;
        n->type = k->type;
        n->lit = k->value;
        return n;
    }
    const mp_table *tab = find_table(c->rs, s, t.len);
    if (tab) {
        token open = lex(c);
        if (open.kind != TK_LBRACKET) {
            report(c, MIAOPI__D_SYNTAX, t.start,
                   "table '%.*s' is used as %.*s[KEY]", (int)t.len, s,
                   (int)t.len, s);
            return NULL;
        }
        mp_node *key = parse_expr(c);
        if (!key)
            return NULL;
        if (!mp_type_eq(&key->type, &tab->key_type)) {
            type_error2(c, (size_t)key->pos,
                        "the key does not match the table's key type",
                        &key->type, &tab->key_type);
            return NULL;
        }
        if (!expect(c, TK_RBRACKET, "']'"))
            return NULL;
        mp_node *n = new_node(c, MP_OP_TABLE, t.start, 1);
        if (!n)
            return NULL;
        n->args[0] = key;
        n->table = tab;
        n->type = tab->value_type;
        return fold(c, n);
    }
    if (is_keyword(s, t.len)) {
        report(c, MIAOPI__D_SYNTAX, t.start, "unexpected '%.*s'",
               (int)t.len, s);
        return NULL;
    }
    report_unknown_name(c, t);
    return NULL;
}

static mp_node *parse_if(mp_compiler *c, token t)
{
    mp_node *cond = parse_expr(c);
    if (!cond)
        return NULL;
    if (cond->type.kind != MP_T_BOOL) {
        type_error2(c, (size_t)cond->pos, "'if' needs a boolean condition",
                    &cond->type, NULL);
        return NULL;
    }
    token th = lex(c);
    if (!tok_is(c, th, "then")) {
        report(c, MIAOPI__D_SYNTAX, th.start, "expected 'then'");
        return NULL;
    }
    mp_node *a = parse_expr(c);
    if (!a)
        return NULL;
    token el = lex(c);
    if (!tok_is(c, el, "else")) {
        report(c, MIAOPI__D_SYNTAX, el.start,
               "expected 'else' (every 'if' needs one)");
        return NULL;
    }
    mp_node *b = parse_expr(c);
    if (!b)
        return NULL;
    mp_type result = a->type;
    if (!mp_type_eq(&a->type, &b->type)) {
        if (mp_type_numeric(&a->type) && mp_type_numeric(&b->type)) {
            result = T_DEC;
        } else {
            type_error2(c, (size_t)b->pos,
                        "both branches of 'if' must have one type",
                        &a->type, &b->type);
            return NULL;
        }
    }
    mp_node *n = new_node(c, MP_OP_IF, t.start, 3);
    if (!n)
        return NULL;
    n->args[0] = cond;
    n->args[1] = a;
    n->args[2] = b;
    n->type = result;
    return fold(c, n);
}

static mp_node *parse_primary_inner(mp_compiler *c);

/* Every primary (literal, path, call, table lookup, parenthesised
 * expression) ends where parsing it stopped. */
static mp_node *parse_primary(mp_compiler *c)
{
    return finish(c, parse_primary_inner(c));
}

static mp_node *parse_primary_inner(mp_compiler *c)
{
    token t = lex(c);
    switch (t.kind) {
    case TK_INT:
    case TK_DEC:
        return parse_number(c, t);
    case TK_STRING:
        return parse_string(c, t);
    case TK_LBRACKET:
        return parse_list(c, t);
    case TK_LPAREN: {
        mp_node *e = parse_expr(c);
        if (!e || !expect(c, TK_RPAREN, "')'"))
            return NULL;
        return e;
    }
    case TK_IDENT:
        if (tok_is(c, t, "if"))
            return parse_if(c, t);
        return parse_ident(c, t);
    case TK_EOF:
        report(c, MIAOPI__D_SYNTAX, t.start,
               "expression ends where a value was expected");
        return NULL;
    case TK_ERROR:
        return NULL;
    default:
        report(c, MIAOPI__D_SYNTAX, t.start,
               "unexpected '%.*s' where a value was expected", (int)t.len,
               c->src + t.start);
        return NULL;
    }
}

static mp_node *parse_postfix(mp_compiler *c)
{
    mp_node *n = parse_primary(c);
    while (n && peek(c).kind == TK_DOT) {
        token dot = lex(c);
        token f = lex(c);
        if (f.kind != TK_IDENT) {
            report(c, MIAOPI__D_SYNTAX, f.start, "expected a field name");
            return NULL;
        }
        if (n->type.kind != MP_T_RECORD) {
            type_error2(c, dot.start, "only records have fields", &n->type,
                        NULL);
            return NULL;
        }
        const char *fname = c->src + f.start;
        const mp_field *field = mp_schema_find(n->type.record, fname, f.len);
        if (!field) {
            suggest s = {NULL, 99};
            suggest_schema(&s, fname, f.len, n->type.record);
            report(c, MIAOPI__D_UNKNOWN_PATH, f.start,
                   "the record has no field '%.*s'%s%s%s", (int)f.len,
                   fname, s.best ? "; did you mean '" : "",
                   s.best ? s.best : "", s.best ? "'?" : "");
            return NULL;
        }
        mp_node *fn = new_node(c, MP_OP_FIELD, (size_t)n->pos, 1);
        if (!fn)
            return NULL;
        fn->args[0] = n;
        fn->field = field;
        fn->type = field->type;
        fn->text = miaopi__arena_strndup(&c->rs->pool, fname, f.len);
        fn->start = n->start;
        n = finish(c, fn);
    }
    return n;
}

static bool numeric_or_fail(mp_compiler *c, mp_node *n, const char *what)
{
    if (mp_type_numeric(&n->type))
        return true;
    type_error2(c, (size_t)n->pos, what, &n->type, NULL);
    return false;
}

static mp_node *parse_unary(mp_compiler *c)
{
    token t = peek(c);
    if (t.kind == TK_MINUS) {
        lex(c);
        if (++c->depth > c->max_depth) {
            report(c, MIAOPI__D_TOO_DEEP, t.start,
                   "expression nests deeper than %u", c->max_depth);
            return NULL;
        }
        mp_node *a = parse_unary(c);
        c->depth--;
        if (!a || !numeric_or_fail(c, a, "'-' needs a number"))
            return NULL;
        mp_node *n = new_node(c, MP_OP_NEG, t.start, 1);
        if (!n)
            return NULL;
        n->args[0] = a;
        n->type = a->type;
        return fold(c, finish(c, n));
    }
    return parse_postfix(c);
}

static mp_node *binary(mp_compiler *c, mp_op op, size_t pos, mp_node *a,
                       mp_node *b, mp_type type)
{
    mp_node *n = new_node(c, op, pos, 2);
    if (!n)
        return NULL;
    n->args[0] = a;
    n->args[1] = b;
    n->type = type;
    n->start = a->start;
    return fold(c, finish(c, n));
}

/* Each operator of a chain (a + b + c ...) makes the tree one level
 * deeper, and evaluation recurses down the tree: count it against the
 * depth limit like a parenthesis. The caller gives the levels back. */
static bool chain_deeper(mp_compiler *c, size_t pos, unsigned *levels)
{
    (*levels)++;
    if (++c->depth <= c->max_depth)
        return true;
    report(c, MIAOPI__D_TOO_DEEP, pos,
           "expression nests deeper than %u (each operator in a chain "
           "counts as one level)",
           c->max_depth);
    return false;
}

static mp_node *parse_mul_chain(mp_compiler *c, unsigned *levels)
{
    mp_node *a = parse_unary(c);
    while (a) {
        token t = peek(c);
        mp_op op = t.kind == TK_STAR      ? MP_OP_MUL
                   : t.kind == TK_SLASH   ? MP_OP_DIV
                   : t.kind == TK_PERCENT ? MP_OP_MOD
                                          : 0;
        if (!op)
            break;
        lex(c);
        if (!chain_deeper(c, t.start, levels))
            return NULL;
        mp_node *b = parse_unary(c);
        if (!b)
            return NULL;
        if (op == MP_OP_MOD) {
            if (a->type.kind != MP_T_INT || b->type.kind != MP_T_INT) {
                type_error2(c, t.start, "'%' needs two integers", &a->type,
                            &b->type);
                return NULL;
            }
        } else if (!numeric_or_fail(c, a, "arithmetic needs numbers") ||
                   !numeric_or_fail(c, b, "arithmetic needs numbers")) {
            return NULL;
        }
        mp_type rt = (op == MP_OP_DIV || a->type.kind == MP_T_DEC ||
                      b->type.kind == MP_T_DEC)
                         ? T_DEC
                         : T_INT;
        a = binary(c, op, t.start, a, b, rt);
    }
    return a;
}

static mp_node *parse_mul(mp_compiler *c)
{
    unsigned levels = 0;
    mp_node *n = parse_mul_chain(c, &levels);
    c->depth -= levels;
    return n;
}

static mp_node *parse_add_chain(mp_compiler *c, unsigned *levels)
{
    mp_node *a = parse_mul(c);
    while (a) {
        token t = peek(c);
        if (t.kind != TK_PLUS && t.kind != TK_MINUS)
            break;
        lex(c);
        if (!chain_deeper(c, t.start, levels))
            return NULL;
        mp_node *b = parse_mul(c);
        if (!b)
            return NULL;
        if (!numeric_or_fail(c, a, "arithmetic needs numbers (use add_days"
                                   "() and friends for dates)") ||
            !numeric_or_fail(c, b, "arithmetic needs numbers (use add_days"
                                   "() and friends for dates)"))
            return NULL;
        mp_type rt = (a->type.kind == MP_T_DEC || b->type.kind == MP_T_DEC)
                         ? T_DEC
                         : T_INT;
        a = binary(c, t.kind == TK_PLUS ? MP_OP_ADD : MP_OP_SUB, t.start, a,
                   b, rt);
    }
    return a;
}

static mp_node *parse_add(mp_compiler *c)
{
    unsigned levels = 0;
    mp_node *n = parse_add_chain(c, &levels);
    c->depth -= levels;
    return n;
}

static mp_op comparison_op(mp_compiler *c, token t)
{
    switch (t.kind) {
    case TK_EQ: return MP_OP_EQ;
    case TK_NE: return MP_OP_NE;
    case TK_LT: return MP_OP_LT;
    case TK_LE: return MP_OP_LE;
    case TK_GT: return MP_OP_GT;
    case TK_GE: return MP_OP_GE;
    default: break;
    }
    if (tok_is(c, t, "eq")) return MP_OP_EQ;
    if (tok_is(c, t, "ne")) return MP_OP_NE;
    if (tok_is(c, t, "lt")) return MP_OP_LT;
    if (tok_is(c, t, "le")) return MP_OP_LE;
    if (tok_is(c, t, "gt")) return MP_OP_GT;
    if (tok_is(c, t, "ge")) return MP_OP_GE;
    if (tok_is(c, t, "in")) return MP_OP_IN;
    return 0;
}

static bool comparable(const mp_type *a, const mp_type *b, bool ordered)
{
    if (mp_type_numeric(a) && mp_type_numeric(b))
        return true;
    if (!mp_type_eq(a, b))
        return false;
    switch (a->kind) {
    case MP_T_STRING:
    case MP_T_DATE:
        return true;
    case MP_T_BOOL:
        return !ordered;
    default:
        return false;
    }
}

static mp_node *parse_cmp(mp_compiler *c)
{
    mp_node *a = parse_add(c);
    if (!a)
        return NULL;
    token t = peek(c);
    mp_op op = comparison_op(c, t);
    if (!op && tok_is(c, t, "not")) {
        size_t save = c->pos;
        lex(c);
        token t2 = peek(c);
        if (tok_is(c, t2, "in")) {
            op = MP_OP_NOT_IN;
        } else {
            c->pos = save;
            return a;
        }
    }
    if (!op)
        return a;
    lex(c);
    mp_node *b = parse_add(c);
    if (!b)
        return NULL;
    if (op == MP_OP_IN || op == MP_OP_NOT_IN) {
        if (b->type.kind != MP_T_LIST) {
            type_error2(c, (size_t)b->pos, "'in' needs a list on its right",
                        &b->type, NULL);
            return NULL;
        }
        if (!comparable(&a->type, b->type.elem, false)) {
            type_error2(c, t.start,
                        "'in' compares a value with list elements of "
                        "another type",
                        &a->type, b->type.elem);
            return NULL;
        }
    } else {
        bool ordered = op != MP_OP_EQ && op != MP_OP_NE;
        if (!comparable(&a->type, &b->type, ordered)) {
            type_error2(c, t.start, "cannot compare", &a->type, &b->type);
            return NULL;
        }
    }
    mp_node *n = binary(c, op, t.start, a, b, T_BOOL);
    if (n && comparison_op(c, peek(c))) {
        report(c, MIAOPI__D_SYNTAX, peek(c).start,
               "comparisons do not chain; join them with 'and'");
        return NULL;
    }
    return n;
}

static mp_node *parse_not(mp_compiler *c)
{
    token t = peek(c);
    if (tok_is(c, t, "not")) {
        lex(c);
        if (++c->depth > c->max_depth) {
            report(c, MIAOPI__D_TOO_DEEP, t.start,
                   "expression nests deeper than %u", c->max_depth);
            return NULL;
        }
        mp_node *a = parse_not(c);
        c->depth--;
        if (!a)
            return NULL;
        if (a->type.kind != MP_T_BOOL) {
            type_error2(c, (size_t)a->pos, "'not' needs a boolean",
                        &a->type, NULL);
            return NULL;
        }
        mp_node *n = new_node(c, MP_OP_NOT, t.start, 1);
        if (!n)
            return NULL;
        n->args[0] = a;
        n->type = T_BOOL;
        return fold(c, finish(c, n));
    }
    return parse_cmp(c);
}

static mp_node *parse_logic(mp_compiler *c, bool is_or);

static mp_node *parse_logic_chain(mp_compiler *c, bool is_or,
                                  unsigned *levels)
{
    mp_node *a = is_or ? parse_logic(c, false) : parse_not(c);
    const char *word = is_or ? "or" : "and";
    while (a) {
        token t = peek(c);
        if (!tok_is(c, t, word))
            break;
        lex(c);
        if (!chain_deeper(c, t.start, levels))
            return NULL;
        mp_node *b = is_or ? parse_logic(c, false) : parse_not(c);
        if (!b)
            return NULL;
        if (a->type.kind != MP_T_BOOL || b->type.kind != MP_T_BOOL) {
            type_error2(c, t.start,
                        is_or ? "'or' joins booleans" : "'and' joins booleans",
                        &a->type, &b->type);
            return NULL;
        }
        a = binary(c, is_or ? MP_OP_OR : MP_OP_AND, t.start, a, b, T_BOOL);
    }
    return a;
}

static mp_node *parse_logic(mp_compiler *c, bool is_or)
{
    unsigned levels = 0;
    mp_node *n = parse_logic_chain(c, is_or, &levels);
    c->depth -= levels;
    return n;
}

static mp_node *parse_expr(mp_compiler *c)
{
    if (++c->depth > c->max_depth) {
        report(c, MIAOPI__D_TOO_DEEP, c->pos,
               "expression nests deeper than %u", c->max_depth);
        return NULL;
    }
    mp_node *n = parse_logic(c, true);
    c->depth--;
    return n;
}

static void reset(mp_compiler *c, const char *src, size_t len)
{
    c->src = src;
    c->len = len;
    c->pos = 0;
    c->depth = 0;
    c->nvars = 0;
    c->failed = false;
    if (c->max_depth == 0)
        c->max_depth = 256;
}

mp_node *mp_compile(mp_compiler *c, const char *src, size_t len)
{
    reset(c, src, len);
    mp_node *n = parse_expr(c);
    if (!n)
        return NULL;
    token t = lex(c);
    if (t.kind != TK_EOF) {
        if (t.kind != TK_ERROR)
            report(c, MIAOPI__D_SYNTAX, t.start,
                   "unexpected '%.*s' after a complete expression",
                   (int)t.len, c->src + t.start);
        return NULL;
    }
    return c->failed ? NULL : n;
}

mp_node *mp_compile_placeholder(mp_compiler *c, const char *src, size_t len,
                                size_t *pos)
{
    reset(c, src, len);
    c->pos = *pos;
    mp_node *n = parse_expr(c);
    if (!n)
        return NULL;
    token t = lex(c);
    if (t.kind != TK_RBRACE) {
        if (t.kind != TK_ERROR)
            report(c, MIAOPI__D_TEMPLATE, t.start,
                   "expected '}' to close the placeholder");
        return NULL;
    }
    *pos = c->pos;
    return c->failed ? NULL : n;
}
