/*
 * Hostile input: rule files and cases come from outside, so entity
 * tricks, size and depth bombs, broken encodings and pathological regexes
 * must end in a clear error (or an UNKNOWN rule), quickly, and never in a
 * crash, a hang, a leak of local files or an approval.
 */
#include "testutil.h"

#include <unistd.h>

/* A valid minimal ruleset around one <require>, with an optional prolog
 * (DOCTYPE) and title text. */
static char *ruleset_with(const char *prolog, const char *title,
                          const char *require)
{
    return tu_printf(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "%s"
        "<ruleset xmlns=\"urn:miaopi:rules:1\" id=\"h\" version=\"1\" "
        "effective-from=\"2024-01-01\">\n"
        "  <title>%s</title>\n"
        "  <application>\n"
        "    <field name=\"s\" type=\"string\"/>\n"
        "    <field name=\"i\" type=\"integer\"/>\n"
        "  </application>\n"
        "  <rules>\n"
        "    <rule id=\"r\" on-fail=\"reject\" code=\"R\">\n"
        "      <title>R</title><basis>B</basis>\n"
        "      <require>%s</require>\n"
        "      <message>M {application.s}</message>\n"
        "    </rule>\n"
        "  </rules>\n"
        "</ruleset>\n",
        prolog, title, require);
}

typedef struct loaded {
    int rc;
    miaopi_error err;
    tu_diags ds;
    double seconds;
} loaded;

static loaded load_text(const char *xml, size_t len,
                        const miaopi_load_options *opts)
{
    loaded l;
    miaopi_ruleset *rs = (miaopi_ruleset *)1;
    double t0 = tu_now();
    l.rc = tu_load(&rs, xml, len, opts, &l.ds, &l.err);
    l.seconds = tu_now() - t0;
    if (l.rc == MIAOPI_OK)
        miaopi_ruleset_unref(rs);
    else
        ck_assert_ptr_null(rs);
    return l;
}

/* True if `needle` occurs in the error or in any diagnostic. */
static bool leaked(const loaded *l, const char *needle)
{
    if (strstr(l->err.message, needle))
        return true;
    for (int i = 0; i < l->ds.n && i < TU_MAX_DIAGS; i++)
        if (strstr(l->ds.d[i].message, needle))
            return true;
    return false;
}

/* ======================================================================= */
/* xml: entities, DTDs, sizes, depth, encoding                             */
/* ======================================================================= */

START_TEST(test_hostile_xml__billion_laughs)
{
    const char *dtd =
        "<!DOCTYPE ruleset [\n"
        " <!ENTITY lol \"lol\">\n"
        " <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"
        "&lol;\">\n"
        " <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;"
        "&lol1;&lol1;\">\n"
        " <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;"
        "&lol2;&lol2;\">\n"
        " <!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;"
        "&lol3;&lol3;\">\n"
        " <!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;"
        "&lol4;&lol4;\">\n"
        " <!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;"
        "&lol5;&lol5;\">\n"
        " <!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;"
        "&lol6;&lol6;\">\n"
        " <!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;"
        "&lol7;&lol7;\">\n"
        " <!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;"
        "&lol8;&lol8;\">\n"
        "]>\n";
    char *xml = ruleset_with(dtd, "&lol9;", "true");
    loaded l = load_text(xml, strlen(xml), NULL);
    ck_assert_int_eq(l.rc, MIAOPI_ERULES);
    tu_assert_id(l.err.id, 2);
    ck_assert_int_eq(l.err.line, 2); /* the <!DOCTYPE line */
    ck_assert_int_eq(l.err.column, 1);
    ck_assert_double_lt(l.seconds, 1.0 * tu_slowdown());
    ck_assert_int_eq(l.ds.errors, 1);
    free(xml);
}
END_TEST

START_TEST(test_hostile_xml__external_entity)
{
    /* The first line of /etc/passwd, whatever it is, must never show. */
    char secret[64] = "root:";
    FILE *f = fopen("/etc/passwd", "r");
    if (f) {
        if (fgets(secret, sizeof(secret), f)) {
            char *colon = strchr(secret, ':');
            if (colon)
                colon[1] = '\0';
        }
        fclose(f);
    }
    static const char *const prologs[] = {
        "<!DOCTYPE ruleset [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n",
        "<!DOCTYPE ruleset SYSTEM \"file:///etc/passwd\">\n",
        ("<!DOCTYPE ruleset [<!ENTITY % p SYSTEM \"file:///etc/passwd\"> "
         "%p;]>\n"), /* one element; the parentheses tell clang so */
        "<!DOCTYPE ruleset PUBLIC \"-//X//Y\" \"http://127.0.0.1:9/x.dtd\">\n",
    };
    for (size_t i = 0; i < sizeof(prologs) / sizeof(prologs[0]); i++) {
        char *xml = ruleset_with(prologs[i], "&xxe;", "true");
        loaded l = load_text(xml, strlen(xml), NULL);
        ck_assert_int_eq(l.rc, MIAOPI_ERULES);
        tu_assert_id(l.err.id, 2);
        ck_assert_int_eq(l.err.line, 2);
        ck_assert_msg(!leaked(&l, secret), "leaked %s", secret);
        ck_assert_double_lt(l.seconds, 1.0 * tu_slowdown());
        free(xml);
    }
}
END_TEST

START_TEST(test_hostile_xml__undeclared_entity)
{
    /* Without a DTD an entity reference is simply malformed XML. */
    char *xml = ruleset_with("", "&xxe;", "true");
    loaded l = load_text(xml, strlen(xml), NULL);
    ck_assert_int_eq(l.rc, MIAOPI_ERULES);
    tu_assert_id(l.err.id, 1);
    ck_assert_int_eq(l.err.line, 3);
    ck_assert_int_gt(l.err.column, 0);
    free(xml);
}
END_TEST

START_TEST(test_hostile_xml__malformed_column_in_characters)
{
    /* A bare '&' after Chinese text: the column counts characters (the
     * error is where the entity name should start). */
    char *xml = ruleset_with("", "张三张三 & x", "true");
    loaded l = load_text(xml, strlen(xml), NULL);
    ck_assert_int_eq(l.rc, MIAOPI_ERULES);
    tu_assert_id(l.err.id, 1);
    ck_assert_int_eq(l.err.line, 3);
    ck_assert_int_eq(l.err.column, (int)strlen("  <title>") + 4 + 2 + 1);
    free(xml);
}
END_TEST

START_TEST(test_hostile_xml__xinclude_not_processed)
{
    char *xml = ruleset_with(
        "", "t</title><xi:include xmlns:xi=\"http://www.w3.org/2001/XInclude\" "
            "href=\"file:///etc/passwd\" parse=\"text\"/><title>u",
        "true");
    loaded l = load_text(xml, strlen(xml), NULL);
    ck_assert_int_eq(l.rc, MIAOPI_ERULES);
    tu_assert_id(l.err.id, 4);
    ck_assert(!leaked(&l, "root:"));
    free(xml);
}
END_TEST

START_TEST(test_hostile_xml__over_max_file_bytes)
{
    char *xml = ruleset_with("", "t", "true");
    size_t len = strlen(xml);
    miaopi_load_options o = MIAOPI_LOAD_OPTIONS_INIT;
    o.max_file_bytes = len - 1;
    loaded l = load_text(xml, len, &o);
    ck_assert_int_eq(l.rc, MIAOPI_ELIMIT);
    ck_assert_int_eq(l.err.code, MIAOPI_ELIMIT);
    tu_assert_id(l.err.id, 3);
    ck_assert_int_eq(l.ds.errors, 1);
    tu_assert_id(l.ds.d[0].id, 3);
    /* Exactly at the limit is fine. */
    o.max_file_bytes = len;
    l = load_text(xml, len, &o);
    ck_assert_int_eq(l.rc, MIAOPI_OK);

    /* The same through a file. */
    char path[] = "/tmp/miaopi-big-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, xml, len), (ssize_t)len);
    close(fd);
    o.max_file_bytes = 100;
    miaopi_ruleset *rs = NULL;
    miaopi_error err;
    tu_diags ds;
    memset(&ds, 0, sizeof(ds));
    o.on_diagnostic = tu_collect;
    o.payload = &ds;
    ck_assert_int_eq(miaopi_ruleset_load_file(&rs, path, &o, &err),
                     MIAOPI_ELIMIT);
    ck_assert_ptr_null(rs);
    tu_assert_id(err.id, 3);
    ck_assert_int_eq(ds.errors, 1);
    unlink(path);
    free(xml);
}
END_TEST

START_TEST(test_hostile_xml__default_size_limit)
{
    /* 16 MiB + 1 bytes of padding inside a comment: refused unread. */
    size_t len = ((size_t)16 << 20) + 1;
    char *big = malloc(len);
    ck_assert_ptr_nonnull(big);
    memset(big, ' ', len);
    loaded l = load_text(big, len, NULL);
    ck_assert_int_eq(l.rc, MIAOPI_ELIMIT);
    tu_assert_id(l.err.id, 3);
    ck_assert_double_lt(l.seconds, 1.0 * tu_slowdown());
    free(big);
}
END_TEST

START_TEST(test_hostile_xml__deep_nesting)
{
    size_t n = 100000;
    char *open = tu_repeat("<x>", n), *close = tu_repeat("</x>", n);
    char *xml = ruleset_with("", "t", "true");
    /* Put the bomb inside <description>'s place: right after <title>. */
    char *at = strstr(xml, "  <application>");
    ck_assert_ptr_nonnull(at);
    char *bomb = tu_printf("%.*s%s%s%s", (int)(at - xml), xml, open, close,
                           at);
    loaded l = load_text(bomb, strlen(bomb), NULL);
    ck_assert_int_eq(l.rc, MIAOPI_ERULES);
    tu_assert_id(l.err.id, 1);
    ck_assert_int_eq(l.err.line, 4);
    ck_assert_double_lt(l.seconds, 2.0 * tu_slowdown());
    free(open);
    free(close);
    free(xml);
    free(bomb);
}
END_TEST

START_TEST(test_hostile_xml__invalid_utf8)
{
    char *xml = ruleset_with("", "bad \xff\xfe byte", "true");
    loaded l = load_text(xml, strlen(xml), NULL);
    ck_assert_int_eq(l.rc, MIAOPI_ERULES);
    ck_assert_msg(strcmp(l.err.id, tu_id(26, (char[16]){0})) == 0, "id %s",
                  l.err.id);
    ck_assert_int_eq(l.err.line, 3);
    /* The column of the first bad byte: "  <title>bad " is 13. */
    ck_assert_int_eq(l.err.column, 14);
    free(xml);
    /* Invalid UTF-8 inside an expression's string literal. */
    xml = ruleset_with("", "t", "application.s == \"\xc3\x28\"");
    l = load_text(xml, strlen(xml), NULL);
    ck_assert_int_eq(l.rc, MIAOPI_ERULES);
    ck_assert_int_eq(l.err.line, 11);
    ck_assert_int_gt(l.err.column, 0);
    free(xml);
    /* An overlong encoding of '<'. */
    xml = ruleset_with("", "\xc0\xbc", "true");
    l = load_text(xml, strlen(xml), NULL);
    ck_assert_int_eq(l.rc, MIAOPI_ERULES);
    ck_assert_int_eq(l.err.line, 3);
    ck_assert_int_eq(l.err.column, 10);
    free(xml);
}
END_TEST

START_TEST(test_hostile_xml__nul_byte)
{
    char *xml = ruleset_with("", "a@b", "true");
    size_t len = strlen(xml);
    *strchr(xml, '@') = '\0';
    loaded l = load_text(xml, len, NULL);
    ck_assert_int_eq(l.rc, MIAOPI_ERULES);
    ck_assert_int_eq(l.err.line, 3);
    free(xml);
}
END_TEST

START_TEST(test_hostile_xml__garbage)
{
    static const char *const junk[] = {
        "", "<", "not xml at all", "<?xml version=\"1.0\"?>",
        "<ruleset/>", "<ruleset xmlns=\"urn:miaopi:rules:1\"/>",
        "\xef\xbb\xbf", "<a><b></a></b>",
    };
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        loaded l = load_text(junk[i], strlen(junk[i]), NULL);
        ck_assert_msg(l.rc == MIAOPI_ERULES, "'%s': rc %d", junk[i], l.rc);
        ck_assert_msg(l.err.id[0] != '\0', "'%s': no id", junk[i]);
        ck_assert_int_ge(l.ds.errors, 1);
    }
}
END_TEST

START_TEST(test_hostile_xml__max_errors)
{
    /* 200 broken rules: diagnostics stop at max_errors. */
    char *rules = tu_repeat("<rule id=\"r\" on-fail=\"reject\" code=\"R\">"
                            "<title>R</title><basis>B</basis>"
                            "<require>nope</require><message>M</message>"
                            "</rule>\n",
                            200);
    char *xml = tu_printf("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                          "<ruleset xmlns=\"urn:miaopi:rules:1\" id=\"h\" "
                          "version=\"1\" effective-from=\"2024-01-01\">\n"
                          "<title>t</title><rules>\n%s</rules></ruleset>\n",
                          rules);
    miaopi_load_options o = MIAOPI_LOAD_OPTIONS_INIT;
    o.max_errors = 5;
    loaded l = load_text(xml, strlen(xml), &o);
    ck_assert_int_eq(l.rc, MIAOPI_ERULES);
    tu_assert_id(l.err.id, 12);
    ck_assert_int_eq(l.err.line, 4);
    ck_assert_int_eq(l.ds.errors, 5);
    free(rules);
    free(xml);
}
END_TEST

/* ======================================================================= */
/* expr: expressions that try to exhaust the loader or the evaluator       */
/* ======================================================================= */

START_TEST(test_hostile_expr__long_flat_chains)
{
    /* Left-deep chains as long as a real file could hold. */
    static const char *const units[] = {
        "application.i + ", "application.i * ", "application.i == 1 and ",
        "application.i == 1 or ", "true and ",
    };
    static const char *const tails[] = {
        "1 gt 0", "1 gt 0", "true", "false", "true",
    };
    for (size_t k = 0; k < sizeof(units) / sizeof(units[0]); k++) {
        char *chain = tu_repeat(units[k], 50000);
        char *e = tu_printf("%s%s", chain, tails[k]);
        char *c = tu_case("{\"i\": 1}");
        double t0 = tu_now();
        tu_result r = tu_run(NULL, e, c);
        double dt = tu_now() - t0;
        /* Refused as too deep, or evaluated: either way no crash, and
         * quickly. */
        if (r.load_rc == MIAOPI_OK) {
            ck_assert_int_eq(r.eval_rc, MIAOPI_OK);
            ck_assert_int_ne(r.status, 0);
        } else {
            ck_assert_int_eq(r.load_rc, MIAOPI_ERULES);
            tu_assert_id(r.err.id, 19);
        }
        ck_assert_double_lt(dt, 5.0 * tu_slowdown());
        free(chain);
        free(e);
        free(c);
    }
}
END_TEST

START_TEST(test_hostile_expr__deep_placeholder)
{
    char *open = tu_repeat("(", 100000);
    char *xml = tu_printf(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<ruleset xmlns=\"urn:miaopi:rules:1\" id=\"h\" version=\"1\" "
        "effective-from=\"2024-01-01\">\n"
        "  <title>t</title>\n"
        "  <rules>\n"
        "    <rule id=\"r\" on-fail=\"reject\" code=\"R\">\n"
        "      <title>R</title><basis>B</basis>\n"
        "      <require>true</require>\n"
        "      <message>x {%s1}</message>\n"
        "    </rule>\n"
        "  </rules>\n"
        "</ruleset>\n",
        open);
    loaded l = load_text(xml, strlen(xml), NULL);
    ck_assert_int_eq(l.rc, MIAOPI_ERULES);
    tu_assert_id(l.err.id, 19);
    ck_assert_int_eq(l.err.line, 8);
    free(open);
    free(xml);
}
END_TEST

START_TEST(test_hostile_expr__huge_list_literal)
{
    char *items = tu_repeat("1, ", 1100);
    char *e = tu_printf("application.i in [%s1]", items);
    tu_result r = tu_load_error(e);
    tu_assert_id(r.err.id, 19);
    free(items);
    free(e);
    items = tu_repeat("1, ", 1000);
    e = tu_printf("application.i in [%s2]", items);
    tu_pass(e, "{\"i\": 2}");
    free(items);
    free(e);
}
END_TEST

/* ======================================================================= */
/* regex: pathological patterns meet their limits                          */
/* ======================================================================= */

static char *long_subject(size_t as, const char *tail)
{
    char *a = tu_repeat("a", as);
    char *app = tu_printf("{\"s\": \"%s%s\"}", a, tail);
    free(a);
    return app;
}

START_TEST(test_hostile_regex__catastrophic_backtracking)
{
    /* None of these matches the subject; a backtracking engine needs
     * exponential time to find that out. The answer must be FAIL (PCRE2
     * saw through it) or UNKNOWN (a limit was hit), and quick. */
    static const char *const patterns[] = {
        "matches(application.s, \"^(a+)+$\")",
        "matches(application.s, \"^(a|a)*$\")",
        "matches(application.s, \"^(a|aa)+$\")",
        "matches(application.s, \"^(a*)*c\")",
        "matches(application.s, \"^(?:a+|b)*c\")",
    };
    char *app = long_subject(30000, "b");
    char *c = tu_case(app);
    for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
        double t0 = tu_now();
        tu_result r = tu_run(NULL, patterns[i], c);
        double dt = tu_now() - t0;
        ck_assert_int_eq(r.load_rc, MIAOPI_OK);
        ck_assert_int_eq(r.eval_rc, MIAOPI_OK);
        ck_assert_msg(r.status == MIAOPI_RULE_UNKNOWN ||
                          r.status == MIAOPI_RULE_FAIL,
                      "%s: %s", patterns[i],
                      miaopi_rule_status_name(r.status));
        ck_assert_int_ne(r.outcome, MIAOPI_APPROVE);
        ck_assert_msg(dt < 1.0 * tu_slowdown(), "%s took %.2f s", patterns[i],
                      dt);
    }
    free(c);
    free(app);
}
END_TEST

START_TEST(test_hostile_regex__limit_is_unknown)
{
    char *app = long_subject(30000, "b");
    char *c = tu_case(app);
    double t0 = tu_now();
    tu_result r = tu_run(NULL, "matches(application.s, \"^(a+)+$\")", c);
    double dt = tu_now() - t0;
    ck_assert_int_eq(r.status, MIAOPI_RULE_UNKNOWN);
    ck_assert_int_eq(r.outcome, MIAOPI_ESCALATE);
    ck_assert_ptr_nonnull(strstr(r.unknown_reason, "limit"));
    ck_assert_double_lt(dt, 1.0 * tu_slowdown());
    /* `not` of an unknown match is unknown too, not a pass. */
    r = tu_run(NULL, "not matches(application.s, \"^(a+)+$\")", c);
    ck_assert_int_eq(r.status, MIAOPI_RULE_UNKNOWN);
    free(c);
    free(app);
    /* A short subject matches normally. */
    tu_pass("matches(application.s, \"^(a+)+$\")", "{\"s\": \"aaaa\"}");
    tu_fail("matches(application.s, \"^(a+)+$\")", "{\"s\": \"aaab\"}");
}
END_TEST

START_TEST(test_hostile_regex__pattern_length_limit)
{
    char *pat = tu_repeat("a", 5000);
    char *e = tu_printf("matches(application.s, \"%s\")", pat);
    tu_result r = tu_load_error(e);
    tu_assert_id(r.err.id, 16);
    free(pat);
    free(e);
}
END_TEST

/* ======================================================================= */
/* case: hostile case documents                                            */
/* ======================================================================= */

START_TEST(test_hostile_case__deep_nesting)
{
    size_t n = 100000;
    char *open = tu_repeat("[", n), *close = tu_repeat("]", n);
    char *json = tu_printf("{\"application\": {\"x\": %s%s}}", open, close);
    miaopi_case *c = (miaopi_case *)1;
    miaopi_error err;
    double t0 = tu_now();
    int rc = miaopi_case_from_json(&c, json, strlen(json), &err);
    ck_assert_double_lt(tu_now() - t0, 1.0 * tu_slowdown());
    /* Deeper than 64 levels is a limit, however much deeper. */
    ck_assert_int_eq(rc, MIAOPI_ELIMIT);
    ck_assert_int_eq(err.code, MIAOPI_ELIMIT);
    ck_assert_ptr_null(c);
    free(json);
    json = tu_printf("%s%s", open, close);
    ck_assert_int_eq(miaopi_case_new(&c), MIAOPI_OK);
    ck_assert_int_eq(miaopi_case_set_json(c, "application.x", json, &err),
                     MIAOPI_ELIMIT);
    miaopi_case_free(c);
    free(json);
    char *objs = tu_repeat("{\"a\":", n);
    char *ends = tu_repeat("}", n);
    json = tu_printf("%s1%s", objs, ends);
    c = NULL;
    ck_assert_int_eq(miaopi_case_from_json(&c, json, strlen(json), &err),
                     MIAOPI_ELIMIT);
    ck_assert_ptr_null(c);
    free(objs);
    free(ends);
    free(json);
    free(open);
    free(close);
}
END_TEST

START_TEST(test_hostile_case__megabyte_string)
{
    size_t n = 1 << 20;
    char *big = tu_repeat("张", n / 3);
    char *app = tu_printf("{\"s\": \"%s\", \"t\": \"%s\"}", big, big);
    char *c = tu_case(app);
    char *want = tu_printf("length(application.s) == %zu", n / 3);
    tu_result r = tu_run(NULL, want, c);
    ck_assert_int_eq(r.status, MIAOPI_RULE_PASS);
    r = tu_run(NULL, "name_eq(application.s, application.t) and "
                     "trim(application.s) == application.t and "
                     "starts_with(application.s, \"张张\") and "
                     "ends_with(application.s, \"张\") and "
                     "not contains(application.s, \"李\")",
               c);
    ck_assert_int_eq(r.status, MIAOPI_RULE_PASS);
    double t0 = tu_now();
    r = tu_run(NULL, "matches(application.s, \"^张+$\")", c);
    ck_assert_int_ne(r.status, 0);
    ck_assert_double_lt(tu_now() - t0, 2.0 * tu_slowdown());
    free(want);
    free(c);
    free(app);
    free(big);
}
END_TEST

START_TEST(test_hostile_case__megabyte_string_in_message)
{
    /* The failing rule's message renders the 1 MB value (unmasked field):
     * the decision still completes and holds the whole text. */
    char *big = tu_repeat("x", 1 << 20);
    char *xml = ruleset_with("", "t", "application.i == 2");
    miaopi_ruleset *rs = tu_ruleset(xml);
    char *json = tu_printf("{\"application\": {\"s\": \"%s\", \"i\": 1}, "
                           "\"context\": {\"decision_date\": "
                           "\"2024-05-01\"}}",
                           big);
    miaopi_case *c = tu_case_json(json);
    miaopi_decision *d = NULL;
    ck_assert_int_eq(miaopi_decision_new(&d), MIAOPI_OK);
    ck_assert_int_eq(miaopi_evaluate(d, rs, c, NULL, NULL), MIAOPI_OK);
    ck_assert_int_eq(miaopi_decision_outcome(d), MIAOPI_REJECT);
    miaopi_reason r = MIAOPI_REASON_INIT;
    ck_assert_int_eq(miaopi_decision_reason(&r, d, 0, NULL), MIAOPI_OK);
    ck_assert_uint_eq(strlen(r.message), 2 + ((size_t)1 << 20));
    miaopi_decision_free(d);
    miaopi_case_free(c);
    miaopi_ruleset_unref(rs);
    free(json);
    free(xml);
    free(big);
}
END_TEST

START_TEST(test_hostile_case__wrong_types_everywhere)
{
    /* Every declared field with a value of the wrong JSON type: rules are
     * UNKNOWN, never pass, and nothing crashes. */
    static const char *const exprs[] = {
        "application.i gt 0",
        "length(application.s) gt 0",
        "application.i in [1, 2]",
        "present(application.i)",
    };
    static const char *const apps[] = {
        "{\"i\": \"1\", \"s\": 5}",
        "{\"i\": [1], \"s\": {\"a\": 1}}",
        "{\"i\": true, \"s\": [\"x\"]}",
        "{\"i\": 1e400, \"s\": false}",
    };
    for (size_t i = 0; i < sizeof(exprs) / sizeof(exprs[0]); i++)
        for (size_t k = 0; k < sizeof(apps) / sizeof(apps[0]); k++) {
            char *c = tu_case(apps[k]);
            miaopi_case *mc = NULL;
            miaopi_error err;
            if (miaopi_case_from_json(&mc, c, strlen(c), &err) !=
                MIAOPI_OK) {
                free(c); /* jansson may refuse 1e400 outright */
                continue;
            }
            miaopi_case_free(mc);
            tu_result r = tu_run(NULL, exprs[i], c);
            ck_assert_msg(r.status == MIAOPI_RULE_UNKNOWN,
                          "%s with %s: %s", exprs[i], apps[k],
                          miaopi_rule_status_name(r.status));
            free(c);
        }
}
END_TEST

START_TEST(test_hostile_case__source_of_wrong_shape)
{
    /* A source given as a string or list instead of a record. */
    static const char *const sources[] = {"\"x\"", "[1]", "5", "true"};
    for (size_t i = 0; i < sizeof(sources) / sizeof(sources[0]); i++) {
        char *c = tu_printf("{\"application\": {}, \"sources\": "
                            "{\"hukou\": %s}, \"context\": "
                            "{\"decision_date\": \"2024-05-01\"}}",
                            sources[i]);
        tu_result r = tu_run(NULL, "hukou.alive", c);
        ck_assert_int_eq(r.status, MIAOPI_RULE_UNKNOWN);
        ck_assert_int_ne(r.outcome, MIAOPI_APPROVE);
        free(c);
    }
}
END_TEST

START_TEST(test_hostile_case__over_size_limit)
{
    size_t len = ((size_t)64 << 20) + 1;
    char *big = malloc(len);
    ck_assert_ptr_nonnull(big);
    memset(big, ' ', len);
    miaopi_case *c = (miaopi_case *)1;
    miaopi_error err;
    double t0 = tu_now();
    ck_assert_int_eq(miaopi_case_from_json(&c, big, len, &err),
                     MIAOPI_ELIMIT);
    ck_assert_double_lt(tu_now() - t0, 1.0 * tu_slowdown());
    ck_assert_ptr_null(c);
    free(big);
}
END_TEST

/* ======================================================================= */

static Suite *hostile_suite(void)
{
    Suite *s = suite_create("hostile");
    TCase *tc;

    tc = tcase_create("xml");
    tcase_set_timeout(tc, 60); /* slow under sanitizers */
    tcase_add_test(tc, test_hostile_xml__billion_laughs);
    tcase_add_test(tc, test_hostile_xml__external_entity);
    tcase_add_test(tc, test_hostile_xml__undeclared_entity);
    tcase_add_test(tc, test_hostile_xml__malformed_column_in_characters);
    tcase_add_test(tc, test_hostile_xml__xinclude_not_processed);
    tcase_add_test(tc, test_hostile_xml__over_max_file_bytes);
    tcase_add_test(tc, test_hostile_xml__default_size_limit);
    tcase_add_test(tc, test_hostile_xml__deep_nesting);
    tcase_add_test(tc, test_hostile_xml__invalid_utf8);
    tcase_add_test(tc, test_hostile_xml__nul_byte);
    tcase_add_test(tc, test_hostile_xml__garbage);
    tcase_add_test(tc, test_hostile_xml__max_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("expr");
    tcase_set_timeout(tc, 60); /* slow under sanitizers */
    tcase_add_test(tc, test_hostile_expr__long_flat_chains);
    tcase_add_test(tc, test_hostile_expr__deep_placeholder);
    tcase_add_test(tc, test_hostile_expr__huge_list_literal);
    suite_add_tcase(s, tc);

    tc = tcase_create("regex");
    tcase_set_timeout(tc, 60); /* slow under sanitizers */
    tcase_add_test(tc, test_hostile_regex__catastrophic_backtracking);
    tcase_add_test(tc, test_hostile_regex__limit_is_unknown);
    tcase_add_test(tc, test_hostile_regex__pattern_length_limit);
    suite_add_tcase(s, tc);

    tc = tcase_create("case");
    tcase_set_timeout(tc, 60); /* slow under sanitizers */
    tcase_add_test(tc, test_hostile_case__deep_nesting);
    tcase_add_test(tc, test_hostile_case__megabyte_string);
    tcase_add_test(tc, test_hostile_case__megabyte_string_in_message);
    tcase_add_test(tc, test_hostile_case__wrong_types_everywhere);
    tcase_add_test(tc, test_hostile_case__source_of_wrong_shape);
    tcase_add_test(tc, test_hostile_case__over_size_limit);
    suite_add_tcase(s, tc);

    return s;
}

int main(void)
{
    return tu_main(hostile_suite());
}
