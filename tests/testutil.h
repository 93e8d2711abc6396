/*
 * Shared helpers for the unit tests that go through the public API
 * (test_api.c, test_expr.c, test_hostile.c).
 *
 * The central helper, tu_run(), wraps one expression into a small ruleset
 * whose declarations cover every type of the language, loads it from
 * memory, evaluates it against a case and reports what happened: the load
 * status with every diagnostic, or the rule's status. Tests then assert
 * exact diagnostic ids and positions, or exact rule statuses.
 *
 * Header-only (static functions), so each test program stays one file.
 */
#ifndef MIAOPI_TESTUTIL_H
#define MIAOPI_TESTUTIL_H

#include <check.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "miaopi.h"

#if defined(__GNUC__)
#define TU_UNUSED __attribute__((unused))
#else
#define TU_UNUSED
#endif

/* ---- small utilities ------------------------------------------------- */

/* printf into a new heap string; the caller frees it. */
#if defined(__GNUC__)
static TU_UNUSED char *tu_printf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
#endif
static TU_UNUSED char *tu_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    ck_assert_int_ge(n, 0);
    char *s = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(s);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* `count` copies of `unit`, concatenated; the caller frees it. */
static TU_UNUSED char *tu_repeat(const char *unit, size_t count)
{
    size_t n = strlen(unit);
    char *s = malloc(n * count + 1);
    ck_assert_ptr_nonnull(s);
    for (size_t i = 0; i < count; i++)
        memcpy(s + i * n, unit, n);
    s[n * count] = '\0';
    return s;
}

/* How much slower than a plain build this run is: the valgrind test setup
 * sets MIAOPI_TEST_SLOWDOWN, and "returns quickly" bounds scale by it. */
static TU_UNUSED double tu_slowdown(void)
{
    const char *env = getenv("MIAOPI_TEST_SLOWDOWN");
    double f = env ? atof(env) : 1.0;
    return f >= 1.0 ? f : 1.0;
}

/* Monotonic seconds, for "returns quickly" assertions. */
static TU_UNUSED double tu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Number of UTF-8 characters in s[0..n). */
static TU_UNUSED int tu_chars(const char *s, size_t n)
{
    int c = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            c++;
    return c;
}

/* ---- diagnostics ----------------------------------------------------- */

/*
 * The diagnostic id for registry number n, as the library spells it.
 * Kept in one place: include/miaopi.h documents ids as "MIAOPI-E012"
 * while lib/util.c (and docs/) write "MIAOPI-E12"; the tests follow the
 * library and change here if the spelling is settled the other way.
 */
#define TU_ID_FORMAT "MIAOPI-E%03d"

static TU_UNUSED const char *tu_id(int n, char buf[16])
{
    snprintf(buf, 16, TU_ID_FORMAT, n);
    return buf;
}

/* Assert that string `got` is the id of diagnostic number n. */
#define tu_assert_id(got, n)                                                 \
    do {                                                                     \
        char idbuf_[16];                                                     \
        ck_assert_str_eq((got), tu_id((n), idbuf_));                         \
    } while (0)

#define TU_MAX_DIAGS 16

typedef struct tu_diag {
    miaopi_severity severity;
    char id[16];
    char message[512];
    int line;
    int column;
    long offset;
} tu_diag;

typedef struct tu_diags {
    int n;      /* all diagnostics seen, even past TU_MAX_DIAGS */
    int errors; /* of which errors */
    tu_diag d[TU_MAX_DIAGS];
} tu_diags;

static TU_UNUSED void tu_collect(const miaopi_diagnostic *diag, void *payload)
{
    tu_diags *ds = payload;
    ck_assert_ptr_nonnull(diag);
    ck_assert_ptr_nonnull(diag->id);
    ck_assert_ptr_nonnull(diag->message);
    if (diag->severity == MIAOPI_SEVERITY_ERROR)
        ds->errors++;
    if (ds->n < TU_MAX_DIAGS) {
        tu_diag *d = &ds->d[ds->n];
        d->severity = diag->severity;
        snprintf(d->id, sizeof(d->id), "%s", diag->id);
        snprintf(d->message, sizeof(d->message), "%s", diag->message);
        d->line = diag->line;
        d->column = diag->column;
        d->offset = diag->offset;
    }
    ds->n++;
}

/* First error diagnostic, or NULL. */
static TU_UNUSED const tu_diag *tu_first_error(const tu_diags *ds)
{
    for (int i = 0; i < ds->n && i < TU_MAX_DIAGS; i++)
        if (ds->d[i].severity == MIAOPI_SEVERITY_ERROR)
            return &ds->d[i];
    return NULL;
}

/* Load a rule file from memory, collecting diagnostics into ds (which may
 * be NULL). opts may be NULL; its callback is replaced. */
static TU_UNUSED int tu_load(miaopi_ruleset **out, const char *xml,
                             size_t len, const miaopi_load_options *opts,
                             tu_diags *ds, miaopi_error *err)
{
    miaopi_load_options o = MIAOPI_LOAD_OPTIONS_INIT;
    if (opts)
        o = *opts;
    if (ds) {
        memset(ds, 0, sizeof(*ds));
        o.on_diagnostic = tu_collect;
        o.payload = ds;
    }
    return miaopi_ruleset_load_buffer(out, xml, len, "test.xml", &o, err);
}

/* ---- the expression harness ------------------------------------------ */

/*
 * The declarations every harness ruleset has. Application fields cover
 * each type; a record list (kids) and scalar lists; one source (hukou)
 * for present() and unavailable-source tests; a context field; constants
 * and a table.
 */
#define TU_DECLS                                                             \
    "  <application>\n"                                                      \
    "    <field name=\"s\" type=\"string\"/>\n"                              \
    "    <field name=\"t\" type=\"string\"/>\n"                              \
    "    <field name=\"i\" type=\"integer\"/>\n"                             \
    "    <field name=\"j\" type=\"integer\"/>\n"                             \
    "    <field name=\"d\" type=\"decimal\"/>\n"                             \
    "    <field name=\"e\" type=\"decimal\"/>\n"                             \
    "    <field name=\"b\" type=\"boolean\"/>\n"                             \
    "    <field name=\"c\" type=\"boolean\"/>\n"                             \
    "    <field name=\"dt\" type=\"date\"/>\n"                               \
    "    <field name=\"dt2\" type=\"date\"/>\n"                              \
    "    <field name=\"id_number\" type=\"string\" pii=\"id-number\"/>\n"    \
    "    <field name=\"name\" type=\"string\" pii=\"name\"/>\n"              \
    "    <field name=\"degree\" type=\"string\"/>\n"                         \
    "    <field name=\"tags\" type=\"list\" of=\"string\"/>\n"               \
    "    <field name=\"nums\" type=\"list\" of=\"integer\"/>\n"              \
    "    <field name=\"kids\" type=\"list\">\n"                              \
    "      <field name=\"name\" type=\"string\"/>\n"                         \
    "      <field name=\"age\" type=\"integer\"/>\n"                         \
    "      <field name=\"birth_date\" type=\"date\"/>\n"                     \
    "    </field>\n"                                                         \
    "  </application>\n"                                                     \
    "  <sources>\n"                                                          \
    "    <source name=\"hukou\">\n"                                          \
    "      <field name=\"name\" type=\"string\" pii=\"name\"/>\n"            \
    "      <field name=\"alive\" type=\"boolean\"/>\n"                       \
    "      <field name=\"people\" type=\"list\">\n"                          \
    "        <field name=\"name\" type=\"string\"/>\n"                       \
    "      </field>\n"                                                       \
    "    </source>\n"                                                        \
    "  </sources>\n"                                                         \
    "  <context>\n"                                                          \
    "    <field name=\"channel\" type=\"string\"/>\n"                        \
    "  </context>\n"                                                         \
    "  <constants>\n"                                                        \
    "    <constant name=\"limit\" type=\"integer\">35</constant>\n"          \
    "    <constant name=\"degrees\" type=\"list\" of=\"string\">"            \
    "[\"本科\", \"硕士\", \"博士\"]</constant>\n"                            \
    "  </constants>\n"                                                       \
    "  <tables>\n"                                                           \
    "    <table name=\"age_limit\" key=\"string\" value=\"integer\">\n"      \
    "      <row key=\"本科\">35</row>\n"                                     \
    "      <row key=\"硕士\">40</row>\n"                                     \
    "      <row key=\"博士\">45</row>\n"                                     \
    "    </table>\n"                                                         \
    "  </tables>\n"

#define TU_HEAD                                                              \
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"                           \
    "<ruleset xmlns=\"urn:miaopi:rules:1\" id=\"t\" version=\"1\"\n"         \
    "         effective-from=\"2000-01-01\">\n"                              \
    "  <title xml:lang=\"zh-CN\">测试</title>\n"                             \
    "  <title xml:lang=\"en\">Test</title>\n"

/* Prefix of the line that holds the expression; its length in characters
 * gives the expression's first column. */
#define TU_REQUIRE_OPEN "      <require>"

/* A default case: decision date 2024-05-01, the hukou source available. */
#define TU_DEFAULT_SOURCES                                                   \
    "{\"hukou\": {\"name\": \"张三\", \"alive\": true, "                     \
    "\"people\": [{\"name\": \"张三\"}]}}"

typedef struct tu_result {
    int load_rc;        /* miaopi_ruleset_load_buffer's return */
    miaopi_error err;   /* its error details */
    tu_diags diags;     /* every diagnostic */
    int expr_line;      /* line of the <require> text in the file */
    int expr_col;       /* column where the expression starts */
    int case_rc;        /* miaopi_case_from_json's return, if loaded */
    int eval_rc;        /* miaopi_evaluate's return, if evaluated */
    miaopi_rule_status status; /* the rule's status; 0 if not evaluated */
    miaopi_outcome outcome;
    char unknown_reason[256];
    char unknown_path[128];
} tu_result;

/* Escape the characters XML text cannot hold as they are. */
static TU_UNUSED char *tu_xml_escape(const char *s)
{
    size_t n = 0;
    for (const char *p = s; *p; p++)
        n += *p == '<' ? 4 : *p == '&' ? 5 : 1;
    char *r = malloc(n + 1);
    ck_assert_ptr_nonnull(r);
    char *o = r;
    for (const char *p = s; *p; p++) {
        if (*p == '<') {
            memcpy(o, "&lt;", 4);
            o += 4;
        } else if (*p == '&') {
            memcpy(o, "&amp;", 5);
            o += 5;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return r;
}

/* The harness ruleset for one rule (when may be NULL); caller frees. */
static TU_UNUSED char *tu_ruleset_xml(const char *when, const char *require,
                                      int *expr_line, int *expr_col)
{
    char *w = when ? tu_xml_escape(when) : NULL;
    char *q = tu_xml_escape(require);
    char *whenel = w ? tu_printf("      <when>%s</when>\n", w) : NULL;
    char *head = tu_printf(
        TU_HEAD TU_DECLS "  <rules>\n"
        "    <rule id=\"r\" on-fail=\"reject\" code=\"R\">\n"
        "      <title xml:lang=\"zh-CN\">规则</title>\n"
        "      <title xml:lang=\"en\">Rule</title>\n"
        "      <basis>依据</basis>\n"
        "%s",
        whenel ? whenel : "");
    int line = 1;
    for (const char *p = head; *p; p++)
        if (*p == '\n')
            line++;
    char *xml = tu_printf("%s" TU_REQUIRE_OPEN "%s</require>\n"
                          "      <message xml:lang=\"zh-CN\">消息</message>\n"
                          "      <message xml:lang=\"en\">Message</message>\n"
                          "    </rule>\n"
                          "  </rules>\n"
                          "</ruleset>\n",
                          head, q);
    if (expr_line)
        *expr_line = line;
    if (expr_col)
        *expr_col = (int)strlen(TU_REQUIRE_OPEN) + 1;
    free(w);
    free(q);
    free(whenel);
    free(head);
    return xml;
}

/*
 * Load the harness with `require` (and `when`, may be NULL) and, if it
 * loads and case_json is not NULL, evaluate it. Never fails the test by
 * itself: callers assert on the result.
 */
static TU_UNUSED tu_result tu_run(const char *when, const char *require,
                                  const char *case_json)
{
    tu_result r;
    memset(&r, 0, sizeof(r));
    char *xml = tu_ruleset_xml(when, require, &r.expr_line, &r.expr_col);
    miaopi_ruleset *rs = NULL;
    r.load_rc = tu_load(&rs, xml, strlen(xml), NULL, &r.diags, &r.err);
    free(xml);
    if (r.load_rc != MIAOPI_OK) {
        ck_assert_ptr_null(rs);
        return r;
    }
    ck_assert_ptr_nonnull(rs);
    /* The harness itself is clean: no warnings about it, except that it
     * declares fields a given expression does not use (MIAOPI-E028) and
     * tests constant conditions on purpose (MIAOPI-E029). */
    for (int k = 0; k < r.diags.n && k < TU_MAX_DIAGS; k++) {
        const char *id = r.diags.d[k].id;
        ck_assert_msg(strcmp(id, "MIAOPI-E028") == 0 ||
                          strcmp(id, "MIAOPI-E029") == 0,
                      "'%s' loaded with diagnostic %s: %s", require, id,
                      r.diags.d[k].message);
    }
    if (!case_json) {
        miaopi_ruleset_unref(rs);
        return r;
    }
    miaopi_case *c = NULL;
    miaopi_error cerr;
    r.case_rc = miaopi_case_from_json(&c, case_json, strlen(case_json),
                                      &cerr);
    ck_assert_msg(r.case_rc == MIAOPI_OK, "case JSON: %s", cerr.message);
    miaopi_decision *d = NULL;
    ck_assert_int_eq(miaopi_decision_new(&d), MIAOPI_OK);
    miaopi_error eerr;
    r.eval_rc = miaopi_evaluate(d, rs, c, NULL, &eerr);
    r.outcome = miaopi_decision_outcome(d);
    if (r.eval_rc == MIAOPI_OK) {
        miaopi_rule_result rr = MIAOPI_RULE_RESULT_INIT;
        ck_assert_int_eq(miaopi_decision_rule(&rr, d, 0), MIAOPI_OK);
        r.status = rr.status;
        snprintf(r.unknown_reason, sizeof(r.unknown_reason), "%s",
                 rr.unknown_reason);
        snprintf(r.unknown_path, sizeof(r.unknown_path), "%s",
                 rr.unknown_path);
    }
    miaopi_decision_free(d);
    miaopi_case_free(c);
    miaopi_ruleset_unref(rs);
    return r;
}

/* A case with this application object, the default sources and date. */
static TU_UNUSED char *tu_case(const char *app_json)
{
    return tu_printf("{\"application\": %s, \"sources\": %s, "
                     "\"context\": {\"decision_date\": \"2024-05-01\"}}",
                     app_json ? app_json : "{}", TU_DEFAULT_SOURCES);
}

/* The status of `require` against an application object (JSON text).
 * Fails the test if the expression does not load. */
static TU_UNUSED miaopi_rule_status tu_status(const char *require,
                                              const char *app_json)
{
    char *c = tu_case(app_json);
    tu_result r = tu_run(NULL, require, c);
    free(c);
    ck_assert_msg(r.load_rc == MIAOPI_OK, "'%s' does not load: %s [%s]",
                  require, r.err.message, r.err.id);
    ck_assert_msg(r.eval_rc == MIAOPI_OK, "'%s' does not evaluate",
                  require);
    return r.status;
}

/* Load `require` expecting a load error; returns the result for the
 * caller to check id and position. */
static TU_UNUSED tu_result tu_load_error(const char *require)
{
    tu_result r = tu_run(NULL, require, NULL);
    ck_assert_msg(r.load_rc == MIAOPI_ERULES,
                  "'%s' loaded (rc %d) but should not", require, r.load_rc);
    return r;
}

/* Assert that `require` is refused with diagnostic number `id_` at character
 * offset `at` of the expression (on its line), both in err and in the
 * first error diagnostic. */
#define tu_assert_load_error(require, id_, at)                               \
    do {                                                                     \
        tu_result r_ = tu_load_error(require);                               \
        tu_assert_id(r_.err.id, (id_));                                      \
        ck_assert_int_eq(r_.err.code, MIAOPI_ERULES);                        \
        ck_assert_int_eq(r_.err.line, r_.expr_line);                         \
        ck_assert_int_eq(r_.err.column, r_.expr_col + (at));                 \
        const tu_diag *d_ = tu_first_error(&r_.diags);                       \
        ck_assert_ptr_nonnull(d_);                                           \
        tu_assert_id(d_->id, (id_));                                         \
        ck_assert_int_eq(d_->line, r_.expr_line);                            \
        ck_assert_int_eq(d_->column, r_.expr_col + (at));                    \
    } while (0)

/* Character offset of the first occurrence of `needle` in `hay`. */
static TU_UNUSED int tu_at(const char *hay, const char *needle)
{
    const char *p = strstr(hay, needle);
    ck_assert_msg(p != NULL, "'%s' not in '%s'", needle, hay);
    return tu_chars(hay, (size_t)(p - hay));
}

#define tu_assert_status(require, app_json, want)                            \
    ck_assert_msg(tu_status((require), (app_json)) == (want),                \
                  "%s with %s: got %s, want %s", (require), (app_json),      \
                  miaopi_rule_status_name(tu_status((require), (app_json))), \
                  miaopi_rule_status_name(want))

#define tu_pass(require, app_json)                                           \
    tu_assert_status(require, app_json, MIAOPI_RULE_PASS)
#define tu_fail(require, app_json)                                           \
    tu_assert_status(require, app_json, MIAOPI_RULE_FAIL)
#define tu_unknown(require, app_json)                                        \
    tu_assert_status(require, app_json, MIAOPI_RULE_UNKNOWN)

/* ---- cases and decisions --------------------------------------------- */

static TU_UNUSED miaopi_case *tu_case_json(const char *json)
{
    miaopi_case *c = NULL;
    miaopi_error err;
    int rc = miaopi_case_from_json(&c, json, strlen(json), &err);
    ck_assert_msg(rc == MIAOPI_OK, "case: %s", err.message);
    ck_assert_ptr_nonnull(c);
    return c;
}

static TU_UNUSED miaopi_ruleset *tu_ruleset(const char *xml)
{
    miaopi_ruleset *rs = NULL;
    miaopi_error err;
    tu_diags ds;
    int rc = tu_load(&rs, xml, strlen(xml), NULL, &ds, &err);
    ck_assert_msg(rc == MIAOPI_OK, "ruleset: %s:%d:%d [%s] %s", err.file,
                  err.line, err.column, err.id, err.message);
    ck_assert_ptr_nonnull(rs);
    return rs;
}

/* Decision as compact JSON with reasons in `lang`; caller frees with
 * miaopi_free. */
static TU_UNUSED char *tu_decision_json(const miaopi_decision *d,
                                        const char *lang)
{
    char *s = NULL;
    ck_assert_int_eq(miaopi_decision_to_json(&s, d, lang,
                                             MIAOPI_JSON_REASONS),
                     MIAOPI_OK);
    ck_assert_ptr_nonnull(s);
    return s;
}

/* ---- running a suite ------------------------------------------------- */

static TU_UNUSED int tu_main(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif /* MIAOPI_TESTUTIL_H */
