/*
 * Adversarial inputs: what an attacker who controls a rule file or a case
 * can send. Each must end in a clear error or an UNKNOWN rule (hence
 * ESCALATE), quickly and in bounded memory; never a crash, a hang or an
 * APPROVE.
 *
 * Time and peak memory are measured around each attack (getrusage; check
 * runs every test in its own process, so the peak is the test's own) and
 * asserted only loosely, so that a slow or loaded machine does not make
 * the suite flaky: the bounds catch a hang or a blow-up, not a slowdown.
 */
#include <stdint.h>
#include <sys/resource.h>

/* testutil.h's printf helpers lack a format attribute, which clang's
 * -Wformat=2 (from the project's flags) turns into an error. */
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
#include "testutil.h"

#define MAX_SECONDS 10.0
#define MAX_GROWTH_MB 768

/* Sanitizers and valgrind slow everything down and inflate the resident
 * set with shadow memory: the bounds scale with them. The valgrind test
 * setup sets MIAOPI_TEST_SLOWDOWN. */
static double slowdown(void)
{
    const char *env = getenv("MIAOPI_TEST_SLOWDOWN");
    if (env && atof(env) >= 1)
        return atof(env);
#if defined(__SANITIZE_THREAD__)
    return 10;
#elif defined(__SANITIZE_ADDRESS__)
    return 4;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
    return 10;
#elif __has_feature(address_sanitizer)
    return 4;
#endif
#endif
    return 1;
}

typedef struct meter {
    double t0;
    long rss0_kb;
} meter;

static long peak_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static meter meter_start(void)
{
    meter m = {tu_now(), peak_rss_kb()};
    return m;
}

static void meter_check(const meter *m, const char *what, long max_mb)
{
    double secs = tu_now() - m->t0;
    long grown = (peak_rss_kb() - m->rss0_kb) / 1024;
    printf("adversarial %s: %.3f s, peak memory +%ld MiB\n", what, secs,
           grown);
    double f = slowdown();
    ck_assert_msg(secs < MAX_SECONDS * f, "%s took %.1f s", what, secs);
    ck_assert_msg(grown < (long)(max_mb * f), "%s grew the peak by %ld MiB",
                  what, grown);
}

/* The rule must be UNKNOWN and the decision ESCALATE. */
#define assert_unknown(require, app)                                         \
    do {                                                                     \
        char *c_ = tu_case(app);                                             \
        tu_result r_ = tu_run(NULL, (require), c_);                          \
        free(c_);                                                            \
        ck_assert_msg(r_.load_rc == MIAOPI_OK, "%s: %s", (require),          \
                      r_.err.message);                                       \
        ck_assert_int_eq(r_.eval_rc, MIAOPI_OK);                             \
        ck_assert_msg(r_.status == MIAOPI_RULE_UNKNOWN,                      \
                      "%s with %s: %s, not unknown", (require), (app),       \
                      miaopi_rule_status_name(r_.status));                   \
        ck_assert_int_eq(r_.outcome, MIAOPI_ESCALATE);                       \
    } while (0)

static int load_xml(const char *xml, size_t len, miaopi_error *err)
{
    miaopi_ruleset *rs = NULL;
    int rc = miaopi_ruleset_load_buffer(&rs, xml, len, "hostile.xml", NULL,
                                        err);
    if (rc != MIAOPI_OK)
        ck_assert_ptr_null(rs);
    miaopi_ruleset_unref(rs);
    return rc;
}

static int parse_case(const char *json, size_t len, miaopi_error *err)
{
    miaopi_case *c = NULL;
    int rc = miaopi_case_from_json(&c, json, len, err);
    if (rc != MIAOPI_OK)
        ck_assert_ptr_null(c);
    miaopi_case_free(c);
    return rc;
}

/* The harness ruleset with its zh-CN message replaced by msg (raw XML);
 * the caller frees the result. */
#define HARNESS_MSG "<message xml:lang=\"zh-CN\">消息</message>"
static char *with_message(const char *require, const char *msg)
{
    char *xml = tu_ruleset_xml(NULL, require, NULL, NULL);
    char *m = strstr(xml, HARNESS_MSG);
    ck_assert_ptr_nonnull(m);
    char *r = tu_printf("%.*s<message xml:lang=\"zh-CN\">%s</message>%s",
                        (int)(m - xml), xml, msg, m + strlen(HARNESS_MSG));
    free(xml);
    return r;
}

/* ---- invalid UTF-8 ---------------------------------------------------- */

static const char *const bad_utf8[] = {
    "\xff",             /* never valid */
    "\xc3\x28",         /* bad continuation */
    "\xc0\xaf",         /* overlong '/' */
    "\xed\xa0\x80",     /* UTF-16 surrogate */
    "\xf4\x90\x80\x80", /* past U+10FFFF */
    "\xe4\xb8",         /* truncated 中 */
};
#define NBAD (sizeof(bad_utf8) / sizeof(bad_utf8[0]))

START_TEST(test_adversarial_utf8__rule_file_name)
{
    char *xml = tu_printf(TU_HEAD "  <application>\n"
                                  "    <field name=\"a%sb\" type=\"string\"/>\n"
                                  "  </application>\n</ruleset>\n",
                          bad_utf8[_i]);
    miaopi_error err;
    ck_assert_int_eq(load_xml(xml, strlen(xml), &err), MIAOPI_ERULES);
    ck_assert_str_ne(err.id, "");
    ck_assert_int_gt(err.line, 0);
    free(xml);
}
END_TEST

START_TEST(test_adversarial_utf8__rule_file_string)
{
    char *req = tu_printf("application.s == \"x%sy\"", bad_utf8[_i]);
    tu_result r = tu_run(NULL, req, NULL);
    ck_assert_int_eq(r.load_rc, MIAOPI_ERULES);
    ck_assert_str_ne(r.err.id, "");
    free(req);
    /* In a message template, too. */
    char *msg = tu_printf("{application.s}%s", bad_utf8[_i]);
    char *bad = with_message("true", msg);
    miaopi_error err;
    ck_assert_int_eq(load_xml(bad, strlen(bad), &err), MIAOPI_ERULES);
    free(bad);
    free(msg);
}
END_TEST

START_TEST(test_adversarial_utf8__case)
{
    const char *b = bad_utf8[_i];
    char *as_value = tu_printf("{\"application\": {\"s\": \"a%sb\"}, "
                               "\"context\": {\"decision_date\": "
                               "\"2024-05-01\"}}",
                               b);
    char *as_key = tu_printf("{\"application\": {\"s%s\": \"a\"}}", b);
    char *as_date = tu_printf("{\"context\": {\"decision_date\": "
                              "\"2024-05-0%s\"}}",
                              b);
    char *const docs[] = {as_value, as_key, as_date};
    for (int i = 0; i < 3; i++) {
        miaopi_error err;
        ck_assert_int_eq(parse_case(docs[i], strlen(docs[i]), &err),
                         MIAOPI_ECASE);
        ck_assert_int_gt(err.line, 0);
        free(docs[i]);
    }
    miaopi_case *c = NULL;
    ck_assert_int_eq(miaopi_case_new(&c), MIAOPI_OK);
    char *v = tu_printf("a%sb", b);
    ck_assert_int_eq(miaopi_case_set_string(c, "application.s", v),
                     MIAOPI_EINVAL);
    free(v);
    miaopi_case_free(c);
}
END_TEST

/* Escaped lone surrogates are valid JSON syntax but not text. */
START_TEST(test_adversarial_utf8__case_escaped_surrogate)
{
    const char *doc = "{\"application\": {\"s\": \"\\ud800\"}}";
    ck_assert_int_eq(parse_case(doc, strlen(doc), NULL), MIAOPI_ECASE);
    doc = "{\"application\": {\"s\": \"a\\u0000b\"}}";
    ck_assert_int_eq(parse_case(doc, strlen(doc), NULL), MIAOPI_ECASE);
}
END_TEST

/* ---- size --------------------------------------------------------------- */

/* {"application": {"s": "aaa...a"}, ...} of about `bytes` bytes. */
static char *big_case(size_t bytes, size_t *len)
{
    const char *head = "{\"application\": {\"s\": \"";
    const char *tail = "\"}, \"sources\": {}, \"context\": "
                       "{\"decision_date\": \"2024-05-01\"}}";
    size_t h = strlen(head), t = strlen(tail);
    char *doc = malloc(bytes + 1);
    ck_assert_ptr_nonnull(doc);
    memcpy(doc, head, h);
    memset(doc + h, 'a', bytes - h - t);
    memcpy(doc + bytes - t, tail, t + 1);
    *len = bytes;
    return doc;
}

START_TEST(test_adversarial_size__case_50mb_refused)
{
    size_t len;
    char *doc = big_case((size_t)50 << 20, &len);
    meter m = meter_start();
    miaopi_error err;
    ck_assert_int_eq(parse_case(doc, len, &err), MIAOPI_ELIMIT);
    meter_check(&m, "50 MB case (default limit)", 64);
    free(doc);
}
END_TEST

/* An embedder that raises the limit gets the case parsed and evaluated in
 * memory proportional to it. */
START_TEST(test_adversarial_size__case_50mb_allowed)
{
    size_t len;
    /* Under valgrind, 10 MB makes the same point in a tenth of the time. */
    char *doc = big_case((size_t)(slowdown() >= 20 ? 10 : 50) << 20, &len);
    char *xml = tu_ruleset_xml(NULL,
                               "length(application.s) gt 0 and "
                               "matches(application.s, \"^a*b\")",
                               NULL, NULL);
    miaopi_ruleset *rs = tu_ruleset(xml);
    meter m = meter_start();
    miaopi_case_options o = MIAOPI_CASE_OPTIONS_INIT;
    o.max_bytes = (size_t)64 << 20;
    miaopi_case *c = NULL;
    ck_assert_int_eq(miaopi_case_from_json_with(&c, doc, len, &o, NULL),
                     MIAOPI_OK);
    miaopi_decision *d = NULL;
    ck_assert_int_eq(miaopi_decision_new(&d), MIAOPI_OK);
    ck_assert_int_eq(miaopi_evaluate(d, rs, c, NULL, NULL), MIAOPI_OK);
    ck_assert_int_ne(miaopi_decision_outcome(d), MIAOPI_APPROVE);
    meter_check(&m, "50 MB case (limit raised)", MAX_GROWTH_MB);
    miaopi_decision_free(d);
    miaopi_case_free(c);
    miaopi_ruleset_unref(rs);
    free(xml);
    free(doc);
}
END_TEST

/* A 1 MB string through the string builtins, the regex and masking. */
START_TEST(test_adversarial_size__string_1mb)
{
    char *big = tu_repeat("张", (1u << 20) / 3);
    char *app = tu_printf("{\"s\": \"%s\", \"name\": \"%s\"}", big, big);
    char *c = tu_case(app);
    meter m = meter_start();
    const char *exprs[] = {
        "name_eq(application.s, application.name)",
        "upper(application.s) == lower(application.name)",
        "length(normalize_name(application.s)) gt 3",
        "matches(application.s, \"^(张)+$\")",
        "contains(application.s, \"李\")",
    };
    for (size_t i = 0; i < sizeof(exprs) / sizeof(exprs[0]); i++) {
        tu_result r = tu_run(NULL, exprs[i], c);
        ck_assert_int_eq(r.load_rc, MIAOPI_OK);
        ck_assert_int_eq(r.eval_rc, MIAOPI_OK);
        ck_assert(r.status == MIAOPI_RULE_PASS ||
                  r.status == MIAOPI_RULE_FAIL ||
                  r.status == MIAOPI_RULE_UNKNOWN);
    }
    /* The failing rule's message renders the masked 1 MB name. */
    char *withmsg = with_message("false", "{application.name}");
    miaopi_ruleset *rs = tu_ruleset(withmsg);
    miaopi_case *cc = tu_case_json(c);
    miaopi_decision *d = NULL;
    ck_assert_int_eq(miaopi_decision_new(&d), MIAOPI_OK);
    ck_assert_int_eq(miaopi_evaluate(d, rs, cc, NULL, NULL), MIAOPI_OK);
    miaopi_reason reason = MIAOPI_REASON_INIT;
    ck_assert_int_eq(miaopi_decision_reason(&reason, d, 0, "zh-CN"),
                     MIAOPI_OK);
    ck_assert_ptr_null(strstr(reason.message, "张张"));
    meter_check(&m, "1 MB strings", MAX_GROWTH_MB);
    miaopi_decision_free(d);
    miaopi_case_free(cc);
    miaopi_ruleset_unref(rs);
    free(withmsg);
    free(c);
    free(app);
    free(big);
}
END_TEST

/* ---- overflow ----------------------------------------------------------- */

START_TEST(test_adversarial_overflow__int64)
{
    meter m = meter_start();
    const char *max = "{\"i\": 9223372036854775807, \"j\": -1}";
    const char *min = "{\"i\": -9223372036854775808, \"j\": -1}";
    assert_unknown("application.i + 1 gt 0", max);
    assert_unknown("application.i - application.j gt 0", max);
    assert_unknown("application.i * 2 gt 0", max);
    assert_unknown("application.i * application.i gt 0", max);
    assert_unknown("-application.i gt 0", min);
    assert_unknown("abs(application.i) gt 0", min);
    assert_unknown("application.i - 1 lt 0", min);
    assert_unknown("application.i * application.j gt 0", min);
    assert_unknown("application.i / 0 gt 0", max);
    assert_unknown("application.i % 0 eq 0", max);
    /* INT64_MIN % -1 traps in C; here it is simply 0. */
    tu_pass("application.i % application.j eq 0", min);
    /* A JSON integer beyond int64 is refused by the parser. */
    const char *doc = "{\"application\": {\"i\": 9223372036854775808}}";
    ck_assert_int_eq(parse_case(doc, strlen(doc), NULL), MIAOPI_ECASE);
    meter_check(&m, "int64 overflow", MAX_GROWTH_MB);
}
END_TEST

START_TEST(test_adversarial_overflow__date)
{
    meter m = meter_start();
    const char *end = "{\"dt\": \"9999-12-31\", \"i\": 9223372036854775807}";
    const char *start = "{\"dt\": \"0001-01-01\", \"i\": 9223372036854775807}";
    assert_unknown("add_years(application.dt, 1) gt application.dt", end);
    assert_unknown("add_months(application.dt, 1) gt application.dt", end);
    assert_unknown("add_days(application.dt, 1) gt application.dt", end);
    assert_unknown("add_days(application.dt, application.i) gt "
                   "application.dt",
                   end);
    assert_unknown("add_years(application.dt, -application.i) lt "
                   "application.dt",
                   end);
    assert_unknown("add_months(application.dt, application.i) gt "
                   "application.dt",
                   start);
    assert_unknown("add_days(application.dt, -1) lt application.dt", start);
    assert_unknown("add_years(application.dt, -1) lt application.dt", start);
    /* Year 10000 and year 0 are not dates: UNKNOWN (wrong format). */
    assert_unknown("application.dt gt date(\"2000-01-01\")",
                   "{\"dt\": \"10000-01-01\"}");
    assert_unknown("application.dt lt date(\"2000-01-01\")",
                   "{\"dt\": \"0000-12-31\"}");
    /* Far-apart dates do not overflow the differences. */
    tu_pass("days_between(date(\"0001-01-01\"), application.dt) gt 0 and "
            "months_between(date(\"0001-01-01\"), application.dt) gt 0 and "
            "years_between(date(\"0001-01-01\"), application.dt) eq 9998",
            end);
    /* A decision date at the end of time is still a date. */
    tu_result r = tu_run(NULL, "add_days(context.decision_date, 1) gt "
                               "context.decision_date",
                         "{\"application\": {}, \"context\": "
                         "{\"decision_date\": \"9999-12-31\"}}");
    ck_assert_int_eq(r.eval_rc, MIAOPI_OK);
    ck_assert_int_eq(r.status, MIAOPI_RULE_UNKNOWN);
    meter_check(&m, "date overflow", MAX_GROWTH_MB);
}
END_TEST

START_TEST(test_adversarial_overflow__decimal)
{
    meter m = meter_start();
    const char *big = "{\"d\": \"9223372036854775807\", "
                      "\"e\": \"0.000000000000000001\"}";
    assert_unknown("application.d * application.d gt 0", big);
    assert_unknown("application.d + application.d gt 0", big);
    assert_unknown("application.d / application.e gt 0", big);
    assert_unknown("application.d * 10 gt 0", big);
    assert_unknown("-application.d - 2 lt 0", big);
    assert_unknown("application.d / 0 gt 0", big);
    assert_unknown("application.d + application.e gt 0", big);
    /* Too precise, too large or not finite: the wrong format, UNKNOWN. */
    assert_unknown("application.d gt 0", "{\"d\": 1e300}");
    assert_unknown("application.d gt 0", "{\"d\": \"1e5\"}");
    assert_unknown("application.d gt 0",
                   "{\"d\": \"0.0000000000000000001\"}");
    assert_unknown("application.d gt 0",
                   "{\"d\": \"92233720368547758070\"}");
    const char *doc = "{\"application\": {\"d\": 1e400}}";
    ck_assert_int_eq(parse_case(doc, strlen(doc), NULL), MIAOPI_ECASE);
    /* In constants, overflow is a load error. */
    tu_result r = tu_run(NULL, "9223372036854775807 + 1 gt 0", NULL);
    ck_assert_int_eq(r.load_rc, MIAOPI_ERULES);
    r = tu_run(NULL, "99999999999999999999 gt 0", NULL);
    ck_assert_int_eq(r.load_rc, MIAOPI_ERULES);
    r = tu_run(NULL, "add_years(date(\"9999-12-31\"), 1) gt "
                     "date(\"2000-01-01\")",
               NULL);
    ck_assert_int_eq(r.load_rc, MIAOPI_ERULES);
    meter_check(&m, "decimal overflow", MAX_GROWTH_MB);
}
END_TEST

/* ---- catastrophic regex ------------------------------------------------- */

static const char *const evil_patterns[] = {
    "^(a+)+$",
    "^(a|a)*$",
    "^(a|aa)+$",
    "^(.*a){12}$",
    "^(\\\\w+\\\\s?)*$",
};
#define NEVIL (sizeof(evil_patterns) / sizeof(evil_patterns[0]))

START_TEST(test_adversarial_regex__catastrophic)
{
    char *subject = tu_repeat("a", 20000);
    char *app = tu_printf("{\"s\": \"%s!\"}", subject);
    char *req = tu_printf("matches(application.s, \"%s\")",
                          evil_patterns[_i]);
    char *c = tu_case(app);
    meter m = meter_start();
    tu_result r = tu_run(NULL, req, c);
    ck_assert_int_eq(r.load_rc, MIAOPI_OK);
    ck_assert_int_eq(r.eval_rc, MIAOPI_OK);
    /* No match (FAIL) if PCRE2 proves it fast, else UNKNOWN at a limit;
     * never PASS and never a hang. */
    ck_assert_msg(r.status == MIAOPI_RULE_UNKNOWN ||
                      r.status == MIAOPI_RULE_FAIL,
                  "%s: %s", evil_patterns[_i],
                  miaopi_rule_status_name(r.status));
    ck_assert_int_ne(r.outcome, MIAOPI_APPROVE);
    meter_check(&m, evil_patterns[_i], MAX_GROWTH_MB);
    free(c);
    free(req);
    free(app);
    free(subject);
}
END_TEST

/* The embedder's limits apply: a tiny match limit makes even an honest
 * pattern UNKNOWN, with the reason given. */
START_TEST(test_adversarial_regex__limits_from_options)
{
    char *xml = tu_ruleset_xml(NULL, "matches(application.s, \"^(a|b)*c$\")",
                               NULL, NULL);
    miaopi_load_options o = MIAOPI_LOAD_OPTIONS_INIT;
    o.regex_match_limit = 10;
    o.regex_depth_limit = 5;
    miaopi_ruleset *rs = NULL;
    ck_assert_int_eq(tu_load(&rs, xml, strlen(xml), &o, NULL, NULL),
                     MIAOPI_OK);
    char *subject = tu_repeat("ab", 250);
    /* Without limits this is a plain non-match (FAIL), after a little
     * backtracking (the 'c' in the middle defeats PCRE2's required-
     * character shortcut). */
    char *app = tu_printf("{\"s\": \"%sc%sd\"}", subject, subject);
    char *plain = tu_case(app);
    tu_result pr = tu_run(NULL, "matches(application.s, \"^(a|b)*c$\")",
                          plain);
    ck_assert_int_eq(pr.status, MIAOPI_RULE_FAIL);
    free(plain);
    char *cj = tu_case(app);
    miaopi_case *c = tu_case_json(cj);
    miaopi_decision *d = NULL;
    ck_assert_int_eq(miaopi_decision_new(&d), MIAOPI_OK);
    ck_assert_int_eq(miaopi_evaluate(d, rs, c, NULL, NULL), MIAOPI_OK);
    miaopi_rule_result rr = MIAOPI_RULE_RESULT_INIT;
    ck_assert_int_eq(miaopi_decision_rule(&rr, d, 0), MIAOPI_OK);
    ck_assert_int_eq(rr.status, MIAOPI_RULE_UNKNOWN);
    ck_assert_ptr_nonnull(strstr(rr.unknown_reason, "limit"));
    ck_assert_int_eq(miaopi_decision_outcome(d), MIAOPI_ESCALATE);
    miaopi_decision_free(d);
    miaopi_case_free(c);
    miaopi_ruleset_unref(rs);
    free(cj);
    free(app);
    free(subject);
    free(xml);
}
END_TEST

/* ---- deep nesting ------------------------------------------------------- */

#define DEEP 100000

START_TEST(test_adversarial_nesting__rule_file_xml)
{
    char *open = tu_repeat("<x>", DEEP);
    char *close = tu_repeat("</x>", DEEP);
    char *xml = tu_printf(TU_HEAD "<description>%s%s</description>"
                                  "</ruleset>\n",
                          open, close);
    meter m = meter_start();
    miaopi_error err;
    ck_assert_int_eq(load_xml(xml, strlen(xml), &err), MIAOPI_ERULES);
    ck_assert_str_ne(err.id, "");
    meter_check(&m, "rule file nested 100,000 deep", MAX_GROWTH_MB);
    /* The embedder's max_depth applies to elements too. */
    char *shallow = tu_printf(TU_HEAD "<description><x><x><x>d</x></x></x>"
                                      "</description></ruleset>\n");
    miaopi_load_options o = MIAOPI_LOAD_OPTIONS_INIT;
    o.max_depth = 3;
    miaopi_ruleset *rs = NULL;
    ck_assert_int_eq(miaopi_ruleset_load_buffer(&rs, shallow,
                                                strlen(shallow), NULL, &o,
                                                &err),
                     MIAOPI_ERULES);
    ck_assert_str_eq(err.id, "MIAOPI-E019");
    free(shallow);
    free(xml);
    free(close);
    free(open);
}
END_TEST

START_TEST(test_adversarial_nesting__expression)
{
    /* Parentheses, not, unary minus, list brackets, if/then/else and
     * function calls, each 100,000 deep. */
    char *exprs[6];
    char *a = tu_repeat("(", DEEP), *b = tu_repeat(")", DEEP);
    exprs[0] = tu_printf("%strue%s", a, b);
    free(a);
    free(b);
    a = tu_repeat("not ", DEEP);
    exprs[1] = tu_printf("%strue", a);
    free(a);
    a = tu_repeat("-", DEEP);
    exprs[2] = tu_printf("%s1 gt 0", a);
    free(a);
    a = tu_repeat("[", DEEP);
    exprs[3] = tu_printf("1 in %s1", a);
    free(a);
    a = tu_repeat("if true then ", DEEP);
    exprs[4] = tu_printf("%strue", a);
    free(a);
    a = tu_repeat("abs(", DEEP);
    b = tu_repeat(")", DEEP);
    exprs[5] = tu_printf("%s1%s gt 0", a, b);
    free(a);
    free(b);
    for (int i = 0; i < 6; i++) {
        meter m = meter_start();
        tu_result r = tu_run(NULL, exprs[i], NULL);
        ck_assert_int_eq(r.load_rc, MIAOPI_ERULES);
        ck_assert_str_eq(r.err.id, "MIAOPI-E019"); /* TOO_DEEP */
        char what[64];
        snprintf(what, sizeof(what), "expression nested 100,000 deep (%d)",
                 i);
        meter_check(&m, what, MAX_GROWTH_MB);
        free(exprs[i]);
    }
}
END_TEST

START_TEST(test_adversarial_nesting__case)
{
    const char *opens[] = {"[", "{\"a\":"};
    const char *closes[] = {"]", "}"};
    for (int k = 0; k < 2; k++) {
        char *a = tu_repeat(opens[k], DEEP), *b = tu_repeat(closes[k], DEEP);
        char *doc = tu_printf("{\"application\": {\"x\": %s1%s}}", a, b);
        meter m = meter_start();
        miaopi_error err;
        int rc = parse_case(doc, strlen(doc), &err);
        ck_assert_msg(rc == MIAOPI_ECASE || rc == MIAOPI_ELIMIT, "rc %d", rc);
        /* Just past the limit of 64 is ELIMIT. */
        free(doc);
        free(a);
        free(b);
        a = tu_repeat(opens[k], 70);
        b = tu_repeat(closes[k], 70);
        doc = tu_printf("{\"application\": {\"x\": %s1%s}}", a, b);
        ck_assert_int_eq(parse_case(doc, strlen(doc), &err), MIAOPI_ELIMIT);
        miaopi_case *c = NULL;
        ck_assert_int_eq(miaopi_case_new(&c), MIAOPI_OK);
        char *v = tu_printf("%s1%s", a, b);
        ck_assert_int_eq(miaopi_case_set_json(c, "application.x", v, &err),
                         MIAOPI_ELIMIT);
        miaopi_case_free(c);
        meter_check(&m, k ? "case nested 100,000 deep (objects)"
                          : "case nested 100,000 deep (arrays)",
                    MAX_GROWTH_MB);
        free(v);
        free(doc);
        free(a);
        free(b);
    }
}
END_TEST

/* A quantifier over a huge list in the case: linear, bounded. */
START_TEST(test_adversarial_size__list_quantifier)
{
    char *items = tu_repeat("1, ", 200000);
    char *app = tu_printf("{\"nums\": [%s2]}", items);
    char *c = tu_case(app);
    meter m = meter_start();
    tu_pass("any(x in application.nums, x eq 2) and "
            "count(x in application.nums, x eq 1) eq 200000",
            app);
    meter_check(&m, "200,000-element list", MAX_GROWTH_MB);
    free(c);
    free(app);
    free(items);
}
END_TEST

/* A hostile rule nesting quantifiers over a list in the case: 2,000^3
 * steps without a budget. The evaluation budget stops it. */
START_TEST(test_adversarial_budget__nested_quantifiers)
{
    char *items = tu_repeat("1, ", 1999);
    char *app = tu_printf("{\"nums\": [%s2]}", items);
    meter m = meter_start();
    assert_unknown("count(x in application.nums, "
                   "count(y in application.nums, "
                   "count(z in application.nums, x + y eq z) gt 0) gt 0) "
                   "gt 0",
                   app);
    meter_check(&m, "quantifiers nested over 2,000 elements",
                MAX_GROWTH_MB);
    char *c = tu_case(app);
    tu_result r = tu_run(NULL, "any(x in application.nums, "
                               "any(y in application.nums, x eq 5))",
                         c);
    ck_assert_int_eq(r.status, MIAOPI_RULE_UNKNOWN);
    ck_assert_ptr_nonnull(strstr(r.unknown_reason, "limit"));
    free(c);
    free(app);
    free(items);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("adversarial");
    TCase *tc = tcase_create("utf8");
    tcase_add_loop_test(tc, test_adversarial_utf8__rule_file_name, 0, NBAD);
    tcase_add_loop_test(tc, test_adversarial_utf8__rule_file_string, 0,
                        NBAD);
    tcase_add_loop_test(tc, test_adversarial_utf8__case, 0, NBAD);
    tcase_add_test(tc, test_adversarial_utf8__case_escaped_surrogate);
    suite_add_tcase(s, tc);
    tc = tcase_create("size");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_adversarial_size__case_50mb_refused);
    tcase_add_test(tc, test_adversarial_size__case_50mb_allowed);
    tcase_add_test(tc, test_adversarial_size__string_1mb);
    tcase_add_test(tc, test_adversarial_size__list_quantifier);
    tcase_add_test(tc, test_adversarial_budget__nested_quantifiers);
    suite_add_tcase(s, tc);
    tc = tcase_create("overflow");
    tcase_add_test(tc, test_adversarial_overflow__int64);
    tcase_add_test(tc, test_adversarial_overflow__date);
    tcase_add_test(tc, test_adversarial_overflow__decimal);
    suite_add_tcase(s, tc);
    tc = tcase_create("regex");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_adversarial_regex__catastrophic, 0, NEVIL);
    tcase_add_test(tc, test_adversarial_regex__limits_from_options);
    suite_add_tcase(s, tc);
    tc = tcase_create("nesting");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_adversarial_nesting__rule_file_xml);
    tcase_add_test(tc, test_adversarial_nesting__expression);
    tcase_add_test(tc, test_adversarial_nesting__case);
    suite_add_tcase(s, tc);
    return tu_main(s);
}
