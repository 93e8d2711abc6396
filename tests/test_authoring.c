/*
 * The authoring API through the public header: stand-alone expressions
 * (miaopi_expr_*) and evaluation traces (miaopi_decision_*trace*).
 */
#include "testutil.h"

static const char *const RULES_XML =
    TU_HEAD
    "  <application>\n"
    "    <field name=\"id_number\" type=\"string\" pii=\"id-number\"/>\n"
    "    <field name=\"degree\" type=\"string\"/>\n"
    "  </application>\n"
    "  <sources><source name=\"xuexin\">\n"
    "    <field name=\"degree\" type=\"string\"/>\n"
    "  </source></sources>\n"
    "  <constants>\n"
    "    <constant name=\"degrees\" type=\"list\" of=\"string\">"
    "[\"本科\", \"硕士\"]</constant>\n"
    "  </constants>\n"
    "  <rules>\n"
    "    <rule id=\"eligible\" on-fail=\"reject\" code=\"E\">\n"
    "      <title>学历</title><basis>b</basis>\n"
    "      <require>application.degree in degrees</require>\n"
    "      <message>m</message>\n"
    "    </rule>\n"
    "    <rule id=\"verified\" on-fail=\"escalate\" code=\"V\">\n"
    "      <title>核验</title><basis>b</basis>\n"
    "      <when>application.degree == \"硕士\"</when>\n"
    "      <require>xuexin.degree == application.degree and "
    "id_valid(application.id_number)</require>\n"
    "      <message>m</message>\n"
    "    </rule>\n"
    "  </rules>\n"
    "</ruleset>\n";

static const char *const CASE_JSON =
    "{\"application\": {\"id_number\": \"11010519491231002X\", "
    "\"degree\": \"本科\"}, \"sources\": {\"xuexin\": null}, "
    "\"context\": {\"decision_date\": \"2024-05-01\"}}";

/* Compile and evaluate text; value and type into the out strings. */
static int eval_text(const miaopi_ruleset *rs, const miaopi_case *c,
                     const char *text, char *value, char *type, int *known)
{
    miaopi_expr *e = NULL;
    miaopi_error err;
    int rc = miaopi_expr_compile(&e, rs, text, strlen(text), &err);
    if (rc != MIAOPI_OK)
        return rc;
    miaopi_decision *d = NULL;
    ck_assert_int_eq(miaopi_decision_new(&d), MIAOPI_OK);
    miaopi_value_info v = MIAOPI_VALUE_INFO_INIT;
    ck_assert_int_eq(miaopi_expr_eval(&v, d, e, c, &err), MIAOPI_OK);
    snprintf(value, 128, "%s", v.known ? v.value : v.unknown_reason);
    snprintf(type, 64, "%s", v.type);
    *known = v.known;
    ck_assert_int_eq(miaopi_decision_outcome(d), MIAOPI_ESCALATE);
    miaopi_decision_free(d);
    miaopi_expr_free(e);
    return MIAOPI_OK;
}

START_TEST(test_authoring_expr__empty_scope)
{
    char v[128], t[64];
    int known;
    ck_assert_int_eq(eval_text(NULL, NULL, "age(date(\"1990-05-01\"), "
                                           "date(\"2024-05-01\"))",
                               v, t, &known),
                     MIAOPI_OK);
    ck_assert_str_eq(v, "34");
    ck_assert_str_eq(t, "integer");
    ck_assert_int_eq(known, 1);
    ck_assert_int_eq(eval_text(NULL, NULL, "[\"a\", \"b\\\"\"]", v, t,
                               &known),
                     MIAOPI_OK);
    ck_assert_str_eq(v, "[\"a\", \"b\\\"\"]");
    ck_assert_str_eq(t, "list of string");
    /* A constant without a value is UNKNOWN here, not a compile error. */
    ck_assert_int_eq(eval_text(NULL, NULL, "1 / 0", v, t, &known),
                     MIAOPI_OK);
    ck_assert_int_eq(known, 0);
    ck_assert_str_eq(v, "division by zero");
    /* No case: the decision date is unknown, never the clock's. */
    ck_assert_int_eq(eval_text(NULL, NULL, "year(context.decision_date)", v,
                               t, &known),
                     MIAOPI_OK);
    ck_assert_int_eq(known, 0);
    ck_assert_str_eq(v, "context.decision_date is missing");
}
END_TEST

START_TEST(test_authoring_expr__ruleset_scope)
{
    miaopi_ruleset *rs = tu_ruleset(RULES_XML);
    miaopi_case *c = tu_case_json(CASE_JSON);
    char v[128], t[64];
    int known;
    ck_assert_int_eq(eval_text(rs, c, "application.degree in degrees", v, t,
                               &known),
                     MIAOPI_OK);
    ck_assert_str_eq(v, "true");
    ck_assert_int_eq(eval_text(rs, c, "application.id_number", v, t, &known),
                     MIAOPI_OK);
    ck_assert_str_eq(v, "\"1101**********002X\"");
    ck_assert_int_eq(eval_text(rs, c, "xuexin.degree", v, t, &known),
                     MIAOPI_OK);
    ck_assert_int_eq(known, 0);
    ck_assert_str_eq(v, "source xuexin is unavailable");
    /* The expression keeps its own reference to the ruleset. */
    miaopi_expr *e = NULL;
    ck_assert_int_eq(miaopi_expr_compile(&e, rs, "degrees", 7, NULL),
                     MIAOPI_OK);
    miaopi_ruleset_unref(rs);
    miaopi_decision *d = NULL;
    ck_assert_int_eq(miaopi_decision_new(&d), MIAOPI_OK);
    miaopi_value_info vi = MIAOPI_VALUE_INFO_INIT;
    ck_assert_int_eq(miaopi_expr_eval(&vi, d, e, NULL, NULL), MIAOPI_OK);
    ck_assert_str_eq(vi.value, "[\"本科\", \"硕士\"]");
    ck_assert_str_eq(miaopi_expr_type(e), "list of string");
    miaopi_decision_free(d);
    miaopi_expr_free(e);
    miaopi_case_free(c);
}
END_TEST

/* One decision evaluates a case, the case is freed, and the same decision
 * evaluates an expression against another case: the expression must read
 * the new case, never the freed one's member table (a use-after-free
 * found in review; ASan and valgrind runs of this test catch it). */
START_TEST(test_authoring_expr__decision_reused_after_case_freed)
{
    miaopi_ruleset *rs = tu_ruleset(RULES_XML);
    miaopi_decision *d = NULL;
    ck_assert_int_eq(miaopi_decision_new(&d), MIAOPI_OK);
    miaopi_case *a = tu_case_json(CASE_JSON);
    miaopi_eval_options o = MIAOPI_EVAL_OPTIONS_INIT;
    o.ignore_effective_dates = 1;
    ck_assert_int_eq(miaopi_evaluate(d, rs, a, &o, NULL), MIAOPI_OK);
    miaopi_case_free(a);
    miaopi_case *b = tu_case_json(
        "{\"application\": {\"x1\": 1, \"x2\": 2, \"x3\": 3, "
        "\"degree\": \"硕士\", \"id_number\": \"440305199001011234\"}, "
        "\"context\": {\"decision_date\": \"2024-06-01\"}}");
    miaopi_expr *e = NULL;
    const char *text = "application.degree";
    ck_assert_int_eq(miaopi_expr_compile(&e, rs, text, strlen(text), NULL),
                     MIAOPI_OK);
    for (int i = 0; i < 2; i++) {
        miaopi_value_info v = MIAOPI_VALUE_INFO_INIT;
        ck_assert_int_eq(miaopi_expr_eval(&v, d, e, b, NULL), MIAOPI_OK);
        ck_assert_int_eq(v.known, 1);
        ck_assert_str_eq(v.value, "\"硕士\"");
    }
    miaopi_expr_free(e);
    miaopi_case_free(b);
    miaopi_decision_free(d);
    miaopi_ruleset_unref(rs);
}
END_TEST

START_TEST(test_authoring_expr__errors)
{
    miaopi_expr *e = (miaopi_expr *)1;
    miaopi_error err;
    const char *text = "1 +\n  agee(2)";
    ck_assert_int_eq(miaopi_expr_compile(&e, NULL, text, strlen(text), &err),
                     MIAOPI_EEXPR);
    ck_assert_ptr_null(e);
    ck_assert_int_eq(err.code, MIAOPI_EEXPR);
    ck_assert_str_eq(err.id, "MIAOPI-E013");
    ck_assert_int_eq(err.line, 2);
    ck_assert_int_eq(err.column, 3);
    ck_assert_int_eq(err.offset, 6);
    ck_assert_ptr_nonnull(strstr(err.message, "did you mean 'age'"));
    ck_assert_int_eq(miaopi_expr_compile(&e, NULL, "\xff", 1, &err),
                     MIAOPI_EEXPR);
    ck_assert_int_eq(miaopi_expr_compile(&e, NULL, "", 0, &err),
                     MIAOPI_EEXPR);
    ck_assert_int_eq(miaopi_expr_compile(NULL, NULL, "1", 1, &err),
                     MIAOPI_EINVAL);
    ck_assert_int_eq(miaopi_expr_compile(&e, NULL, NULL, 1, NULL),
                     MIAOPI_EINVAL);
    const char *re = "matches(\"x\", \"[0-9]{6}\")";
    ck_assert_int_eq(miaopi_expr_compile(&e, NULL, re, strlen(re), &err),
                     MIAOPI_OK);
    ck_assert_int_eq(miaopi_expr_warning(&err, e, 0), MIAOPI_OK);
    ck_assert_str_eq(err.id, "MIAOPI-E031");
    ck_assert_int_eq(err.line, 1);
    ck_assert_int_eq(err.column, 14);
    ck_assert_int_eq(miaopi_expr_warning(&err, e, 1), MIAOPI_ENOTFOUND);
    ck_assert_int_eq(miaopi_expr_warning(NULL, e, 0), MIAOPI_EINVAL);
    miaopi_expr_free(e);
    ck_assert_int_eq(miaopi_expr_compile(&e, NULL, "1", 1, NULL), MIAOPI_OK);
    ck_assert_int_eq(miaopi_expr_warning(&err, e, 0), MIAOPI_ENOTFOUND);
    miaopi_value_info v = MIAOPI_VALUE_INFO_INIT;
    ck_assert_int_eq(miaopi_expr_eval(&v, NULL, e, NULL, NULL),
                     MIAOPI_EINVAL);
    v.size = 1;
    miaopi_decision *d = NULL;
    ck_assert_int_eq(miaopi_decision_new(&d), MIAOPI_OK);
    ck_assert_int_eq(miaopi_expr_eval(&v, d, e, NULL, NULL), MIAOPI_EINVAL);
    miaopi_decision_free(d);
    miaopi_expr_free(e);
    miaopi_expr_free(NULL);
    ck_assert_ptr_null(miaopi_expr_type(NULL));
}
END_TEST

static size_t count_steps(const miaopi_decision *d, const char *rule,
                          miaopi_trace_part part)
{
    size_t n = 0;
    for (size_t i = 0; i < miaopi_decision_trace_count(d); i++) {
        miaopi_trace_step s = MIAOPI_TRACE_STEP_INIT;
        ck_assert_int_eq(miaopi_decision_trace(&s, d, i), MIAOPI_OK);
        if (strcmp(s.rule_id, rule) == 0 && s.part == part)
            n++;
    }
    return n;
}

START_TEST(test_authoring_trace__steps)
{
    miaopi_ruleset *rs = tu_ruleset(RULES_XML);
    miaopi_case *c = tu_case_json(CASE_JSON);
    miaopi_decision *d = NULL;
    ck_assert_int_eq(miaopi_decision_new(&d), MIAOPI_OK);
    ck_assert_int_eq(miaopi_evaluate(d, rs, c, NULL, NULL), MIAOPI_OK);
    ck_assert_uint_eq(miaopi_decision_trace_count(d), 0);
    ck_assert_int_eq(miaopi_decision_set_trace(d, 1), MIAOPI_OK);
    ck_assert_int_eq(miaopi_evaluate(d, rs, c, NULL, NULL), MIAOPI_OK);
    /* eligible: the comparison, the path and the named constant. */
    ck_assert_uint_eq(count_steps(d, "eligible", MIAOPI_TRACE_REQUIRE), 3);
    miaopi_trace_step s = MIAOPI_TRACE_STEP_INIT;
    ck_assert_int_eq(miaopi_decision_trace(&s, d, 0), MIAOPI_OK);
    ck_assert_str_eq(s.expr, "application.degree in degrees");
    ck_assert_int_eq(s.depth, 0);
    ck_assert_str_eq(s.value, "true");
    ck_assert_int_eq(miaopi_decision_trace(&s, d, 1), MIAOPI_OK);
    ck_assert_str_eq(s.expr, "application.degree");
    ck_assert_uint_eq(s.start, 0);
    ck_assert_uint_eq(s.length, 18);
    ck_assert_int_eq(s.depth, 1);
    ck_assert_str_eq(s.value, "\"本科\"");
    ck_assert_str_eq(s.type, "string");
    /* verified does not apply: its when is traced, its require is not. */
    ck_assert_uint_eq(count_steps(d, "verified", MIAOPI_TRACE_WHEN), 2);
    ck_assert_uint_eq(count_steps(d, "verified", MIAOPI_TRACE_REQUIRE), 0);
    size_t n = miaopi_decision_trace_count(d);
    ck_assert_int_eq(miaopi_decision_trace(&s, d, n), MIAOPI_ENOTFOUND);
    s.size = 0;
    ck_assert_int_eq(miaopi_decision_trace(&s, d, 0), MIAOPI_EINVAL);
    char *json = NULL;
    ck_assert_int_eq(miaopi_decision_to_json(&json, d, "en",
                                             MIAOPI_JSON_TRACE),
                     MIAOPI_OK);
    ck_assert_ptr_nonnull(strstr(json, "\"trace\":[{\"rule\":\"eligible\""));
    miaopi_free(json);
    /* Off again: nothing recorded, nothing in the JSON. */
    ck_assert_int_eq(miaopi_decision_set_trace(d, 0), MIAOPI_OK);
    ck_assert_int_eq(miaopi_evaluate(d, rs, c, NULL, NULL), MIAOPI_OK);
    ck_assert_uint_eq(miaopi_decision_trace_count(d), 0);
    ck_assert_int_eq(miaopi_decision_to_json(&json, d, "en",
                                             MIAOPI_JSON_TRACE),
                     MIAOPI_OK);
    ck_assert_ptr_null(strstr(json, "trace"));
    miaopi_free(json);
    ck_assert_int_eq(miaopi_decision_set_trace(NULL, 1), MIAOPI_EINVAL);
    ck_assert_uint_eq(miaopi_decision_trace_count(NULL), 0);
    miaopi_decision_free(d);
    miaopi_case_free(c);
    miaopi_ruleset_unref(rs);
}
END_TEST

START_TEST(test_authoring_trace__unknown_and_short_circuit)
{
    miaopi_ruleset *rs = tu_ruleset(RULES_XML);
    const char *json =
        "{\"application\": {\"id_number\": \"11010519491231002X\", "
        "\"degree\": \"硕士\"}, \"sources\": {\"xuexin\": null}, "
        "\"context\": {\"decision_date\": \"2024-05-01\"}}";
    miaopi_case *c = tu_case_json(json);
    miaopi_decision *d = NULL;
    ck_assert_int_eq(miaopi_decision_new(&d), MIAOPI_OK);
    ck_assert_int_eq(miaopi_decision_set_trace(d, 1), MIAOPI_OK);
    ck_assert_int_eq(miaopi_evaluate(d, rs, c, NULL, NULL), MIAOPI_OK);
    bool saw_unknown = false, saw_id = false;
    for (size_t i = 0; i < miaopi_decision_trace_count(d); i++) {
        miaopi_trace_step s = MIAOPI_TRACE_STEP_INIT;
        ck_assert_int_eq(miaopi_decision_trace(&s, d, i), MIAOPI_OK);
        ck_assert_ptr_null(strstr(s.value, "11010519491231002X"));
        if (strcmp(s.expr, "xuexin.degree") == 0) {
            ck_assert_int_eq(s.known, 0);
            ck_assert_str_eq(s.value, "UNKNOWN");
            ck_assert_str_eq(s.unknown_reason,
                             "source xuexin is unavailable");
            saw_unknown = true;
        }
        if (strcmp(s.expr, "application.id_number") == 0) {
            ck_assert_str_eq(s.value, "\"1101**********002X\"");
            saw_id = true;
        }
    }
    ck_assert(saw_unknown);
    /* and: the left side is unknown, so the right side is evaluated. */
    ck_assert(saw_id);
    /* An expression evaluation reuses the decision and clears it. */
    miaopi_expr *e = NULL;
    ck_assert_int_eq(miaopi_expr_compile(&e, rs, "1", 1, NULL), MIAOPI_OK);
    miaopi_value_info v = MIAOPI_VALUE_INFO_INIT;
    ck_assert_int_eq(miaopi_expr_eval(&v, d, e, c, NULL), MIAOPI_OK);
    ck_assert_uint_eq(miaopi_decision_trace_count(d), 0);
    ck_assert_uint_eq(miaopi_decision_rule_count(d), 0);
    ck_assert_int_eq(miaopi_evaluate(d, rs, c, NULL, NULL), MIAOPI_OK);
    ck_assert_uint_gt(miaopi_decision_trace_count(d), 0);
    miaopi_expr_free(e);
    miaopi_decision_free(d);
    miaopi_case_free(c);
    miaopi_ruleset_unref(rs);
}
END_TEST

static Suite *authoring_suite(void)
{
    Suite *s = suite_create("authoring");
    TCase *tc = tcase_create("expr");
    tcase_add_test(tc, test_authoring_expr__empty_scope);
    tcase_add_test(tc, test_authoring_expr__ruleset_scope);
    tcase_add_test(tc, test_authoring_expr__errors);
    tcase_add_test(tc, test_authoring_expr__decision_reused_after_case_freed);
    suite_add_tcase(s, tc);
    tc = tcase_create("trace");
    tcase_add_test(tc, test_authoring_trace__steps);
    tcase_add_test(tc, test_authoring_trace__unknown_and_short_circuit);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_main(authoring_suite());
}
