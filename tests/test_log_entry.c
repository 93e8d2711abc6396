/*
 * miaopi_log_entry_parse against the reader: for every line of a log
 * (the header, decisions, one under another ruleset, one with a spot
 * check, a tampered outcome, a recovery entry, a blank and a malformed
 * line, a head jansson refuses) an entry parsed from the line alone reads
 * and replays as the reader's does, lazily and not; and entries parsed
 * on two threads replay at once (this suite runs under TSan).
 */
#include <miaopi.h>

#include <check.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char rules_path[4096];
static char cases_dir[4096];
static char tmpdir[] = "/tmp/miaopi-log-entry-XXXXXX";
static char log_path[4200];
static miaopi_ruleset *live, *variant;

static miaopi_case *load_case(const char *name)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s.json", cases_dir, name);
    miaopi_case *c = NULL;
    miaopi_error err;
    if (miaopi_case_load_file(&c, path, &err) != MIAOPI_OK) {
        fprintf(stderr, "case %s: %s\n", name, err.message);
        exit(1);
    }
    return c;
}

/* The live ruleset with the 本科 age limit lowered: another SHA-256. */
static miaopi_ruleset *load_variant(void)
{
    static char buf[1 << 20];
    FILE *f = fopen(rules_path, "rb");
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    char *p = strstr(buf, "<row key=\"本科\">35</row>");
    static const char to[] = "<row key=\"本科\">24</row>";
    if (p)
        memcpy(p, to, sizeof(to) - 1); /* as long as the original */
    miaopi_ruleset *rs = NULL;
    if (!p || miaopi_ruleset_load_buffer(&rs, buf, n, "variant", NULL,
                                         NULL) != MIAOPI_OK)
        exit(1);
    return rs;
}

static void append(miaopi_log *log, miaopi_decision *d,
                   const miaopi_ruleset *rs, const char *name, double spot)
{
    miaopi_case *c = load_case(name);
    miaopi_eval_options eo = MIAOPI_EVAL_OPTIONS_INIT;
    eo.spot_check_rate = spot;
    if (miaopi_evaluate(d, rs, c, &eo, NULL) != MIAOPI_OK ||
        miaopi_log_append(log, d, c, NULL, NULL) != MIAOPI_OK)
        exit(1);
    miaopi_case_free(c);
}

static void write_part(miaopi_decision *d, int from, int to)
{
    static const char *const names[] = {"approve", "reject-age",
                                        "escalate-no-xuexin",
                                        "approve-lowercase-x"};
    miaopi_log *log;
    miaopi_error err;
    if (miaopi_log_open(&log, log_path, NULL, &err) != MIAOPI_OK)
        exit(1);
    for (int i = from; i < to; i++)
        append(log, d, i % 7 == 3 ? variant : live, names[i % 4],
               i % 5 == 2 ? 1.0 : 0.0);
    miaopi_log_close(log, NULL);
}

/* Replace the first `from` in line `n` (1-based) of the log by `to`. */
static void edit_line(int n, const char *from, const char *to)
{
    FILE *f = fopen(log_path, "rb");
    static char buf[1 << 22];
    size_t len = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[len] = '\0';
    char *p = buf;
    for (int i = 1; i < n; i++)
        p = strchr(p, '\n') + 1;
    char *at = strstr(p, from);
    if (!at || at > strchr(p, '\n'))
        exit(1);
    f = fopen(log_path, "wb");
    fwrite(buf, 1, (size_t)(at - buf), f);
    fputs(to, f);
    fputs(at + strlen(from), f);
    fclose(f);
}

/* A log with something of every kind, written once for all tests. */
static void write_test_log(void)
{
    snprintf(log_path, sizeof(log_path), "%s/entries.log", tmpdir);
    miaopi_decision *d;
    miaopi_decision_new(&d);
    write_part(d, 0, 20);
    FILE *f = fopen(log_path, "ab");
    fputs("{\"hash\":\"0123", f); /* torn: a recovery entry follows */
    fclose(f);
    write_part(d, 20, 40);
    miaopi_decision_free(d);
    /* Line 3 is decision seq 2: a tampered outcome (replay: differs). */
    edit_line(3, "\"decision\":\"", "\"decision\":\"X");
    /* Line 5: a head jansson refuses, with a case that splits off. */
    edit_line(5, "\"decision_date\":\"", "\"decision_date\":1e99999,\"x\":\"");
    /* Then a blank and a malformed line, and a last line that is an
     * entry without its newline. */
    f = fopen(log_path, "rb");
    char *line = NULL;
    size_t cap = 0;
    ssize_t len = getline(&line, &cap, f);
    len = getline(&line, &cap, f); /* line 2, a decision */
    fclose(f);
    f = fopen(log_path, "ab");
    fputs("\n{\"hash\":\"not an entry\"}\n", f);
    fwrite(line, 1, (size_t)len - 1, f);
    fclose(f);
    free(line);
}

/* ---- comparing entries ---- */

static void same_entry(const miaopi_log_entry *a, const miaopi_log_entry *b)
{
    ck_assert_uint_eq(miaopi_log_entry_seq(a), miaopi_log_entry_seq(b));
    ck_assert_uint_eq(miaopi_log_entry_line(a), miaopi_log_entry_line(b));
    ck_assert_str_eq(miaopi_log_entry_type(a), miaopi_log_entry_type(b));
    ck_assert_str_eq(miaopi_log_entry_id(a), miaopi_log_entry_id(b));
    ck_assert_str_eq(miaopi_log_entry_ruleset_sha256(a),
                     miaopi_log_entry_ruleset_sha256(b));
    ck_assert_str_eq(miaopi_log_entry_ruleset_id(a),
                     miaopi_log_entry_ruleset_id(b));
    ck_assert_str_eq(miaopi_log_entry_ruleset_version(a),
                     miaopi_log_entry_ruleset_version(b));
    ck_assert_int_eq(miaopi_log_entry_outcome(a), miaopi_log_entry_outcome(b));
    double ra = -1, rb = -2;
    ck_assert_int_eq(miaopi_log_entry_spot_check(a, &ra),
                     miaopi_log_entry_spot_check(b, &rb));
    ck_assert(ra == rb);
    size_t n = miaopi_log_entry_rule_count(a);
    ck_assert_uint_eq(n, miaopi_log_entry_rule_count(b));
    for (size_t i = 0; i < n; i++) {
        const char *ia, *ib;
        miaopi_rule_status sa, sb;
        ck_assert_int_eq(miaopi_log_entry_rule(a, i, &ia, &sa), 0);
        ck_assert_int_eq(miaopi_log_entry_rule(b, i, &ib, &sb), 0);
        ck_assert_str_eq(ia, ib);
        ck_assert_int_eq(sa, sb);
    }
    ck_assert_int_eq(miaopi_log_entry_case(a) != NULL,
                     miaopi_log_entry_case(b) != NULL);
    ck_assert_str_eq(miaopi_log_entry_json(a), miaopi_log_entry_json(b));
}

static void same_decision(miaopi_decision *a, miaopi_decision *b)
{
    char *ja, *jb;
    ck_assert_int_eq(miaopi_decision_to_json(&ja, a, NULL, 0), 0);
    ck_assert_int_eq(miaopi_decision_to_json(&jb, b, NULL, 0), 0);
    ck_assert_str_eq(ja, jb);
    miaopi_free(ja);
    miaopi_free(jb);
}

typedef struct tally {
    int entries, bad, reproduced, differed, missing, not_decision, ecase;
} tally;

/* Each line's entry from the reader (which goes lazy once replay is
 * used, when `replay`) against the entry parsed from the line alone (lazy
 * when `lazy`). */
static tally compare_all(bool replay, bool lazy)
{
    miaopi_ruleset *rs[1] = {live};
    miaopi_log_reader *entries, *lines;
    miaopi_error err, err2;
    ck_assert_int_eq(miaopi_log_reader_open(&entries, log_path, &err), 0);
    ck_assert_int_eq(miaopi_log_reader_open(&lines, log_path, &err), 0);
    miaopi_decision *da, *db;
    miaopi_decision_new(&da);
    miaopi_decision_new(&db);
    tally t = {0};
    const miaopi_log_entry *a;
    int got;
    while ((got = miaopi_log_reader_next(entries, &a, &err)) != 0) {
        const char *line;
        size_t len;
        uint64_t line_no = 0;
        ck_assert_int_eq(miaopi_log_reader_next_line(lines, &line, &len,
                                                     &line_no, &err2), 1);
        miaopi_log_entry *b = NULL;
        int rc = miaopi_log_entry_parse(&b, line, len, line_no,
                                        lazy ? MIAOPI_LOG_ENTRY_LAZY : 0,
                                        &err2);
        if (got < 0 || rc != 0) {
            t.bad++;
            ck_assert_int_eq(got < 0 ? got : rc, MIAOPI_ECASE);
            if (got < 0 && rc != 0) {
                ck_assert_int_eq(rc, MIAOPI_ECASE);
                ck_assert_ptr_null(b);
                ck_assert_str_eq(err.message, err2.message);
                continue;
            }
            /* One side parsed lazily past a head jansson refuses: its
             * replay says what the other's parse said. */
            miaopi_error err3;
            ck_assert_int_eq(miaopi_log_entry_replay(got < 0 ? b : a, da, rs,
                                                     1, &err3),
                             MIAOPI_ECASE);
            ck_assert_str_eq(err3.message,
                             got < 0 ? err.message : err2.message);
            miaopi_log_entry_free(b);
            continue;
        }
        ck_assert_msg(rc == 0, "line %llu: %s", (unsigned long long)line_no,
                      err2.message);
        t.entries++;
        if (replay) {
            int ra = miaopi_log_entry_replay(a, da, rs, 1, &err);
            int rb = miaopi_log_entry_replay(b, db, rs, 1, &err2);
            ck_assert_int_eq(ra, rb);
            if (ra < 0)
                ck_assert_str_eq(err.message, err2.message);
            if (ra >= 0)
                same_decision(da, db);
            t.reproduced += ra == 1;
            t.differed += ra == 0;
            t.missing += ra == MIAOPI_ENOTFOUND;
            t.not_decision += ra == MIAOPI_EINVAL;
            t.ecase += ra == MIAOPI_ECASE;
        }
        same_entry(a, b);
        miaopi_log_entry_free(b);
    }
    ck_assert_int_eq(miaopi_log_reader_next_line(lines, &(const char *){0},
                                                 &(size_t){0}, NULL, &err2),
                     0);
    miaopi_decision_free(da);
    miaopi_decision_free(db);
    miaopi_log_reader_free(entries);
    miaopi_log_reader_free(lines);
    return t;
}

START_TEST(test_log_entry_parse__same_as_reader)
{
    tally t = compare_all(false, false);
    /* 41 decisions (one head refused), the header, the recovery entry;
     * the blank, malformed and head-refused lines are bad. */
    ck_assert_int_eq(t.entries, 42);
    ck_assert_int_eq(t.bad, 3);
}
END_TEST

START_TEST(test_log_entry_parse__same_replay)
{
    tally t = compare_all(true, false);
    ck_assert_int_eq(t.entries, 42);
    ck_assert_int_eq(t.bad, 3);
    ck_assert_int_eq(t.differed, 1);
    ck_assert_int_eq(t.missing, 5); /* i % 7 == 3 of 0..39, but line 5 */
    ck_assert_int_eq(t.not_decision, 2);
    ck_assert_int_eq(t.reproduced, 34);
}
END_TEST

START_TEST(test_log_entry_parse__same_replay_lazy)
{
    /* The reader goes lazy after its first entry (the header), as the
     * parsed entries are from the start. */
    tally t = compare_all(true, true);
    ck_assert_int_eq(t.entries, 43); /* line 5 too: its replay says */
    ck_assert_int_eq(t.ecase, 1);
    ck_assert_int_eq(t.bad, 2);
    ck_assert_int_eq(t.differed, 1);
    ck_assert_int_eq(t.missing, 5);
    ck_assert_int_eq(t.reproduced, 34);
}
END_TEST

START_TEST(test_log_entry_parse__bad_input)
{
    miaopi_log_entry *e = (miaopi_log_entry *)1;
    miaopi_error err;
    ck_assert_int_eq(miaopi_log_entry_parse(&e, "{}", 2, 7, 0, &err),
                     MIAOPI_ECASE);
    ck_assert_ptr_null(e);
    ck_assert_str_eq(err.message, "line 7 is not a log entry");
    ck_assert_int_eq(miaopi_log_entry_parse(&e, "", 0, 8,
                                            MIAOPI_LOG_ENTRY_LAZY, &err),
                     MIAOPI_ECASE);
    ck_assert_int_eq(miaopi_log_entry_parse(&e, "{}", 2, 1, 2, &err),
                     MIAOPI_EINVAL);
    ck_assert_int_eq(miaopi_log_entry_parse(NULL, "{}", 2, 1, 0, &err),
                     MIAOPI_EINVAL);
    ck_assert_int_eq(miaopi_log_entry_parse(&e, NULL, 2, 1, 0, &err),
                     MIAOPI_EINVAL);
    miaopi_log_entry_free(NULL);
    /* A reader's entry is the reader's: freeing it does nothing. */
    miaopi_log_reader *r;
    const miaopi_log_entry *re;
    ck_assert_int_eq(miaopi_log_reader_open(&r, log_path, &err), 0);
    ck_assert_int_eq(miaopi_log_reader_next(r, &re, &err), 1);
    miaopi_log_entry_free((miaopi_log_entry *)re);
    ck_assert_str_eq(miaopi_log_entry_type(re), "header");
    miaopi_log_reader_free(r);
}
END_TEST

START_TEST(test_log_entry_parse__with_newline)
{
    miaopi_log_reader *r;
    miaopi_error err;
    const char *line;
    size_t len;
    ck_assert_int_eq(miaopi_log_reader_open(&r, log_path, &err), 0);
    ck_assert_int_eq(miaopi_log_reader_next_line(r, &line, &len, NULL, &err),
                     1);
    ck_assert_int_eq(miaopi_log_reader_next_line(r, &line, &len, NULL, &err),
                     1);
    char *copy = malloc(len + 2);
    memcpy(copy, line, len);
    memcpy(copy + len, "\n", 2);
    miaopi_log_entry *a, *b;
    ck_assert_int_eq(miaopi_log_entry_parse(&a, line, len, 2, 0, &err), 0);
    ck_assert_int_eq(miaopi_log_entry_parse(&b, copy, len + 1, 2, 0, &err), 0);
    same_entry(a, b);
    miaopi_log_entry_free(a);
    miaopi_log_entry_free(b);
    free(copy);
    miaopi_log_reader_free(r);
}
END_TEST

/* ---- two threads ---- */

typedef struct replayer {
    pthread_t thread;
    char **lines;
    size_t n, from, step;
    int reproduced, differed, missing;
} replayer;

static void *replay_lines(void *arg)
{
    replayer *w = arg;
    miaopi_ruleset *rs[2] = {live, variant};
    miaopi_decision *d;
    if (miaopi_decision_new(&d) != MIAOPI_OK)
        return NULL;
    for (size_t i = w->from; i < w->n; i += w->step) {
        miaopi_log_entry *e;
        if (miaopi_log_entry_parse(&e, w->lines[i], strlen(w->lines[i]),
                                   i + 1, MIAOPI_LOG_ENTRY_LAZY, NULL) != 0)
            continue;
        /* Only the live ruleset for odd lines: the variant's entries
         * there are missing. */
        int rc = miaopi_log_entry_replay(e, d, rs, 1 + (i % 2 == 0), NULL);
        w->reproduced += rc == 1;
        w->differed += rc == 0;
        w->missing += rc == MIAOPI_ENOTFOUND;
        miaopi_log_entry_free(e);
    }
    miaopi_decision_free(d);
    return NULL;
}

START_TEST(test_log_entry_threads__two_threads_replay)
{
    /* The lines, read once, then shared read-only by both threads. */
    char *lines[64];
    size_t n = 0;
    miaopi_log_reader *r;
    ck_assert_int_eq(miaopi_log_reader_open(&r, log_path, NULL), 0);
    const char *line;
    size_t len;
    while (n < 64 &&
           miaopi_log_reader_next_line(r, &line, &len, NULL, NULL) == 1)
        lines[n++] = strndup(line, len);
    miaopi_log_reader_free(r);
    /* One thread alone first, then two at once, with the same result. */
    replayer one = {0, lines, n, 0, 1, 0, 0, 0};
    replay_lines(&one);
    replayer w[2] = {{0, lines, n, 0, 2, 0, 0, 0},
                     {0, lines, n, 1, 2, 0, 0, 0}};
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&w[i].thread, NULL, replay_lines,
                                        &w[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(w[i].thread, NULL);
    ck_assert_int_eq(w[0].reproduced + w[1].reproduced, one.reproduced);
    ck_assert_int_eq(w[0].differed + w[1].differed, one.differed);
    ck_assert_int_eq(w[0].missing + w[1].missing, one.missing);
    ck_assert_int_eq(one.differed, 1);
    ck_assert_int_gt(one.missing, 0);
    ck_assert_int_lt(one.missing, 6);
    ck_assert_int_gt(one.reproduced, 30);
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
}
END_TEST

/* A NUL byte inside a line is part of that line: the reader calls that
 * line (and only it) not an entry and numbers the next one right, and
 * verification stops at it. Before, the reader split lines with fgets
 * and strlen: the line merged with the next and later numbers were off. */
START_TEST(test_log_entry_reader__nul_byte_in_a_line)
{
    char path[4300];
    snprintf(path, sizeof(path), "%s/nul.log", tmpdir);
    miaopi_decision *d;
    ck_assert_int_eq(miaopi_decision_new(&d), MIAOPI_OK);
    miaopi_log *log;
    ck_assert_int_eq(miaopi_log_open(&log, path, NULL, NULL), MIAOPI_OK);
    for (int i = 0; i < 4; i++)
        append(log, d, live, i % 2 ? "reject-age" : "approve", 0.0);
    ck_assert_int_eq(miaopi_log_close(log, NULL), MIAOPI_OK);
    miaopi_decision_free(d);
    /* A NUL in the middle of line 3 (decision seq 2). */
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    static char buf[1 << 20];
    size_t len = fread(buf, 1, sizeof(buf), f);
    char *l3 = buf;
    for (int i = 1; i < 3; i++)
        l3 = (char *)memchr(l3, '\n', len - (size_t)(l3 - buf)) + 1;
    l3[40] = '\0';
    rewind(f);
    ck_assert_uint_eq(fwrite(buf, 1, len, f), len);
    fclose(f);

    miaopi_log_reader *r;
    miaopi_error err;
    const miaopi_log_entry *e;
    ck_assert_int_eq(miaopi_log_reader_open(&r, path, &err), MIAOPI_OK);
    ck_assert_int_eq(miaopi_log_reader_next(r, &e, &err), 1); /* header */
    ck_assert_int_eq(miaopi_log_reader_next(r, &e, &err), 1);
    ck_assert_uint_eq(miaopi_log_entry_line(e), 2);
    ck_assert_int_eq(miaopi_log_reader_next(r, &e, &err), MIAOPI_ECASE);
    ck_assert_str_eq(err.message, "line 3 is not a log entry");
    ck_assert_int_eq(miaopi_log_reader_next(r, &e, &err), 1);
    ck_assert_uint_eq(miaopi_log_entry_line(e), 4);
    ck_assert_uint_eq(miaopi_log_entry_seq(e), 3);
    ck_assert_int_eq(miaopi_log_reader_next(r, &e, &err), 1);
    ck_assert_uint_eq(miaopi_log_entry_line(e), 5);
    ck_assert_int_eq(miaopi_log_reader_next(r, &e, &err), 0);
    miaopi_log_reader_free(r);
    /* The lines, with their lengths, as the reader hands them out. */
    ck_assert_int_eq(miaopi_log_reader_open(&r, path, &err), MIAOPI_OK);
    const char *line;
    size_t n;
    uint64_t no;
    for (uint64_t i = 1; i <= 5; i++) {
        ck_assert_int_eq(miaopi_log_reader_next_line(r, &line, &n, &no, &err),
                         1);
        ck_assert_uint_eq(no, i);
        if (i == 3)
            ck_assert_uint_gt(n, 40);
    }
    ck_assert_int_eq(miaopi_log_reader_next_line(r, &line, &n, &no, &err), 0);
    miaopi_log_reader_free(r);

    miaopi_log_report rep = MIAOPI_LOG_REPORT_INIT;
    ck_assert_int_eq(miaopi_log_verify(&rep, path, NULL, 0, &err), MIAOPI_OK);
    ck_assert_int_ne(rep.problem, MIAOPI_LOG_INTACT);
    ck_assert_uint_eq(rep.bad_line, 3);
}
END_TEST

static Suite *log_entry_suite(void)
{
    Suite *s = suite_create("log-entry");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, test_log_entry_parse__same_as_reader);
    tcase_add_test(tc, test_log_entry_parse__same_replay);
    tcase_add_test(tc, test_log_entry_parse__same_replay_lazy);
    tcase_add_test(tc, test_log_entry_parse__bad_input);
    tcase_add_test(tc, test_log_entry_parse__with_newline);
    tcase_add_test(tc, test_log_entry_reader__nul_byte_in_a_line);
    suite_add_tcase(s, tc);
    tc = tcase_create("threads");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_log_entry_threads__two_threads_replay);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    const char *root = getenv("MIAOPI_SOURCE_ROOT");
    if (!root)
        root = ".";
    snprintf(rules_path, sizeof(rules_path), "%s/rules/sz-talent/ruleset.xml",
             root);
    snprintf(cases_dir, sizeof(cases_dir), "%s/rules/sz-talent/cases", root);
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    if (miaopi_ruleset_load_file(&live, rules_path, NULL, NULL) != MIAOPI_OK)
        return 1;
    variant = load_variant();
    write_test_log();
    SRunner *sr = srunner_create(log_entry_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    miaopi_ruleset_unref(variant);
    miaopi_ruleset_unref(live);
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return failed ? 1 : 0;
}
