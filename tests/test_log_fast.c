/*
 * The decision log's fast paths: a case parsed from text is logged as that
 * text (and as its tree when it was changed, fetched into or pretty
 * printed); the reader parses only the case of an entry until asked for
 * more; miaopi_log_entry_replay compares bytes, and falls back to the
 * field-by-field comparison for anything else.
 */
#include <miaopi.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char rules_path[4096];
static char tmpdir[] = "/tmp/miaopi-logfast-XXXXXX";

/* The bundled approve case on one line, with some of JSON's freedoms:
 * spaces and a tab, an escaped character, a number jansson would write
 * differently (1.50), metadata holding a "case" member. */
static const char case_line[] =
    " {\"application\": {\"id_number\":\"440305199807151231\",\"name\":"
    "\"\\u674e明轩\",\"phone\":\"13826541234\",\"degree\":\"本科\","
    "\"employer_uscc\":\"91440300MA5F12342Q\"},\t\"sources\":{\"hukou\":{"
    "\"name\":\"李明轩\",\"id_number\":\"440305199807151231\","
    "\"registered_city\":\"湛江市\",\"has_criminal_record\":false},"
    "\"xuexin\":{\"name\":\"李明轩\",\"id_number\":\"440305199807151231\","
    "\"degree\":\"本科\",\"study_mode\":\"全日制\",\"graduation_date\":"
    "\"2023-06-30\",\"school\":\"华南理工大学\"},\"shebao\":{\"months_paid\":"
    "6,\"employer_uscc\":\"91440300MA5F12342Q\",\"city\":\"深圳市\"}},"
    "\"context\":{\"decision_date\":\"2024-05-01\"},\"meta\":{\"score\":1.50,"
    "\"case\":{\"x\":1}}}\n";

static void tmp_path(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", tmpdir, name);
    unlink(out);
}

static miaopi_ruleset *load_rules(void)
{
    miaopi_ruleset *rs = NULL;
    miaopi_error err;
    ck_assert_msg(miaopi_ruleset_load_file(&rs, rules_path, NULL, &err) ==
                      MIAOPI_OK,
                  "%s", err.message);
    return rs;
}

static miaopi_case *parse(const char *text)
{
    miaopi_case *c = NULL;
    miaopi_error err;
    ck_assert_msg(miaopi_case_from_json(&c, text, strlen(text), &err) ==
                      MIAOPI_OK,
                  "%s", err.message);
    return c;
}

/* Log one decision per case; returns the log's lines. */
static void log_cases(const char *path, miaopi_case **cases, size_t n)
{
    miaopi_ruleset *rs = load_rules();
    miaopi_decision *d;
    miaopi_decision_new(&d);
    miaopi_log *log;
    miaopi_error err;
    ck_assert_int_eq(miaopi_log_open(&log, path, NULL, &err), MIAOPI_OK);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(miaopi_evaluate(d, rs, cases[i], NULL, &err),
                         MIAOPI_OK);
        ck_assert_int_eq(miaopi_log_append(log, d, cases[i], NULL, &err),
                         MIAOPI_OK);
    }
    ck_assert_int_eq(miaopi_log_close(log, &err), MIAOPI_OK);
    miaopi_decision_free(d);
    miaopi_ruleset_unref(rs);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    char *b = malloc(1 << 20);
    *len = fread(b, 1, (1 << 20) - 1, f);
    b[*len] = '\0';
    fclose(f);
    return b;
}

static void spit(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static void assert_intact(const char *path, uint64_t entries)
{
    miaopi_log_report r = MIAOPI_LOG_REPORT_INIT;
    miaopi_error err;
    ck_assert_int_eq(miaopi_log_verify(&r, path, NULL, 0, &err), MIAOPI_OK);
    ck_assert_msg(r.problem == MIAOPI_LOG_INTACT, "%s", r.message);
    ck_assert_uint_eq(r.entries, entries);
}

/* Replays every decision of path; the count of results 1 (reproduced). */
static int replay_all(const char *path, int *decisions)
{
    miaopi_ruleset *rs = load_rules();
    miaopi_decision *d;
    miaopi_decision_new(&d);
    miaopi_log_reader *rd;
    miaopi_error err;
    ck_assert_int_eq(miaopi_log_reader_open(&rd, path, &err), MIAOPI_OK);
    const miaopi_log_entry *e;
    int same = 0;
    *decisions = 0;
    while (miaopi_log_reader_next(rd, &e, &err) == 1) {
        int rc = miaopi_log_entry_replay(e, d, &rs, 1, &err);
        if (strcmp(miaopi_log_entry_type(e), "decision") != 0) {
            ck_assert_int_eq(rc, MIAOPI_EINVAL);
            continue;
        }
        (*decisions)++;
        ck_assert_msg(rc == 0 || rc == 1, "replay: %d %s", rc, err.message);
        same += rc == 1;
        /* The accessors agree with the replay. */
        if (rc == 1) {
            ck_assert_int_eq(miaopi_log_entry_outcome(e),
                             miaopi_decision_outcome(d));
            ck_assert_str_eq(miaopi_log_entry_id(e), miaopi_decision_id(d));
        }
    }
    miaopi_log_reader_free(rd);
    miaopi_decision_free(d);
    miaopi_ruleset_unref(rs);
    return same;
}

START_TEST(test_logfast_text__embedded_verbatim)
{
    char path[4200];
    tmp_path(path, sizeof(path), "text.log");
    miaopi_case *c[2] = {parse(case_line), parse(case_line)};
    /* Changed after parsing: the tree is logged, with the change. */
    ck_assert_int_eq(miaopi_case_set_string(c[1], "application.phone",
                                            "13900000000"),
                     MIAOPI_OK);
    log_cases(path, c, 2);
    assert_intact(path, 3);
    size_t len;
    char *log = slurp(path, &len);
    char *l1 = strchr(log, '\n') + 1, *l2 = strchr(l1, '\n') + 1;
    ck_assert_ptr_nonnull(strchr(l2, '\n'));
    ck_assert_ptr_null(strchr(strchr(l2, '\n') + 1, '\n'));
    /* Entry 1: the text itself, without the whitespace around it. */
    size_t tl = strlen(case_line) - 2; /* the leading space, the newline */
    char *at = strstr(l1, ",\"case\":{\"application\": {");
    ck_assert_ptr_nonnull(at);
    ck_assert_int_eq(memcmp(at + 8, case_line + 1, tl), 0);
    ck_assert_int_eq(memcmp(at + 8 + tl, "}}\n", 3), 0);
    /* Entry 2: serialised from the tree (compact, jansson's numbers). */
    ck_assert_ptr_nonnull(strstr(l2, "\"phone\":\"13900000000\""));
    ck_assert_ptr_nonnull(strstr(l2, "\"score\":1.5,"));
    ck_assert_ptr_null(strstr(l2, "\"phone\":\"13826541234\""));
    free(log);
    int decisions;
    ck_assert_int_eq(replay_all(path, &decisions), 2);
    ck_assert_int_eq(decisions, 2);
    miaopi_case_free(c[0]);
    miaopi_case_free(c[1]);
}
END_TEST

START_TEST(test_logfast_text__pretty_case_logged_compactly)
{
    char path[4200];
    tmp_path(path, sizeof(path), "pretty.log");
    char file[4200];
    snprintf(file, sizeof(file), "%.4000s", rules_path);
    strcpy(strrchr(file, '/'), "/cases/approve.json"); /* pretty printed */
    miaopi_case *c = NULL;
    miaopi_error err;
    ck_assert_int_eq(miaopi_case_load_file(&c, file, &err), MIAOPI_OK);
    log_cases(path, &c, 1);
    assert_intact(path, 2);
    size_t len;
    char *log = slurp(path, &len);
    ck_assert_ptr_nonnull(
        strstr(log, ",\"case\":{\"application\":{\"id_number\":"
                    "\"440305199807151231\",\"name\":"));
    free(log);
    int decisions;
    ck_assert_int_eq(replay_all(path, &decisions), 1);
    miaopi_case_free(c);
}
END_TEST

/* Lines the reader must take apart correctly (it does not check hashes:
 * these need not verify). */
#define ZEROS "0000000000000000000000000000000000000000000000000000000000000000"
#define LINE(entry) "{\"hash\":\"" ZEROS "\",\"entry\":" entry "}\n"

START_TEST(test_logfast_reader__split_or_whole)
{
    char path[4200];
    tmp_path(path, sizeof(path), "crafted.log");
    spit(path,
         /* read to turn on the lazy reading (below) */
         LINE("{\"seq\":0,\"prev\":\"" ZEROS "\",\"type\":\"header\"}")
         /* the case not last: read whole */
         LINE("{\"seq\":1,\"prev\":\"" ZEROS "\",\"type\":\"decision\","
              "\"id\":\"a\",\"case\":{\"application\":{\"k\":1}},"
              "\"decision\":\"APPROVE\"}")
         /* a "case" nested in the head before the real one */
         LINE("{\"seq\":2,\"prev\":\"" ZEROS "\",\"type\":\"decision\","
              "\"id\":\"b\",\"rules\":[{\"id\":\"r\",\"status\":\"fail\","
              "\"case\":{\"x\":1}}],\"decision\":\"REJECT\",\"case\":{"
              "\"application\":{\"k\":2,\"case\":{\"y\":2}}}}")
         /* a repeated top-level "case": the last one, as jansson */
         LINE("{\"seq\":3,\"prev\":\"" ZEROS "\",\"type\":\"decision\","
              "\"case\":{\"application\":{\"k\":3}},\"id\":\"c\","
              "\"case\":{\"application\":{\"k\":4}}}")
         /* a broken head */
         LINE("{\"seq\":4,\"prev\":\"" ZEROS "\",\"type\":\"decision\","
              "\"id\":\"d\",\"rules\":[{,\"case\":{\"application\":{}}}")
         /* the case is not an object */
         LINE("{\"seq\":5,\"prev\":\"" ZEROS "\",\"type\":\"decision\","
              "\"id\":\"e\",\"case\":[1]}"));
    miaopi_log_reader *rd;
    miaopi_error err;
    ck_assert_int_eq(miaopi_log_reader_open(&rd, path, &err), MIAOPI_OK);
    const miaopi_log_entry *e;
    char *json;
    miaopi_decision *d;
    miaopi_decision_new(&d);
    ck_assert_int_eq(miaopi_log_reader_next(rd, &e, &err), 1);
    ck_assert_int_eq(miaopi_log_entry_replay(e, d, NULL, 0, &err),
                     MIAOPI_EINVAL);
    miaopi_decision_free(d);

    ck_assert_int_eq(miaopi_log_reader_next(rd, &e, &err), 1);
    ck_assert_str_eq(miaopi_log_entry_id(e), "a");
    ck_assert_int_eq(miaopi_log_entry_outcome(e), MIAOPI_APPROVE);
    ck_assert_int_eq(miaopi_case_to_json(&json, miaopi_log_entry_case(e)), 0);
    ck_assert_str_eq(json, "{\"application\":{\"k\":1}}");
    miaopi_free(json);

    ck_assert_int_eq(miaopi_log_reader_next(rd, &e, &err), 1);
    ck_assert_str_eq(miaopi_log_entry_id(e), "b");
    ck_assert_int_eq(miaopi_log_entry_outcome(e), MIAOPI_REJECT);
    ck_assert_uint_eq(miaopi_log_entry_rule_count(e), 1);
    ck_assert_int_eq(miaopi_case_to_json(&json, miaopi_log_entry_case(e)), 0);
    ck_assert_str_eq(json, "{\"application\":{\"case\":{\"y\":2},\"k\":2}}");
    miaopi_free(json);

    ck_assert_int_eq(miaopi_log_reader_next(rd, &e, &err), 1);
    ck_assert_str_eq(miaopi_log_entry_id(e), "c");
    ck_assert_int_eq(miaopi_case_to_json(&json, miaopi_log_entry_case(e)), 0);
    ck_assert_str_eq(json, "{\"application\":{\"k\":4}}");
    miaopi_free(json);

    /* A broken head: the case is read, and the head's failure reported
     * when it is needed (replay says so; the accessors read nothing). */
    ck_assert_int_eq(miaopi_log_reader_next(rd, &e, &err), 1);
    d = NULL;
    miaopi_decision_new(&d);
    ck_assert_int_eq(miaopi_log_entry_replay(e, d, NULL, 0, &err),
                     MIAOPI_ECASE);
    ck_assert_ptr_nonnull(strstr(err.message, "is not a log entry"));
    ck_assert_str_eq(miaopi_log_entry_type(e), "");
    miaopi_decision_free(d);
    ck_assert_int_eq(miaopi_log_reader_next(rd, &e, &err), 1);
    ck_assert_str_eq(miaopi_log_entry_id(e), "e");
    ck_assert_ptr_null(miaopi_log_entry_case(e));
    ck_assert_int_eq(miaopi_log_reader_next(rd, &e, &err), 0);
    miaopi_log_reader_free(rd);
}
END_TEST

/* Replace the first occurrence of from in the file by to. */
static void patch(const char *path, const char *from, const char *to)
{
    size_t len;
    char *b = slurp(path, &len);
    char *at = strstr(b, from);
    ck_assert_ptr_nonnull(at);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fwrite(b, 1, (size_t)(at - b), f);
    fputs(to, f);
    fputs(at + strlen(from), f);
    fclose(f);
    free(b);
}

START_TEST(test_logfast_replay__differences_and_errors)
{
    char path[4200];
    tmp_path(path, sizeof(path), "replay.log");
    miaopi_case *c = parse(case_line);
    log_cases(path, &c, 1);
    miaopi_case_free(c);
    int decisions;
    ck_assert_int_eq(replay_all(path, &decisions), 1);

    /* An outcome changed (no rehash: replay does not verify). */
    patch(path, "\"decision\":\"APPROVE\"", "\"decision\":\"REJECT\" ");
    ck_assert_int_eq(replay_all(path, &decisions), 0);
    ck_assert_int_eq(decisions, 1);
    patch(path, "\"decision\":\"REJECT\" ", "\"decision\":\"APPROVE\"");
    /* A rule's status changed. */
    patch(path, "\"status\":\"pass\"", "\"status\":\"fail\"");
    ck_assert_int_eq(replay_all(path, &decisions), 0);
    patch(path, "\"status\":\"fail\"", "\"status\":\"pass\"");
    /* Another writer's layout (spaces, another engine): the fields are
     * compared one by one, and agree. */
    patch(path, "\"decision\":\"APPROVE\"", "\"decision\": \"APPROVE\"");
    patch(path, "\"engine\":\"miaopi ", "\"engine\":\"other ");
    ck_assert_int_eq(replay_all(path, &decisions), 1);
    /* A spot-check mark that replay does not reproduce. */
    patch(path, ",\"case\":", ",\"spot_check\":{\"selected\":true,"
                              "\"rate\":0},\"case\":");
    ck_assert_int_eq(replay_all(path, &decisions), 0);
}
END_TEST

START_TEST(test_logfast_replay__ruleset_missing)
{
    char path[4200];
    tmp_path(path, sizeof(path), "missing.log");
    miaopi_case *c = parse(case_line);
    log_cases(path, &c, 1);
    miaopi_case_free(c);
    miaopi_decision *d;
    miaopi_decision_new(&d);
    miaopi_log_reader *rd;
    miaopi_error err;
    ck_assert_int_eq(miaopi_log_reader_open(&rd, path, &err), MIAOPI_OK);
    const miaopi_log_entry *e;
    ck_assert_int_eq(miaopi_log_reader_next(rd, &e, &err), 1);
    ck_assert_int_eq(miaopi_log_entry_replay(e, d, NULL, 0, &err),
                     MIAOPI_EINVAL); /* the header */
    ck_assert_int_eq(miaopi_log_reader_next(rd, &e, &err), 1);
    ck_assert_int_eq(miaopi_log_entry_replay(e, d, NULL, 0, &err),
                     MIAOPI_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err.message, "was not given"));
    miaopi_log_reader_free(rd);
    miaopi_decision_free(d);
}
END_TEST

int main(void)
{
    const char *root = getenv("MIAOPI_SOURCE_ROOT");
    snprintf(rules_path, sizeof(rules_path), "%s/rules/sz-talent/ruleset.xml",
             root ? root : ".");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    Suite *s = suite_create("logfast");
    TCase *tc = tcase_create("text");
    tcase_add_test(tc, test_logfast_text__embedded_verbatim);
    tcase_add_test(tc, test_logfast_text__pretty_case_logged_compactly);
    suite_add_tcase(s, tc);
    tc = tcase_create("reader");
    tcase_add_test(tc, test_logfast_reader__split_or_whole);
    suite_add_tcase(s, tc);
    tc = tcase_create("replay");
    tcase_add_test(tc, test_logfast_replay__differences_and_errors);
    tcase_add_test(tc, test_logfast_replay__ruleset_missing);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return failed ? 1 : 0;
}
