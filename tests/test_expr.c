/*
 * Unit tests for the expression language through the public API: each
 * expression is wrapped into a small ruleset (tests/testutil.h), loaded
 * from memory and evaluated against a case.  Load errors are checked for
 * their exact diagnostic id, line and column; evaluation for the exact
 * rule status (pass / fail / unknown).
 */
#include "testutil.h"

/* ---- independent check-character helpers ------------------------------ */

/* GB 11643: 17 digits plus the ISO 7064 MOD 11-2 check character. */
static void make_id(const char *digits17, char out[19])
{
    static const int w[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6,
                              3, 7, 9, 10, 5, 8, 4, 2};
    int sum = 0;
    ck_assert_uint_eq(strlen(digits17), 17);
    for (int i = 0; i < 17; i++)
        sum += (digits17[i] - '0') * w[i];
    memcpy(out, digits17, 17);
    out[17] = "10X98765432"[sum % 11];
    out[18] = '\0';
}

/* A different, wrong check character for the same 17 digits. */
static void make_id_wrong(const char *digits17, char out[19])
{
    make_id(digits17, out);
    out[17] = out[17] == '0' ? '1' : '0';
}

/* GB 32100: 17 characters plus the MOD 31 check character. */
static void make_uscc(const char *chars17, char out[19])
{
    static const char cs[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";
    static const int w[17] = {1, 3, 9, 27, 19, 26, 16, 17, 20,
                              29, 25, 13, 8, 24, 10, 30, 28};
    int sum = 0;
    ck_assert_uint_eq(strlen(chars17), 17);
    for (int i = 0; i < 17; i++) {
        const char *p = strchr(cs, chars17[i]);
        ck_assert_ptr_nonnull(p);
        sum += (int)(p - cs) * w[i];
    }
    int c = 31 - sum % 31;
    memcpy(out, chars17, 17);
    out[17] = cs[c == 31 ? 0 : c];
    out[18] = '\0';
}

/* {"id_number": "<id>"} */
static char *app_id(const char *id)
{
    return tu_printf("{\"id_number\": \"%s\"}", id);
}

static miaopi_rule_status id_status(const char *expr, const char *id)
{
    char *app = app_id(id);
    miaopi_rule_status st = tu_status(expr, app);
    free(app);
    return st;
}

/* ======================================================================= */
/* syntax                                                                  */
/* ======================================================================= */

START_TEST(test_expr_syntax__expression_ends_early)
{
    const char *e = "application.i == ";
    tu_assert_load_error(e, 11, (int)strlen(e));
}
END_TEST

START_TEST(test_expr_syntax__empty_require)
{
    tu_assert_load_error("", 11, 0);
}
END_TEST

START_TEST(test_expr_syntax__trailing_tokens)
{
    const char *e = "application.b application.c";
    tu_assert_load_error(e, 11, tu_at(e, " application.c") + 1);
    tu_result r = tu_load_error(e);
    ck_assert_ptr_nonnull(strstr(r.err.message, "after a complete"));
}
END_TEST

START_TEST(test_expr_syntax__single_equals)
{
    const char *e = "application.i = 1";
    tu_assert_load_error(e, 11, tu_at(e, "="));
    tu_result r = tu_load_error(e);
    ck_assert_ptr_nonnull(strstr(r.err.message, "'=='"));
}
END_TEST

START_TEST(test_expr_syntax__chained_comparison)
{
    const char *e = "1 lt application.i lt 3";
    tu_assert_load_error(e, 11, tu_at(e, "lt 3"));
    tu_result r = tu_load_error(e);
    ck_assert_ptr_nonnull(strstr(r.err.message, "chain"));
    /* Symbol forms chain no better than the word forms. */
    const char *e2 = "application.i == application.j == application.i";
    tu_assert_load_error(e2, 11, tu_at(e2, "== application.i"));
}
END_TEST

START_TEST(test_expr_syntax__unterminated_string)
{
    const char *e = "application.s == \"abc";
    tu_assert_load_error(e, 11, tu_at(e, "\""));
    tu_result r = tu_load_error(e);
    ck_assert_ptr_nonnull(strstr(r.err.message, "unterminated"));
    const char *e2 = "application.s == 'abc";
    tu_assert_load_error(e2, 11, tu_at(e2, "'"));
}
END_TEST

START_TEST(test_expr_syntax__bad_escape)
{
    /* "\d" is not a string escape: the regex needs "\\d". */
    const char *e = "matches(application.s, \"^\\d$\")";
    /* The position is the escape's backslash. */
    tu_assert_load_error(e, 11, tu_at(e, "\\d"));
    tu_result r = tu_load_error(e);
    ck_assert_ptr_nonnull(strstr(r.err.message, "escape"));
}
END_TEST

START_TEST(test_expr_syntax__bad_unicode_escape)
{
    const char *e = "application.s == \"a\\u12\"";
    tu_assert_load_error(e, 11, tu_at(e, "\\u"));
    /* A lone surrogate names no character. */
    const char *e2 = "application.s == \"\\uD800\"";
    tu_assert_load_error(e2, 11, tu_at(e2, "\\u"));
}
END_TEST

START_TEST(test_expr_syntax__string_escapes_decode)
{
    tu_pass("application.s == \"a\\\"b\\\\c\\u5F20\"",
            "{\"s\": \"a\\\"b\\\\c张\"}");
    tu_pass("application.s == 'it\\'s'", "{\"s\": \"it's\"}");
    tu_pass("application.s == \"x\\ty\\nz\"", "{\"s\": \"x\\ty\\nz\"}");
}
END_TEST

START_TEST(test_expr_syntax__unexpected_character)
{
    const char *e = "application.i == 1 @";
    tu_assert_load_error(e, 11, tu_at(e, "@"));
}
END_TEST

START_TEST(test_expr_syntax__column_counts_characters)
{
    /* Columns count characters, not bytes: 张三 is 2 columns, 6 bytes. */
    const char *e = "application.s == \"张三\" and application.nope";
    tu_assert_load_error(e, 12, tu_at(e, "nope"));
    /* A full-width operator is a non-ASCII character outside quotes. */
    const char *e2 = "application.s == \"张三\" ＞ 1";
    tu_assert_load_error(e2, 11, tu_at(e2, "＞"));
    /* Also where the parser only peeks at it: the lexer's error is the
     * one reported, not a type error it would cause. */
    const char *e3 = "application.s == \"张三\" and application.i ＞ 1";
    tu_assert_load_error(e3, 11, tu_at(e3, "＞"));
}
END_TEST

START_TEST(test_expr_syntax__ideographic_space_is_space)
{
    /* U+3000 between tokens, as a Chinese input method leaves it. */
    tu_pass("application.i\xE3\x80\x80==\xE3\x80\x80" "1", "{\"i\": 1}");
}
END_TEST

START_TEST(test_expr_syntax__position_on_later_line)
{
    const char *e = "application.b and\n        application.nope";
    tu_result r = tu_load_error(e);
    tu_assert_id(r.err.id, 12);
    ck_assert_int_eq(r.err.line, r.expr_line + 1);
    ck_assert_int_eq(r.err.column, 9 + (int)strlen("application."));
}
END_TEST

START_TEST(test_expr_syntax__position_in_large_file)
{
    /* 300 KB of comment before the rules and 300 KB after them:
     * positions stay exact both before the XML parser's read-ahead
     * reaches the end of its first chunk and far past it. */
    const char *e = "application.b and application.nope";
    int line, col;
    char *xml = tu_ruleset_xml(NULL, e, &line, &col);
    char *pad = tu_repeat("<!-- padding padding padding -->\n", 10000);
    char *at = strstr(xml, "  <application>");
    ck_assert_ptr_nonnull(at);
    char *end = strstr(xml, "</ruleset>");
    ck_assert_ptr_nonnull(end);
    char *big = tu_printf("%.*s%s%.*s%s%s", (int)(at - xml), xml, pad,
                          (int)(end - at), at, pad, end);
    miaopi_ruleset *rs = NULL;
    miaopi_error err;
    tu_diags ds;
    ck_assert_int_eq(tu_load(&rs, big, strlen(big), NULL, &ds, &err),
                     MIAOPI_ERULES);
    tu_assert_id(err.id, 12);
    ck_assert_int_eq(err.line, line + 10000);
    ck_assert_int_eq(err.column, col + tu_at(e, "nope"));
    ck_assert_int_eq(err.offset,
                     (long)(strstr(big, "nope</require>") - big));
    free(xml);
    free(pad);
    free(big);
}
END_TEST

START_TEST(test_expr_syntax__missing_else)
{
    const char *e = "if application.b then application.c";
    tu_assert_load_error(e, 11, (int)strlen(e));
    tu_result r = tu_load_error(e);
    ck_assert_ptr_nonnull(strstr(r.err.message, "else"));
}
END_TEST

START_TEST(test_expr_syntax__empty_list)
{
    const char *e = "application.s in []";
    tu_assert_load_error(e, 11, tu_at(e, "["));
}
END_TEST

START_TEST(test_expr_syntax__integer_literal_too_large)
{
    const char *e = "application.i == 99999999999999999999";
    tu_assert_load_error(e, 11, tu_at(e, "9"));
    tu_pass("application.i == 9223372036854775807",
            "{\"i\": 9223372036854775807}");
}
END_TEST

START_TEST(test_expr_syntax__keyword_as_value)
{
    const char *e = "application.b and then";
    tu_assert_load_error(e, 11, tu_at(e, "then"));
}
END_TEST

START_TEST(test_expr_syntax__word_and_symbol_comparisons)
{
    const char *app = "{\"i\": 5}";
    tu_pass("application.i eq 5 and application.i ne 4", app);
    tu_pass("application.i lt 6 and application.i le 5", app);
    tu_pass("application.i gt 4 and application.i ge 5", app);
    tu_pass("application.i == 5 and application.i != 4", app);
    tu_pass("application.i < 6 and application.i <= 5", app);
    tu_pass("application.i > 4 and application.i >= 5", app);
    tu_fail("application.i lt 5", app);
    tu_fail("application.i > 5", app);
}
END_TEST

/* ======================================================================= */
/* names                                                                   */
/* ======================================================================= */

START_TEST(test_expr_names__unknown_field_suggests)
{
    const char *e = "application.degre == \"本科\"";
    tu_assert_load_error(e, 12, tu_at(e, "degre"));
    tu_result r = tu_load_error(e);
    ck_assert_ptr_nonnull(strstr(r.err.message, "did you mean 'degree'"));
    ck_assert_ptr_nonnull(strstr(tu_first_error(&r.diags)->message,
                                 "did you mean 'degree'"));
}
END_TEST

START_TEST(test_expr_names__unknown_root_suggests)
{
    const char *e = "applicaton.s == \"x\"";
    tu_assert_load_error(e, 12, 0);
    tu_result r = tu_load_error(e);
    ck_assert_ptr_nonnull(strstr(r.err.message,
                                 "did you mean 'application'"));
}
END_TEST

START_TEST(test_expr_names__unknown_source_field_suggests)
{
    const char *e = "hukou.nme == \"x\"";
    tu_assert_load_error(e, 12, tu_at(e, "nme"));
    tu_result r = tu_load_error(e);
    ck_assert_ptr_nonnull(strstr(r.err.message, "did you mean 'name'"));
}
END_TEST

START_TEST(test_expr_names__unknown_name_without_suggestion)
{
    const char *e = "application.b and zzzzzzzz";
    tu_assert_load_error(e, 12, tu_at(e, "zzz"));
    tu_result r = tu_load_error(e);
    ck_assert_ptr_null(strstr(r.err.message, "did you mean"));
}
END_TEST

START_TEST(test_expr_names__unknown_record_field_suggests)
{
    const char *e = "any(k in application.kids, k.nam == \"x\")";
    tu_assert_load_error(e, 12, tu_at(e, "nam "));
    tu_result r = tu_load_error(e);
    ck_assert_ptr_nonnull(strstr(r.err.message, "did you mean 'name'"));
}
END_TEST

START_TEST(test_expr_names__unknown_function_suggests)
{
    const char *e = "lenght(application.s) == 1";
    tu_assert_load_error(e, 13, 0);
    tu_result r = tu_load_error(e);
    ck_assert_ptr_nonnull(strstr(r.err.message, "did you mean 'length'"));
    const char *e2 = "application.b and agee(application.dt, "
                     "application.dt2) gt 1";
    tu_assert_load_error(e2, 13, tu_at(e2, "agee"));
    r = tu_load_error(e2);
    ck_assert_ptr_nonnull(strstr(r.err.message, "did you mean 'age'"));
}
END_TEST

START_TEST(test_expr_names__unknown_function_without_suggestion)
{
    const char *e = "frobnicate(application.s)";
    tu_assert_load_error(e, 13, 0);
    tu_result r = tu_load_error(e);
    ck_assert_ptr_null(strstr(r.err.message, "did you mean"));
}
END_TEST

START_TEST(test_expr_names__table_without_key)
{
    const char *e = "age_limit == 35";
    tu_assert_load_error(e, 11, 0);
}
END_TEST

START_TEST(test_expr_names__variable_shadows_source)
{
    const char *e = "any(hukou in application.tags, hukou == \"x\")";
    tu_assert_load_error(e, 7, tu_at(e, "hukou"));
}
END_TEST

START_TEST(test_expr_names__variable_out_of_scope)
{
    const char *e = "any(x in application.tags, x == \"a\") and x == \"a\"";
    tu_assert_load_error(e, 12, tu_at(e, ") and x") + 6);
}
END_TEST

/* ======================================================================= */
/* types                                                                   */
/* ======================================================================= */

START_TEST(test_expr_types__arity_too_few)
{
    const char *e = "application.b or age(application.dt) gt 1";
    tu_assert_load_error(e, 14, tu_at(e, "age"));
    tu_result r = tu_load_error(e);
    ck_assert_ptr_nonnull(strstr(r.err.message, "takes 2 arguments, not 1"));
}
END_TEST

START_TEST(test_expr_types__arity_too_many)
{
    const char *e = "length(application.s, application.t) == 1";
    tu_assert_load_error(e, 14, 0);
    tu_result r = tu_load_error(e);
    ck_assert_ptr_nonnull(strstr(r.err.message, "takes 1 argument, not 2"));
}
END_TEST

START_TEST(test_expr_types__compare_string_with_integer)
{
    const char *e = "application.s == 1";
    tu_assert_load_error(e, 15, tu_at(e, "=="));
    tu_result r = tu_load_error(e);
    ck_assert_ptr_nonnull(strstr(r.err.message, "string"));
    ck_assert_ptr_nonnull(strstr(r.err.message, "integer"));
}
END_TEST

START_TEST(test_expr_types__arithmetic_on_string)
{
    const char *e = "application.s + 1 == 2";
    tu_assert_load_error(e, 15, 0);
    const char *e2 = "application.dt + 1 == application.dt2";
    tu_assert_load_error(e2, 15, 0);
}
END_TEST

START_TEST(test_expr_types__builtin_argument)
{
    const char *e = "age(application.s, application.dt) gt 1";
    /* The error points at the offending argument, not the call. */
    tu_assert_load_error(e, 15, 4);
    tu_result r = tu_load_error(e);
    ck_assert_ptr_nonnull(strstr(r.err.message, "argument 1 must be date"));
}
END_TEST

START_TEST(test_expr_types__logic_needs_booleans)
{
    const char *e = "application.i and application.b";
    tu_assert_load_error(e, 15, tu_at(e, "and"));
    const char *e2 = "application.b or application.s";
    tu_assert_load_error(e2, 15, tu_at(e2, "or"));
    const char *e3 = "not application.i";
    tu_assert_load_error(e3, 15, tu_at(e3, "application"));
}
END_TEST

START_TEST(test_expr_types__if_branches_differ)
{
    const char *e = "(if application.b then 1 else \"x\") == 1";
    tu_assert_load_error(e, 15, tu_at(e, "\"x\""));
    const char *e2 = "if application.i then true else false";
    tu_assert_load_error(e2, 15, tu_at(e2, "application"));
}
END_TEST

START_TEST(test_expr_types__in_needs_list)
{
    const char *e = "application.s in application.t";
    tu_assert_load_error(e, 15, tu_at(e, "application.t"));
    const char *e2 = "application.i in application.tags";
    tu_assert_load_error(e2, 15, tu_at(e2, "in"));
}
END_TEST

START_TEST(test_expr_types__mixed_list)
{
    const char *e = "application.s in [\"a\", 1]";
    tu_assert_load_error(e, 15, tu_at(e, "1"));
    /* Integers and decimals mix into a decimal list. */
    tu_pass("application.d in [1, 2.5]", "{\"d\": \"2.50\"}");
}
END_TEST

START_TEST(test_expr_types__ordered_booleans)
{
    const char *e = "application.b lt application.c";
    tu_assert_load_error(e, 15, tu_at(e, "lt"));
}
END_TEST

START_TEST(test_expr_types__mod_needs_integers)
{
    const char *e = "application.d % 2 == 0";
    tu_assert_load_error(e, 15, tu_at(e, "%"));
}
END_TEST

START_TEST(test_expr_types__require_not_boolean)
{
    /* A binary expression is reported at its operator. */
    const char *e = "application.i + 1";
    tu_assert_load_error(e, 18, tu_at(e, "+"));
    tu_assert_load_error("application.s", 18, 0);
    tu_result r = tu_load_error(e);
    ck_assert_ptr_nonnull(strstr(r.err.message, "integer"));
}
END_TEST

START_TEST(test_expr_types__when_not_boolean)
{
    tu_result r = tu_run("application.s", "application.b", NULL);
    ck_assert_int_eq(r.load_rc, MIAOPI_ERULES);
    tu_assert_id(r.err.id, 18);
    /* <when> is the line before <require>, indented the same. */
    ck_assert_int_eq(r.err.line, r.expr_line - 1);
    ck_assert_int_eq(r.err.column, (int)strlen("      <when>") + 1);
}
END_TEST

START_TEST(test_expr_types__field_of_non_record)
{
    const char *e = "application.s.x == \"a\"";
    tu_assert_load_error(e, 15, tu_at(e, ".x"));
}
END_TEST

START_TEST(test_expr_types__wrong_json_type_is_unknown)
{
    tu_result r;
    char *c = tu_case("{\"i\": \"12\"}");
    r = tu_run(NULL, "application.i gt 1", c);
    free(c);
    ck_assert_int_eq(r.status, MIAOPI_RULE_UNKNOWN);
    ck_assert_str_eq(r.unknown_path, "application.i");
    ck_assert_ptr_nonnull(strstr(r.unknown_reason, "wrong type"));
    tu_unknown("application.dt == date(\"2024-01-01\")",
               "{\"dt\": \"2024-1-1\"}");
    tu_unknown("application.b", "{\"b\": 1}");
    tu_unknown("application.i == 1", "{\"i\": 1.5}");
}
END_TEST

/* ======================================================================= */
/* regex                                                                   */
/* ======================================================================= */

START_TEST(test_expr_regex__invalid_pattern)
{
    const char *e = "matches(application.s, \"a(b\")";
    /* The position is the pattern's first character, inside the quote. */
    tu_assert_load_error(e, 16, tu_at(e, "a(b"));
    tu_result r = tu_load_error(e);
    ck_assert_ptr_nonnull(strstr(r.err.message, "offset"));
}
END_TEST

START_TEST(test_expr_regex__pattern_must_be_constant)
{
    const char *e = "matches(application.s, application.t)";
    tu_assert_load_error(e, 17, tu_at(e, "application.t"));
}
END_TEST

START_TEST(test_expr_regex__dollar_is_end_only)
{
    /* By PCRE2's default `$` also matches before a final newline; a
     * format check must cover the whole value, so miaopi compiles with
     * PCRE2_DOLLAR_ENDONLY. */
    tu_pass("matches(application.s, \"^1[3-9]\\\\d{9}$\")",
            "{\"s\": \"13812345678\"}");
    tu_fail("matches(application.s, \"^1[3-9]\\\\d{9}$\")",
            "{\"s\": \"13812345678\\n\"}");
}
END_TEST

START_TEST(test_expr_regex__matches)
{
    const char *re = "matches(application.s, \"^1[3-9]\\\\d{9}$\")";
    tu_pass(re, "{\"s\": \"13812345678\"}");
    tu_fail(re, "{\"s\": \"12812345678\"}");
    tu_fail(re, "{\"s\": \"1381234567\"}");
    tu_unknown(re, "{}");
    /* UTF mode: '.' is one character, not one byte. */
    tu_pass("matches(application.s, \"^.{2}$\")", "{\"s\": \"张三\"}");
    /* A partial match counts unless anchored. */
    tu_pass("matches(application.s, \"b\")", "{\"s\": \"abc\"}");
}
END_TEST

/* ======================================================================= */
/* depth                                                                   */
/* ======================================================================= */

START_TEST(test_expr_depth__deep_parentheses)
{
    size_t n = 100000;
    char *open = tu_repeat("(", n), *close = tu_repeat(")", n);
    char *e = tu_printf("%strue%s", open, close);
    double t0 = tu_now();
    tu_result r = tu_load_error(e);
    ck_assert_double_lt(tu_now() - t0, 5.0 * tu_slowdown());
    tu_assert_id(r.err.id, 19);
    ck_assert_int_eq(r.err.line, r.expr_line);
    /* The default limit is 256 levels: the 256th '(' opens level 257. */
    ck_assert_int_eq(r.err.column, r.expr_col + 256);
    free(open);
    free(close);
    free(e);
}
END_TEST

START_TEST(test_expr_depth__within_default_limit)
{
    char *open = tu_repeat("(", 200), *close = tu_repeat(")", 200);
    char *e = tu_printf("%sapplication.b%s", open, close);
    tu_pass(e, "{\"b\": true}");
    free(open);
    free(close);
    free(e);
}
END_TEST

START_TEST(test_expr_depth__max_depth_option)
{
    char *open = tu_repeat("(", 20), *close = tu_repeat(")", 20);
    char *e = tu_printf("%strue%s", open, close);
    char *xml = tu_ruleset_xml(NULL, e, NULL, NULL);
    miaopi_load_options o = MIAOPI_LOAD_OPTIONS_INIT;
    o.max_depth = 10;
    miaopi_ruleset *rs = NULL;
    miaopi_error err;
    tu_diags ds;
    ck_assert_int_eq(tu_load(&rs, xml, strlen(xml), &o, &ds, &err),
                     MIAOPI_ERULES);
    tu_assert_id(err.id, 19);
    ck_assert_ptr_null(rs);
    o.max_depth = 30;
    ck_assert_int_eq(tu_load(&rs, xml, strlen(xml), &o, &ds, &err),
                     MIAOPI_OK);
    miaopi_ruleset_unref(rs);
    free(xml);
    free(open);
    free(close);
    free(e);
}
END_TEST

START_TEST(test_expr_depth__operator_chains)
{
    /* Each operator of a chain is one level: evaluation recurses down a
     * chain as down parentheses. 200 operators are fine... */
    char *chain = tu_repeat("application.i + ", 200);
    char *e = tu_printf("%s0 == 200", chain);
    tu_pass(e, "{\"i\": 1}");
    free(chain);
    free(e);
    chain = tu_repeat("application.b and ", 200);
    e = tu_printf("%strue", chain);
    tu_pass(e, "{\"b\": true}");
    tu_fail(e, "{\"b\": false}");
    free(chain);
    free(e);
    /* ...the 256th is refused, at its position. */
    const char *unit = "application.i + ";
    chain = tu_repeat(unit, 300);
    e = tu_printf("%s0 gt 0", chain);
    tu_assert_load_error(e, 19, 255 * (int)strlen(unit) + tu_at(unit, "+"));
    free(chain);
    free(e);
}
END_TEST

START_TEST(test_expr_depth__deep_not)
{
    char *nots = tu_repeat("not ", 100000);
    char *e = tu_printf("%strue", nots);
    tu_result r = tu_load_error(e);
    tu_assert_id(r.err.id, 19);
    ck_assert_int_eq(r.err.line, r.expr_line);
    free(nots);
    free(e);
}
END_TEST

START_TEST(test_expr_depth__deep_unary_minus)
{
    char *minus = tu_repeat("-", 100000);
    char *e = tu_printf("%s1 == 1", minus);
    tu_result r = tu_load_error(e);
    tu_assert_id(r.err.id, 19);
    free(minus);
    free(e);
}
END_TEST

START_TEST(test_expr_depth__deep_lists_and_calls)
{
    char *open = tu_repeat("abs(", 100000), *close = tu_repeat(")", 100000);
    char *e = tu_printf("%s1%s == 1", open, close);
    tu_result r = tu_load_error(e);
    tu_assert_id(r.err.id, 19);
    free(open);
    free(close);
    free(e);
    open = tu_repeat("[", 100000);
    e = tu_printf("application.s in %s", open);
    r = tu_load_error(e);
    tu_assert_id(r.err.id, 19);
    free(open);
    free(e);
}
END_TEST

/* ======================================================================= */
/* logic: Kleene three-valued and / or / not                               */
/* ======================================================================= */

/* Indexes into the truth tables: true, false, unknown (null). */
static const char *const kleene_json[3] = {"true", "false", "null"};
static const miaopi_rule_status kleene_st[3] = {
    MIAOPI_RULE_PASS, MIAOPI_RULE_FAIL, MIAOPI_RULE_UNKNOWN};

static void kleene_table(const char *expr, const int want[3][3])
{
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++) {
            char *app = tu_printf("{\"b\": %s, \"c\": %s}", kleene_json[a],
                                  kleene_json[b]);
            miaopi_rule_status got = tu_status(expr, app);
            ck_assert_msg(got == kleene_st[want[a][b]],
                          "%s with b=%s c=%s: got %s, want %s", expr,
                          kleene_json[a], kleene_json[b],
                          miaopi_rule_status_name(got),
                          miaopi_rule_status_name(kleene_st[want[a][b]]));
            free(app);
        }
}

enum { T = 0, F = 1, U = 2 };

START_TEST(test_expr_logic__and_truth_table)
{
    static const int want[3][3] = {
        /* c:  T  F  U */
        {T, F, U}, /* b = T */
        {F, F, F}, /* b = F */
        {U, F, U}, /* b = U */
    };
    kleene_table("application.b and application.c", want);
}
END_TEST

START_TEST(test_expr_logic__or_truth_table)
{
    static const int want[3][3] = {
        {T, T, T},
        {T, F, U},
        {T, U, U},
    };
    kleene_table("application.b or application.c", want);
}
END_TEST

START_TEST(test_expr_logic__not_truth_table)
{
    /* not ignores c; each row is constant. */
    static const int want[3][3] = {
        {F, F, F},
        {T, T, T},
        {U, U, U},
    };
    kleene_table("not application.b", want);
}
END_TEST

START_TEST(test_expr_logic__not_and_or_truth_table)
{
    /* De Morgan holds in Kleene logic. */
    static const int want[3][3] = {
        {F, T, U},
        {T, T, T},
        {U, T, U},
    };
    kleene_table("not (application.b and application.c)", want);
    kleene_table("not application.b or not application.c", want);
}
END_TEST

START_TEST(test_expr_logic__unknown_reason_and_path)
{
    char *c = tu_case("{\"b\": true}");
    tu_result r = tu_run(NULL, "application.b and application.c", c);
    free(c);
    ck_assert_int_eq(r.status, MIAOPI_RULE_UNKNOWN);
    ck_assert_str_eq(r.unknown_path, "application.c");
    ck_assert_ptr_nonnull(strstr(r.unknown_reason, "application.c"));
    ck_assert_ptr_nonnull(strstr(r.unknown_reason, "missing"));
}
END_TEST

START_TEST(test_expr_logic__in_with_unknown)
{
    const char *in = "application.s in application.tags";
    const char *nin = "application.s not in application.tags";
    /* The value itself unknown. */
    tu_unknown("application.s in [\"a\", \"b\"]", "{}");
    tu_unknown("application.s not in [\"a\", \"b\"]", "{}");
    /* The list unknown. */
    tu_unknown(in, "{\"s\": \"a\"}");
    tu_unknown(nin, "{\"s\": \"a\"}");
    /* An unknown element does not hide a match... */
    tu_pass(in, "{\"s\": \"a\", \"tags\": [null, \"a\"]}");
    tu_fail(nin, "{\"s\": \"a\", \"tags\": [null, \"a\"]}");
    /* ...but leaves a non-match unknown. */
    tu_unknown(in, "{\"s\": \"c\", \"tags\": [null, \"a\"]}");
    tu_unknown(nin, "{\"s\": \"c\", \"tags\": [\"a\", null]}");
    /* Known lists. */
    tu_fail(in, "{\"s\": \"c\", \"tags\": [\"a\", \"b\"]}");
    tu_pass(nin, "{\"s\": \"c\", \"tags\": [\"a\", \"b\"]}");
    tu_fail(in, "{\"s\": \"c\", \"tags\": []}");
    tu_pass("application.s in degrees", "{\"s\": \"硕士\"}");
    tu_fail("application.s in degrees", "{\"s\": \"大专\"}");
}
END_TEST

START_TEST(test_expr_logic__comparison_with_unknown)
{
    tu_unknown("application.i gt 1", "{}");
    tu_unknown("application.i == application.j", "{\"i\": 1}");
    tu_unknown("application.s != \"x\"", "{\"s\": null}");
}
END_TEST

START_TEST(test_expr_logic__unavailable_source)
{
    const char *c = "{\"application\": {}, \"sources\": {\"hukou\": null}, "
                    "\"context\": {\"decision_date\": \"2024-05-01\"}}";
    tu_result r = tu_run(NULL, "hukou.alive", c);
    ck_assert_int_eq(r.status, MIAOPI_RULE_UNKNOWN);
    ck_assert_ptr_nonnull(strstr(r.unknown_reason, "hukou"));
    ck_assert_ptr_nonnull(strstr(r.unknown_reason, "unavailable"));
    /* Absent counts as unavailable too. */
    const char *c2 = "{\"application\": {}, \"context\": "
                     "{\"decision_date\": \"2024-05-01\"}}";
    r = tu_run(NULL, "not hukou.alive", c2);
    ck_assert_int_eq(r.status, MIAOPI_RULE_UNKNOWN);
    tu_pass("hukou.alive and hukou.name == \"张三\"", "{}");
}
END_TEST

START_TEST(test_expr_logic__context_paths)
{
    tu_pass("context.decision_date == date(\"2024-05-01\")", "{}");
    tu_unknown("context.channel == \"web\"", "{}");
}
END_TEST

/* ======================================================================= */
/* arithmetic                                                              */
/* ======================================================================= */

START_TEST(test_expr_arith__integer_overflow_is_unknown)
{
    const char *max = "{\"i\": 9223372036854775807, \"j\": 2}";
    const char *min = "{\"i\": -9223372036854775808, \"j\": -1}";
    tu_unknown("application.i + 1 gt 0", max);
    tu_unknown("application.i * application.j gt 0", max);
    tu_unknown("application.i - 1 lt 0", min);
    tu_unknown("-application.i gt 0", min);
    tu_unknown("abs(application.i) gt 0", min);
    tu_unknown("application.i * application.j gt 0", min);
    /* Within range it is exact. */
    tu_pass("application.i - 1 == 9223372036854775806", max);
    tu_pass("application.i % application.j == 0", min);
    char *c = tu_case(max);
    tu_result r = tu_run(NULL, "application.i + 1 gt 0", c);
    free(c);
    ck_assert_ptr_nonnull(strstr(r.unknown_reason, "out of range"));
}
END_TEST

START_TEST(test_expr_arith__constant_overflow_is_load_error)
{
    const char *e = "application.i lt 9223372036854775807 + 1";
    tu_assert_load_error(e, 24, tu_at(e, "+"));
    const char *e2 = "application.i lt 1 / 0";
    tu_assert_load_error(e2, 24, tu_at(e2, "/"));
}
END_TEST

START_TEST(test_expr_arith__division_by_zero_is_unknown)
{
    const char *app = "{\"i\": 7, \"j\": 0, \"d\": \"1.5\", \"e\": 0}";
    tu_unknown("application.i / application.j == 1", app);
    tu_unknown("application.i % application.j == 1", app);
    tu_unknown("application.d / application.e == 1", app);
}
END_TEST

START_TEST(test_expr_arith__decimal_exactness)
{
    tu_pass("0.1 + 0.2 == 0.3", "{}");
    tu_pass("application.d + application.e == 0.3",
            "{\"d\": \"0.1\", \"e\": 0.2}");
    tu_pass("application.d + application.e == 0.3",
            "{\"d\": 0.1, \"e\": 0.2}");
    tu_pass("application.d * 3 == 0.3", "{\"d\": \"0.1\"}");
    tu_pass("application.d == 1234.5", "{\"d\": \"1234.50\"}");
    tu_pass("application.d == 2", "{\"d\": 2}");
    tu_fail("application.d gt 0.3", "{\"d\": \"0.30000000\"}");
}
END_TEST

START_TEST(test_expr_arith__division_gives_decimal)
{
    tu_pass("application.i / application.j == 3.5",
            "{\"i\": 7, \"j\": 2}");
    /* Eight places, rounded half-even. */
    tu_pass("application.i / application.j == 0.33333333",
            "{\"i\": 1, \"j\": 3}");
    tu_pass("application.i / application.j == 0.66666667",
            "{\"i\": 2, \"j\": 3}");
    tu_pass("application.i % application.j == 1", "{\"i\": 7, \"j\": 3}");
}
END_TEST

START_TEST(test_expr_arith__mixed_numeric_comparison)
{
    tu_pass("application.i == 2.0", "{\"i\": 2}");
    tu_pass("application.i lt 2.5", "{\"i\": 2}");
    tu_pass("application.i + application.d == 3.5",
            "{\"i\": 2, \"d\": \"1.5\"}");
    tu_pass("-application.i == -2 and 2 - 5 == -3", "{\"i\": 2}");
    tu_pass("2 + 3 * 4 == 14 and (2 + 3) * 4 == 20", "{}");
}
END_TEST

/* ======================================================================= */
/* builtins                                                                */
/* ======================================================================= */

static char *dates(const char *a, const char *b)
{
    return tu_printf("{\"dt\": \"%s\", \"dt2\": \"%s\"}", a, b);
}

static miaopi_rule_status dates_status(const char *expr, const char *a,
                                       const char *b)
{
    char *app = dates(a, b);
    miaopi_rule_status st = tu_status(expr, app);
    free(app);
    return st;
}

START_TEST(test_expr_builtins__age_birthday_counts)
{
    const char *e18 = "age(application.dt, application.dt2) == 18";
    ck_assert_int_eq(dates_status(e18, "2000-05-01", "2018-05-01"),
                     MIAOPI_RULE_PASS);
    ck_assert_int_eq(dates_status(e18, "2000-05-01", "2018-04-30"),
                     MIAOPI_RULE_FAIL);
    ck_assert_int_eq(dates_status("age(application.dt, application.dt2) "
                                  "== 17",
                                  "2000-05-01", "2018-04-30"),
                     MIAOPI_RULE_PASS);
    ck_assert_int_eq(dates_status("age(application.dt, application.dt2) "
                                  "== 0",
                                  "2000-05-01", "2000-05-01"),
                     MIAOPI_RULE_PASS);
}
END_TEST

START_TEST(test_expr_builtins__age_leap_day_birth)
{
    const char *e = "age(application.dt, application.dt2) == 18";
    /* Born 29 Feb: in common years the new age starts on 1 Mar. */
    ck_assert_int_eq(dates_status(e, "2004-02-29", "2022-02-28"),
                     MIAOPI_RULE_FAIL);
    ck_assert_int_eq(dates_status(e, "2004-02-29", "2022-03-01"),
                     MIAOPI_RULE_PASS);
    /* In leap years on 29 Feb itself. */
    ck_assert_int_eq(dates_status("age(application.dt, application.dt2) "
                                  "== 20",
                                  "2004-02-29", "2024-02-29"),
                     MIAOPI_RULE_PASS);
    ck_assert_int_eq(dates_status("age(application.dt, application.dt2) "
                                  "== 19",
                                  "2004-02-29", "2024-02-28"),
                     MIAOPI_RULE_PASS);
}
END_TEST

START_TEST(test_expr_builtins__age_before_birth_is_unknown)
{
    ck_assert_int_eq(dates_status("age(application.dt, application.dt2) "
                                  "ge 0",
                                  "2020-01-02", "2020-01-01"),
                     MIAOPI_RULE_UNKNOWN);
}
END_TEST

START_TEST(test_expr_builtins__id_valid)
{
    char id[19], bad[19];
    make_id("11010519491231002", id);
    const char *e = "id_valid(application.id_number)";
    ck_assert_int_eq(id_status(e, id), MIAOPI_RULE_PASS);
    /* The well-known sample number. */
    ck_assert_int_eq(id_status(e, "11010519491231002X"), MIAOPI_RULE_PASS);
    ck_assert_int_eq(id_status(e, "11010519491231002x"), MIAOPI_RULE_PASS);
    /* Wrong check character. */
    make_id_wrong("11010519491231002", bad);
    ck_assert_int_eq(id_status(e, bad), MIAOPI_RULE_FAIL);
    /* 1999-02-30 is no date, even with a matching check character. */
    make_id("44030519990230123", id);
    ck_assert_int_eq(id_status(e, id), MIAOPI_RULE_FAIL);
    /* 99 is no province. */
    make_id("99030519900101123", id);
    ck_assert_int_eq(id_status(e, id), MIAOPI_RULE_FAIL);
    /* 15-digit numbers and junk. */
    ck_assert_int_eq(id_status(e, "110105491231002"), MIAOPI_RULE_FAIL);
    ck_assert_int_eq(id_status(e, "1101051949123100AX"), MIAOPI_RULE_FAIL);
    ck_assert_int_eq(id_status(e, ""), MIAOPI_RULE_FAIL);
    /* Missing is unknown, not invalid. */
    ck_assert_int_eq(tu_status(e, "{}"), MIAOPI_RULE_UNKNOWN);
}
END_TEST

START_TEST(test_expr_builtins__id_birth_date_sex_region)
{
    char id[19], bad[19];
    make_id("44030519900307123", id); /* 17th digit 3: odd, male */
    ck_assert_int_eq(id_status("id_birth_date(application.id_number) == "
                               "date(\"1990-03-07\")",
                               id),
                     MIAOPI_RULE_PASS);
    ck_assert_int_eq(id_status("id_sex(application.id_number) == \"男\"", id),
                     MIAOPI_RULE_PASS);
    ck_assert_int_eq(id_status("id_region(application.id_number) == "
                               "\"440305\"",
                               id),
                     MIAOPI_RULE_PASS);
    make_id("44030519900307124", id); /* even: female */
    ck_assert_int_eq(id_status("id_sex(application.id_number) == \"女\"", id),
                     MIAOPI_RULE_PASS);
    /* An invalid number has no birth date, sex or region. */
    make_id_wrong("44030519900307123", bad);
    ck_assert_int_eq(id_status("id_birth_date(application.id_number) gt "
                               "date(\"1900-01-01\")",
                               bad),
                     MIAOPI_RULE_UNKNOWN);
    ck_assert_int_eq(id_status("id_sex(application.id_number) == \"男\"",
                               bad),
                     MIAOPI_RULE_UNKNOWN);
    ck_assert_int_eq(id_status("id_region(application.id_number) == "
                               "\"440305\"",
                               bad),
                     MIAOPI_RULE_UNKNOWN);
    /* Lower-case x is accepted here too. */
    ck_assert_int_eq(id_status("id_birth_date(application.id_number) == "
                               "date(\"1949-12-31\")",
                               "11010519491231002x"),
                     MIAOPI_RULE_PASS);
}
END_TEST

START_TEST(test_expr_builtins__uscc_valid)
{
    char code[19];
    const char *e = "uscc_valid(application.s)";
    make_uscc("91440300MA5DXXXX0", code);
    char *app = tu_printf("{\"s\": \"%s\"}", code);
    tu_pass(e, app);
    free(app);
    /* Wrong check character. */
    code[17] = code[17] == '0' ? '1' : '0';
    app = tu_printf("{\"s\": \"%s\"}", code);
    tu_fail(e, app);
    free(app);
    /* Lower case, forbidden letters, wrong length. */
    make_uscc("91350100M00010043", code);
    app = tu_printf("{\"s\": \"%s\"}", code);
    tu_pass(e, app);
    free(app);
    code[8] = 'm';
    app = tu_printf("{\"s\": \"%s\"}", code);
    tu_fail(e, app);
    free(app);
    tu_fail(e, "{\"s\": \"91350100I000100Y43\"}");
    tu_fail(e, "{\"s\": \"91350100M000100Y4\"}");
    tu_unknown(e, "{}");
}
END_TEST

START_TEST(test_expr_builtins__name_eq)
{
    const char *e = "name_eq(application.s, application.t)";
    /* Full-width letters. */
    tu_pass(e, "{\"s\": \"ＡＢＣ\", \"t\": \"ABC\"}");
    /* ASCII space and U+3000 ideographic space. */
    tu_pass(e, "{\"s\": \"张 三\", \"t\": \"张三\"}");
    tu_pass(e, "{\"s\": \"张\\u3000三\", \"t\": \"张三\"}");
    /* Middle-dot look-alikes: · ・ • ‧ */
    tu_pass(e, "{\"s\": \"买买提·艾力\", \"t\": \"买买提・艾力\"}");
    tu_pass(e, "{\"s\": \"买买提·艾力\", \"t\": \"买买提•艾力\"}");
    tu_pass(e, "{\"s\": \"买买提‧艾力\", \"t\": \"买买提·艾力\"}");
    tu_pass(e, "{\"s\": \"买买提 • 艾力\", \"t\": \"买买提・艾力\"}");
    /* Different names; no case folding. */
    tu_fail(e, "{\"s\": \"张三\", \"t\": \"张四\"}");
    tu_fail(e, "{\"s\": \"abc\", \"t\": \"ABC\"}");
    tu_fail(e, "{\"s\": \"买买提艾力\", \"t\": \"买买提·艾力\"}");
    tu_unknown(e, "{\"s\": \"张三\"}");
}
END_TEST

START_TEST(test_expr_builtins__normalize_name)
{
    tu_pass("normalize_name(application.s) == \"买买提·艾力\"",
            "{\"s\": \" 买买提・艾力\\u3000\"}");
    tu_pass("normalize_name(application.s) == \"AB\"",
            "{\"s\": \"Ａ Ｂ\"}");
}
END_TEST

START_TEST(test_expr_builtins__length)
{
    const char *e3 = "length(application.s) == 3";
    tu_pass(e3, "{\"s\": \"abc\"}");
    tu_pass(e3, "{\"s\": \"张三丰\"}");
    tu_pass(e3, "{\"s\": \"a😀b\"}");
    tu_pass("length(application.s) == 0", "{\"s\": \"\"}");
    tu_pass("length(application.tags) == 2", "{\"tags\": [\"a\", null]}");
    tu_pass("length(application.kids) == 0", "{\"kids\": []}");
    tu_pass("length(degrees) == 3", "{}");
    tu_unknown("length(application.tags) == 0", "{}");
}
END_TEST

START_TEST(test_expr_builtins__trim_lower_upper)
{
    tu_pass("trim(application.s) == \"a b\"", "{\"s\": \" \\t a b \\n\"}");
    tu_pass("trim(application.s) == \"张三\"", "{\"s\": \"\\u3000张三\\u3000\"}");
    tu_pass("trim(application.s) == \"\"", "{\"s\": \"   \"}");
    tu_pass("lower(application.s) == \"abc张x\"", "{\"s\": \"AbC张X\"}");
    tu_pass("upper(application.s) == \"ABC张X\"", "{\"s\": \"AbC张x\"}");
    /* ASCII only: full-width letters keep their case. */
    tu_pass("upper(application.s) == \"ａ\"", "{\"s\": \"ａ\"}");
}
END_TEST

START_TEST(test_expr_builtins__starts_ends_contains_strings)
{
    const char *app = "{\"s\": \"深圳市福田区\", \"t\": \"福田\"}";
    tu_pass("starts_with(application.s, \"深圳\")", app);
    tu_fail("starts_with(application.s, \"福田\")", app);
    tu_pass("ends_with(application.s, \"福田区\")", app);
    tu_fail("ends_with(application.s, \"深圳\")", app);
    tu_pass("contains(application.s, application.t)", app);
    tu_fail("contains(application.t, application.s)", app);
    tu_pass("starts_with(application.s, \"\") and ends_with(application.s, "
            "\"\") and contains(application.s, \"\")",
            app);
    tu_fail("starts_with(application.t, application.s)", app);
    tu_fail("ends_with(application.t, application.s)", app);
    tu_unknown("contains(application.s, application.t)", "{\"s\": \"x\"}");
}
END_TEST

START_TEST(test_expr_builtins__contains_on_lists)
{
    tu_pass("contains(application.tags, \"b\")",
            "{\"tags\": [\"a\", \"b\"]}");
    tu_fail("contains(application.tags, \"c\")",
            "{\"tags\": [\"a\", \"b\"]}");
    tu_fail("contains(application.tags, \"c\")", "{\"tags\": []}");
    tu_pass("contains(application.nums, 3)", "{\"nums\": [1, 2, 3]}");
    tu_pass("contains(application.nums, 3.0)", "{\"nums\": [1, 2, 3]}");
    tu_pass("contains(degrees, application.s)", "{\"s\": \"博士\"}");
    /* Unknown elements: a match wins, a non-match stays unknown. */
    tu_pass("contains(application.tags, \"b\")",
            "{\"tags\": [null, \"b\"]}");
    tu_unknown("contains(application.tags, \"c\")",
               "{\"tags\": [null, \"b\"]}");
    tu_unknown("contains(application.tags, \"c\")", "{}");
    /* starts_with/ends_with are for strings only. */
    const char *e = "starts_with(application.tags, \"a\")";
    tu_assert_load_error(e, 15, 12);
}
END_TEST

START_TEST(test_expr_builtins__add_years_months_days)
{
    tu_pass("add_years(date(\"2024-02-29\"), 1) == date(\"2025-02-28\")",
            "{}");
    tu_pass("add_years(date(\"2024-02-29\"), 4) == date(\"2028-02-29\")",
            "{}");
    tu_pass("add_months(date(\"2024-01-31\"), 1) == date(\"2024-02-29\")",
            "{}");
    tu_pass("add_months(date(\"2024-03-31\"), -1) == date(\"2024-02-29\")",
            "{}");
    tu_pass("add_months(date(\"2024-11-15\"), 3) == date(\"2025-02-15\")",
            "{}");
    tu_pass("add_days(date(\"2024-12-31\"), 1) == date(\"2025-01-01\")",
            "{}");
    tu_pass("add_days(date(\"2024-03-01\"), -1) == date(\"2024-02-29\")",
            "{}");
    tu_pass("add_days(application.dt, application.i) == "
            "date(\"2024-05-11\")",
            "{\"dt\": \"2024-05-01\", \"i\": 10}");
}
END_TEST

START_TEST(test_expr_builtins__date_range_end_is_unknown)
{
    const char *e = "add_days(application.dt, 1) gt application.dt";
    tu_unknown(e, "{\"dt\": \"9999-12-31\"}");
    tu_pass(e, "{\"dt\": \"9999-12-30\"}");
    tu_unknown("add_days(application.dt, -1) lt application.dt",
               "{\"dt\": \"0001-01-01\"}");
    tu_unknown("add_years(application.dt, application.i) gt application.dt",
               "{\"dt\": \"2024-01-01\", \"i\": 9223372036854775807}");
    tu_unknown("add_months(application.dt, application.i) lt application.dt",
               "{\"dt\": \"2024-01-01\", \"i\": -9223372036854775808}");
    /* As a constant, the same overflow is a load error. */
    const char *c = "application.dt lt add_days(date(\"9999-12-31\"), 1)";
    tu_assert_load_error(c, 24, tu_at(c, "add_days"));
}
END_TEST

START_TEST(test_expr_builtins__between)
{
    const char *a = "2024-01-01", *b = "2024-03-01";
    ck_assert_int_eq(dates_status("days_between(application.dt, "
                                  "application.dt2) == 60",
                                  a, b),
                     MIAOPI_RULE_PASS);
    ck_assert_int_eq(dates_status("days_between(application.dt2, "
                                  "application.dt) == -60",
                                  a, b),
                     MIAOPI_RULE_PASS);
    ck_assert_int_eq(dates_status("months_between(application.dt, "
                                  "application.dt2) == 2",
                                  a, b),
                     MIAOPI_RULE_PASS);
    /* Counted like an age: the month-day must be reached. */
    ck_assert_int_eq(dates_status("months_between(application.dt, "
                                  "application.dt2) == 0",
                                  "2024-01-31", "2024-02-29"),
                     MIAOPI_RULE_PASS);
    ck_assert_int_eq(dates_status("months_between(application.dt, "
                                  "application.dt2) == 1",
                                  "2024-01-31", "2024-03-01"),
                     MIAOPI_RULE_PASS);
    ck_assert_int_eq(dates_status("years_between(application.dt, "
                                  "application.dt2) == 1",
                                  "2023-05-01", "2024-05-01"),
                     MIAOPI_RULE_PASS);
    ck_assert_int_eq(dates_status("years_between(application.dt, "
                                  "application.dt2) == 0",
                                  "2023-05-02", "2024-05-01"),
                     MIAOPI_RULE_PASS);
    ck_assert_int_eq(dates_status("years_between(application.dt2, "
                                  "application.dt) == -1",
                                  "2023-05-01", "2024-05-01"),
                     MIAOPI_RULE_PASS);
}
END_TEST

START_TEST(test_expr_builtins__abs_min_max)
{
    tu_pass("abs(application.i) == 5", "{\"i\": -5}");
    tu_pass("abs(application.i) == 5", "{\"i\": 5}");
    tu_pass("abs(application.d) == 1.5", "{\"d\": \"-1.5\"}");
    tu_pass("min(application.i, application.j) == 2",
            "{\"i\": 3, \"j\": 2}");
    tu_pass("max(application.i, application.j) == 3",
            "{\"i\": 3, \"j\": 2}");
    tu_pass("min(application.i, application.d) == 2.5",
            "{\"i\": 3, \"d\": \"2.5\"}");
    tu_pass("max(application.i, application.d) == 3",
            "{\"i\": 3, \"d\": \"2.5\"}");
    tu_pass("max(application.dt, application.dt2) == date(\"2024-03-01\")",
            "{\"dt\": \"2024-03-01\", \"dt2\": \"2024-01-01\"}");
    tu_pass("min(application.dt, application.dt2) == date(\"2024-01-01\")",
            "{\"dt\": \"2024-03-01\", \"dt2\": \"2024-01-01\"}");
    tu_unknown("max(application.i, application.j) == 3", "{\"i\": 3}");
    const char *e = "min(application.s, application.t) == \"a\"";
    tu_assert_load_error(e, 15, 4);
}
END_TEST

START_TEST(test_expr_builtins__year_month_day)
{
    const char *app = "{\"dt\": \"2024-02-29\"}";
    tu_pass("year(application.dt) == 2024", app);
    tu_pass("month(application.dt) == 2", app);
    tu_pass("day(application.dt) == 29", app);
    tu_pass("year(date(\"0001-01-01\")) == 1 and "
            "day(date(\"9999-12-31\")) == 31",
            "{}");
}
END_TEST

START_TEST(test_expr_builtins__date_literal)
{
    tu_pass("application.dt == date(\"2024-02-29\")",
            "{\"dt\": \"2024-02-29\"}");
    const char *e = "application.dt gt date(\"2023-02-29\")";
    tu_assert_load_error(e, 24, tu_at(e, "date("));
    tu_result r = tu_load_error(e);
    ck_assert_ptr_nonnull(strstr(r.err.message, "no value"));
    tu_assert_load_error("date(\"2024-13-01\") lt application.dt",
                         24, 0);
    tu_assert_load_error("date(\"2024-1-1\") lt application.dt",
                         24, 0);
}
END_TEST

START_TEST(test_expr_builtins__date_of_field)
{
    tu_pass("date(application.s) == application.dt",
            "{\"s\": \"2024-01-01\", \"dt\": \"2024-01-01\"}");
    tu_unknown("date(application.s) == application.dt",
               "{\"s\": \"2023-02-29\", \"dt\": \"2024-01-01\"}");
}
END_TEST

/* ======================================================================= */
/* quantifiers                                                             */
/* ======================================================================= */

START_TEST(test_expr_quant__any_all_count)
{
    const char *app = "{\"tags\": [\"a\", \"b\", \"a\"]}";
    tu_pass("any(x in application.tags, x == \"b\")", app);
    tu_fail("any(x in application.tags, x == \"c\")", app);
    tu_pass("all(x in application.tags, x != \"c\")", app);
    tu_fail("all(x in application.tags, x == \"a\")", app);
    tu_pass("count(x in application.tags, x == \"a\") == 2", app);
    tu_pass("count(x in application.tags, true) == 3", app);
}
END_TEST

START_TEST(test_expr_quant__empty_list)
{
    const char *app = "{\"tags\": []}";
    tu_fail("any(x in application.tags, x == \"a\")", app);
    tu_pass("all(x in application.tags, x == \"a\")", app);
    tu_pass("count(x in application.tags, x == \"a\") == 0", app);
}
END_TEST

START_TEST(test_expr_quant__unknown_elements)
{
    const char *app = "{\"tags\": [\"a\", null]}";
    tu_pass("any(x in application.tags, x == \"a\")", app);
    tu_unknown("any(x in application.tags, x == \"z\")", app);
    tu_unknown("all(x in application.tags, x == \"a\")", app);
    tu_fail("all(x in application.tags, x == \"z\")", app);
    tu_unknown("count(x in application.tags, x == \"a\") == 1", app);
    /* The list itself missing. */
    tu_unknown("any(x in application.tags, true)", "{}");
    tu_unknown("all(x in application.tags, true)", "{}");
}
END_TEST

START_TEST(test_expr_quant__records)
{
    const char *app = "{\"kids\": ["
                      "{\"name\": \"甲\", \"age\": 3, "
                      "\"birth_date\": \"2021-01-01\"},"
                      "{\"name\": \"乙\", \"age\": 19, "
                      "\"birth_date\": \"2005-01-01\"}]}";
    tu_pass("any(k in application.kids, k.age ge 18)", app);
    tu_fail("all(k in application.kids, k.age ge 18)", app);
    tu_pass("count(k in application.kids, k.birth_date lt "
            "date(\"2010-01-01\")) == 1",
            app);
    tu_pass("any(k in application.kids, k.name == \"乙\" and "
            "age(k.birth_date, context.decision_date) == 19)",
            app);
    /* A record lacking the field is unknown for that element. */
    tu_unknown("all(k in application.kids, k.age ge 1)",
               "{\"kids\": [{\"age\": 3}, {\"name\": \"x\"}]}");
    /* A non-object element is of the wrong type. */
    tu_unknown("all(k in application.kids, k.age ge 1)",
               "{\"kids\": [{\"age\": 3}, 5]}");
    /* Lists of records from a source. */
    tu_pass("any(p in hukou.people, name_eq(p.name, \"张 三\"))", "{}");
}
END_TEST

START_TEST(test_expr_quant__nested)
{
    const char *app = "{\"tags\": [\"乙\"], \"kids\": [{\"name\": \"甲\"}, "
                      "{\"name\": \"乙\"}]}";
    tu_pass("any(k in application.kids, any(t in application.tags, "
            "t == k.name))",
            app);
    tu_fail("all(k in application.kids, any(t in application.tags, "
            "t == k.name))",
            app);
    tu_pass("count(k in application.kids, not contains(application.tags, "
            "k.name)) == 1",
            app);
}
END_TEST

START_TEST(test_expr_quant__type_errors)
{
    const char *e = "any(x in application.s, true)";
    tu_assert_load_error(e, 15, tu_at(e, "application"));
    const char *e2 = "any(x in application.tags, x)";
    tu_assert_load_error(e2, 15, tu_at(e2, "x)"));
    const char *e3 = "any(x application.tags, true)";
    tu_assert_load_error(e3, 11, tu_at(e3, "application"));
}
END_TEST

/* ======================================================================= */
/* tables                                                                  */
/* ======================================================================= */

START_TEST(test_expr_table__hit)
{
    tu_pass("age_limit[application.degree] == 35",
            "{\"degree\": \"本科\"}");
    tu_pass("age_limit[application.degree] == 45",
            "{\"degree\": \"博士\"}");
    tu_pass("age_limit[\"硕士\"] == 40", "{}");
    tu_pass("application.i le limit", "{\"i\": 35}");
}
END_TEST

START_TEST(test_expr_table__miss_is_unknown)
{
    char *c = tu_case("{\"degree\": \"大专\"}");
    tu_result r = tu_run(NULL, "age_limit[application.degree] ge 0", c);
    free(c);
    ck_assert_int_eq(r.status, MIAOPI_RULE_UNKNOWN);
    ck_assert_ptr_nonnull(strstr(r.unknown_reason, "age_limit"));
    tu_unknown("age_limit[application.degree] ge 0", "{}");
    /* A constant key with no row is a load error. */
    const char *e = "application.i lt age_limit[\"大专\"]";
    tu_assert_load_error(e, 24, tu_at(e, "age_limit"));
}
END_TEST

START_TEST(test_expr_table__key_type)
{
    const char *e = "age_limit[application.i] == 1";
    tu_assert_load_error(e, 15, tu_at(e, "application"));
}
END_TEST

/* ======================================================================= */
/* if / then / else                                                        */
/* ======================================================================= */

START_TEST(test_expr_if__branches)
{
    const char *e = "(if application.b then application.i else "
                    "application.j) == 1";
    tu_pass(e, "{\"b\": true, \"i\": 1, \"j\": 2}");
    tu_fail(e, "{\"b\": false, \"i\": 1, \"j\": 2}");
    tu_unknown(e, "{\"i\": 1, \"j\": 1}");
    /* Only the chosen branch is evaluated. */
    tu_pass("if application.b then true else application.c",
            "{\"b\": true}");
    tu_unknown("if application.b then true else application.c",
               "{\"b\": false}");
    /* Integer and decimal branches unify to decimal. */
    tu_pass("(if application.b then 1 else 2.5) == 1", "{\"b\": true}");
    tu_pass("(if application.b then 1 else 2.5) == 2.5", "{\"b\": false}");
}
END_TEST

/* ======================================================================= */
/* present()                                                               */
/* ======================================================================= */

START_TEST(test_expr_present__application_and_context)
{
    tu_pass("present(application.s)", "{\"s\": \"\"}");
    tu_fail("present(application.s)", "{}");
    tu_fail("present(application.s)", "{\"s\": null}");
    tu_pass("not present(application.i)", "{}");
    tu_fail("present(context.channel)", "{}");
    /* Given but of the wrong type: neither present nor absent. */
    tu_unknown("present(application.i)", "{\"i\": \"x\"}");
}
END_TEST

START_TEST(test_expr_present__refused_on_sources)
{
    const char *e = "present(hukou.name)";
    tu_assert_load_error(e, 21, tu_at(e, "hukou"));
    tu_result r = tu_load_error(e);
    ck_assert_ptr_nonnull(strstr(r.err.message, "source"));
    /* Also through a variable bound over a source list. */
    const char *e2 = "any(p in hukou.people, present(p.name))";
    tu_assert_load_error(e2, 21, tu_at(e2, "p.name"));
}
END_TEST

START_TEST(test_expr_present__needs_a_path)
{
    const char *e = "present(application.i + 1)";
    tu_assert_load_error(e, 15, tu_at(e, "+"));
}
END_TEST

/* ======================================================================= */

static Suite *expr_suite(void)
{
    Suite *s = suite_create("expr");
    TCase *tc;

    tc = tcase_create("syntax");
    tcase_add_test(tc, test_expr_syntax__expression_ends_early);
    tcase_add_test(tc, test_expr_syntax__empty_require);
    tcase_add_test(tc, test_expr_syntax__trailing_tokens);
    tcase_add_test(tc, test_expr_syntax__single_equals);
    tcase_add_test(tc, test_expr_syntax__chained_comparison);
    tcase_add_test(tc, test_expr_syntax__unterminated_string);
    tcase_add_test(tc, test_expr_syntax__bad_escape);
    tcase_add_test(tc, test_expr_syntax__bad_unicode_escape);
    tcase_add_test(tc, test_expr_syntax__string_escapes_decode);
    tcase_add_test(tc, test_expr_syntax__unexpected_character);
    tcase_add_test(tc, test_expr_syntax__column_counts_characters);
    tcase_add_test(tc, test_expr_syntax__ideographic_space_is_space);
    tcase_add_test(tc, test_expr_syntax__position_on_later_line);
    tcase_add_test(tc, test_expr_syntax__position_in_large_file);
    tcase_add_test(tc, test_expr_syntax__missing_else);
    tcase_add_test(tc, test_expr_syntax__empty_list);
    tcase_add_test(tc, test_expr_syntax__integer_literal_too_large);
    tcase_add_test(tc, test_expr_syntax__keyword_as_value);
    tcase_add_test(tc, test_expr_syntax__word_and_symbol_comparisons);
    suite_add_tcase(s, tc);

    tc = tcase_create("names");
    tcase_add_test(tc, test_expr_names__unknown_field_suggests);
    tcase_add_test(tc, test_expr_names__unknown_root_suggests);
    tcase_add_test(tc, test_expr_names__unknown_source_field_suggests);
    tcase_add_test(tc, test_expr_names__unknown_name_without_suggestion);
    tcase_add_test(tc, test_expr_names__unknown_record_field_suggests);
    tcase_add_test(tc, test_expr_names__unknown_function_suggests);
    tcase_add_test(tc, test_expr_names__unknown_function_without_suggestion);
    tcase_add_test(tc, test_expr_names__table_without_key);
    tcase_add_test(tc, test_expr_names__variable_shadows_source);
    tcase_add_test(tc, test_expr_names__variable_out_of_scope);
    suite_add_tcase(s, tc);

    tc = tcase_create("types");
    tcase_add_test(tc, test_expr_types__arity_too_few);
    tcase_add_test(tc, test_expr_types__arity_too_many);
    tcase_add_test(tc, test_expr_types__compare_string_with_integer);
    tcase_add_test(tc, test_expr_types__arithmetic_on_string);
    tcase_add_test(tc, test_expr_types__builtin_argument);
    tcase_add_test(tc, test_expr_types__logic_needs_booleans);
    tcase_add_test(tc, test_expr_types__if_branches_differ);
    tcase_add_test(tc, test_expr_types__in_needs_list);
    tcase_add_test(tc, test_expr_types__mixed_list);
    tcase_add_test(tc, test_expr_types__ordered_booleans);
    tcase_add_test(tc, test_expr_types__mod_needs_integers);
    tcase_add_test(tc, test_expr_types__require_not_boolean);
    tcase_add_test(tc, test_expr_types__when_not_boolean);
    tcase_add_test(tc, test_expr_types__field_of_non_record);
    tcase_add_test(tc, test_expr_types__wrong_json_type_is_unknown);
    suite_add_tcase(s, tc);

    tc = tcase_create("regex");
    tcase_add_test(tc, test_expr_regex__invalid_pattern);
    tcase_add_test(tc, test_expr_regex__pattern_must_be_constant);
    tcase_add_test(tc, test_expr_regex__matches);
    tcase_add_test(tc, test_expr_regex__dollar_is_end_only);
    suite_add_tcase(s, tc);

    tc = tcase_create("depth");
    tcase_set_timeout(tc, 60); /* slow under sanitizers */
    tcase_add_test(tc, test_expr_depth__deep_parentheses);
    tcase_add_test(tc, test_expr_depth__within_default_limit);
    tcase_add_test(tc, test_expr_depth__max_depth_option);
    tcase_add_test(tc, test_expr_depth__operator_chains);
    tcase_add_test(tc, test_expr_depth__deep_not);
    tcase_add_test(tc, test_expr_depth__deep_unary_minus);
    tcase_add_test(tc, test_expr_depth__deep_lists_and_calls);
    suite_add_tcase(s, tc);

    tc = tcase_create("logic");
    tcase_add_test(tc, test_expr_logic__and_truth_table);
    tcase_add_test(tc, test_expr_logic__or_truth_table);
    tcase_add_test(tc, test_expr_logic__not_truth_table);
    tcase_add_test(tc, test_expr_logic__not_and_or_truth_table);
    tcase_add_test(tc, test_expr_logic__unknown_reason_and_path);
    tcase_add_test(tc, test_expr_logic__in_with_unknown);
    tcase_add_test(tc, test_expr_logic__comparison_with_unknown);
    tcase_add_test(tc, test_expr_logic__unavailable_source);
    tcase_add_test(tc, test_expr_logic__context_paths);
    suite_add_tcase(s, tc);

    tc = tcase_create("arith");
    tcase_add_test(tc, test_expr_arith__integer_overflow_is_unknown);
    tcase_add_test(tc, test_expr_arith__constant_overflow_is_load_error);
    tcase_add_test(tc, test_expr_arith__division_by_zero_is_unknown);
    tcase_add_test(tc, test_expr_arith__decimal_exactness);
    tcase_add_test(tc, test_expr_arith__division_gives_decimal);
    tcase_add_test(tc, test_expr_arith__mixed_numeric_comparison);
    suite_add_tcase(s, tc);

    tc = tcase_create("builtins");
    tcase_add_test(tc, test_expr_builtins__age_birthday_counts);
    tcase_add_test(tc, test_expr_builtins__age_leap_day_birth);
    tcase_add_test(tc, test_expr_builtins__age_before_birth_is_unknown);
    tcase_add_test(tc, test_expr_builtins__id_valid);
    tcase_add_test(tc, test_expr_builtins__id_birth_date_sex_region);
    tcase_add_test(tc, test_expr_builtins__uscc_valid);
    tcase_add_test(tc, test_expr_builtins__name_eq);
    tcase_add_test(tc, test_expr_builtins__normalize_name);
    tcase_add_test(tc, test_expr_builtins__length);
    tcase_add_test(tc, test_expr_builtins__trim_lower_upper);
    tcase_add_test(tc, test_expr_builtins__starts_ends_contains_strings);
    tcase_add_test(tc, test_expr_builtins__contains_on_lists);
    tcase_add_test(tc, test_expr_builtins__add_years_months_days);
    tcase_add_test(tc, test_expr_builtins__date_range_end_is_unknown);
    tcase_add_test(tc, test_expr_builtins__between);
    tcase_add_test(tc, test_expr_builtins__abs_min_max);
    tcase_add_test(tc, test_expr_builtins__year_month_day);
    tcase_add_test(tc, test_expr_builtins__date_literal);
    tcase_add_test(tc, test_expr_builtins__date_of_field);
    suite_add_tcase(s, tc);

    tc = tcase_create("quantifiers");
    tcase_add_test(tc, test_expr_quant__any_all_count);
    tcase_add_test(tc, test_expr_quant__empty_list);
    tcase_add_test(tc, test_expr_quant__unknown_elements);
    tcase_add_test(tc, test_expr_quant__records);
    tcase_add_test(tc, test_expr_quant__nested);
    tcase_add_test(tc, test_expr_quant__type_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("table");
    tcase_add_test(tc, test_expr_table__hit);
    tcase_add_test(tc, test_expr_table__miss_is_unknown);
    tcase_add_test(tc, test_expr_table__key_type);
    suite_add_tcase(s, tc);

    tc = tcase_create("if");
    tcase_add_test(tc, test_expr_if__branches);
    suite_add_tcase(s, tc);

    tc = tcase_create("present");
    tcase_add_test(tc, test_expr_present__application_and_context);
    tcase_add_test(tc, test_expr_present__refused_on_sources);
    tcase_add_test(tc, test_expr_present__needs_a_path);
    suite_add_tcase(s, tc);

    return s;
}

int main(void)
{
    return tu_main(expr_suite());
}
