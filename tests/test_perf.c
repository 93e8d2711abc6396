/*
 * Tests for the performance work (issue 7): the fast paths must give
 * exactly what the general paths give, and lookup tables must stay
 * indexed. Links the internal library, to compare against the jansson
 * serialisation and to inspect a table's index.
 */
#include "model.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

json_t *miaopi__decision_json(const miaopi_decision *d, const char *lang,
                              unsigned flags);

static char root[4096];

static miaopi_ruleset *load(const char *rel)
{
    char path[8192];
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    miaopi_ruleset *rs = NULL;
    miaopi_error err;
    ck_assert_msg(miaopi_ruleset_load_file(&rs, path, NULL, &err) == 0,
                  "%s: %s", path, err.message);
    return rs;
}

/* The compact writer against json_dumps of the jansson tree. */
static void check_same_json(const miaopi_decision *d, const char *lang,
                            unsigned flags)
{
    char *fast = NULL;
    ck_assert_int_eq(miaopi_decision_to_json(&fast, d, lang, flags), 0);
    json_t *o = miaopi__decision_json(d, lang, flags);
    ck_assert_ptr_nonnull(o);
    char *slow = json_dumps(o, JSON_PRESERVE_ORDER | JSON_COMPACT);
    json_decref(o);
    ck_assert_str_eq(fast, slow);
    free(slow);
    miaopi_free(fast);
}

static void decide_and_check(miaopi_ruleset *rs, const char *json)
{
    miaopi_case *c;
    miaopi_error err;
    ck_assert_msg(miaopi_case_from_json(&c, json, strlen(json), &err) == 0,
                  "%s", err.message);
    miaopi_decision *d;
    ck_assert_int_eq(miaopi_decision_new(&d), 0);
    miaopi_eval_options eo = MIAOPI_EVAL_OPTIONS_INIT;
    eo.decision_id = "id-\"quoted\"\\/";
    for (int with_id = 0; with_id < 2; with_id++) {
        ck_assert_int_eq(
            miaopi_evaluate(d, rs, c, with_id ? &eo : NULL, &err), 0);
        check_same_json(d, NULL, 0);
        check_same_json(d, "en", MIAOPI_JSON_REASONS);
        check_same_json(d, "zh-CN", MIAOPI_JSON_REASONS);
    }
    miaopi_decision_free(d);
    miaopi_case_free(c);
}

START_TEST(test_perf_json__compact_equals_jansson)
{
    miaopi_ruleset *rs = load("rules/sz-talent/ruleset.xml");
    static const char *names[] = {
        "approve", "reject-age", "escalate-multiple", "escalate-no-xuexin",
        "reject-degree-not-eligible", "approve-name-variants",
        "escalate-degree-missing"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char path[8192];
        snprintf(path, sizeof(path), "%s/rules/sz-talent/cases/%s.json",
                 root, names[i]);
        FILE *f = fopen(path, "rb");
        ck_assert_ptr_nonnull(f);
        char buf[65536];
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        decide_and_check(rs, buf);
    }
    miaopi_ruleset_unref(rs);
}
END_TEST

/* Control characters, quotes and backslashes reach the output through a
 * rendered message (the degree is not personal data, so it is shown). */
START_TEST(test_perf_json__escapes_equal_jansson)
{
    miaopi_ruleset *rs = load("rules/sz-talent/ruleset.xml");
    decide_and_check(rs,
                     "{\"application\":{\"id_number\":\"440305199807151231\","
                     "\"name\":\"李\\t明\",\"degree\":\"大\\u0001专\\\"\\\\/"
                     "\\n\\r\\b\\f\\u001f\\u007f\"},"
                     "\"sources\":{},\"context\":{\"decision_date\":"
                     "\"2024-05-01\"}}");
    miaopi_ruleset_unref(rs);
}
END_TEST

/* The decision log writes entries directly; each must be exactly what
 * json_dumps makes of it, so the format does not drift from the jansson
 * path that spot checks and shadows still take. */
START_TEST(test_perf_log__direct_entries_equal_jansson)
{
    miaopi_ruleset *rs = load("rules/sz-talent/ruleset.xml");
    char path[] = "/tmp/miaopi-perf-log-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    remove(path);
    miaopi_log *log;
    miaopi_error err;
    ck_assert_int_eq(miaopi_log_open(&log, path, NULL, &err), 0);
    static const char *docs[] = {
        "{\"application\":{\"id_number\":\"440305199807151231\","
        "\"name\":\"李\\t明\",\"degree\":\"大\\u0001专\\\"\\\\/\"},"
        "\"sources\":{\"xuexin\":null},\"context\":{\"decision_date\":"
        "\"2024-05-01\",\"x\":[1,2.5,true,null,{}]}}",
        "{\"application\":{\"id_number\":\"440305199807151231\","
        "\"name\":\"李明轩\",\"degree\":\"本科\"},\"sources\":{},"
        "\"context\":{\"decision_date\":\"2024-05-01\"}}"};
    miaopi_decision *d;
    ck_assert_int_eq(miaopi_decision_new(&d), 0);
    for (size_t i = 0; i < 2; i++) {
        miaopi_case *c;
        ck_assert_int_eq(
            miaopi_case_from_json(&c, docs[i], strlen(docs[i]), &err), 0);
        ck_assert_int_eq(miaopi_evaluate(d, rs, c, NULL, &err), 0);
        ck_assert_int_eq(miaopi_log_append(log, d, c, NULL, &err), 0);
        miaopi_case_free(c);
    }
    ck_assert_int_eq(miaopi_log_close(log, &err), 0);
    miaopi_log_report rep = MIAOPI_LOG_REPORT_INIT;
    ck_assert_int_eq(miaopi_log_verify(&rep, path, NULL, 0, &err), 0);
    ck_assert_int_eq(rep.problem, MIAOPI_LOG_INTACT);
    ck_assert_uint_eq(rep.entries, 3);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char line[65536];
    int decisions = 0;
    while (fgets(line, sizeof(line), f)) {
        size_t n = strlen(line);
        ck_assert(n > 86 && line[n - 1] == '\n');
        line[n - 2] = '\0'; /* the entry: byte 83 to before the last '}' */
        const char *entry = line + 83;
        json_t *j = json_loads(entry, 0, NULL);
        ck_assert_ptr_nonnull(j);
        char *again = json_dumps(j, JSON_COMPACT);
        ck_assert_str_eq(entry, again);
        if (strcmp(json_string_value(json_object_get(j, "type")),
                   "decision") == 0)
            decisions++;
        free(again);
        json_decref(j);
    }
    fclose(f);
    ck_assert_int_eq(decisions, 2);
    remove(path);
    miaopi_decision_free(d);
    miaopi_ruleset_unref(rs);
}
END_TEST

/* A 3,000-row table: every row is found, and no lookup walks more than a
 * few index cells, so the cost does not depend on which row matches. */
START_TEST(test_perf_table__lookup_cost_independent_of_row)
{
    enum { ROWS = 3000 };
    size_t cap = 200000 + ROWS * 40;
    char *xml = malloc(cap);
    ck_assert_ptr_nonnull(xml);
    size_t n = (size_t)snprintf(
        xml, cap,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<ruleset xmlns=\"urn:miaopi:rules:1\" id=\"t\" version=\"1\" "
        "effective-from=\"2024-01-01\" default-lang=\"en\">\n"
        "<title xml:lang=\"en\">t</title>\n"
        "<application><field name=\"code\" type=\"string\"/>"
        "<field name=\"amount\" type=\"integer\"/></application>\n"
        "<tables><table name=\"lim\" key=\"string\" value=\"integer\">\n");
    for (int i = 0; i < ROWS; i++)
        n += (size_t)snprintf(xml + n, cap - n,
                              "<row key=\"C%05d\">%d</row>\n", i, i);
    n += (size_t)snprintf(
        xml + n, cap - n,
        "</table></tables><rules><rule id=\"r\" on-fail=\"reject\" "
        "code=\"OVER\"><title xml:lang=\"en\">r</title><basis>b</basis>"
        "<require>application.amount le lim[application.code]</require>"
        "<message xml:lang=\"en\">over</message></rule></rules>"
        "</ruleset>\n");
    miaopi_ruleset *rs;
    miaopi_error err;
    ck_assert_msg(miaopi_ruleset_load_buffer(&rs, xml, n, "t.xml", NULL,
                                             &err) == 0,
                  "%s", err.message);
    free(xml);
    const mp_table *t = &rs->tables[0];
    ck_assert_uint_eq(t->nrows, ROWS);
    ck_assert_uint_ge(t->index_cap, ROWS);
    size_t worst = 0, total = 0;
    for (int i = 0; i < ROWS; i++) {
        char key[16];
        snprintf(key, sizeof(key), "C%05d", i);
        mp_value k = {.kind = MP_T_STRING};
        k.u.s.p = key;
        k.u.s.len = strlen(key);
        const mp_value *v = mp_table_lookup(t, &k);
        ck_assert_ptr_nonnull(v);
        ck_assert_int_eq(v->u.i, i);
        /* Probes: index cells visited from the home cell to the row. */
        size_t mask = t->index_cap - 1, home = mp_value_hash(&k) & mask;
        size_t probes = 1;
        for (size_t j = home; t->index[j] != (uint32_t)i + 1;
             j = (j + 1) & mask)
            probes++;
        total += probes;
        if (probes > worst)
            worst = probes;
    }
    ck_assert_msg(worst <= 16, "worst lookup walks %zu cells", worst);
    ck_assert_msg(total <= 2 * ROWS, "average lookup walks %.2f cells",
                  (double)total / ROWS);
    miaopi_ruleset_unref(rs);
}
END_TEST

/* Element positions in a large file: the loader took them from
 * xmlByteConsumed, which is wrong (and slow) once libxml2 has decoded
 * ahead, so an error on line 6 of a large file was reported far below. */
START_TEST(test_perf_load__positions_in_large_file)
{
    enum { ROWS = 6000 };
    size_t cap = 4096 + ROWS * 40;
    char *xml = malloc(cap);
    ck_assert_ptr_nonnull(xml);
    size_t n = (size_t)snprintf(
        xml, cap,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<ruleset xmlns=\"urn:miaopi:rules:1\" id=\"t\" version=\"1\" "
        "effective-from=\"2024-01-01\" default-lang=\"en\">\n"
        "<title xml:lang=\"en\">t</title>\n"
        "<application><field name=\"code\" type=\"string\"/>"
        "</application>\n<tables>\n"
        "<table name=\"lim\" key=\"strin\" value=\"integer\">\n");
    for (int i = 0; i < ROWS; i++)
        n += (size_t)snprintf(xml + n, cap - n,
                              "<row key=\"C%05d\">%d</row>\n", i, i);
    n += (size_t)snprintf(xml + n, cap - n, "</table></tables></ruleset>\n");
    miaopi_ruleset *rs = NULL;
    miaopi_error err;
    ck_assert_int_eq(miaopi_ruleset_load_buffer(&rs, xml, n, "t.xml", NULL,
                                                &err),
                     MIAOPI_ERULES);
    free(xml);
    ck_assert_msg(err.line == 6, "error reported on line %d: %s", err.line,
                  err.message);
}
END_TEST

static Suite *perf_suite(void)
{
    Suite *s = suite_create("perf");
    TCase *tc = tcase_create("json");
    tcase_add_test(tc, test_perf_json__compact_equals_jansson);
    tcase_add_test(tc, test_perf_json__escapes_equal_jansson);
    tcase_add_test(tc, test_perf_log__direct_entries_equal_jansson);
    suite_add_tcase(s, tc);
    tc = tcase_create("table");
    tcase_add_test(tc, test_perf_table__lookup_cost_independent_of_row);
    suite_add_tcase(s, tc);
    tc = tcase_create("load");
    tcase_add_test(tc, test_perf_load__positions_in_large_file);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    const char *r = getenv("MIAOPI_SOURCE_ROOT");
    snprintf(root, sizeof(root), "%s", r ? r : ".");
    SRunner *sr = srunner_create(perf_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
