/*
 * Government data: resolvers (lazy, once, not found, unavailable,
 * deadline), provenance and freshness, inputs for replay, pre-fill,
 * verify normalisation, electronic licences, the ruleset registry with
 * effective dating, transitional provisions and hot reload.
 */
#include <check.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "miaopi.h"

/* ---- helpers ---- */

static char *source_path(const char *rel)
{
    const char *root = getenv("MIAOPI_SOURCE_ROOT");
    static char buf[4096];
    snprintf(buf, sizeof(buf), "%s/%s", root ? root : ".", rel);
    return buf;
}

static miaopi_ruleset *load_rules(const char *rel)
{
    miaopi_ruleset *rs = NULL;
    miaopi_error err;
    int rc = miaopi_ruleset_load_file(&rs, source_path(rel), NULL, &err);
    ck_assert_msg(rc == 0, "%s: %s", rel, err.message);
    return rs;
}

static miaopi_case *make_case(const char *json)
{
    miaopi_case *c = NULL;
    miaopi_error err;
    int rc = miaopi_case_from_json(&c, json, strlen(json), &err);
    ck_assert_msg(rc == 0, "case: %s", err.message);
    return c;
}

static miaopi_rule_status status_of(const miaopi_decision *d, const char *id)
{
    for (size_t i = 0; i < miaopi_decision_rule_count(d); i++) {
        miaopi_rule_result r = MIAOPI_RULE_RESULT_INIT;
        ck_assert_int_eq(miaopi_decision_rule(&r, d, i), 0);
        if (strcmp(r.id, id) == 0)
            return r.status;
    }
    ck_abort_msg("no rule %s", id);
    return 0;
}

static const char *source_status(const miaopi_decision *d, const char *name)
{
    for (size_t i = 0; i < miaopi_decision_source_count(d); i++) {
        miaopi_source_info s = MIAOPI_SOURCE_INFO_INIT;
        ck_assert_int_eq(miaopi_decision_source(&s, d, i), 0);
        if (strcmp(s.name, name) == 0)
            return s.status;
    }
    ck_abort_msg("no source %s", name);
    return NULL;
}

static const char *reason_message(const miaopi_decision *d, const char *id,
                                  const char *lang)
{
    for (size_t i = 0; i < miaopi_decision_reason_count(d); i++) {
        miaopi_reason r = MIAOPI_REASON_INIT;
        ck_assert_int_eq(miaopi_decision_reason(&r, d, i, lang), 0);
        if (strcmp(r.rule_id, id) == 0)
            return r.message;
    }
    ck_abort_msg("no reason for %s", id);
    return NULL;
}

/* ---- a fake source service ---- */

#define HUKOU_OK                                                             \
    "{\"id_number\": \"44030519900101123X\", \"name\": \"张三\","            \
    " \"birth_date\": \"1990-01-01\", \"address\": \"深圳市福田区\","       \
    " \"city\": \"深圳市\"}"

typedef struct fake {
    int calls[3];              /* hukou, xuexin, shebao */
    int answer[3];             /* MIAOPI_FETCH_* */
    const char *record[3];
    const char *retrieved_at[3];
    char last_key[64];
    char last_deadline[64];
    int64_t last_deadline_ms;
} fake;

static int fake_index(const char *name)
{
    return strcmp(name, "hukou") == 0 ? 0 : strcmp(name, "xuexin") == 0 ? 1
                                                                        : 2;
}

static int fake_resolve(miaopi_fetch_reply *out,
                        const miaopi_fetch_request *req, void *payload)
{
    fake *f = payload;
    int i = fake_index(req->source);
    f->calls[i]++;
    snprintf(f->last_key, sizeof(f->last_key), "%s", req->key);
    snprintf(f->last_deadline, sizeof(f->last_deadline), "%s",
             req->deadline);
    f->last_deadline_ms = req->deadline_unix_ms;
    if (f->answer[i] != MIAOPI_FETCH_FOUND)
        return f->answer[i];
    if (miaopi_fetch_reply_set_json(out, f->record[i],
                                    strlen(f->record[i])) != 0)
        return MIAOPI_FETCH_UNAVAILABLE;
    miaopi_fetch_reply_set_provenance(out, "fake-service",
                                      f->retrieved_at[i], "v1");
    return MIAOPI_FETCH_FOUND;
}

static void fake_init(fake *f)
{
    memset(f, 0, sizeof(*f));
    f->record[0] = HUKOU_OK;
    f->record[1] = "{\"degree\": \"博士\"}";
    f->record[2] = "{\"months_paid\": 12}";
    f->retrieved_at[0] = "2024-05-01T08:00:00+08:00";
    f->retrieved_at[1] = "2024-05-01T08:00:00+08:00";
    f->retrieved_at[2] = "2024-05-01T08:00:00+08:00";
}

/* A decision under tests/data/verify.xml with the fake resolvers. */
typedef struct run {
    miaopi_ruleset *rs;
    miaopi_resolvers *res;
    miaopi_decision *d;
    fake f;
} run;

static void run_init(run *r)
{
    r->rs = load_rules("tests/data/verify.xml");
    ck_assert_int_eq(miaopi_resolvers_new(&r->res), 0);
    fake_init(&r->f);
    ck_assert_int_eq(miaopi_resolvers_add(r->res, "hukou", fake_resolve,
                                          &r->f), 0);
    ck_assert_int_eq(miaopi_resolvers_add(r->res, "xuexin", fake_resolve,
                                          &r->f), 0);
    ck_assert_int_eq(miaopi_resolvers_add(r->res, "shebao", fake_resolve,
                                          &r->f), 0);
    ck_assert_int_eq(miaopi_decision_new(&r->d), 0);
}

static int run_eval(run *r, const char *json)
{
    miaopi_case *c = make_case(json);
    miaopi_eval_options o = MIAOPI_EVAL_OPTIONS_INIT;
    o.resolvers = r->res;
    miaopi_error err;
    int rc = miaopi_evaluate(r->d, r->rs, c, &o, &err);
    miaopi_case_free(c);
    return rc;
}

static void run_free(run *r)
{
    miaopi_decision_free(r->d);
    miaopi_resolvers_free(r->res);
    miaopi_ruleset_unref(r->rs);
}

#define APP_MASTER                                                           \
    "{\"application\": {\"id_number\": \"44030519900101123x\","              \
    " \"name\": \"张三\", \"birth_date\": \"1990-01-01\","                  \
    " \"degree\": \"硕士\"},"                                                \
    " \"context\": {\"decision_date\": \"2024-05-01\"}}"
#define APP_DOCTOR                                                           \
    "{\"application\": {\"id_number\": \"44030519900101123X\","              \
    " \"name\": \"张三\", \"birth_date\": \"1990-01-01\","                  \
    " \"degree\": \"博士\"},"                                                \
    " \"context\": {\"decision_date\": \"2024-05-01\"}}"

/* ---- resolvers ---- */

START_TEST(test_data_resolvers__lazy_and_once)
{
    run r;
    run_init(&r);
    r.f.record[1] = "{\"degree\": \"硕士\"}";
    ck_assert_int_eq(run_eval(&r, APP_MASTER), 0);
    /* hukou feeds four checks but is fetched once; shebao is read only
     * by a rule that is not applicable to a master's degree. */
    ck_assert_int_eq(r.f.calls[0], 1);
    ck_assert_int_eq(r.f.calls[1], 1);
    ck_assert_int_eq(r.f.calls[2], 0);
    ck_assert_uint_eq(miaopi_decision_fetch_count(r.d), 2);
    ck_assert_str_eq(source_status(r.d, "shebao"), "unused");
    ck_assert_str_eq(source_status(r.d, "hukou"), "fetched");
    ck_assert_int_eq(miaopi_decision_outcome(r.d), MIAOPI_APPROVE);
    /* The key is the declared application field, as the applicant typed
     * it. */
    ck_assert_str_eq(r.f.last_key, "44030519900101123x");
    /* Once per evaluation: a second evaluation fetches again. */
    r.f.record[1] = "{\"degree\": \"博士\"}";
    ck_assert_int_eq(run_eval(&r, APP_DOCTOR), 0);
    ck_assert_int_eq(r.f.calls[0], 2);
    ck_assert_int_eq(r.f.calls[2], 1);
    ck_assert_int_eq(miaopi_decision_outcome(r.d), MIAOPI_APPROVE);
    run_free(&r);
}
END_TEST

START_TEST(test_data_resolvers__inline_wins_and_null_is_unavailable)
{
    run r;
    run_init(&r);
    ck_assert_int_eq(
        run_eval(&r, "{\"application\": {\"id_number\": "
                     "\"44030519900101123X\", \"degree\": \"博士\"},"
                     " \"sources\": {\"hukou\": " HUKOU_OK
                     ", \"shebao\": null},"
                     " \"context\": {\"decision_date\": \"2024-05-01\"}}"),
        0);
    ck_assert_int_eq(r.f.calls[0], 0);
    ck_assert_int_eq(r.f.calls[2], 0); /* null: unavailable, not fetched */
    ck_assert_str_eq(source_status(r.d, "hukou"), "inline");
    ck_assert_str_eq(source_status(r.d, "shebao"), "unavailable");
    ck_assert_int_eq(status_of(r.d, "shebao"), MIAOPI_RULE_UNKNOWN);
    ck_assert_int_eq(miaopi_decision_outcome(r.d), MIAOPI_ESCALATE);
    run_free(&r);
}
END_TEST

START_TEST(test_data_resolvers__not_found)
{
    run r;
    run_init(&r);
    r.f.answer[0] = MIAOPI_FETCH_NOT_FOUND;
    ck_assert_int_eq(run_eval(&r, APP_DOCTOR), 0);
    ck_assert_int_eq(r.f.calls[0], 1);
    ck_assert_int_eq(status_of(r.d, "city"), MIAOPI_RULE_UNKNOWN);
    ck_assert_int_eq(status_of(r.d, "verify.name"), MIAOPI_RULE_UNKNOWN);
    ck_assert_int_eq(miaopi_decision_outcome(r.d), MIAOPI_ESCALATE);
    ck_assert_str_eq(source_status(r.d, "hukou"), "not-found");
    miaopi_rule_result rr = MIAOPI_RULE_RESULT_INIT;
    miaopi_decision_rule(&rr, r.d, 0);
    ck_assert_str_eq(rr.unknown_reason,
                     "source hukou has no record for the applicant");
    char *json = NULL;
    ck_assert_int_eq(miaopi_decision_to_json(&json, r.d, "en", 0), 0);
    ck_assert_ptr_nonnull(strstr(json, "\"unavailable_sources\":[\"hukou\"]"));
    ck_assert_ptr_nonnull(strstr(json, "\"status\":\"not-found\""));
    miaopi_free(json);
    run_free(&r);
}
END_TEST

START_TEST(test_data_resolvers__unavailable)
{
    run r;
    run_init(&r);
    r.f.answer[1] = MIAOPI_FETCH_UNAVAILABLE;
    ck_assert_int_eq(run_eval(&r, APP_DOCTOR), 0);
    ck_assert_int_eq(status_of(r.d, "verify.degree"), MIAOPI_RULE_UNKNOWN);
    ck_assert_int_eq(status_of(r.d, "city"), MIAOPI_RULE_PASS);
    ck_assert_int_eq(miaopi_decision_outcome(r.d), MIAOPI_ESCALATE);
    ck_assert_str_eq(source_status(r.d, "xuexin"), "unavailable");
    /* A record that is not a JSON object is unavailable too. */
    r.f.answer[1] = MIAOPI_FETCH_FOUND;
    r.f.record[1] = "[1, 2]";
    ck_assert_int_eq(run_eval(&r, APP_DOCTOR), 0);
    ck_assert_str_eq(source_status(r.d, "xuexin"), "unavailable");
    ck_assert_int_eq(miaopi_decision_outcome(r.d), MIAOPI_ESCALATE);
    /* No resolver and nothing inline: unavailable, never a pass. */
    miaopi_decision *d;
    ck_assert_int_eq(miaopi_decision_new(&d), 0);
    miaopi_case *c = make_case(APP_DOCTOR);
    ck_assert_int_eq(miaopi_evaluate(d, r.rs, c, NULL, NULL), 0);
    ck_assert_int_eq(miaopi_decision_outcome(d), MIAOPI_ESCALATE);
    ck_assert_str_eq(source_status(d, "hukou"), "unavailable");
    miaopi_case_free(c);
    miaopi_decision_free(d);
    run_free(&r);
}
END_TEST

START_TEST(test_data_resolvers__old_options_size)
{
    /* A caller built before resolvers existed passes the 0.1 size; its
     * ignore_effective_dates must still count. */
    miaopi_ruleset *rs = load_rules("tests/data/verify.xml");
    miaopi_case *c = make_case("{\"application\": {\"id_number\": "
                               "\"44030519900101123X\"}, \"context\": "
                               "{\"decision_date\": \"2023-05-01\"}}");
    miaopi_decision *d;
    ck_assert_int_eq(miaopi_decision_new(&d), 0);
    miaopi_eval_options o = MIAOPI_EVAL_OPTIONS_INIT;
    ck_assert_int_eq(miaopi_evaluate(d, rs, c, &o, NULL),
                     MIAOPI_ENOTINFORCE);
    o.ignore_effective_dates = 1;
    o.size = sizeof(size_t) + sizeof(int);
    ck_assert_int_eq(miaopi_evaluate(d, rs, c, &o, NULL), 0);
    miaopi_decision_free(d);
    miaopi_case_free(c);
    miaopi_ruleset_unref(rs);
}
END_TEST

START_TEST(test_data_resolvers__deadline_passed)
{
    run r;
    run_init(&r);
    ck_assert_int_eq(
        run_eval(&r, "{\"application\": {\"id_number\": "
                     "\"44030519900101123X\", \"degree\": \"硕士\"},"
                     " \"context\": {\"decision_date\": \"2024-05-01\","
                     " \"deadline\": \"2024-05-01T09:30:00.250+08:00\"}}"),
        0);
    ck_assert_str_eq(r.f.last_deadline, "2024-05-01T09:30:00.250+08:00");
    /* 2024-05-01T01:30:00.250Z */
    ck_assert(r.f.last_deadline_ms == 1714527000250LL);
    ck_assert_int_eq(run_eval(&r, APP_MASTER), 0);
    ck_assert_str_eq(r.f.last_deadline, "");
    ck_assert(r.f.last_deadline_ms == 0);
    run_free(&r);
}
END_TEST

START_TEST(test_data_resolvers__stale)
{
    run r;
    run_init(&r);
    /* max-age 24h; the decision date alone means its last instant
     * (2024-05-01T24:00+08:00): 2024-04-30T23:59+08:00 is 24h01m old. */
    r.f.retrieved_at[2] = "2024-04-30T23:59:00+08:00";
    ck_assert_int_eq(run_eval(&r, APP_DOCTOR), 0);
    ck_assert_str_eq(source_status(r.d, "shebao"), "stale");
    ck_assert_int_eq(status_of(r.d, "shebao"), MIAOPI_RULE_UNKNOWN);
    ck_assert_int_eq(miaopi_decision_outcome(r.d), MIAOPI_ESCALATE);
    r.f.retrieved_at[2] = "2024-05-01T00:00:00+08:00"; /* exactly 24h */
    ck_assert_int_eq(run_eval(&r, APP_DOCTOR), 0);
    ck_assert_str_eq(source_status(r.d, "shebao"), "fetched");
    ck_assert_int_eq(miaopi_decision_outcome(r.d), MIAOPI_APPROVE);
    /* context.decision_time moves the reference instant. */
    r.f.retrieved_at[2] = "2024-04-30T09:00:00Z";
    ck_assert_int_eq(
        run_eval(&r, "{\"application\": {\"id_number\": "
                     "\"44030519900101123X\", \"degree\": \"博士\"},"
                     " \"context\": {\"decision_date\": \"2024-05-01\","
                     " \"decision_time\": \"2024-05-01T08:00:00Z\"}}"),
        0);
    ck_assert_str_eq(source_status(r.d, "shebao"), "fetched");
    /* A decision time without an offset is ambiguous: refused. */
    ck_assert_int_eq(
        run_eval(&r, "{\"application\": {\"id_number\": "
                     "\"44030519900101123X\", \"degree\": \"博士\"},"
                     " \"context\": {\"decision_date\": \"2024-05-01\","
                     " \"decision_time\": \"2024-05-01T08:00:00\"}}"),
        MIAOPI_ECASE);
    ck_assert_int_ne(miaopi_decision_outcome(r.d), MIAOPI_APPROVE);
    /* No retrieval time on a source with max-age: stale. */
    r.f.retrieved_at[2] = NULL;
    ck_assert_int_eq(run_eval(&r, APP_DOCTOR), 0);
    ck_assert_str_eq(source_status(r.d, "shebao"), "stale");
    ck_assert_int_eq(miaopi_decision_outcome(r.d), MIAOPI_ESCALATE);
    run_free(&r);
}
END_TEST

START_TEST(test_data_resolvers__inputs_replay)
{
    run r;
    run_init(&r);
    r.f.answer[1] = MIAOPI_FETCH_NOT_FOUND;
    miaopi_case *c = make_case(APP_DOCTOR);
    miaopi_eval_options o = MIAOPI_EVAL_OPTIONS_INIT;
    o.resolvers = r.res;
    ck_assert_int_eq(miaopi_evaluate(r.d, r.rs, c, &o, NULL), 0);
    char *inputs = NULL, *first = NULL, *second = NULL;
    ck_assert_int_eq(miaopi_decision_inputs_json(&inputs, r.d, c), 0);
    ck_assert_ptr_nonnull(strstr(inputs, "\"xuexin\":null"));
    ck_assert_ptr_nonnull(strstr(inputs, "\"retrieved_at\":"));
    ck_assert_ptr_nonnull(strstr(inputs, "\"months_paid\":12"));
    char *fetched = NULL;
    ck_assert_int_eq(miaopi_decision_fetched_json(&fetched, r.d), 0);
    ck_assert_ptr_nonnull(strstr(fetched, "\"xuexin\":null"));
    ck_assert_ptr_nonnull(strstr(fetched, "\"hukou\":{"));
    miaopi_free(fetched);
    ck_assert_int_eq(miaopi_decision_to_json(&first, r.d, "en", 0), 0);
    /* Replay: the inputs alone, no resolvers, give the same decision. */
    miaopi_case *replay = make_case(inputs);
    miaopi_decision *d2;
    ck_assert_int_eq(miaopi_decision_new(&d2), 0);
    ck_assert_int_eq(miaopi_evaluate(d2, r.rs, replay, NULL, NULL), 0);
    ck_assert_int_eq(miaopi_decision_outcome(d2),
                     miaopi_decision_outcome(r.d));
    for (size_t i = 0; i < miaopi_decision_rule_count(d2); i++) {
        miaopi_rule_result a = MIAOPI_RULE_RESULT_INIT;
        miaopi_rule_result b = MIAOPI_RULE_RESULT_INIT;
        miaopi_decision_rule(&a, r.d, i);
        miaopi_decision_rule(&b, d2, i);
        ck_assert_int_eq(a.status, b.status);
    }
    ck_assert_int_eq(miaopi_decision_to_json(&second, d2, "en", 0), 0);
    ck_assert_ptr_nonnull(strstr(second, "\"status\":\"inline\""));
    miaopi_free(inputs);
    miaopi_free(first);
    miaopi_free(second);
    miaopi_decision_free(d2);
    miaopi_case_free(replay);
    miaopi_case_free(c);
    run_free(&r);
}
END_TEST

/* ---- pre-fill ---- */

START_TEST(test_data_prefill__output)
{
    run r;
    run_init(&r);
    miaopi_case *c = make_case(
        "{\"application\": {\"id_number\": \"44030519900101123X\"},"
        " \"context\": {\"decision_date\": \"2024-05-01\"}}");
    miaopi_eval_options o = MIAOPI_EVAL_OPTIONS_INIT;
    o.resolvers = r.res;
    char *out = NULL;
    miaopi_error err;
    ck_assert_int_eq(miaopi_prefill(&out, r.rs, c, &o, &err), 0);
    ck_assert_str_eq(
        out,
        "{\"application\":{\"address\":\"深圳市福田区\",\"birth_date\":"
        "\"1990-01-01\",\"id_number\":\"44030519900101123X\",\"name\":"
        "\"张三\"},\"fields\":[{\"field\":\"name\",\"from\":\"hukou.name\","
        "\"status\":\"filled\"},{\"field\":\"birth_date\",\"from\":"
        "\"hukou.birth_date\",\"status\":\"filled\"},{\"field\":"
        "\"address\",\"from\":\"hukou.address\",\"status\":\"filled\"}],"
        "\"sources\":[{\"name\":\"hukou\",\"provenance\":{\"origin\":"
        "\"fake-service\",\"retrieved_at\":\"2024-05-01T08:00:00+08:00\","
        "\"version\":\"v1\"},\"status\":\"fetched\"},{\"name\":\"xuexin\","
        "\"status\":\"unused\"},{\"name\":\"shebao\",\"status\":"
        "\"unused\"}]}");
    ck_assert_int_eq(r.f.calls[0], 1);
    miaopi_free(out);
    /* Not found: nothing is filled, and the form says why. */
    r.f.answer[0] = MIAOPI_FETCH_NOT_FOUND;
    ck_assert_int_eq(miaopi_prefill(&out, r.rs, c, &o, &err), 0);
    ck_assert_ptr_nonnull(strstr(out, "\"application\":{\"id_number\":"
                                      "\"44030519900101123X\"}"));
    ck_assert_ptr_nonnull(strstr(out, "\"status\":\"not-found\""));
    miaopi_free(out);
    miaopi_case_free(c);
    run_free(&r);
}
END_TEST

/* ---- verify ---- */

static void verify_case(const char *app_json, const char *hukou_json,
                        const char *rule, miaopi_rule_status want,
                        const char *want_msg)
{
    miaopi_ruleset *rs = load_rules("tests/data/verify.xml");
    char buf[2048];
    snprintf(buf, sizeof(buf),
             "{\"application\": %s, \"sources\": {\"hukou\": %s,"
             " \"xuexin\": {\"degree\": \"硕士\"}},"
             " \"context\": {\"decision_date\": \"2024-05-01\"}}",
             app_json, hukou_json);
    miaopi_case *c = make_case(buf);
    miaopi_decision *d;
    ck_assert_int_eq(miaopi_decision_new(&d), 0);
    ck_assert_int_eq(miaopi_evaluate(d, rs, c, NULL, NULL), 0);
    ck_assert_int_eq(status_of(d, rule), want);
    if (want_msg)
        ck_assert_str_eq(reason_message(d, rule, "en"), want_msg);
    if (want == MIAOPI_RULE_FAIL)
        ck_assert_int_ne(miaopi_decision_outcome(d), MIAOPI_APPROVE);
    miaopi_decision_free(d);
    miaopi_case_free(c);
    miaopi_ruleset_unref(rs);
}

#define HUKOU_ZS                                                             \
    "{\"id_number\": \"44030519900101123X\", \"name\": \"欧阳·娜娜\","      \
    " \"birth_date\": \"1990-01-01\", \"city\": \"深圳市\"}"

START_TEST(test_data_verify__name)
{
    /* Full-width letters, spaces (incl. U+3000) and middle-dot variants
     * are normalised; a different name is a mismatch. */
    verify_case("{\"id_number\": \"44030519900101123X\","
                " \"name\": \"欧阳　•娜娜 \", \"degree\": \"硕士\"}",
                HUKOU_ZS, "verify.name", MIAOPI_RULE_PASS, NULL);
    verify_case("{\"id_number\": \"44030519900101123X\","
                " \"name\": \"欧阳・娜娜\", \"degree\": \"硕士\"}",
                HUKOU_ZS, "verify.name", MIAOPI_RULE_PASS, NULL);
    verify_case("{\"id_number\": \"44030519900101123X\","
                " \"name\": \"欧阳娜\", \"degree\": \"硕士\"}",
                HUKOU_ZS, "verify.name", MIAOPI_RULE_FAIL,
                "The declared name (欧**) does not match hukou.name (欧****); "
                "the application is not approved.");
}
END_TEST

START_TEST(test_data_verify__id_number)
{
    verify_case("{\"id_number\": \"44030519900101123x\", \"degree\": "
                "\"硕士\"}",
                HUKOU_ZS, "verify.id_number", MIAOPI_RULE_PASS, NULL);
    verify_case("{\"id_number\": \" 44030519900101123X\", \"degree\": "
                "\"硕士\"}",
                HUKOU_ZS, "verify.id_number", MIAOPI_RULE_PASS, NULL);
    verify_case("{\"id_number\": \"440305199001011220\", \"degree\": "
                "\"硕士\"}",
                HUKOU_ZS, "verify.id_number", MIAOPI_RULE_FAIL,
                "The declared id_number (4403**********1220) does not "
                "match hukou.id_number (4403**********123X); referred for "
                "manual review.");
}
END_TEST

START_TEST(test_data_verify__date)
{
    verify_case("{\"id_number\": \"44030519900101123X\", \"birth_date\": "
                "\"1990-01-01\", \"degree\": \"硕士\"}",
                HUKOU_ZS, "verify.birth_date", MIAOPI_RULE_PASS, NULL);
    verify_case("{\"id_number\": \"44030519900101123X\", \"birth_date\": "
                "\"1990-01-02\", \"degree\": \"硕士\"}",
                HUKOU_ZS, "verify.birth_date", MIAOPI_RULE_FAIL,
                "The declared birth_date (1990-01-02) does not match "
                "hukou.birth_date (1990-01-01); referred for manual "
                "review.");
    /* Not a calendar date: UNKNOWN, not a mismatch and not a pass. */
    verify_case("{\"id_number\": \"44030519900101123X\", \"birth_date\": "
                "\"1990-02-30\", \"degree\": \"硕士\"}",
                HUKOU_ZS, "verify.birth_date", MIAOPI_RULE_UNKNOWN, NULL);
    /* Not submitted: nothing to verify. */
    verify_case("{\"id_number\": \"44030519900101123X\", \"degree\": "
                "\"硕士\"}",
                HUKOU_ZS, "verify.birth_date", MIAOPI_RULE_NOT_APPLICABLE,
                NULL);
}
END_TEST

START_TEST(test_data_verify__zh_message_names_field_and_source)
{
    miaopi_ruleset *rs = load_rules("tests/data/verify.xml");
    miaopi_case *c = make_case(
        "{\"application\": {\"id_number\": \"44030519900101123X\","
        " \"degree\": \"本科\"}, \"sources\": {\"hukou\": " HUKOU_ZS
        ", \"xuexin\": {\"degree\": \"硕士\"}},"
        " \"context\": {\"decision_date\": \"2024-05-01\"}}");
    miaopi_decision *d;
    ck_assert_int_eq(miaopi_decision_new(&d), 0);
    ck_assert_int_eq(miaopi_evaluate(d, rs, c, NULL, NULL), 0);
    ck_assert_str_eq(reason_message(d, "verify.degree", "zh-CN"),
                     "申报的“学历”（本科）与学信网登记的信息（硕士）不一致，"
                     "转人工核验。");
    miaopi_reason r = MIAOPI_REASON_INIT;
    ck_assert_int_eq(miaopi_decision_reason(&r, d, 0, "zh-CN"), 0);
    ck_assert_str_eq(r.code, "VERIFY_DEGREE");
    ck_assert_str_eq(r.title, "“学历”与学信网核验一致");
    miaopi_decision_free(d);
    miaopi_case_free(c);
    miaopi_ruleset_unref(rs);
}
END_TEST

START_TEST(test_data_verify__load_errors)
{
    static const char *bad[] = {
        "verify=\"hukou.nope\"", "prefill=\"nosuch.name\"",
        "verify=\"hukou.age\"", /* integer vs string */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char buf[2048];
        snprintf(buf, sizeof(buf),
                 "<ruleset xmlns=\"urn:miaopi:rules:1\" id=\"x\" "
                 "version=\"1\" effective-from=\"2024-01-01\">"
                 "<title>x</title><application>"
                 "<field name=\"name\" type=\"string\" %s/></application>"
                 "<sources><source name=\"hukou\">"
                 "<field name=\"name\" type=\"string\"/>"
                 "<field name=\"age\" type=\"integer\"/></source></sources>"
                 "<rules><rule id=\"r\" on-fail=\"reject\" code=\"R\">"
                 "<title>r</title><basis>b</basis><require>true</require>"
                 "<message>m</message></rule></rules></ruleset>",
                 bad[i]);
        miaopi_ruleset *rs = NULL;
        miaopi_error err;
        int rc = miaopi_ruleset_load_buffer(&rs, buf, strlen(buf), "t.xml",
                                            NULL, &err);
        ck_assert_msg(rc == MIAOPI_ERULES, "%s loaded", bad[i]);
        ck_assert_ptr_null(rs);
    }
}
END_TEST

/* ---- electronic licences ---- */

static miaopi_rule_status licence_rule(const char *until, const char *status,
                                       const char *holder,
                                       const char *require)
{
    char xml[4096], json[2048];
    snprintf(xml, sizeof(xml),
             "<ruleset xmlns=\"urn:miaopi:rules:1\" id=\"lic\" version=\"1\""
             " effective-from=\"2024-01-01\"><title>x</title>"
             "<application><field name=\"uscc\" type=\"string\"/>"
             "</application><sources><source name=\"dzzz\">"
             "<field name=\"licences\" type=\"list\" of=\"licence\"/>"
             "</source></sources><rules>"
             "<rule id=\"r\" on-fail=\"reject\" code=\"R\"><title>r</title>"
             "<basis>b</basis><require>%s</require><message>m</message>"
             "</rule></rules></ruleset>",
             require);
    miaopi_ruleset *rs = NULL;
    miaopi_error err;
    int rc = miaopi_ruleset_load_buffer(&rs, xml, strlen(xml), "lic.xml",
                                        NULL, &err);
    ck_assert_msg(rc == 0, "%s", err.message);
    snprintf(json, sizeof(json),
             "{\"application\": {\"uscc\": \"91440300MA5F12342Q\"},"
             " \"sources\": {\"dzzz\": {\"licences\": [{\"type\": \"t\","
             " \"number\": \"N1\", \"holder_id\": \"%s\","
             " \"valid_from\": \"2020-01-01\", %s%s%s \"status\": %s}]}},"
             " \"context\": {\"decision_date\": \"2024-05-01\"}}",
             holder, until ? "\"valid_until\": \"" : "", until ? until : "",
             until ? "\"," : "", status);
    miaopi_case *c = make_case(json);
    miaopi_decision *d;
    ck_assert_int_eq(miaopi_decision_new(&d), 0);
    ck_assert_int_eq(miaopi_evaluate(d, rs, c, NULL, NULL), 0);
    miaopi_rule_status st = status_of(d, "r");
    miaopi_decision_free(d);
    miaopi_case_free(c);
    miaopi_ruleset_unref(rs);
    return st;
}

#define VALID "any(l in dzzz.licences, licence_valid(l, context.decision_date))"
#define HOLDER "any(l in dzzz.licences, licence_holder(l, application.uscc))"

START_TEST(test_data_licence__validity_edges)
{
    const char *h = "91440300MA5F12342Q";
    /* valid_until is the last valid day: expiring on the decision date
     * is still valid, the day before is not. */
    ck_assert_int_eq(licence_rule("2024-05-01", "\"valid\"", h, VALID),
                     MIAOPI_RULE_PASS);
    ck_assert_int_eq(licence_rule("2024-04-30", "\"valid\"", h, VALID),
                     MIAOPI_RULE_FAIL);
    ck_assert_int_eq(licence_rule("2024-05-02", "\"有效\"", h, VALID),
                     MIAOPI_RULE_PASS);
    ck_assert_int_eq(licence_rule("2030-01-01", "\"revoked\"", h, VALID),
                     MIAOPI_RULE_FAIL);
    ck_assert_int_eq(licence_rule("2030-01-01", "\"吊销\"", h, VALID),
                     MIAOPI_RULE_FAIL);
    /* Not understood, or missing: UNKNOWN, never a pass. */
    ck_assert_int_eq(licence_rule("2030-01-01", "\"pending\"", h, VALID),
                     MIAOPI_RULE_UNKNOWN);
    ck_assert_int_eq(licence_rule("2030-01-01", "null", h, VALID),
                     MIAOPI_RULE_UNKNOWN);
    ck_assert_int_eq(licence_rule(NULL, "\"valid\"", h, VALID),
                     MIAOPI_RULE_UNKNOWN);
}
END_TEST

START_TEST(test_data_licence__holder)
{
    ck_assert_int_eq(licence_rule("2030-01-01", "\"valid\"",
                                  "91440300MA5F12342Q", HOLDER),
                     MIAOPI_RULE_PASS);
    ck_assert_int_eq(licence_rule("2030-01-01", "\"valid\"",
                                  "91440300ma5f12342q", HOLDER),
                     MIAOPI_RULE_PASS);
    ck_assert_int_eq(licence_rule("2030-01-01", "\"valid\"",
                                  "91440300MA5G00001X", HOLDER),
                     MIAOPI_RULE_FAIL);
}
END_TEST

START_TEST(test_data_licence__type_checked)
{
    const char *xml =
        "<ruleset xmlns=\"urn:miaopi:rules:1\" id=\"lic\" version=\"1\""
        " effective-from=\"2024-01-01\"><title>x</title>"
        "<application><field name=\"d\" type=\"date\"/></application>"
        "<rules><rule id=\"r\" on-fail=\"reject\" code=\"R\"><title>r"
        "</title><basis>b</basis><require>licence_valid(application.d, "
        "application.d)</require><message>m</message></rule></rules>"
        "</ruleset>";
    miaopi_ruleset *rs = NULL;
    miaopi_error err;
    ck_assert_int_eq(miaopi_ruleset_load_buffer(&rs, xml, strlen(xml), "x",
                                                NULL, &err),
                     MIAOPI_ERULES);
    ck_assert_str_eq(err.id, "MIAOPI-E015");
}
END_TEST

/* ---- registry ---- */

static void write_version(const char *dir, const char *file,
                          const char *version, const char *from,
                          const char *until, const char *extra,
                          const char *limit)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f,
            "<ruleset xmlns=\"urn:miaopi:rules:1\" id=\"grant\" "
            "version=\"%s\" effective-from=\"%s\"%s%s%s %s>"
            "<title>grant</title><application>"
            "<field name=\"age\" type=\"integer\"/></application>"
            "<context><field name=\"filing_date\" type=\"date\"/></context>"
            "<rules><rule id=\"age\" on-fail=\"reject\" code=\"AGE\">"
            "<title>age</title><basis>b</basis>"
            "<require>application.age le %s</require><message>m</message>"
            "</rule></rules></ruleset>\n",
            version, from, until ? " effective-until=\"" : "",
            until ? until : "", until ? "\"" : "", extra, limit);
    fclose(f);
}

static char *temp_dir(void)
{
    char *t = strdup("/tmp/miaopi-registry-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(t));
    return t;
}

static void remove_dir(char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    free(dir);
}

static const char *selected(miaopi_registry *reg, const char *date,
                            const char *filed, int *rc)
{
    static char version[32];
    char json[256];
    snprintf(json, sizeof(json),
             "{\"application\": {\"age\": 30}, \"context\": "
             "{\"decision_date\": \"%s\"%s%s%s}}",
             date, filed ? ", \"filing_date\": \"" : "", filed ? filed : "",
             filed ? "\"" : "");
    miaopi_case *c = make_case(json);
    miaopi_ruleset *rs = NULL;
    *rc = miaopi_registry_select(&rs, reg, NULL, c, NULL);
    snprintf(version, sizeof(version), "%s",
             rs ? miaopi_ruleset_version(rs) : "-");
    miaopi_ruleset_unref(rs);
    miaopi_case_free(c);
    return version;
}

typedef struct diag_count {
    int errors, warnings;
    char last_id[16];
} diag_count;

static void count_diag(const miaopi_diagnostic *d, void *payload)
{
    diag_count *dc = payload;
    /* The test files have titles in one language only and a field or two
     * that not every version uses: only the registry's own diagnostics
     * count here. */
    if (strcmp(d->id, "MIAOPI-E027") == 0 ||
        strcmp(d->id, "MIAOPI-E028") == 0 ||
        strcmp(d->id, "MIAOPI-E029") == 0)
        return;
    if (d->severity == MIAOPI_SEVERITY_ERROR)
        dc->errors++;
    else
        dc->warnings++;
    snprintf(dc->last_id, sizeof(dc->last_id), "%s", d->id);
}

START_TEST(test_data_registry__selection_at_boundaries)
{
    char *dir = temp_dir();
    write_version(dir, "v1.xml", "1", "2024-01-01", "2024-07-01", "", "35");
    write_version(dir, "v2.xml", "2", "2024-07-01", NULL, "", "40");
    miaopi_registry *reg = NULL;
    miaopi_error err;
    ck_assert_int_eq(miaopi_registry_load(&reg, dir, NULL, &err), 0);
    ck_assert_uint_eq(miaopi_registry_count(reg), 2);
    int rc;
    ck_assert_str_eq(selected(reg, "2024-01-01", NULL, &rc), "1");
    ck_assert_str_eq(selected(reg, "2024-06-30", NULL, &rc), "1");
    ck_assert_str_eq(selected(reg, "2024-07-01", NULL, &rc), "2");
    ck_assert_str_eq(selected(reg, "2099-12-31", NULL, &rc), "2");
    selected(reg, "2023-12-31", NULL, &rc);
    ck_assert_int_eq(rc, MIAOPI_ENOTINFORCE);
    /* Evaluation through the registry uses the selected version. */
    miaopi_case *c = make_case("{\"application\": {\"age\": 38},"
                               " \"context\": {\"decision_date\": "
                               "\"2024-06-30\"}}");
    miaopi_decision *d;
    ck_assert_int_eq(miaopi_decision_new(&d), 0);
    ck_assert_int_eq(miaopi_registry_evaluate(d, reg, "grant", c, NULL, NULL),
                     0);
    ck_assert_int_eq(miaopi_decision_outcome(d), MIAOPI_REJECT);
    ck_assert_str_eq(miaopi_ruleset_version(miaopi_decision_ruleset(d)), "1");
    ck_assert_int_eq(miaopi_registry_evaluate(d, reg, "nope", c, NULL, NULL),
                     MIAOPI_ENOTFOUND);
    ck_assert_int_eq(miaopi_decision_outcome(d), MIAOPI_ESCALATE);
    miaopi_decision_free(d);
    miaopi_case_free(c);
    miaopi_registry_free(reg);
    remove_dir(dir);
}
END_TEST

START_TEST(test_data_registry__transitional_by_filing_date)
{
    char *dir = temp_dir();
    write_version(dir, "v1.xml", "1", "2024-01-01", "2024-07-01", "", "35");
    write_version(dir, "v2.xml", "2", "2024-07-01", NULL,
                  "select-by=\"filing-date\"", "40");
    miaopi_registry *reg = NULL;
    ck_assert_int_eq(miaopi_registry_load(&reg, dir, NULL, NULL), 0);
    int rc;
    /* Filed before the change, decided after: the old criteria. */
    ck_assert_str_eq(selected(reg, "2024-07-05", "2024-06-30", &rc), "1");
    ck_assert_str_eq(selected(reg, "2024-07-05", "2024-07-01", &rc), "2");
    /* The new version needs a filing date to decide which applies. */
    selected(reg, "2024-07-05", NULL, &rc);
    ck_assert_int_eq(rc, MIAOPI_ECASE);
    /* Before the change nothing is transitional. */
    ck_assert_str_eq(selected(reg, "2024-06-01", NULL, &rc), "1");
    /* The old version decides although its range has ended. */
    miaopi_case *c = make_case("{\"application\": {\"age\": 38},"
                               " \"context\": {\"decision_date\": "
                               "\"2024-07-05\", \"filing_date\": "
                               "\"2024-06-30\"}}");
    miaopi_decision *d;
    ck_assert_int_eq(miaopi_decision_new(&d), 0);
    ck_assert_int_eq(miaopi_registry_evaluate(d, reg, NULL, c, NULL, NULL),
                     0);
    ck_assert_int_eq(miaopi_decision_outcome(d), MIAOPI_REJECT);
    miaopi_decision_free(d);
    miaopi_case_free(c);
    miaopi_registry_free(reg);
    remove_dir(dir);
}
END_TEST

START_TEST(test_data_registry__overlap_and_gap)
{
    char *dir = temp_dir();
    write_version(dir, "v1.xml", "1", "2024-01-01", "2024-07-01", "", "35");
    write_version(dir, "v2.xml", "2", "2024-06-01", NULL, "", "40");
    miaopi_load_options o = MIAOPI_LOAD_OPTIONS_INIT;
    diag_count dc = {0, 0, ""};
    o.on_diagnostic = count_diag;
    o.payload = &dc;
    miaopi_registry *reg = NULL;
    miaopi_error err;
    ck_assert_int_eq(miaopi_registry_load(&reg, dir, &o, &err),
                     MIAOPI_ERULES);
    ck_assert_ptr_null(reg);
    ck_assert_int_eq(dc.errors, 1);
    ck_assert_str_eq(dc.last_id, "MIAOPI-E060");
    ck_assert_str_eq(err.id, "MIAOPI-E060");
    /* A gap is a warning; the registry loads. */
    write_version(dir, "v2.xml", "2", "2024-08-01", NULL, "", "40");
    memset(&dc, 0, sizeof(dc));
    ck_assert_int_eq(miaopi_registry_load(&reg, dir, &o, &err), 0);
    ck_assert_int_eq(dc.errors, 0);
    ck_assert_int_eq(dc.warnings, 1);
    ck_assert_str_eq(dc.last_id, "MIAOPI-E061");
    int rc;
    selected(reg, "2024-07-15", NULL, &rc);
    ck_assert_int_eq(rc, MIAOPI_ENOTINFORCE);
    miaopi_registry_free(reg);
    remove_dir(dir);
}
END_TEST

START_TEST(test_data_registry__failed_reload_keeps_old)
{
    char *dir = temp_dir();
    write_version(dir, "v1.xml", "1", "2024-01-01", NULL, "", "35");
    miaopi_registry *reg = NULL;
    ck_assert_int_eq(miaopi_registry_load(&reg, dir, NULL, NULL), 0);
    char path[512];
    snprintf(path, sizeof(path), "%s/v1.xml", dir);
    FILE *f = fopen(path, "w");
    fputs("<ruleset", f);
    fclose(f);
    miaopi_error err;
    ck_assert_int_eq(miaopi_registry_reload(reg, &err), MIAOPI_ERULES);
    ck_assert_str_eq(err.id, "MIAOPI-E001");
    int rc;
    ck_assert_str_eq(selected(reg, "2024-05-01", NULL, &rc), "1");
    /* A decision made before a reload keeps its ruleset alive. */
    miaopi_case *c = make_case("{\"application\": {\"age\": 30},"
                               " \"context\": {\"decision_date\": "
                               "\"2024-05-01\"}}");
    miaopi_decision *d;
    ck_assert_int_eq(miaopi_decision_new(&d), 0);
    ck_assert_int_eq(miaopi_registry_evaluate(d, reg, NULL, c, NULL, NULL),
                     0);
    write_version(dir, "v1.xml", "1b", "2024-01-01", NULL, "", "35");
    ck_assert_int_eq(miaopi_registry_reload(reg, &err), 0);
    ck_assert_str_eq(selected(reg, "2024-05-01", NULL, &rc), "1b");
    ck_assert_str_eq(miaopi_ruleset_version(miaopi_decision_ruleset(d)), "1");
    char *json = NULL;
    ck_assert_int_eq(miaopi_decision_to_json(&json, d, NULL,
                                             MIAOPI_JSON_REASONS), 0);
    ck_assert_ptr_nonnull(strstr(json, "\"version\":\"1\""));
    miaopi_free(json);
    miaopi_decision_free(d);
    miaopi_case_free(c);
    miaopi_registry_free(reg);
    remove_dir(dir);
}
END_TEST

typedef struct worker {
    miaopi_registry *reg;
    volatile int *stop;
    long evaluations;
    long bad;
} worker;

static void *evaluate_loop(void *arg)
{
    worker *w = arg;
    miaopi_case *c = NULL;
    const char *json = "{\"application\": {\"age\": 38}, \"context\": "
                       "{\"decision_date\": \"2024-05-01\"}}";
    miaopi_case_from_json(&c, json, strlen(json), NULL);
    miaopi_decision *d = NULL;
    miaopi_decision_new(&d);
    while (!__atomic_load_n(w->stop, __ATOMIC_RELAXED)) {
        int rc = miaopi_registry_evaluate(d, w->reg, NULL, c, NULL, NULL);
        const char *v = rc == 0
                            ? miaopi_ruleset_version(miaopi_decision_ruleset(d))
                            : "";
        miaopi_outcome o = miaopi_decision_outcome(d);
        /* Version a rejects at 38 (limit 35), version b approves (40). */
        if (rc != 0 || (strcmp(v, "a") == 0 && o != MIAOPI_REJECT) ||
            (strcmp(v, "b") == 0 && o != MIAOPI_APPROVE))
            w->bad++;
        w->evaluations++;
    }
    miaopi_decision_free(d);
    miaopi_case_free(c);
    return NULL;
}

/* An emptied directory (a deployment half way) is refused: a reload
 * keeps serving the old set, and a first load fails with the path. */
START_TEST(test_data_registry__empty_dir_refused)
{
    char *dir = temp_dir();
    miaopi_registry *reg = NULL;
    miaopi_error err;
    ck_assert_int_eq(miaopi_registry_load(&reg, dir, NULL, &err),
                     MIAOPI_ENOTFOUND);
    ck_assert_ptr_null(reg);
    ck_assert_ptr_nonnull(strstr(err.message, "no rule files"));
    ck_assert_ptr_nonnull(strstr(err.message, dir));
    write_version(dir, "v.xml", "a", "2024-01-01", NULL, "", "35");
    ck_assert_int_eq(miaopi_registry_load(&reg, dir, NULL, &err), 0);
    char path[512];
    snprintf(path, sizeof(path), "%s/v.xml", dir);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(miaopi_registry_reload(reg, &err), MIAOPI_ENOTFOUND);
    ck_assert_uint_eq(miaopi_registry_count(reg), 1);
    miaopi_ruleset *rs = miaopi_registry_get(reg, 0);
    ck_assert_ptr_nonnull(rs);
    ck_assert_str_eq(miaopi_ruleset_version(rs), "a");
    miaopi_ruleset_unref(rs);
    miaopi_registry_free(reg);
    remove_dir(dir);
}
END_TEST

START_TEST(test_data_registry__hot_reload_two_threads)
{
    char *dir = temp_dir();
    write_version(dir, "v.xml", "a", "2024-01-01", NULL, "", "35");
    miaopi_registry *reg = NULL;
    ck_assert_int_eq(miaopi_registry_load(&reg, dir, NULL, NULL), 0);
    volatile int stop = 0;
    worker w[2] = {{reg, &stop, 0, 0}, {reg, &stop, 0, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, evaluate_loop, &w[i]),
                         0);
    for (int k = 0; k < 40; k++) {
        bool b = k % 2 == 0;
        write_version(dir, "v.xml", b ? "b" : "a", "2024-01-01", NULL, "",
                      b ? "40" : "35");
        ck_assert_int_eq(miaopi_registry_reload(reg, NULL), 0);
        if (k == 20) {
            /* A failing reload in the middle changes nothing. */
            write_version(dir, "w.xml", "x", "2024-01-01", NULL, "", "1");
            ck_assert_int_eq(miaopi_registry_reload(reg, NULL),
                             MIAOPI_ERULES);
            char path[512];
            snprintf(path, sizeof(path), "%s/w.xml", dir);
            unlink(path);
        }
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    ck_assert_int_eq(w[0].bad + w[1].bad, 0);
    ck_assert_int_gt(w[0].evaluations, 0);
    ck_assert_int_gt(w[1].evaluations, 0);
    miaopi_registry_free(reg);
    remove_dir(dir);
}
END_TEST

/* ---- suite ---- */

static Suite *data_suite(void)
{
    Suite *s = suite_create("data");
    TCase *tc = tcase_create("resolvers");
    tcase_add_test(tc, test_data_resolvers__lazy_and_once);
    tcase_add_test(tc, test_data_resolvers__inline_wins_and_null_is_unavailable);
    tcase_add_test(tc, test_data_resolvers__not_found);
    tcase_add_test(tc, test_data_resolvers__unavailable);
    tcase_add_test(tc, test_data_resolvers__deadline_passed);
    tcase_add_test(tc, test_data_resolvers__old_options_size);
    tcase_add_test(tc, test_data_resolvers__stale);
    tcase_add_test(tc, test_data_resolvers__inputs_replay);
    suite_add_tcase(s, tc);
    tc = tcase_create("prefill");
    tcase_add_test(tc, test_data_prefill__output);
    suite_add_tcase(s, tc);
    tc = tcase_create("verify");
    tcase_add_test(tc, test_data_verify__name);
    tcase_add_test(tc, test_data_verify__id_number);
    tcase_add_test(tc, test_data_verify__date);
    tcase_add_test(tc, test_data_verify__zh_message_names_field_and_source);
    tcase_add_test(tc, test_data_verify__load_errors);
    suite_add_tcase(s, tc);
    tc = tcase_create("licence");
    tcase_add_test(tc, test_data_licence__validity_edges);
    tcase_add_test(tc, test_data_licence__holder);
    tcase_add_test(tc, test_data_licence__type_checked);
    suite_add_tcase(s, tc);
    tc = tcase_create("registry");
    tcase_add_test(tc, test_data_registry__selection_at_boundaries);
    tcase_add_test(tc, test_data_registry__transitional_by_filing_date);
    tcase_add_test(tc, test_data_registry__overlap_and_gap);
    tcase_add_test(tc, test_data_registry__failed_reload_keeps_old);
    tcase_add_test(tc, test_data_registry__empty_dir_refused);
    tcase_add_test(tc, test_data_registry__hot_reload_two_threads);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(data_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
