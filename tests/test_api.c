/*
 * Unit tests for the public API: rulesets, cases, evaluation, decisions,
 * reasons and their JSON form, argument checking, determinism and
 * concurrent evaluation of one shared ruleset.
 */
#include "testutil.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <unistd.h>

/* ---- rulesets used below ---------------------------------------------- */

/*
 * Three rules whose results the case controls through booleans:
 *   must   (reject on fail)                          requires application.a
 *   should (escalate on fail)                        requires application.b
 *   strict (escalate on fail, reject when unknown)   requires application.c
 *   opt    (escalate on fail, applies when w)        requires application.b
 */
static const char combo_xml[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<ruleset xmlns=\"urn:miaopi:rules:1\" id=\"combo\" version=\"1\"\n"
    "         effective-from=\"2024-01-01\">\n"
    "  <title xml:lang=\"zh-CN\">组合</title>\n"
    "  <title xml:lang=\"en\">Combination</title>\n"
    "  <application>\n"
    "    <field name=\"a\" type=\"boolean\"/>\n"
    "    <field name=\"b\" type=\"boolean\"/>\n"
    "    <field name=\"c\" type=\"boolean\"/>\n"
    "    <field name=\"w\" type=\"boolean\"/>\n"
    "  </application>\n"
    "  <rules>\n"
    "    <rule id=\"must\" on-fail=\"reject\" code=\"MUST\">\n"
    "      <title xml:lang=\"zh-CN\">必须</title>\n"
    "      <title xml:lang=\"en\">Must</title>\n"
    "      <basis>第一条</basis>\n"
    "      <require>application.a</require>\n"
    "      <message xml:lang=\"zh-CN\">不满足必须条件。</message>\n"
    "      <message xml:lang=\"en\">The must condition is not met.</message>\n"
    "    </rule>\n"
    "    <rule id=\"should\" on-fail=\"escalate\" code=\"SHOULD\">\n"
    "      <title xml:lang=\"zh-CN\">应当</title>\n"
    "      <title xml:lang=\"en\">Should</title>\n"
    "      <basis>第二条</basis>\n"
    "      <require>application.b</require>\n"
    "      <message xml:lang=\"zh-CN\">不满足应当条件。</message>\n"
    "      <message xml:lang=\"en\">The should condition is not met."
    "</message>\n"
    "    </rule>\n"
    "    <rule id=\"strict\" on-fail=\"escalate\" on-unknown=\"reject\"\n"
    "          code=\"STRICT\">\n"
    "      <title xml:lang=\"zh-CN\">严格</title>\n"
    "      <title xml:lang=\"en\">Strict</title>\n"
    "      <basis>第三条</basis>\n"
    "      <require>application.c</require>\n"
    "      <message xml:lang=\"zh-CN\">不满足严格条件。</message>\n"
    "      <message xml:lang=\"en\">The strict condition is not met."
    "</message>\n"
    "    </rule>\n"
    "    <rule id=\"opt\" on-fail=\"escalate\" code=\"OPT\">\n"
    "      <title xml:lang=\"zh-CN\">可选</title>\n"
    "      <title xml:lang=\"en\">Optional</title>\n"
    "      <basis>第四条</basis>\n"
    "      <when>application.w</when>\n"
    "      <require>application.b</require>\n"
    "      <message xml:lang=\"zh-CN\">不满足可选条件。</message>\n"
    "      <message xml:lang=\"en\">The optional condition is not met."
    "</message>\n"
    "    </rule>\n"
    "  </rules>\n"
    "</ruleset>\n";

/* Every rule has a `when`: a case can make all of them not applicable. */
static const char whens_xml[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<ruleset xmlns=\"urn:miaopi:rules:1\" id=\"whens\" version=\"1\"\n"
    "         effective-from=\"2024-01-01\">\n"
    "  <title>条件</title>\n"
    "  <application>\n"
    "    <field name=\"w\" type=\"boolean\"/>\n"
    "    <field name=\"v\" type=\"boolean\"/>\n"
    "  </application>\n"
    "  <rules>\n"
    "    <rule id=\"one\" on-fail=\"reject\" code=\"ONE\">\n"
    "      <title>一</title>\n"
    "      <basis>一</basis>\n"
    "      <when>application.w</when>\n"
    "      <require>true</require>\n"
    "      <message>一</message>\n"
    "    </rule>\n"
    "    <rule id=\"two\" on-fail=\"reject\" code=\"TWO\">\n"
    "      <title>二</title>\n"
    "      <basis>二</basis>\n"
    "      <when>application.v</when>\n"
    "      <require>true</require>\n"
    "      <message>二</message>\n"
    "    </rule>\n"
    "  </rules>\n"
    "</ruleset>\n";

/*
 * Messages with placeholders and personal data; a source for unknown
 * reasons; a rule with a zh-CN text only (for language fallback); an
 * effective range; a required field.
 */
static const char msg_xml[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<ruleset xmlns=\"urn:miaopi:rules:1\" id=\"msg-test\" "
    "version=\"2024.2\"\n"
    "         effective-from=\"2024-01-01\" effective-until=\"2025-01-01\">\n"
    "  <title xml:lang=\"zh-CN\">消息测试</title>\n"
    "  <title xml:lang=\"en\">Message test</title>\n"
    "  <authority>测试局</authority>\n"
    "  <application>\n"
    "    <field name=\"id_number\" type=\"string\" required=\"true\"\n"
    "           pii=\"id-number\" title=\"公民身份号码\"/>\n"
    "    <field name=\"name\" type=\"string\" pii=\"name\" title=\"姓名\"/>\n"
    "    <field name=\"phone\" type=\"string\" pii=\"phone\"/>\n"
    "    <field name=\"age\" type=\"integer\" title=\"年龄\"/>\n"
    "  </application>\n"
    "  <sources>\n"
    "    <source name=\"xuexin\">\n"
    "      <title>学信网</title>\n"
    "      <field name=\"degree\" type=\"string\"/>\n"
    "    </source>\n"
    "  </sources>\n"
    "  <context>\n"
    "    <field name=\"channel\" type=\"string\"/>\n"
    "  </context>\n"
    "  <rules>\n"
    "    <rule id=\"age-limit\" on-fail=\"reject\" code=\"AGE_OVER_LIMIT\">\n"
    "      <title xml:lang=\"zh-CN\">年龄不超过35周岁</title>\n"
    "      <title xml:lang=\"en\">Age at most 35</title>\n"
    "      <basis xml:lang=\"zh-CN\">《办法》第十条</basis>\n"
    "      <basis xml:lang=\"en\">Measures, art. 10</basis>\n"
    "      <require>application.age le 35</require>\n"
    "      <message xml:lang=\"zh-CN\">申请人{application.name}"
    "（{application.id_number}，{application.phone}）"
    "年龄{application.age}岁，超过35岁。{{注}}</message>\n"
    "      <message xml:lang=\"en\">Applicant {application.name} "
    "({upper(application.id_number)}, {application.phone}) is "
    "{application.age}, over 35.</message>\n"
    "    </rule>\n"
    "    <rule id=\"degree\" on-fail=\"escalate\" "
    "code=\"DEGREE_UNVERIFIED\">\n"
    "      <title xml:lang=\"zh-CN\">学历核验</title>\n"
    "      <basis>《办法》第九条</basis>\n"
    "      <require>xuexin.degree == \"本科\"</require>\n"
    "      <message xml:lang=\"zh-CN\">学历为{xuexin.degree}。</message>\n"
    "    </rule>\n"
    "  </rules>\n"
    "</ruleset>\n";

/* A person whose ID number is valid: 440305 19900307 123 + check. */
#define MSG_ID "440305199003071236"

static char *combo_case(const char *a, const char *b, const char *c,
                        const char *w)
{
    return tu_printf("{\"application\": {\"a\": %s, \"b\": %s, \"c\": %s, "
                     "\"w\": %s}, \"context\": "
                     "{\"decision_date\": \"2024-05-01\"}}",
                     a, b, c, w);
}

typedef struct evaluated {
    miaopi_ruleset *rs;
    miaopi_case *c;
    miaopi_decision *d;
    int rc;
    miaopi_error err;
} evaluated;

static evaluated eval_xml_json(const char *xml, const char *json)
{
    evaluated e;
    memset(&e, 0, sizeof(e));
    e.rs = tu_ruleset(xml);
    e.c = tu_case_json(json);
    ck_assert_int_eq(miaopi_decision_new(&e.d), MIAOPI_OK);
    e.rc = miaopi_evaluate(e.d, e.rs, e.c, NULL, &e.err);
    return e;
}

static void evaluated_free(evaluated *e)
{
    miaopi_decision_free(e->d);
    miaopi_case_free(e->c);
    miaopi_ruleset_unref(e->rs);
}

static miaopi_outcome combo_outcome(const char *a, const char *b,
                                    const char *c, const char *w)
{
    char *json = combo_case(a, b, c, w);
    evaluated e = eval_xml_json(combo_xml, json);
    ck_assert_int_eq(e.rc, MIAOPI_OK);
    miaopi_outcome o = miaopi_decision_outcome(e.d);
    evaluated_free(&e);
    free(json);
    return o;
}

/* 1-based line of the first occurrence of needle in text. */
static int line_of(const char *text, const char *needle)
{
    const char *p = strstr(text, needle);
    ck_assert_ptr_nonnull(p);
    int line = 1;
    for (const char *q = text; q < p; q++)
        if (*q == '\n')
            line++;
    return line;
}

static miaopi_rule_status rule_status(const miaopi_decision *d, size_t i)
{
    miaopi_rule_result r = MIAOPI_RULE_RESULT_INIT;
    ck_assert_int_eq(miaopi_decision_rule(&r, d, i), MIAOPI_OK);
    return r.status;
}

/* Independent SHA-256 of bytes, lower-case hex. */
static void sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    ck_assert_int_eq(EVP_Digest(data, len, md, &n, EVP_sha256(), NULL), 1);
    ck_assert_uint_eq(n, 32);
    for (unsigned i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* ======================================================================= */
/* combine: how rule results make the decision                            */
/* ======================================================================= */

START_TEST(test_api_combine__all_pass_approves)
{
    ck_assert_int_eq(combo_outcome("true", "true", "true", "false"),
                     MIAOPI_APPROVE);
    ck_assert_int_eq(combo_outcome("true", "true", "true", "true"),
                     MIAOPI_APPROVE);
}
END_TEST

START_TEST(test_api_combine__reject_beats_escalate)
{
    /* must fails (reject), should fails (escalate). */
    ck_assert_int_eq(combo_outcome("false", "false", "true", "true"),
                     MIAOPI_REJECT);
    /* must fails, strict unknown (reject), should unknown (escalate). */
    ck_assert_int_eq(combo_outcome("false", "null", "null", "false"),
                     MIAOPI_REJECT);
    ck_assert_int_eq(combo_outcome("false", "true", "true", "false"),
                     MIAOPI_REJECT);
}
END_TEST

START_TEST(test_api_combine__escalate_beats_approve)
{
    ck_assert_int_eq(combo_outcome("true", "false", "true", "false"),
                     MIAOPI_ESCALATE);
    ck_assert_int_eq(combo_outcome("true", "true", "false", "false"),
                     MIAOPI_ESCALATE);
    /* Unknown escalates by default. */
    ck_assert_int_eq(combo_outcome("null", "true", "true", "false"),
                     MIAOPI_ESCALATE);
    /* A `when` that is unknown makes the rule unknown. */
    ck_assert_int_eq(combo_outcome("true", "true", "true", "null"),
                     MIAOPI_ESCALATE);
}
END_TEST

START_TEST(test_api_combine__on_unknown_reject)
{
    ck_assert_int_eq(combo_outcome("true", "true", "null", "false"),
                     MIAOPI_REJECT);
    char *json = combo_case("true", "true", "null", "false");
    evaluated e = eval_xml_json(combo_xml, json);
    miaopi_rule_result r = MIAOPI_RULE_RESULT_INIT;
    ck_assert_int_eq(miaopi_decision_rule(&r, e.d, 2), MIAOPI_OK);
    ck_assert_str_eq(r.id, "strict");
    ck_assert_int_eq(r.status, MIAOPI_RULE_UNKNOWN);
    ck_assert_int_eq(r.effect, MIAOPI_REJECT);
    ck_assert_str_eq(r.unknown_path, "application.c");
    evaluated_free(&e);
    free(json);
}
END_TEST

START_TEST(test_api_combine__rule_statuses_and_effects)
{
    char *json = combo_case("false", "true", "null", "false");
    evaluated e = eval_xml_json(combo_xml, json);
    ck_assert_int_eq(miaopi_decision_rule_count(e.d), 4);
    static const miaopi_rule_status want[4] = {
        MIAOPI_RULE_FAIL, MIAOPI_RULE_PASS, MIAOPI_RULE_UNKNOWN,
        MIAOPI_RULE_NOT_APPLICABLE};
    static const int effect[4] = {MIAOPI_REJECT, 0, MIAOPI_REJECT, 0};
    static const char *const ids[4] = {"must", "should", "strict", "opt"};
    for (size_t i = 0; i < 4; i++) {
        miaopi_rule_result r = MIAOPI_RULE_RESULT_INIT;
        ck_assert_int_eq(miaopi_decision_rule(&r, e.d, i), MIAOPI_OK);
        ck_assert_str_eq(r.id, ids[i]);
        ck_assert_int_eq(r.status, want[i]);
        ck_assert_int_eq(r.effect, effect[i]);
        if (r.status != MIAOPI_RULE_UNKNOWN) {
            ck_assert_str_eq(r.unknown_reason, "");
            ck_assert_str_eq(r.unknown_path, "");
        }
    }
    /* Reasons: the two rules with an effect, in rule order. */
    ck_assert_uint_eq(miaopi_decision_reason_count(e.d), 2);
    miaopi_reason rr = MIAOPI_REASON_INIT;
    ck_assert_int_eq(miaopi_decision_reason(&rr, e.d, 0, "en"), MIAOPI_OK);
    ck_assert_str_eq(rr.rule_id, "must");
    ck_assert_str_eq(rr.code, "MUST");
    ck_assert_int_eq(rr.status, MIAOPI_RULE_FAIL);
    ck_assert_int_eq(rr.effect, MIAOPI_REJECT);
    ck_assert_str_eq(rr.title, "Must");
    ck_assert_str_eq(rr.message, "The must condition is not met.");
    ck_assert_str_eq(rr.basis, "第一条");
    ck_assert_int_eq(miaopi_decision_reason(&rr, e.d, 1, "zh-CN"),
                     MIAOPI_OK);
    ck_assert_str_eq(rr.rule_id, "strict");
    ck_assert_int_eq(rr.status, MIAOPI_RULE_UNKNOWN);
    ck_assert_int_eq(rr.effect, MIAOPI_REJECT);
    ck_assert_str_eq(rr.title, "严格");
    evaluated_free(&e);
    free(json);
}
END_TEST

START_TEST(test_api_combine__none_applicable_escalates)
{
    const char *json = "{\"application\": {\"w\": false, \"v\": false}, "
                       "\"context\": {\"decision_date\": \"2024-05-01\"}}";
    evaluated e = eval_xml_json(whens_xml, json);
    ck_assert_int_eq(e.rc, MIAOPI_OK);
    ck_assert_int_eq(miaopi_decision_outcome(e.d), MIAOPI_ESCALATE);
    ck_assert_int_eq(rule_status(e.d, 0), MIAOPI_RULE_NOT_APPLICABLE);
    ck_assert_int_eq(rule_status(e.d, 1), MIAOPI_RULE_NOT_APPLICABLE);
    ck_assert_uint_eq(miaopi_decision_reason_count(e.d), 1);
    miaopi_reason r = MIAOPI_REASON_INIT;
    ck_assert_int_eq(miaopi_decision_reason(&r, e.d, 0, "en"), MIAOPI_OK);
    ck_assert_str_eq(r.code, "NO_EVIDENCE");
    ck_assert_str_eq(r.rule_id, "");
    ck_assert_int_eq(r.effect, MIAOPI_ESCALATE);
    ck_assert_str_ne(r.message, "");
    ck_assert_int_eq(miaopi_decision_reason(&r, e.d, 0, "zh-CN"), MIAOPI_OK);
    ck_assert_str_eq(r.code, "NO_EVIDENCE");
    ck_assert_ptr_nonnull(strstr(r.message, "人工"));
    char *s = tu_decision_json(e.d, "en");
    ck_assert_ptr_nonnull(strstr(s, "\"NO_EVIDENCE\""));
    miaopi_free(s);
    evaluated_free(&e);
}
END_TEST

START_TEST(test_api_combine__one_applicable_pass_approves)
{
    const char *json = "{\"application\": {\"w\": true, \"v\": false}, "
                       "\"context\": {\"decision_date\": \"2024-05-01\"}}";
    evaluated e = eval_xml_json(whens_xml, json);
    ck_assert_int_eq(miaopi_decision_outcome(e.d), MIAOPI_APPROVE);
    ck_assert_uint_eq(miaopi_decision_reason_count(e.d), 0);
    evaluated_free(&e);
}
END_TEST

/* ======================================================================= */
/* accessors: rules and reasons                                           */
/* ======================================================================= */

START_TEST(test_api_accessors__out_of_range)
{
    char *json = combo_case("false", "false", "true", "false");
    evaluated e = eval_xml_json(combo_xml, json);
    miaopi_rule_result r = MIAOPI_RULE_RESULT_INIT;
    ck_assert_int_eq(miaopi_decision_rule(&r, e.d, 4), MIAOPI_ENOTFOUND);
    ck_assert_int_eq(miaopi_decision_rule(&r, e.d, (size_t)-1),
                     MIAOPI_ENOTFOUND);
    miaopi_reason rr = MIAOPI_REASON_INIT;
    size_t n = miaopi_decision_reason_count(e.d);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(miaopi_decision_reason(&rr, e.d, n, NULL),
                     MIAOPI_ENOTFOUND);
    miaopi_rule_info info = MIAOPI_RULE_INFO_INIT;
    ck_assert_int_eq(miaopi_ruleset_rule(&info, e.rs, 4, NULL),
                     MIAOPI_ENOTFOUND);
    ck_assert_int_eq(miaopi_ruleset_rule(&info, e.rs, 3, NULL), MIAOPI_OK);
    ck_assert_str_eq(info.id, "opt");
    evaluated_free(&e);
    free(json);
}
END_TEST

START_TEST(test_api_accessors__struct_size_checked)
{
    char *json = combo_case("false", "false", "true", "false");
    evaluated e = eval_xml_json(combo_xml, json);
    /* A caller built against an older, smaller struct is refused rather
     * than overrun. */
    miaopi_rule_result r = MIAOPI_RULE_RESULT_INIT;
    r.size = sizeof(r) - 1;
    ck_assert_int_eq(miaopi_decision_rule(&r, e.d, 0), MIAOPI_EINVAL);
    miaopi_reason rr = MIAOPI_REASON_INIT;
    rr.size = 0;
    ck_assert_int_eq(miaopi_decision_reason(&rr, e.d, 0, NULL),
                     MIAOPI_EINVAL);
    miaopi_rule_info info = MIAOPI_RULE_INFO_INIT;
    info.size = 1;
    ck_assert_int_eq(miaopi_ruleset_rule(&info, e.rs, 0, NULL),
                     MIAOPI_EINVAL);
    evaluated_free(&e);
    free(json);
}
END_TEST

START_TEST(test_api_accessors__rule_info)
{
    miaopi_ruleset *rs = tu_ruleset(combo_xml);
    ck_assert_uint_eq(miaopi_ruleset_rule_count(rs), 4);
    miaopi_rule_info info = MIAOPI_RULE_INFO_INIT;
    ck_assert_int_eq(miaopi_ruleset_rule(&info, rs, 2, "en"), MIAOPI_OK);
    ck_assert_str_eq(info.id, "strict");
    ck_assert_str_eq(info.code, "STRICT");
    ck_assert_str_eq(info.title, "Strict");
    ck_assert_str_eq(info.basis, "第三条"); /* only one language given */
    ck_assert_int_eq(info.on_fail, MIAOPI_ESCALATE);
    ck_assert_int_eq(info.on_unknown, MIAOPI_REJECT);
    ck_assert_int_eq(info.line, line_of(combo_xml, "<rule id=\"strict\""));
    ck_assert_int_eq(miaopi_ruleset_rule(&info, rs, 0, "zh-CN"), MIAOPI_OK);
    ck_assert_str_eq(info.title, "必须");
    ck_assert_int_eq(info.on_fail, MIAOPI_REJECT);
    ck_assert_int_eq(info.on_unknown, MIAOPI_ESCALATE);
    ck_assert_int_eq(info.line, line_of(combo_xml, "<rule id=\"must\""));
    miaopi_ruleset_unref(rs);
}
END_TEST

START_TEST(test_api_accessors__names)
{
    ck_assert_str_eq(miaopi_outcome_name(MIAOPI_APPROVE), "APPROVE");
    ck_assert_str_eq(miaopi_outcome_name(MIAOPI_REJECT), "REJECT");
    ck_assert_str_eq(miaopi_outcome_name(MIAOPI_ESCALATE), "ESCALATE");
    ck_assert_str_eq(miaopi_rule_status_name(MIAOPI_RULE_PASS), "pass");
    ck_assert_str_eq(miaopi_rule_status_name(MIAOPI_RULE_FAIL), "fail");
    ck_assert_str_eq(miaopi_rule_status_name(MIAOPI_RULE_UNKNOWN),
                     "unknown");
    ck_assert_str_eq(miaopi_rule_status_name(MIAOPI_RULE_NOT_APPLICABLE),
                     "not-applicable");
    ck_assert_str_eq(miaopi_strerror(MIAOPI_ERULES), "MIAOPI_ERULES");
    ck_assert_str_eq(miaopi_strerror(MIAOPI_ENOTINFORCE),
                     "MIAOPI_ENOTINFORCE");
    ck_assert_str_eq(miaopi_strerror(0), "MIAOPI_OK");
    ck_assert_ptr_nonnull(miaopi_strerror(-12345));
    ck_assert_str_eq(miaopi_version(), MIAOPI_VERSION_STRING);
}
END_TEST

/* ======================================================================= */
/* messages: placeholders, masking, languages, unknown reasons            */
/* ======================================================================= */

static char *msg_case(const char *app_extra, const char *xuexin)
{
    return tu_printf("{\"application\": {\"id_number\": \"" MSG_ID "\"%s}, "
                     "\"sources\": {\"xuexin\": %s}, "
                     "\"context\": {\"decision_date\": \"2024-05-01\"}}",
                     app_extra, xuexin);
}

START_TEST(test_api_messages__placeholders_and_masking)
{
    char *json = msg_case(", \"name\": \"张三\", \"phone\": \"13812345678\", "
                          "\"age\": 36",
                          "{\"degree\": \"本科\"}");
    evaluated e = eval_xml_json(msg_xml, json);
    ck_assert_int_eq(e.rc, MIAOPI_OK);
    ck_assert_int_eq(miaopi_decision_outcome(e.d), MIAOPI_REJECT);
    ck_assert_uint_eq(miaopi_decision_reason_count(e.d), 1);
    miaopi_reason r = MIAOPI_REASON_INIT;
    ck_assert_int_eq(miaopi_decision_reason(&r, e.d, 0, "zh-CN"), MIAOPI_OK);
    ck_assert_str_eq(r.message, "申请人张*（4403**********1236，138****5678）"
                                "年龄36岁，超过35岁。{注}");
    ck_assert_str_eq(r.title, "年龄不超过35周岁");
    ck_assert_str_eq(r.basis, "《办法》第十条");
    ck_assert_int_eq(miaopi_decision_reason(&r, e.d, 0, "en"), MIAOPI_OK);
    /* A string derived from a classified field is masked as well. */
    ck_assert_str_eq(r.message, "Applicant 张* (4403**********1236, "
                                "138****5678) is 36, over 35.");
    ck_assert_str_eq(r.basis, "Measures, art. 10");
    ck_assert_str_eq(r.title, "Age at most 35");
    /* Full values never reach the messages or the JSON. */
    char *s = tu_decision_json(e.d, "zh-CN");
    ck_assert_ptr_null(strstr(s, MSG_ID));
    ck_assert_ptr_null(strstr(s, "张三"));
    ck_assert_ptr_null(strstr(s, "13812345678"));
    miaopi_free(s);
    evaluated_free(&e);
    free(json);
}
END_TEST

START_TEST(test_api_messages__default_language_and_fallback)
{
    char *json = msg_case(", \"age\": 30", "{\"degree\": \"大专\"}");
    evaluated e = eval_xml_json(msg_xml, json);
    ck_assert_int_eq(miaopi_decision_outcome(e.d), MIAOPI_ESCALATE);
    miaopi_reason r = MIAOPI_REASON_INIT;
    ck_assert_int_eq(miaopi_decision_reason(&r, e.d, 0, "zh-CN"), MIAOPI_OK);
    ck_assert_str_eq(r.rule_id, "degree");
    ck_assert_str_eq(r.message, "学历为大专。");
    /* The rule has no English text: the Chinese is used. */
    ck_assert_int_eq(miaopi_decision_reason(&r, e.d, 0, "en"), MIAOPI_OK);
    ck_assert_str_eq(r.message, "学历为大专。");
    ck_assert_str_eq(r.title, "学历核验");
    /* NULL: the ruleset's default language (zh-CN). */
    ck_assert_int_eq(miaopi_decision_reason(&r, e.d, 0, NULL), MIAOPI_OK);
    ck_assert_str_eq(r.message, "学历为大专。");
    evaluated_free(&e);
    free(json);
}
END_TEST

START_TEST(test_api_messages__missing_placeholder_value)
{
    /* age fails; name and phone are absent: shown as '?'. */
    char *json = msg_case(", \"age\": 40", "{\"degree\": \"本科\"}");
    evaluated e = eval_xml_json(msg_xml, json);
    miaopi_reason r = MIAOPI_REASON_INIT;
    ck_assert_int_eq(miaopi_decision_reason(&r, e.d, 0, "zh-CN"), MIAOPI_OK);
    ck_assert_str_eq(r.message, "申请人?（4403**********1236，?）"
                                "年龄40岁，超过35岁。{注}");
    evaluated_free(&e);
    free(json);
}
END_TEST

START_TEST(test_api_messages__unknown_mentions_source)
{
    char *json = msg_case(", \"age\": 30", "null");
    evaluated e = eval_xml_json(msg_xml, json);
    ck_assert_int_eq(e.rc, MIAOPI_OK);
    ck_assert_int_eq(miaopi_decision_outcome(e.d), MIAOPI_ESCALATE);
    miaopi_rule_result rr = MIAOPI_RULE_RESULT_INIT;
    ck_assert_int_eq(miaopi_decision_rule(&rr, e.d, 1), MIAOPI_OK);
    ck_assert_int_eq(rr.status, MIAOPI_RULE_UNKNOWN);
    ck_assert_int_eq(rr.effect, MIAOPI_ESCALATE);
    ck_assert_str_eq(rr.unknown_reason, "source xuexin is unavailable");
    ck_assert_str_eq(rr.unknown_path, "xuexin.degree");
    miaopi_reason r = MIAOPI_REASON_INIT;
    ck_assert_int_eq(miaopi_decision_reason(&r, e.d, 0, "en"), MIAOPI_OK);
    ck_assert_int_eq(r.status, MIAOPI_RULE_UNKNOWN);
    ck_assert_ptr_nonnull(strstr(r.message, "source xuexin is unavailable"));
    ck_assert_ptr_nonnull(strstr(r.message, "manual review"));
    ck_assert_int_eq(miaopi_decision_reason(&r, e.d, 0, "zh-CN"), MIAOPI_OK);
    /* The citizen sees the source's title. */
    ck_assert_ptr_nonnull(strstr(r.message, "学信网"));
    ck_assert_ptr_nonnull(strstr(r.message, "人工审核"));
    evaluated_free(&e);
    free(json);
}
END_TEST

START_TEST(test_api_messages__unknown_mentions_missing_field)
{
    char *json = msg_case("", "{\"degree\": \"本科\"}");
    evaluated e = eval_xml_json(msg_xml, json);
    ck_assert_int_eq(miaopi_decision_outcome(e.d), MIAOPI_ESCALATE);
    miaopi_rule_result rr = MIAOPI_RULE_RESULT_INIT;
    ck_assert_int_eq(miaopi_decision_rule(&rr, e.d, 0), MIAOPI_OK);
    ck_assert_int_eq(rr.status, MIAOPI_RULE_UNKNOWN);
    ck_assert_str_eq(rr.unknown_path, "application.age");
    ck_assert_str_eq(rr.unknown_reason, "application.age is missing");
    miaopi_reason r = MIAOPI_REASON_INIT;
    ck_assert_int_eq(miaopi_decision_reason(&r, e.d, 0, "zh-CN"), MIAOPI_OK);
    ck_assert_ptr_nonnull(strstr(r.message, "年龄"));
    evaluated_free(&e);
    free(json);
}
END_TEST

/* ======================================================================= */
/* json: miaopi_decision_to_json                                           */
/* ======================================================================= */

START_TEST(test_api_json__shape)
{
    char *json = msg_case(", \"age\": 36", "null");
    evaluated e = eval_xml_json(msg_xml, json);
    char *s = tu_decision_json(e.d, "en");
    json_error_t je;
    json_t *o = json_loads(s, 0, &je);
    ck_assert_msg(o != NULL, "%s: %s", je.text, s);
    ck_assert_str_eq(json_string_value(json_object_get(o, "decision")),
                     "REJECT");
    ck_assert_str_eq(json_string_value(json_object_get(o, "decision_date")),
                     "2024-05-01");
    json_t *rs = json_object_get(o, "ruleset");
    ck_assert_str_eq(json_string_value(json_object_get(rs, "id")),
                     "msg-test");
    ck_assert_str_eq(json_string_value(json_object_get(rs, "version")),
                     "2024.2");
    ck_assert_str_eq(json_string_value(json_object_get(rs, "sha256")),
                     miaopi_ruleset_sha256(e.rs));
    json_t *rules = json_object_get(o, "rules");
    ck_assert_uint_eq(json_array_size(rules), 2);
    json_t *r0 = json_array_get(rules, 0), *r1 = json_array_get(rules, 1);
    ck_assert_str_eq(json_string_value(json_object_get(r0, "id")),
                     "age-limit");
    ck_assert_str_eq(json_string_value(json_object_get(r0, "status")),
                     "fail");
    ck_assert_str_eq(json_string_value(json_object_get(r0, "code")),
                     "AGE_OVER_LIMIT");
    ck_assert_ptr_null(json_object_get(r0, "unknown"));
    ck_assert_str_eq(json_string_value(json_object_get(r1, "status")),
                     "unknown");
    json_t *unk = json_object_get(r1, "unknown");
    ck_assert_str_eq(json_string_value(json_object_get(unk, "reason")),
                     "source xuexin is unavailable");
    ck_assert_str_eq(json_string_value(json_object_get(unk, "path")),
                     "xuexin.degree");
    json_t *reasons = json_object_get(o, "reasons");
    ck_assert_uint_eq(json_array_size(reasons), 2);
    json_t *x = json_array_get(reasons, 0);
    ck_assert_str_eq(json_string_value(json_object_get(x, "rule")),
                     "age-limit");
    ck_assert_str_eq(json_string_value(json_object_get(x, "code")),
                     "AGE_OVER_LIMIT");
    ck_assert_str_eq(json_string_value(json_object_get(x, "status")),
                     "fail");
    ck_assert_str_eq(json_string_value(json_object_get(x, "effect")),
                     "REJECT");
    ck_assert_str_eq(json_string_value(json_object_get(x, "title")),
                     "Age at most 35");
    ck_assert_str_eq(json_string_value(json_object_get(x, "basis")),
                     "Measures, art. 10");
    ck_assert_ptr_nonnull(strstr(json_string_value(
                                     json_object_get(x, "message")),
                                 "is 36, over 35"));
    x = json_array_get(reasons, 1);
    ck_assert_str_eq(json_string_value(json_object_get(x, "effect")),
                     "ESCALATE");
    ck_assert_str_eq(json_string_value(json_object_get(x, "status")),
                     "unknown");
    json_decref(o);
    miaopi_free(s);
    evaluated_free(&e);
    free(json);
}
END_TEST

START_TEST(test_api_json__flags)
{
    char *json = msg_case(", \"age\": 36", "null");
    evaluated e = eval_xml_json(msg_xml, json);
    char *plain = NULL, *pretty = NULL;
    ck_assert_int_eq(miaopi_decision_to_json(&plain, e.d, NULL, 0),
                     MIAOPI_OK);
    ck_assert_ptr_null(strstr(plain, "\"reasons\""));
    ck_assert_ptr_null(strchr(plain, '\n'));
    ck_assert_int_eq(miaopi_decision_to_json(&pretty, e.d, NULL,
                                             MIAOPI_JSON_PRETTY),
                     MIAOPI_OK);
    ck_assert_ptr_nonnull(strchr(pretty, '\n'));
    json_t *a = json_loads(plain, 0, NULL), *b = json_loads(pretty, 0, NULL);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert(json_equal(a, b));
    /* Key order is fixed: "decision" first. */
    ck_assert(strncmp(plain, "{\"decision\":", 12) == 0);
    json_decref(a);
    json_decref(b);
    miaopi_free(plain);
    miaopi_free(pretty);
    evaluated_free(&e);
    free(json);
}
END_TEST

START_TEST(test_api_json__before_evaluation)
{
    miaopi_decision *d = NULL;
    ck_assert_int_eq(miaopi_decision_new(&d), MIAOPI_OK);
    char *s = (char *)"sentinel";
    ck_assert_int_eq(miaopi_decision_to_json(&s, d, NULL, 0),
                     MIAOPI_EINVAL);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(miaopi_decision_outcome(d), MIAOPI_ESCALATE);
    ck_assert_uint_eq(miaopi_decision_rule_count(d), 0);
    ck_assert_uint_eq(miaopi_decision_reason_count(d), 0);
    ck_assert_ptr_null(miaopi_decision_ruleset(d));
    ck_assert_str_eq(miaopi_decision_date(d), "");
    miaopi_rule_result r = MIAOPI_RULE_RESULT_INIT;
    ck_assert_int_eq(miaopi_decision_rule(&r, d, 0), MIAOPI_ENOTFOUND);
    miaopi_decision_free(d);
}
END_TEST

/* ======================================================================= */
/* ruleset: accessors, hash, reference counting                           */
/* ======================================================================= */

START_TEST(test_api_ruleset__accessors)
{
    miaopi_ruleset *rs = tu_ruleset(msg_xml);
    ck_assert_str_eq(miaopi_ruleset_id(rs), "msg-test");
    ck_assert_str_eq(miaopi_ruleset_version(rs), "2024.2");
    ck_assert_str_eq(miaopi_ruleset_title(rs, "zh-CN"), "消息测试");
    ck_assert_str_eq(miaopi_ruleset_title(rs, "en"), "Message test");
    ck_assert_str_eq(miaopi_ruleset_title(rs, NULL), "消息测试");
    ck_assert_str_eq(miaopi_ruleset_authority(rs), "测试局");
    ck_assert_str_eq(miaopi_ruleset_effective_from(rs), "2024-01-01");
    ck_assert_str_eq(miaopi_ruleset_effective_until(rs), "2025-01-01");
    ck_assert_uint_eq(miaopi_ruleset_rule_count(rs), 2);
    miaopi_ruleset_unref(rs);

    rs = tu_ruleset(combo_xml);
    ck_assert_str_eq(miaopi_ruleset_effective_until(rs), "");
    ck_assert_str_eq(miaopi_ruleset_authority(rs), "");
    miaopi_ruleset_unref(rs);
}
END_TEST

START_TEST(test_api_ruleset__title_language_fallback)
{
    /* Only an English title, English the default language. */
    const char *xml =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<ruleset xmlns=\"urn:miaopi:rules:1\" id=\"en-only\" version=\"1\" "
        "effective-from=\"2024-01-01\" default-lang=\"en\">\n"
        "  <title>English only</title>\n"
        "  <rules>\n"
        "    <rule id=\"r\" on-fail=\"reject\" code=\"R\">\n"
        "      <title>R</title><basis>B</basis>\n"
        "      <require>true</require><message>M</message>\n"
        "    </rule>\n"
        "  </rules>\n"
        "</ruleset>\n";
    miaopi_ruleset *rs = tu_ruleset(xml);
    ck_assert_str_eq(miaopi_ruleset_title(rs, "en"), "English only");
    ck_assert_str_eq(miaopi_ruleset_title(rs, "zh-CN"), "English only");
    ck_assert_str_eq(miaopi_ruleset_title(rs, NULL), "English only");
    miaopi_ruleset_unref(rs);
}
END_TEST

START_TEST(test_api_ruleset__sha256_of_bytes)
{
    miaopi_ruleset *rs = tu_ruleset(msg_xml);
    char want[65];
    sha256_hex(msg_xml, strlen(msg_xml), want);
    ck_assert_str_eq(miaopi_ruleset_sha256(rs), want);
    ck_assert_uint_eq(strlen(miaopi_ruleset_sha256(rs)), 64);
    miaopi_ruleset_unref(rs);

    /* One more byte (a trailing newline) is another hash. */
    char *longer = tu_printf("%s\n", msg_xml);
    rs = tu_ruleset(longer);
    char want2[65];
    sha256_hex(longer, strlen(longer), want2);
    ck_assert_str_eq(miaopi_ruleset_sha256(rs), want2);
    ck_assert_str_ne(want, want2);
    miaopi_ruleset_unref(rs);
    free(longer);
}
END_TEST

START_TEST(test_api_ruleset__load_file_same_as_buffer)
{
    char path[] = "/tmp/miaopi-test-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    size_t len = strlen(msg_xml);
    ck_assert_int_eq(write(fd, msg_xml, len), (ssize_t)len);
    close(fd);
    miaopi_ruleset *rs = NULL;
    miaopi_error err;
    ck_assert_int_eq(miaopi_ruleset_load_file(&rs, path, NULL, &err),
                     MIAOPI_OK);
    char want[65];
    sha256_hex(msg_xml, len, want);
    ck_assert_str_eq(miaopi_ruleset_sha256(rs), want);
    miaopi_ruleset_unref(rs);
    unlink(path);
    /* A file that is gone: EIO with the IO diagnostic. */
    rs = (miaopi_ruleset *)1;
    ck_assert_int_eq(miaopi_ruleset_load_file(&rs, path, NULL, &err),
                     MIAOPI_EIO);
    ck_assert_ptr_null(rs);
    tu_assert_id(err.id, 25);
    ck_assert_str_eq(err.file, path);
}
END_TEST

START_TEST(test_api_ruleset__ref_unref)
{
    miaopi_ruleset *rs = tu_ruleset(combo_xml);
    miaopi_ruleset *again = miaopi_ruleset_ref(rs);
    ck_assert_ptr_eq(again, rs);
    ck_assert_ptr_null(miaopi_ruleset_ref(NULL));
    miaopi_ruleset_unref(rs);
    /* Still alive through the second reference. */
    ck_assert_str_eq(miaopi_ruleset_id(again), "combo");
    char *json = combo_case("true", "true", "true", "false");
    miaopi_case *c = tu_case_json(json);
    miaopi_decision *d = NULL;
    ck_assert_int_eq(miaopi_decision_new(&d), MIAOPI_OK);
    ck_assert_int_eq(miaopi_evaluate(d, again, c, NULL, NULL), MIAOPI_OK);
    /* The decision holds its own reference. */
    miaopi_ruleset_unref(again);
    ck_assert_int_eq(miaopi_decision_outcome(d), MIAOPI_APPROVE);
    const miaopi_ruleset *held = miaopi_decision_ruleset(d);
    ck_assert_ptr_nonnull(held);
    ck_assert_str_eq(miaopi_ruleset_id(held), "combo");
    ck_assert_str_eq(miaopi_decision_date(d), "2024-05-01");
    char *s = tu_decision_json(d, NULL);
    ck_assert_ptr_nonnull(strstr(s, "\"combo\""));
    miaopi_free(s);
    miaopi_decision_free(d);
    miaopi_case_free(c);
    free(json);
}
END_TEST

/* ======================================================================= */
/* args: NULL safety and MIAOPI_EINVAL                                     */
/* ======================================================================= */

START_TEST(test_api_args__free_functions_accept_null)
{
    miaopi_ruleset_unref(NULL);
    miaopi_case_free(NULL);
    miaopi_decision_free(NULL);
    miaopi_free(NULL);
    /* Accessors on NULL answer without crashing. */
    ck_assert_ptr_null(miaopi_ruleset_id(NULL));
    ck_assert_ptr_null(miaopi_ruleset_version(NULL));
    ck_assert_ptr_null(miaopi_ruleset_title(NULL, NULL));
    ck_assert_ptr_null(miaopi_ruleset_sha256(NULL));
    ck_assert_ptr_null(miaopi_ruleset_effective_from(NULL));
    ck_assert_uint_eq(miaopi_ruleset_rule_count(NULL), 0);
    ck_assert_int_eq(miaopi_decision_outcome(NULL), MIAOPI_ESCALATE);
    ck_assert_uint_eq(miaopi_decision_rule_count(NULL), 0);
    ck_assert_uint_eq(miaopi_decision_reason_count(NULL), 0);
    ck_assert_ptr_null(miaopi_decision_ruleset(NULL));
    ck_assert_str_eq(miaopi_decision_date(NULL), "");
}
END_TEST

START_TEST(test_api_args__einval_on_null)
{
    miaopi_error err;
    miaopi_ruleset *rs = NULL;
    ck_assert_int_eq(miaopi_ruleset_load_buffer(NULL, combo_xml,
                                                strlen(combo_xml), NULL,
                                                NULL, &err),
                     MIAOPI_EINVAL);
    ck_assert_int_eq(err.code, MIAOPI_EINVAL);
    ck_assert_int_eq(miaopi_ruleset_load_buffer(&rs, NULL, 10, NULL, NULL,
                                                &err),
                     MIAOPI_EINVAL);
    ck_assert_int_eq(miaopi_ruleset_load_file(NULL, "x", NULL, NULL),
                     MIAOPI_EINVAL);
    ck_assert_int_eq(miaopi_ruleset_load_file(&rs, NULL, NULL, &err),
                     MIAOPI_EINVAL);
    ck_assert_ptr_null(rs);

    miaopi_case *c = NULL;
    ck_assert_int_eq(miaopi_case_from_json(NULL, "{}", 2, &err),
                     MIAOPI_EINVAL);
    ck_assert_int_eq(miaopi_case_from_json(&c, NULL, 2, &err),
                     MIAOPI_EINVAL);
    ck_assert_int_eq(miaopi_case_load_file(NULL, "x", &err), MIAOPI_EINVAL);
    ck_assert_int_eq(miaopi_case_load_file(&c, NULL, &err), MIAOPI_EINVAL);
    ck_assert_int_eq(miaopi_case_new(NULL), MIAOPI_EINVAL);
    ck_assert_int_eq(miaopi_case_set_string(NULL, "application.a", "x"),
                     MIAOPI_EINVAL);
    ck_assert_int_eq(miaopi_case_set_int(NULL, "application.a", 1),
                     MIAOPI_EINVAL);
    ck_assert_int_eq(miaopi_case_set_bool(NULL, "application.a", 1),
                     MIAOPI_EINVAL);
    ck_assert_int_eq(miaopi_case_set_json(NULL, "application.a", "1", &err),
                     MIAOPI_EINVAL);
    ck_assert_int_eq(miaopi_case_set_source_unavailable(NULL, "x"),
                     MIAOPI_EINVAL);
    ck_assert_int_eq(miaopi_case_to_json(NULL, NULL), MIAOPI_EINVAL);

    ck_assert_int_eq(miaopi_case_new(&c), MIAOPI_OK);
    ck_assert_int_eq(miaopi_case_set_string(c, NULL, "x"), MIAOPI_EINVAL);
    ck_assert_int_eq(miaopi_case_set_string(c, "application.a", NULL),
                     MIAOPI_EINVAL);
    ck_assert_int_eq(miaopi_case_set_int(c, NULL, 1), MIAOPI_EINVAL);
    ck_assert_int_eq(miaopi_case_set_json(c, "application.a", NULL, &err),
                     MIAOPI_EINVAL);
    ck_assert_int_eq(miaopi_case_set_source_unavailable(c, NULL),
                     MIAOPI_EINVAL);
    char *out = NULL;
    ck_assert_int_eq(miaopi_case_to_json(&out, NULL), MIAOPI_EINVAL);
    ck_assert_int_eq(miaopi_case_to_json(NULL, c), MIAOPI_EINVAL);

    miaopi_decision *d = NULL;
    ck_assert_int_eq(miaopi_decision_new(NULL), MIAOPI_EINVAL);
    ck_assert_int_eq(miaopi_decision_new(&d), MIAOPI_OK);
    rs = tu_ruleset(combo_xml);
    ck_assert_int_eq(miaopi_evaluate(NULL, rs, c, NULL, &err),
                     MIAOPI_EINVAL);
    ck_assert_int_eq(miaopi_evaluate(d, NULL, c, NULL, &err), MIAOPI_EINVAL);
    ck_assert_int_eq(err.code, MIAOPI_EINVAL);
    ck_assert_int_eq(miaopi_evaluate(d, rs, NULL, NULL, &err),
                     MIAOPI_EINVAL);
    ck_assert_int_eq(miaopi_decision_outcome(d), MIAOPI_ESCALATE);
    ck_assert_int_eq(miaopi_decision_rule(NULL, d, 0), MIAOPI_EINVAL);
    miaopi_rule_result r = MIAOPI_RULE_RESULT_INIT;
    ck_assert_int_eq(miaopi_decision_rule(&r, NULL, 0), MIAOPI_EINVAL);
    miaopi_reason rr = MIAOPI_REASON_INIT;
    ck_assert_int_eq(miaopi_decision_reason(NULL, d, 0, NULL),
                     MIAOPI_EINVAL);
    ck_assert_int_eq(miaopi_decision_reason(&rr, NULL, 0, NULL),
                     MIAOPI_EINVAL);
    ck_assert_int_eq(miaopi_decision_to_json(NULL, d, NULL, 0),
                     MIAOPI_EINVAL);
    ck_assert_int_eq(miaopi_decision_to_json(&out, NULL, NULL, 0),
                     MIAOPI_EINVAL);
    miaopi_rule_info info = MIAOPI_RULE_INFO_INIT;
    ck_assert_int_eq(miaopi_ruleset_rule(NULL, rs, 0, NULL), MIAOPI_EINVAL);
    ck_assert_int_eq(miaopi_ruleset_rule(&info, NULL, 0, NULL),
                     MIAOPI_EINVAL);
    /* NULL err is always allowed. */
    ck_assert_int_eq(miaopi_evaluate(d, rs, NULL, NULL, NULL),
                     MIAOPI_EINVAL);
    miaopi_ruleset_unref(rs);
    miaopi_decision_free(d);
    miaopi_case_free(c);
}
END_TEST

START_TEST(test_api_args__bad_case_paths)
{
    miaopi_case *c = NULL;
    ck_assert_int_eq(miaopi_case_new(&c), MIAOPI_OK);
    ck_assert_int_eq(miaopi_case_set_string(c, "foo.bar", "x"),
                     MIAOPI_EINVAL);
    ck_assert_int_eq(miaopi_case_set_string(c, "application", "x"),
                     MIAOPI_EINVAL);
    ck_assert_int_eq(miaopi_case_set_string(c, "application.", "x"),
                     MIAOPI_EINVAL);
    ck_assert_int_eq(miaopi_case_set_string(c, "application..x", "x"),
                     MIAOPI_EINVAL);
    /* Invalid UTF-8 in a value. */
    ck_assert_int_eq(miaopi_case_set_string(c, "application.x", "\xff\xfe"),
                     MIAOPI_EINVAL);
    miaopi_error err;
    ck_assert_int_eq(miaopi_case_set_json(c, "application.x", "{bad", &err),
                     MIAOPI_EINVAL);
    ck_assert_int_eq(miaopi_case_set_json(c, "nowhere.x", "1", &err),
                     MIAOPI_EINVAL);
    /* None of that changed the case. */
    char *s = NULL;
    ck_assert_int_eq(miaopi_case_to_json(&s, c), MIAOPI_OK);
    ck_assert_str_eq(s, "{}");
    miaopi_free(s);
    miaopi_case_free(c);
}
END_TEST

/* ======================================================================= */
/* case: building, parsing and refusing case documents                    */
/* ======================================================================= */

/* A JSON case and the same case built field by field for msg_xml. */
static const char msg_case_json[] =
    "{\"application\": {\"id_number\": \"" MSG_ID "\", \"name\": \"张三\", "
    "\"age\": 36, \"phone\": \"13812345678\"}, "
    "\"sources\": {\"xuexin\": null}, "
    "\"context\": {\"decision_date\": \"2024-05-01\", \"channel\": "
    "\"web\"}}";

static miaopi_case *msg_case_built(void)
{
    miaopi_case *c = NULL;
    ck_assert_int_eq(miaopi_case_new(&c), MIAOPI_OK);
    ck_assert_int_eq(miaopi_case_set_string(c, "application.id_number",
                                            MSG_ID),
                     MIAOPI_OK);
    ck_assert_int_eq(miaopi_case_set_string(c, "application.name", "张三"),
                     MIAOPI_OK);
    ck_assert_int_eq(miaopi_case_set_int(c, "application.age", 36),
                     MIAOPI_OK);
    ck_assert_int_eq(miaopi_case_set_json(c, "application.phone",
                                          "\"13812345678\"", NULL),
                     MIAOPI_OK);
    ck_assert_int_eq(miaopi_case_set_source_unavailable(c, "xuexin"),
                     MIAOPI_OK);
    ck_assert_int_eq(miaopi_case_set_string(c, "context.decision_date",
                                            "2024-05-01"),
                     MIAOPI_OK);
    ck_assert_int_eq(miaopi_case_set_string(c, "context.channel", "web"),
                     MIAOPI_OK);
    return c;
}

START_TEST(test_api_case__built_equals_json)
{
    miaopi_ruleset *rs = tu_ruleset(msg_xml);
    miaopi_case *a = tu_case_json(msg_case_json);
    miaopi_case *b = msg_case_built();
    char *ja = NULL, *jb = NULL;
    ck_assert_int_eq(miaopi_case_to_json(&ja, a), MIAOPI_OK);
    ck_assert_int_eq(miaopi_case_to_json(&jb, b), MIAOPI_OK);
    ck_assert_str_eq(ja, jb);
    miaopi_decision *da = NULL, *db = NULL;
    ck_assert_int_eq(miaopi_decision_new(&da), MIAOPI_OK);
    ck_assert_int_eq(miaopi_decision_new(&db), MIAOPI_OK);
    ck_assert_int_eq(miaopi_evaluate(da, rs, a, NULL, NULL), MIAOPI_OK);
    ck_assert_int_eq(miaopi_evaluate(db, rs, b, NULL, NULL), MIAOPI_OK);
    ck_assert_int_eq(miaopi_decision_outcome(da), MIAOPI_REJECT);
    char *sa = tu_decision_json(da, "zh-CN"), *sb = tu_decision_json(db,
                                                                     "zh-CN");
    ck_assert_str_eq(sa, sb);
    miaopi_free(sa);
    miaopi_free(sb);
    miaopi_free(ja);
    miaopi_free(jb);
    miaopi_decision_free(da);
    miaopi_decision_free(db);
    miaopi_case_free(a);
    miaopi_case_free(b);
    miaopi_ruleset_unref(rs);
}
END_TEST

START_TEST(test_api_case__set_bool_and_overwrite)
{
    miaopi_ruleset *rs = tu_ruleset(combo_xml);
    miaopi_case *c = NULL;
    ck_assert_int_eq(miaopi_case_new(&c), MIAOPI_OK);
    ck_assert_int_eq(miaopi_case_set_bool(c, "application.a", 1), MIAOPI_OK);
    ck_assert_int_eq(miaopi_case_set_bool(c, "application.b", 1), MIAOPI_OK);
    ck_assert_int_eq(miaopi_case_set_bool(c, "application.c", 1), MIAOPI_OK);
    ck_assert_int_eq(miaopi_case_set_bool(c, "application.w", 0), MIAOPI_OK);
    ck_assert_int_eq(miaopi_case_set_string(c, "context.decision_date",
                                            "2024-05-01"),
                     MIAOPI_OK);
    miaopi_decision *d = NULL;
    ck_assert_int_eq(miaopi_decision_new(&d), MIAOPI_OK);
    ck_assert_int_eq(miaopi_evaluate(d, rs, c, NULL, NULL), MIAOPI_OK);
    ck_assert_int_eq(miaopi_decision_outcome(d), MIAOPI_APPROVE);
    /* Setting again replaces the value. */
    ck_assert_int_eq(miaopi_case_set_bool(c, "application.a", 0), MIAOPI_OK);
    ck_assert_int_eq(miaopi_evaluate(d, rs, c, NULL, NULL), MIAOPI_OK);
    ck_assert_int_eq(miaopi_decision_outcome(d), MIAOPI_REJECT);
    ck_assert_int_eq(miaopi_case_set_json(c, "application.a", "null", NULL),
                     MIAOPI_OK);
    ck_assert_int_eq(miaopi_evaluate(d, rs, c, NULL, NULL), MIAOPI_OK);
    ck_assert_int_eq(rule_status(d, 0), MIAOPI_RULE_UNKNOWN);
    char *s = NULL;
    ck_assert_int_eq(miaopi_case_to_json(&s, c), MIAOPI_OK);
    ck_assert_str_eq(s, "{\"application\":{\"a\":null,\"b\":true,\"c\":true,"
                        "\"w\":false},\"context\":{\"decision_date\":"
                        "\"2024-05-01\"}}");
    miaopi_free(s);
    miaopi_decision_free(d);
    miaopi_case_free(c);
    miaopi_ruleset_unref(rs);
}
END_TEST

START_TEST(test_api_case__invalid_json_position)
{
    const char *json = "{\"application\": {\n  \"a\": 1,\n  }\n}";
    miaopi_case *c = (miaopi_case *)1;
    miaopi_error err;
    ck_assert_int_eq(miaopi_case_from_json(&c, json, strlen(json), &err),
                     MIAOPI_ECASE);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(err.code, MIAOPI_ECASE);
    ck_assert_int_eq(err.line, 3);
    ck_assert_int_eq(err.column, 3);
    /* offset, line and column all name the stray '}'. */
    ck_assert_int_eq(err.offset, (long)(strchr(json, '}') - json));
    ck_assert_ptr_nonnull(strstr(err.message, "invalid JSON"));
    /* Truncated document. */
    ck_assert_int_eq(miaopi_case_from_json(&c, "{\"a\": ", 6, &err),
                     MIAOPI_ECASE);
    ck_assert_int_eq(err.line, 1);
    /* Empty document. */
    ck_assert_int_eq(miaopi_case_from_json(&c, "", 0, &err), MIAOPI_ECASE);
    /* Invalid UTF-8 inside a string. */
    ck_assert_int_eq(miaopi_case_from_json(&c, "{\"a\": \"\xff\"}", 8, &err),
                     MIAOPI_ECASE);
}
END_TEST

START_TEST(test_api_case__wrong_shapes)
{
    static const char *const bad[] = {
        "[]",
        "\"text\"",
        "{\"application\": []}",
        "{\"application\": \"x\"}",
        "{\"context\": 5}",
        "{\"sources\": [1]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        miaopi_case *c = NULL;
        miaopi_error err;
        ck_assert_msg(miaopi_case_from_json(&c, bad[i], strlen(bad[i]),
                                            &err) == MIAOPI_ECASE,
                      "%s accepted", bad[i]);
        ck_assert_ptr_null(c);
        ck_assert_int_eq(err.code, MIAOPI_ECASE);
    }
    /* Other top-level members are allowed, and null means absent. */
    miaopi_case *c = tu_case_json("{\"case_id\": \"A1\", \"application\": {}}");
    miaopi_case_free(c);
    c = tu_case_json("{\"application\": null, \"sources\": null}");
    miaopi_case_free(c);
}
END_TEST

START_TEST(test_api_case__duplicate_keys)
{
    const char *json = "{\"application\": {\"a\": true, \"a\": false}}";
    miaopi_case *c = NULL;
    miaopi_error err;
    ck_assert_int_eq(miaopi_case_from_json(&c, json, strlen(json), &err),
                     MIAOPI_ECASE);
    ck_assert_ptr_null(c);
    ck_assert_ptr_nonnull(strstr(err.message, "duplicate"));
    ck_assert_int_eq(miaopi_case_new(&c), MIAOPI_OK);
    ck_assert_int_eq(miaopi_case_set_json(c, "application.x",
                                          "{\"k\": 1, \"k\": 2}", &err),
                     MIAOPI_EINVAL);
    miaopi_case_free(c);
}
END_TEST

/* {"application": {"x": [[...[1]...]]}} with `arrays` arrays: the
 * document nests arrays + 2 deep. */
static char *nested_case(size_t arrays)
{
    char *open = tu_repeat("[", arrays), *close = tu_repeat("]", arrays);
    char *s = tu_printf("{\"application\": {\"x\": %s1%s}}", open, close);
    free(open);
    free(close);
    return s;
}

START_TEST(test_api_case__nesting_limit)
{
    miaopi_case *c = NULL;
    miaopi_error err;
    char *ok = nested_case(62); /* 64 levels: allowed */
    ck_assert_int_eq(miaopi_case_from_json(&c, ok, strlen(ok), &err),
                     MIAOPI_OK);
    miaopi_case_free(c);
    c = NULL;
    char *deep = nested_case(63); /* 65 levels */
    ck_assert_int_eq(miaopi_case_from_json(&c, deep, strlen(deep), &err),
                     MIAOPI_ELIMIT);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(err.code, MIAOPI_ELIMIT);
    free(ok);
    free(deep);
    /* The same limit through miaopi_case_set_json. */
    char *open = tu_repeat("[", 70), *close = tu_repeat("]", 70);
    char *v = tu_printf("%s1%s", open, close);
    ck_assert_int_eq(miaopi_case_new(&c), MIAOPI_OK);
    ck_assert_int_eq(miaopi_case_set_json(c, "application.x", v, &err),
                     MIAOPI_ELIMIT);
    miaopi_case_free(c);
    free(open);
    free(close);
    free(v);
}
END_TEST

START_TEST(test_api_case__load_file)
{
    char path[] = "/tmp/miaopi-case-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    const char *bad = "{\n\"application\": [}";
    ck_assert_int_eq(write(fd, bad, strlen(bad)), (ssize_t)strlen(bad));
    close(fd);
    miaopi_case *c = NULL;
    miaopi_error err;
    ck_assert_int_eq(miaopi_case_load_file(&c, path, &err), MIAOPI_ECASE);
    ck_assert_int_eq(err.line, 2);
    ck_assert_str_eq(err.file, path);
    unlink(path);
    ck_assert_int_eq(miaopi_case_load_file(&c, path, &err), MIAOPI_EIO);
    ck_assert_ptr_null(c);
}
END_TEST

/* ======================================================================= */
/* eval: case errors, effective dates, options                            */
/* ======================================================================= */

/* Evaluate json under xml in a decision that last approved something, so
 * a failure cannot leave a stale APPROVE behind. */
static int eval_after_approve(const char *xml, const char *json,
                              const miaopi_eval_options *opts,
                              miaopi_error *err, miaopi_outcome *outcome)
{
    miaopi_ruleset *combo = tu_ruleset(combo_xml);
    miaopi_ruleset *rs = tu_ruleset(xml);
    char *okjson = combo_case("true", "true", "true", "false");
    miaopi_case *ok = tu_case_json(okjson);
    miaopi_case *c = tu_case_json(json);
    miaopi_decision *d = NULL;
    ck_assert_int_eq(miaopi_decision_new(&d), MIAOPI_OK);
    ck_assert_int_eq(miaopi_evaluate(d, combo, ok, NULL, NULL), MIAOPI_OK);
    ck_assert_int_eq(miaopi_decision_outcome(d), MIAOPI_APPROVE);
    int rc = miaopi_evaluate(d, rs, c, opts, err);
    *outcome = miaopi_decision_outcome(d);
    if (rc != MIAOPI_OK) {
        /* Nothing of the earlier decision is visible. */
        char *s = NULL;
        ck_assert_int_eq(miaopi_decision_to_json(&s, d, NULL, 0),
                         MIAOPI_EINVAL);
        ck_assert_uint_eq(miaopi_decision_rule_count(d), 0);
        ck_assert_uint_eq(miaopi_decision_reason_count(d), 0);
    }
    miaopi_decision_free(d);
    miaopi_case_free(c);
    miaopi_case_free(ok);
    free(okjson);
    miaopi_ruleset_unref(rs);
    miaopi_ruleset_unref(combo);
    return rc;
}

START_TEST(test_api_eval__missing_decision_date)
{
    miaopi_error err;
    miaopi_outcome o;
    const char *json = "{\"application\": {\"a\": true, \"b\": true, "
                       "\"c\": true}}";
    ck_assert_int_eq(eval_after_approve(combo_xml, json, NULL, &err, &o),
                     MIAOPI_ECASE);
    ck_assert_int_eq(o, MIAOPI_ESCALATE);
    ck_assert_int_eq(err.code, MIAOPI_ECASE);
    ck_assert_ptr_nonnull(strstr(err.message, "decision_date"));
    static const char *const bad_dates[] = {
        "\"2024-02-30\"", "\"2024/05/01\"", "20240501", "null", "\"\""};
    for (size_t i = 0; i < sizeof(bad_dates) / sizeof(bad_dates[0]); i++) {
        char *j = tu_printf("{\"application\": {\"a\": true, \"b\": true, "
                            "\"c\": true}, \"context\": "
                            "{\"decision_date\": %s}}",
                            bad_dates[i]);
        ck_assert_msg(eval_after_approve(combo_xml, j, NULL, &err, &o) ==
                          MIAOPI_ECASE,
                      "decision_date %s accepted", bad_dates[i]);
        ck_assert_int_eq(o, MIAOPI_ESCALATE);
        free(j);
    }
}
END_TEST

static char *msg_case_on(const char *date)
{
    return tu_printf("{\"application\": {\"id_number\": \"" MSG_ID "\", "
                     "\"age\": 30}, \"sources\": {\"xuexin\": "
                     "{\"degree\": \"本科\"}}, \"context\": "
                     "{\"decision_date\": \"%s\"}}",
                     date);
}

START_TEST(test_api_eval__effective_dates)
{
    miaopi_error err;
    miaopi_outcome o;
    static const struct {
        const char *date;
        int rc;
    } cases[] = {
        {"2023-12-31", MIAOPI_ENOTINFORCE},
        {"2024-01-01", MIAOPI_OK},
        {"2024-12-31", MIAOPI_OK},
        {"2025-01-01", MIAOPI_ENOTINFORCE}, /* effective-until is exclusive */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *j = msg_case_on(cases[i].date);
        int rc = eval_after_approve(msg_xml, j, NULL, &err, &o);
        ck_assert_msg(rc == cases[i].rc, "%s: rc %d", cases[i].date, rc);
        ck_assert_int_eq(o, rc == MIAOPI_OK ? MIAOPI_APPROVE
                                            : MIAOPI_ESCALATE);
        if (rc != MIAOPI_OK) {
            ck_assert_int_eq(err.code, MIAOPI_ENOTINFORCE);
            ck_assert_ptr_nonnull(strstr(err.message, cases[i].date));
        }
        free(j);
    }
}
END_TEST

START_TEST(test_api_eval__ignore_effective_dates)
{
    miaopi_error err;
    miaopi_outcome o;
    miaopi_eval_options opts = MIAOPI_EVAL_OPTIONS_INIT;
    opts.ignore_effective_dates = 1;
    char *j = msg_case_on("2030-06-01");
    ck_assert_int_eq(eval_after_approve(msg_xml, j, &opts, &err, &o),
                     MIAOPI_OK);
    ck_assert_int_eq(o, MIAOPI_APPROVE);
    opts.ignore_effective_dates = 0;
    ck_assert_int_eq(eval_after_approve(msg_xml, j, &opts, &err, &o),
                     MIAOPI_ENOTINFORCE);
    free(j);
}
END_TEST

START_TEST(test_api_eval__required_field_missing)
{
    miaopi_error err;
    miaopi_outcome o;
    const char *json = "{\"application\": {\"age\": 30}, \"sources\": "
                       "{\"xuexin\": {\"degree\": \"本科\"}}, \"context\": "
                       "{\"decision_date\": \"2024-05-01\"}}";
    ck_assert_int_eq(eval_after_approve(msg_xml, json, NULL, &err, &o),
                     MIAOPI_ECASE);
    ck_assert_int_eq(o, MIAOPI_ESCALATE);
    ck_assert_ptr_nonnull(strstr(err.message, "id_number"));
    const char *json2 = "{\"application\": {\"id_number\": null}, "
                        "\"context\": {\"decision_date\": \"2024-05-01\"}}";
    ck_assert_int_eq(eval_after_approve(msg_xml, json2, NULL, &err, &o),
                     MIAOPI_ECASE);
    /* No application object at all. */
    const char *json3 = "{\"context\": {\"decision_date\": \"2024-05-01\"}}";
    ck_assert_int_eq(eval_after_approve(msg_xml, json3, NULL, &err, &o),
                     MIAOPI_ECASE);
    ck_assert_int_eq(o, MIAOPI_ESCALATE);
}
END_TEST

START_TEST(test_api_eval__required_context_field_missing)
{
    const char *xml =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<ruleset xmlns=\"urn:miaopi:rules:1\" id=\"ctx\" version=\"1\" "
        "effective-from=\"2024-01-01\">\n"
        "  <title>c</title>\n"
        "  <context>\n"
        "    <field name=\"channel\" type=\"string\" required=\"true\"/>\n"
        "  </context>\n"
        "  <rules>\n"
        "    <rule id=\"r\" on-fail=\"reject\" code=\"R\">\n"
        "      <title>R</title><basis>B</basis>\n"
        "      <require>context.channel == \"web\"</require>"
        "<message>M</message>\n"
        "    </rule>\n"
        "  </rules>\n"
        "</ruleset>\n";
    miaopi_error err;
    miaopi_outcome o;
    ck_assert_int_eq(eval_after_approve(xml, "{\"context\": {\"decision_date"
                                             "\": \"2024-05-01\"}}",
                                        NULL, &err, &o),
                     MIAOPI_ECASE);
    ck_assert_ptr_nonnull(strstr(err.message, "channel"));
    ck_assert_int_eq(eval_after_approve(xml, "{\"context\": {\"decision_date"
                                             "\": \"2024-05-01\", "
                                             "\"channel\": \"web\"}}",
                                        NULL, &err, &o),
                     MIAOPI_OK);
    ck_assert_int_eq(o, MIAOPI_APPROVE);
}
END_TEST

/* ======================================================================= */
/* determinism                                                             */
/* ======================================================================= */

static char *eval_to_json(miaopi_decision *d, const miaopi_ruleset *rs,
                          const char *json)
{
    miaopi_case *c = tu_case_json(json);
    ck_assert_int_eq(miaopi_evaluate(d, rs, c, NULL, NULL), MIAOPI_OK);
    miaopi_case_free(c);
    char *zh = tu_decision_json(d, "zh-CN");
    char *en = tu_decision_json(d, "en");
    char *s = tu_printf("%s\n%s", zh, en);
    miaopi_free(zh);
    miaopi_free(en);
    return s;
}

START_TEST(test_api_determinism__same_input_same_json)
{
    miaopi_ruleset *rs = tu_ruleset(msg_xml);
    miaopi_decision *d1 = NULL, *d2 = NULL;
    ck_assert_int_eq(miaopi_decision_new(&d1), MIAOPI_OK);
    ck_assert_int_eq(miaopi_decision_new(&d2), MIAOPI_OK);
    char *a = eval_to_json(d1, rs, msg_case_json);
    char *b = eval_to_json(d1, rs, msg_case_json);
    char *c = eval_to_json(d2, rs, msg_case_json);
    ck_assert_str_eq(a, b);
    ck_assert_str_eq(a, c);
    /* A second load of the same bytes is the same ruleset. */
    miaopi_ruleset *rs2 = tu_ruleset(msg_xml);
    char *e = eval_to_json(d2, rs2, msg_case_json);
    ck_assert_str_eq(a, e);
    free(a);
    free(b);
    free(c);
    free(e);
    miaopi_decision_free(d1);
    miaopi_decision_free(d2);
    miaopi_ruleset_unref(rs);
    miaopi_ruleset_unref(rs2);
}
END_TEST

START_TEST(test_api_determinism__reused_decision)
{
    miaopi_ruleset *rs = tu_ruleset(msg_xml);
    miaopi_ruleset *combo = tu_ruleset(combo_xml);
    char *case_b = msg_case(", \"name\": \"李四\", \"age\": 30",
                            "{\"degree\": \"硕士\"}");
    char *case_c = combo_case("true", "false", "null", "true");
    miaopi_decision *d = NULL, *fresh = NULL;
    ck_assert_int_eq(miaopi_decision_new(&d), MIAOPI_OK);
    char *a1 = eval_to_json(d, rs, msg_case_json);
    char *b1 = eval_to_json(d, rs, case_b);
    char *c1 = eval_to_json(d, combo, case_c);
    char *a2 = eval_to_json(d, rs, msg_case_json);
    char *b2 = eval_to_json(d, rs, case_b);
    ck_assert_str_eq(a1, a2);
    ck_assert_str_eq(b1, b2);
    ck_assert_str_ne(a1, b1);
    /* A fresh decision agrees with the reused one. */
    ck_assert_int_eq(miaopi_decision_new(&fresh), MIAOPI_OK);
    char *b3 = eval_to_json(fresh, rs, case_b);
    char *c3 = eval_to_json(fresh, combo, case_c);
    ck_assert_str_eq(b1, b3);
    ck_assert_str_eq(c1, c3);
    char *all[] = {a1, b1, c1, a2, b2, b3, c3};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        free(all[i]);
    free(case_b);
    free(case_c);
    miaopi_decision_free(d);
    miaopi_decision_free(fresh);
    miaopi_ruleset_unref(rs);
    miaopi_ruleset_unref(combo);
}
END_TEST

/* ======================================================================= */
/* threads: one shared ruleset, one decision per thread                   */
/* ======================================================================= */

#define NTHREADS 4
#define NCASES 4
#define ROUNDS 200

typedef struct thread_job {
    const miaopi_ruleset *rs;
    miaopi_case *const *cases;
    char *const *expected;
    int mismatches;
    int errors;
} thread_job;

static void *thread_main(void *arg)
{
    thread_job *job = arg;
    miaopi_decision *d = NULL;
    if (miaopi_decision_new(&d) != MIAOPI_OK) {
        job->errors++;
        return NULL;
    }
    for (int round = 0; round < ROUNDS; round++) {
        for (int i = 0; i < NCASES; i++) {
            /* Each thread walks the cases in its own order. */
            int k = (i + round) % NCASES;
            if (miaopi_evaluate(d, job->rs, job->cases[k], NULL, NULL) !=
                MIAOPI_OK) {
                job->errors++;
                continue;
            }
            char *s = NULL;
            if (miaopi_decision_to_json(&s, d, "zh-CN",
                                        MIAOPI_JSON_REASONS) != MIAOPI_OK) {
                job->errors++;
                continue;
            }
            if (strcmp(s, job->expected[k]) != 0)
                job->mismatches++;
            miaopi_free(s);
        }
    }
    miaopi_decision_free(d);
    return NULL;
}

START_TEST(test_api_threads__shared_ruleset)
{
    miaopi_ruleset *rs = tu_ruleset(msg_xml);
    char *jsons[NCASES] = {
        (char *)msg_case_json,
        msg_case(", \"age\": 30", "{\"degree\": \"本科\"}"),
        msg_case(", \"age\": 30", "null"),
        msg_case(", \"name\": \"欧阳娜娜\", \"age\": 50", "{\"degree\": "
                                                      "\"大专\"}"),
    };
    miaopi_case *cases[NCASES];
    char *expected[NCASES];
    miaopi_decision *d = NULL;
    ck_assert_int_eq(miaopi_decision_new(&d), MIAOPI_OK);
    for (int i = 0; i < NCASES; i++) {
        cases[i] = tu_case_json(jsons[i]);
        ck_assert_int_eq(miaopi_evaluate(d, rs, cases[i], NULL, NULL),
                         MIAOPI_OK);
        expected[i] = tu_decision_json(d, "zh-CN");
    }
    miaopi_decision_free(d);
    /* The four cases decide four different ways. */
    ck_assert_ptr_nonnull(strstr(expected[0], "\"REJECT\""));
    ck_assert_ptr_nonnull(strstr(expected[1], "\"APPROVE\""));
    ck_assert_ptr_nonnull(strstr(expected[2], "\"ESCALATE\""));
    ck_assert_ptr_nonnull(strstr(expected[3], "欧***"));

    pthread_t th[NTHREADS];
    thread_job jobs[NTHREADS];
    for (int t = 0; t < NTHREADS; t++) {
        jobs[t] = (thread_job){rs, cases, expected, 0, 0};
        ck_assert_int_eq(pthread_create(&th[t], NULL, thread_main, &jobs[t]),
                         0);
    }
    for (int t = 0; t < NTHREADS; t++) {
        ck_assert_int_eq(pthread_join(th[t], NULL), 0);
        ck_assert_int_eq(jobs[t].errors, 0);
        ck_assert_int_eq(jobs[t].mismatches, 0);
    }
    for (int i = 0; i < NCASES; i++) {
        miaopi_case_free(cases[i]);
        miaopi_free(expected[i]);
        if (i > 0)
            free(jsons[i]);
    }
    miaopi_ruleset_unref(rs);
}
END_TEST

static void *ref_main(void *arg)
{
    miaopi_ruleset *rs = arg;
    for (int i = 0; i < 10000; i++)
        miaopi_ruleset_unref(miaopi_ruleset_ref(rs));
    return NULL;
}

START_TEST(test_api_threads__ref_unref_concurrently)
{
    miaopi_ruleset *rs = tu_ruleset(combo_xml);
    pthread_t th[NTHREADS];
    for (int t = 0; t < NTHREADS; t++)
        ck_assert_int_eq(pthread_create(&th[t], NULL, ref_main, rs), 0);
    for (int t = 0; t < NTHREADS; t++)
        ck_assert_int_eq(pthread_join(th[t], NULL), 0);
    /* Still exactly one reference: usable, then freed once. */
    ck_assert_str_eq(miaopi_ruleset_id(rs), "combo");
    miaopi_ruleset_unref(rs);
}
END_TEST

typedef struct load_job {
    int loaded;
    int failed;
    char sha[65];
} load_job;

static void *load_main(void *arg)
{
    load_job *job = arg;
    for (int i = 0; i < 20; i++) {
        miaopi_ruleset *rs = NULL;
        if (miaopi_ruleset_load_buffer(&rs, msg_xml, strlen(msg_xml), NULL,
                                       NULL, NULL) != MIAOPI_OK) {
            job->failed++;
            continue;
        }
        snprintf(job->sha, sizeof(job->sha), "%s",
                 miaopi_ruleset_sha256(rs));
        job->loaded++;
        miaopi_ruleset_unref(rs);
    }
    /* A broken file at the same time: its errors stay its own. */
    miaopi_ruleset *bad = NULL;
    miaopi_error err;
    if (miaopi_ruleset_load_buffer(&bad, "<ruleset", 8, NULL, NULL, &err) !=
        MIAOPI_ERULES)
        job->failed++;
    return NULL;
}

START_TEST(test_api_threads__concurrent_loads)
{
    pthread_t th[NTHREADS];
    load_job jobs[NTHREADS];
    memset(jobs, 0, sizeof(jobs));
    for (int t = 0; t < NTHREADS; t++)
        ck_assert_int_eq(pthread_create(&th[t], NULL, load_main, &jobs[t]),
                         0);
    char want[65];
    sha256_hex(msg_xml, strlen(msg_xml), want);
    for (int t = 0; t < NTHREADS; t++) {
        ck_assert_int_eq(pthread_join(th[t], NULL), 0);
        ck_assert_int_eq(jobs[t].failed, 0);
        ck_assert_int_eq(jobs[t].loaded, 20);
        ck_assert_str_eq(jobs[t].sha, want);
    }
}
END_TEST

/* ======================================================================= */

static Suite *api_suite(void)
{
    Suite *s = suite_create("api");
    TCase *tc;

    tc = tcase_create("combine");
    tcase_add_test(tc, test_api_combine__all_pass_approves);
    tcase_add_test(tc, test_api_combine__reject_beats_escalate);
    tcase_add_test(tc, test_api_combine__escalate_beats_approve);
    tcase_add_test(tc, test_api_combine__on_unknown_reject);
    tcase_add_test(tc, test_api_combine__rule_statuses_and_effects);
    tcase_add_test(tc, test_api_combine__none_applicable_escalates);
    tcase_add_test(tc, test_api_combine__one_applicable_pass_approves);
    suite_add_tcase(s, tc);

    tc = tcase_create("accessors");
    tcase_add_test(tc, test_api_accessors__out_of_range);
    tcase_add_test(tc, test_api_accessors__struct_size_checked);
    tcase_add_test(tc, test_api_accessors__rule_info);
    tcase_add_test(tc, test_api_accessors__names);
    suite_add_tcase(s, tc);

    tc = tcase_create("messages");
    tcase_add_test(tc, test_api_messages__placeholders_and_masking);
    tcase_add_test(tc, test_api_messages__default_language_and_fallback);
    tcase_add_test(tc, test_api_messages__missing_placeholder_value);
    tcase_add_test(tc, test_api_messages__unknown_mentions_source);
    tcase_add_test(tc, test_api_messages__unknown_mentions_missing_field);
    suite_add_tcase(s, tc);

    tc = tcase_create("json");
    tcase_add_test(tc, test_api_json__shape);
    tcase_add_test(tc, test_api_json__flags);
    tcase_add_test(tc, test_api_json__before_evaluation);
    suite_add_tcase(s, tc);

    tc = tcase_create("ruleset");
    tcase_add_test(tc, test_api_ruleset__accessors);
    tcase_add_test(tc, test_api_ruleset__title_language_fallback);
    tcase_add_test(tc, test_api_ruleset__sha256_of_bytes);
    tcase_add_test(tc, test_api_ruleset__load_file_same_as_buffer);
    tcase_add_test(tc, test_api_ruleset__ref_unref);
    suite_add_tcase(s, tc);

    tc = tcase_create("args");
    tcase_add_test(tc, test_api_args__free_functions_accept_null);
    tcase_add_test(tc, test_api_args__einval_on_null);
    tcase_add_test(tc, test_api_args__bad_case_paths);
    suite_add_tcase(s, tc);

    tc = tcase_create("case");
    tcase_add_test(tc, test_api_case__built_equals_json);
    tcase_add_test(tc, test_api_case__set_bool_and_overwrite);
    tcase_add_test(tc, test_api_case__invalid_json_position);
    tcase_add_test(tc, test_api_case__wrong_shapes);
    tcase_add_test(tc, test_api_case__duplicate_keys);
    tcase_add_test(tc, test_api_case__nesting_limit);
    tcase_add_test(tc, test_api_case__load_file);
    suite_add_tcase(s, tc);

    tc = tcase_create("eval");
    tcase_add_test(tc, test_api_eval__missing_decision_date);
    tcase_add_test(tc, test_api_eval__effective_dates);
    tcase_add_test(tc, test_api_eval__ignore_effective_dates);
    tcase_add_test(tc, test_api_eval__required_field_missing);
    tcase_add_test(tc, test_api_eval__required_context_field_missing);
    suite_add_tcase(s, tc);

    tc = tcase_create("determinism");
    tcase_add_test(tc, test_api_determinism__same_input_same_json);
    tcase_add_test(tc, test_api_determinism__reused_decision);
    suite_add_tcase(s, tc);

    tc = tcase_create("threads");
    tcase_set_timeout(tc, 60); /* slow under sanitizers */
    tcase_add_test(tc, test_api_threads__shared_ruleset);
    tcase_add_test(tc, test_api_threads__ref_unref_concurrently);
    tcase_add_test(tc, test_api_threads__concurrent_loads);
    suite_add_tcase(s, tc);

    return s;
}

int main(void)
{
    return tu_main(api_suite());
}
