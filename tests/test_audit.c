/*
 * The decision log, through the public API: hash vectors, every kind of
 * tampering, crash safety (a writer killed with SIGKILL, a torn tail),
 * concurrent appends, replay, shadow mode and spot checks, redaction.
 */
#include <miaopi.h>

#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char rules_path[4096];
static char cases_dir[4096];
static char tmpdir[] = "/tmp/miaopi-audit-XXXXXX";

static void setup_paths(void)
{
    const char *root = getenv("MIAOPI_SOURCE_ROOT");
    if (!root)
        root = ".";
    snprintf(rules_path, sizeof(rules_path), "%s/rules/sz-talent/ruleset.xml",
             root);
    snprintf(cases_dir, sizeof(cases_dir), "%s/rules/sz-talent/cases", root);
}

static miaopi_ruleset *load_rules(void)
{
    miaopi_ruleset *rs = NULL;
    miaopi_error err;
    int rc = miaopi_ruleset_load_file(&rs, rules_path, NULL, &err);
    ck_assert_msg(rc == MIAOPI_OK, "load: %s", err.message);
    return rs;
}

static miaopi_case *load_case(const char *name)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s.json", cases_dir, name);
    miaopi_case *c = NULL;
    miaopi_error err;
    int rc = miaopi_case_load_file(&c, path, &err);
    ck_assert_msg(rc == MIAOPI_OK, "case %s: %s", name, err.message);
    return c;
}

static const char *const case_names[] = {"approve", "reject-age",
                                         "escalate-no-xuexin",
                                         "approve-lowercase-x"};

static void tmp_path(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", tmpdir, name);
    unlink(out);
}

/* Write a log of `count` decisions cycling through the example cases. */
static void write_log(const char *path, int count,
                      const miaopi_log_options *lo)
{
    miaopi_ruleset *rs = load_rules();
    miaopi_decision *d;
    ck_assert_int_eq(miaopi_decision_new(&d), MIAOPI_OK);
    miaopi_log *log = NULL;
    miaopi_error err;
    ck_assert_msg(miaopi_log_open(&log, path, lo, &err) == MIAOPI_OK, "%s",
                  err.message);
    uint64_t first = miaopi_log_next_seq(log);
    for (int i = 0; i < count; i++) {
        miaopi_case *c = load_case(case_names[i % 4]);
        ck_assert_int_eq(miaopi_evaluate(d, rs, c, NULL, &err), MIAOPI_OK);
        uint64_t seq = 0;
        ck_assert_int_eq(miaopi_log_append(log, d, c, &seq, &err), MIAOPI_OK);
        ck_assert_uint_eq(seq, first + (uint64_t)i);
        miaopi_case_free(c);
    }
    ck_assert_int_eq(miaopi_log_close(log, &err), MIAOPI_OK);
    miaopi_decision_free(d);
    miaopi_ruleset_unref(rs);
}

static miaopi_log_report verify(const char *path, const char *key)
{
    miaopi_log_report r = MIAOPI_LOG_REPORT_INIT;
    miaopi_error err;
    int rc = miaopi_log_verify(&r, path, (const unsigned char *)key,
                               key ? strlen(key) : 0, &err);
    ck_assert_msg(rc == MIAOPI_OK, "verify: %s", err.message);
    return r;
}

/* Lines of a file, to tamper with. */
typedef struct lines {
    char **line;
    size_t n;
} lines;

static lines read_lines(const char *path)
{
    lines l = {NULL, 0};
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    char *buf = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&buf, &cap, f)) > 0) {
        l.line = realloc(l.line, (l.n + 1) * sizeof(char *));
        l.line[l.n++] = strndup(buf, (size_t)len);
    }
    free(buf);
    fclose(f);
    return l;
}

static void write_lines(const char *path, const lines *l)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    for (size_t i = 0; i < l->n; i++)
        if (l->line[i])
            fputs(l->line[i], f);
    fclose(f);
}

static void free_lines(lines *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->line[i]);
    free(l->line);
}

/* ---- hashes ---- */

START_TEST(test_audit_hash__vectors)
{
    char hex[65];
    ck_assert_int_eq(miaopi_hash_hex(hex, MIAOPI_HASH_SHA256, "abc", 3), 0);
    ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223"
                          "b00361a396177a9cb410ff61f20015ad");
    ck_assert_int_eq(miaopi_hash_hex(hex, MIAOPI_HASH_SM3, "abc", 3), 0);
    ck_assert_str_eq(hex, "66c7f0f462eeedd9d1f2d46bdc10e4e2"
                          "4167c4875cf2f7a2297da02b8f4ba8e0");
    /* GB/T 32905 example 2: "abcd" repeated 16 times. */
    char msg[65];
    for (int i = 0; i < 16; i++)
        memcpy(msg + 4 * i, "abcd", 4);
    ck_assert_int_eq(miaopi_hash_hex(hex, MIAOPI_HASH_SM3, msg, 64), 0);
    ck_assert_str_eq(hex, "debe9ff92275b8a138604889c18e5a4d"
                          "6fdb70e5387e5765293dcba39c0c5732");
    ck_assert_int_eq(miaopi_hash_hex(hex, MIAOPI_HASH_SHA256, "", 0), 0);
    ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb924"
                          "27ae41e4649b934ca495991b7852b855");
    ck_assert_int_eq(miaopi_hash_hex(hex, (miaopi_hash_alg)7, "a", 1),
                     MIAOPI_EINVAL);
}
END_TEST

/* ---- writing and verifying ---- */

START_TEST(test_audit_chain__intact_sha256_sm3_hmac)
{
    char path[4200];
    static const struct {
        miaopi_hash_alg alg;
        const char *key;
    } kinds[] = {{MIAOPI_HASH_SHA256, NULL},
                 {MIAOPI_HASH_SM3, NULL},
                 {MIAOPI_HASH_SHA256, "s3cret"},
                 {MIAOPI_HASH_SM3, "s3cret"}};
    for (size_t k = 0; k < 4; k++) {
        tmp_path(path, sizeof(path), "intact.log");
        miaopi_log_options lo = MIAOPI_LOG_OPTIONS_INIT;
        lo.hash = kinds[k].alg;
        lo.key = (const unsigned char *)kinds[k].key;
        lo.key_len = kinds[k].key ? strlen(kinds[k].key) : 0;
        write_log(path, 8, &lo);
        miaopi_log_report r = verify(path, kinds[k].key);
        ck_assert_msg(r.problem == MIAOPI_LOG_INTACT, "kind %zu: %s", k,
                      r.message);
        ck_assert_uint_eq(r.entries, 9);
        ck_assert_uint_eq(r.first_seq, 0);
        ck_assert_uint_eq(r.last_seq, 8);
        ck_assert_int_eq(r.hash, kinds[k].alg);
        ck_assert_int_eq(r.keyed, kinds[k].key != NULL);
        ck_assert_int_eq((int)strlen(r.final_hash), 64);
    }
}
END_TEST

START_TEST(test_audit_chain__reopen_continues)
{
    char path[4200];
    tmp_path(path, sizeof(path), "reopen.log");
    write_log(path, 3, NULL);
    miaopi_log *log;
    miaopi_error err;
    ck_assert_int_eq(miaopi_log_open(&log, path, NULL, &err), MIAOPI_OK);
    ck_assert_uint_eq(miaopi_log_next_seq(log), 4);
    ck_assert_int_eq(miaopi_log_recovered(log), 0);
    /* A second writer is locked out. */
    miaopi_log *other = NULL;
    ck_assert_int_eq(miaopi_log_open(&other, path, NULL, &err), MIAOPI_EIO);
    ck_assert_ptr_null(other);
    ck_assert_int_eq(miaopi_log_close(log, &err), MIAOPI_OK);
    write_log(path, 2, NULL);
    miaopi_log_report r = verify(path, NULL);
    ck_assert_msg(r.problem == MIAOPI_LOG_INTACT, "%s", r.message);
    ck_assert_uint_eq(r.last_seq, 5);
}
END_TEST

/* Tamper with a 10-entry log (seq 0..10) and expect problem at seq. */
static void expect_tamper(void (*tamper)(lines *), miaopi_log_problem want,
                          uint64_t want_seq)
{
    char path[4200];
    tmp_path(path, sizeof(path), "tamper.log");
    write_log(path, 10, NULL);
    lines l = read_lines(path);
    ck_assert_uint_eq(l.n, 11);
    tamper(&l);
    write_lines(path, &l);
    free_lines(&l);
    miaopi_log_report r = verify(path, NULL);
    ck_assert_msg(r.problem == want, "got %s (%s), want %s",
                  miaopi_log_problem_name(r.problem), r.message,
                  miaopi_log_problem_name(want));
    ck_assert_msg(r.bad_seq == want_seq, "bad seq %llu, want %llu (%s)",
                  (unsigned long long)r.bad_seq,
                  (unsigned long long)want_seq, r.message);
}

static void change_byte(lines *l)
{
    /* Flip one digit of the decision date inside entry 5. */
    char *p = strstr(l->line[5], "\"decision_date\":\"2024");
    ck_assert_ptr_nonnull(p);
    p[strlen("\"decision_date\":\"2024")] ^= 1;
}

static void delete_line(lines *l)
{
    free(l->line[6]);
    l->line[6] = NULL;
}

static void swap_lines(lines *l)
{
    char *t = l->line[4];
    l->line[4] = l->line[5];
    l->line[5] = t;
}

static void duplicate_line(lines *l)
{
    size_t n = strlen(l->line[7]);
    char *two = malloc(2 * n + 1);
    memcpy(two, l->line[7], n);
    memcpy(two + n, l->line[7], n + 1);
    free(l->line[7]);
    l->line[7] = two;
}

static void truncate_mid_line(lines *l)
{
    l->line[10][strlen(l->line[10]) / 2] = '\0';
}

static void rewrite_hash(lines *l)
{
    /* Change an entry and give it a correct hash of its own: the chain
     * (the next entry's prev) still catches it. */
    char *p = strstr(l->line[3], "\"decision\":\"");
    ck_assert_ptr_nonnull(p);
    char *body = strstr(l->line[3], "\"entry\":") + 8;
    size_t len = strlen(body) - 2; /* less "}\n" */
    p[12] = p[12] == 'A' ? 'E' : 'A';
    char hex[65];
    ck_assert_int_eq(miaopi_hash_hex(hex, MIAOPI_HASH_SHA256, body, len), 0);
    memcpy(l->line[3] + 9, hex, 64);
}

START_TEST(test_audit_tamper__changed_byte)
{
    expect_tamper(change_byte, MIAOPI_LOG_CHANGED, 5);
}
END_TEST

START_TEST(test_audit_tamper__deleted_line)
{
    expect_tamper(delete_line, MIAOPI_LOG_MISSING, 6);
}
END_TEST

START_TEST(test_audit_tamper__swapped_lines)
{
    expect_tamper(swap_lines, MIAOPI_LOG_REORDERED, 4);
}
END_TEST

START_TEST(test_audit_tamper__duplicated_line)
{
    expect_tamper(duplicate_line, MIAOPI_LOG_DUPLICATED, 7);
}
END_TEST

START_TEST(test_audit_tamper__truncated_mid_line)
{
    expect_tamper(truncate_mid_line, MIAOPI_LOG_TORN, 10);
}
END_TEST

START_TEST(test_audit_tamper__rehashed_entry)
{
    expect_tamper(rewrite_hash, MIAOPI_LOG_CHANGED, 3);
}
END_TEST

START_TEST(test_audit_tamper__wrong_key)
{
    char path[4200];
    tmp_path(path, sizeof(path), "keyed.log");
    miaopi_log_options lo = MIAOPI_LOG_OPTIONS_INIT;
    lo.key = (const unsigned char *)"right";
    lo.key_len = 5;
    write_log(path, 3, &lo);
    miaopi_log_report r = verify(path, "wrong");
    ck_assert_int_eq(r.problem, MIAOPI_LOG_WRONG_KEY);
    ck_assert_uint_eq(r.bad_seq, 0);
    r = verify(path, NULL);
    ck_assert_int_eq(r.problem, MIAOPI_LOG_KEY_REQUIRED);
    r = verify(path, "right");
    ck_assert_int_eq(r.problem, MIAOPI_LOG_INTACT);
    /* Reopening with the wrong key, or none, is refused. */
    miaopi_log *log = NULL;
    miaopi_error err;
    lo.key = (const unsigned char *)"wrong";
    ck_assert_int_eq(miaopi_log_open(&log, path, &lo, &err), MIAOPI_EINVAL);
    ck_assert_int_eq(miaopi_log_open(&log, path, NULL, &err), MIAOPI_EINVAL);
    ck_assert_ptr_null(log);
}
END_TEST

START_TEST(test_audit_tamper__forged_without_key)
{
    /* Whoever edits a keyed log cannot recompute its HMAC: an entry
     * rehashed with plain SHA-256 is caught. */
    char path[4200];
    tmp_path(path, sizeof(path), "forged.log");
    miaopi_log_options lo = MIAOPI_LOG_OPTIONS_INIT;
    lo.key = (const unsigned char *)"k3y";
    lo.key_len = 3;
    write_log(path, 10, &lo);
    lines l = read_lines(path);
    rewrite_hash(&l);
    write_lines(path, &l);
    free_lines(&l);
    miaopi_log_report r = verify(path, "k3y");
    ck_assert_int_eq(r.problem, MIAOPI_LOG_CHANGED);
    ck_assert_uint_eq(r.bad_seq, 3);
}
END_TEST

START_TEST(test_audit_tamper__not_a_log)
{
    char path[4200];
    tmp_path(path, sizeof(path), "junk.log");
    FILE *f = fopen(path, "w");
    fputs("{\"hello\": 1}\n", f);
    fclose(f);
    miaopi_log_report r = verify(path, NULL);
    ck_assert_int_eq(r.problem, MIAOPI_LOG_MALFORMED);
    miaopi_log *log = NULL;
    miaopi_error err;
    ck_assert_int_eq(miaopi_log_open(&log, path, NULL, &err), MIAOPI_EIO);
}
END_TEST

/* ---- crash safety ---- */

START_TEST(test_audit_crash__torn_tail_recovered)
{
    char path[4200];
    tmp_path(path, sizeof(path), "torn.log");
    write_log(path, 5, NULL);
    FILE *f = fopen(path, "ab");
    fputs("{\"hash\":\"0123", f); /* a crash in the middle of a write */
    fclose(f);
    ck_assert_int_eq(verify(path, NULL).problem, MIAOPI_LOG_TORN);
    miaopi_log *log;
    miaopi_error err;
    ck_assert_int_eq(miaopi_log_open(&log, path, NULL, &err), MIAOPI_OK);
    ck_assert_int_eq(miaopi_log_recovered(log), 1);
    ck_assert_uint_eq(miaopi_log_next_seq(log), 7); /* 6 is the recovery */
    miaopi_log_close(log, NULL);
    miaopi_log_report r = verify(path, NULL);
    ck_assert_msg(r.problem == MIAOPI_LOG_INTACT, "%s", r.message);
    ck_assert_uint_eq(r.last_seq, 6);
    /* The recovery entry says what was cut. */
    miaopi_log_reader *rd;
    ck_assert_int_eq(miaopi_log_reader_open(&rd, path, &err), MIAOPI_OK);
    const miaopi_log_entry *e;
    int seen = 0;
    while (miaopi_log_reader_next(rd, &e, &err) == 1)
        if (strcmp(miaopi_log_entry_type(e), "recovery") == 0) {
            seen++;
            ck_assert_ptr_nonnull(
                strstr(miaopi_log_entry_json(e), "\"torn_bytes\":13"));
        }
    miaopi_log_reader_free(rd);
    ck_assert_int_eq(seen, 1);
}
END_TEST

START_TEST(test_audit_crash__sigkill_loses_nothing)
{
    char path[4200];
    tmp_path(path, sizeof(path), "killed.log");
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* The writer: report every completed append, forever. */
        close(fds[0]);
        miaopi_ruleset *rs = NULL;
        miaopi_case *c = NULL;
        miaopi_decision *d = NULL;
        miaopi_log *log = NULL;
        miaopi_log_options lo = MIAOPI_LOG_OPTIONS_INIT;
        lo.sync = MIAOPI_SYNC_NEVER;
        if (miaopi_ruleset_load_file(&rs, rules_path, NULL, NULL) ||
            miaopi_case_load_file(&c, "/dev/null", NULL) != MIAOPI_ECASE ||
            miaopi_decision_new(&d) || miaopi_log_open(&log, path, &lo, NULL))
            _exit(3);
        char cpath[4200];
        snprintf(cpath, sizeof(cpath), "%s/reject-age.json", cases_dir);
        if (miaopi_case_load_file(&c, cpath, NULL) ||
            miaopi_evaluate(d, rs, c, NULL, NULL))
            _exit(4);
        for (;;) {
            uint64_t seq;
            if (miaopi_log_append(log, d, c, &seq, NULL) != MIAOPI_OK)
                _exit(5);
            if (write(fds[1], &seq, sizeof(seq)) != sizeof(seq))
                _exit(6);
        }
    }
    close(fds[1]);
    uint64_t seq = 0, last = 0;
    /* Let it write a few hundred entries, then kill it mid-loop. */
    while (last < 300 && read(fds[0], &seq, sizeof(seq)) == sizeof(seq))
        last = seq;
    kill(pid, SIGKILL);
    while (read(fds[0], &seq, sizeof(seq)) == sizeof(seq))
        last = seq;
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    ck_assert(WIFSIGNALED(status));
    /* Reopen, continue, verify: every reported entry is there. */
    write_log(path, 4, NULL);
    miaopi_log_report r = verify(path, NULL);
    ck_assert_msg(r.problem == MIAOPI_LOG_INTACT, "%s", r.message);
    ck_assert_uint_ge(r.last_seq, last + 4);
}
END_TEST

/* ---- threads ---- */

typedef struct appender {
    miaopi_log *log;
    const miaopi_ruleset *rs;
    miaopi_case *c;
    int n;
    int failures;
} appender;

static void *append_many(void *arg)
{
    appender *a = arg;
    miaopi_decision *d;
    if (miaopi_decision_new(&d) != MIAOPI_OK) {
        a->failures = a->n;
        return NULL;
    }
    for (int i = 0; i < a->n; i++)
        if (miaopi_evaluate(d, a->rs, a->c, NULL, NULL) != MIAOPI_OK ||
            miaopi_log_append(a->log, d, a->c, NULL, NULL) != MIAOPI_OK)
            a->failures++;
    miaopi_decision_free(d);
    return NULL;
}

START_TEST(test_audit_threads__four_by_ten_thousand)
{
    char path[4200];
    tmp_path(path, sizeof(path), "threads.log");
    miaopi_ruleset *rs = load_rules();
    miaopi_case *c = load_case("approve");
    miaopi_log *log;
    miaopi_log_options lo = MIAOPI_LOG_OPTIONS_INIT;
    lo.sync = MIAOPI_SYNC_NEVER;
    ck_assert_int_eq(miaopi_log_open(&log, path, &lo, NULL), MIAOPI_OK);
    pthread_t t[4];
    appender a[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (appender){log, rs, c, 10000, 0};
        ck_assert_int_eq(pthread_create(&t[i], NULL, append_many, &a[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        ck_assert_int_eq(a[i].failures, 0);
    }
    ck_assert_int_eq(miaopi_log_close(log, NULL), MIAOPI_OK);
    miaopi_log_report r = verify(path, NULL);
    ck_assert_msg(r.problem == MIAOPI_LOG_INTACT, "%s", r.message);
    ck_assert_uint_eq(r.entries, 40001);
    ck_assert_uint_eq(r.last_seq, 40000);
    miaopi_case_free(c);
    miaopi_ruleset_unref(rs);
}
END_TEST

/* ---- replay ---- */

START_TEST(test_audit_replay__reproduces_everything)
{
    char path[4200];
    tmp_path(path, sizeof(path), "replay.log");
    write_log(path, 12, NULL);
    miaopi_ruleset *rs = load_rules();
    miaopi_decision *d;
    miaopi_decision_new(&d);
    miaopi_log_reader *rd;
    miaopi_error err;
    ck_assert_int_eq(miaopi_log_reader_open(&rd, path, &err), MIAOPI_OK);
    const miaopi_log_entry *e;
    int n = 0, header = 0;
    while (miaopi_log_reader_next(rd, &e, &err) == 1) {
        if (strcmp(miaopi_log_entry_type(e), "header") == 0) {
            header++;
            ck_assert_ptr_null(miaopi_log_entry_case(e));
            continue;
        }
        ck_assert_str_eq(miaopi_log_entry_ruleset_sha256(e),
                         miaopi_ruleset_sha256(rs));
        ck_assert_str_eq(miaopi_log_entry_ruleset_id(e), "sz-talent");
        ck_assert_int_eq((int)strlen(miaopi_log_entry_id(e)), 36);
        miaopi_eval_options eo = MIAOPI_EVAL_OPTIONS_INIT;
        eo.decision_id = miaopi_log_entry_id(e);
        ck_assert_int_eq(
            miaopi_evaluate(d, rs, miaopi_log_entry_case(e), &eo, &err), 0);
        ck_assert_int_eq(miaopi_decision_outcome(d),
                         miaopi_log_entry_outcome(e));
        ck_assert_uint_eq(miaopi_log_entry_rule_count(e),
                          miaopi_decision_rule_count(d));
        for (size_t i = 0; i < miaopi_decision_rule_count(d); i++) {
            miaopi_rule_result rr = MIAOPI_RULE_RESULT_INIT;
            const char *id;
            miaopi_rule_status st;
            miaopi_decision_rule(&rr, d, i);
            ck_assert_int_eq(miaopi_log_entry_rule(e, i, &id, &st), 0);
            ck_assert_str_eq(id, rr.id);
            ck_assert_int_eq(st, rr.status);
        }
        ck_assert_int_eq(miaopi_log_entry_rule(e, 99, NULL, NULL),
                         MIAOPI_ENOTFOUND);
        n++;
    }
    ck_assert_int_eq(n, 12);
    ck_assert_int_eq(header, 1);
    miaopi_log_reader_free(rd);
    miaopi_decision_free(d);
    miaopi_ruleset_unref(rs);
}
END_TEST

/* ---- replay of fetched records ---- */

/* Serves the xuexin record of the approve case, counting calls. */
typedef struct xuexin_server {
    char *record;
    int calls;
} xuexin_server;

static int serve_xuexin(miaopi_fetch_reply *out,
                        const miaopi_fetch_request *req, void *payload)
{
    xuexin_server *s = payload;
    s->calls++;
    if (strcmp(req->source, "xuexin") != 0)
        return MIAOPI_FETCH_NOT_FOUND;
    if (miaopi_fetch_reply_set_json(out, s->record, strlen(s->record)) != 0)
        return MIAOPI_FETCH_UNAVAILABLE;
    miaopi_fetch_reply_set_provenance(out, "xuexin-gateway",
                                      "2024-05-01T08:00:00+08:00", "v7");
    return MIAOPI_FETCH_FOUND;
}

START_TEST(test_audit_replay__fetched_records_are_logged)
{
    /* The case reaches the engine without its xuexin record; a resolver
     * fetches it. The log must hold the record, so the replay, which has
     * no resolver, decides the same. */
    miaopi_ruleset *rs = load_rules();
    miaopi_case *full = load_case("approve");
    char *json;
    ck_assert_int_eq(miaopi_case_to_json(&json, full), 0);
    const char *x = strstr(json, "\"xuexin\":");
    ck_assert_ptr_nonnull(x);
    x += strlen("\"xuexin\":");
    const char *end = strchr(x, '}');
    xuexin_server srv = {strndup(x, (size_t)(end - x + 1)), 0};
    miaopi_case *c;
    /* Absent (not null, which means unavailable) so the resolver is
     * asked. */
    char *stripped = strdup(json);
    char *at = strstr(stripped, ",\"xuexin\":");
    ck_assert_ptr_nonnull(at);
    memmove(at, strchr(at + 1, '}') + 1, strlen(strchr(at + 1, '}') + 1) + 1);
    miaopi_error err;
    ck_assert_int_eq(miaopi_case_from_json(&c, stripped, strlen(stripped),
                                           &err), 0);
    miaopi_resolvers *res;
    ck_assert_int_eq(miaopi_resolvers_new(&res), 0);
    ck_assert_int_eq(miaopi_resolvers_add(res, "xuexin", serve_xuexin, &srv),
                     0);
    miaopi_eval_options eo = MIAOPI_EVAL_OPTIONS_INIT;
    eo.resolvers = res;
    miaopi_decision *d;
    miaopi_decision_new(&d);
    ck_assert_int_eq(miaopi_evaluate(d, rs, c, &eo, &err), 0);
    ck_assert_int_eq(srv.calls, 1);
    ck_assert_int_eq(miaopi_decision_outcome(d), MIAOPI_APPROVE);
    char path[4200];
    tmp_path(path, sizeof(path), "fetched.log");
    miaopi_log *log;
    ck_assert_int_eq(miaopi_log_open(&log, path, NULL, &err), 0);
    ck_assert_int_eq(miaopi_log_append(log, d, c, NULL, &err), 0);
    miaopi_log_close(log, NULL);
    miaopi_log_reader *rd;
    ck_assert_int_eq(miaopi_log_reader_open(&rd, path, &err), 0);
    const miaopi_log_entry *e;
    ck_assert_int_eq(miaopi_log_reader_next(rd, &e, &err), 1); /* header */
    ck_assert_int_eq(miaopi_log_reader_next(rd, &e, &err), 1);
    ck_assert_ptr_nonnull(strstr(miaopi_log_entry_json(e),
                                 "\"origin\":\"xuexin-gateway\""));
    ck_assert_int_eq(miaopi_evaluate(d, rs, miaopi_log_entry_case(e), NULL,
                                     &err), 0);
    ck_assert_int_eq(miaopi_decision_outcome(d), MIAOPI_APPROVE);
    ck_assert_int_eq(srv.calls, 1); /* no resolver involved in the replay */
    miaopi_log_reader_free(rd);
    miaopi_decision_free(d);
    miaopi_resolvers_free(res);
    miaopi_case_free(c);
    miaopi_case_free(full);
    free(stripped);
    free(srv.record);
    miaopi_free(json);
    miaopi_ruleset_unref(rs);
}
END_TEST

/* ---- shadow mode and spot checks ---- */

static miaopi_ruleset *load_variant(const char *from, const char *to)
{
    FILE *f = fopen(rules_path, "rb");
    ck_assert_ptr_nonnull(f);
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strstr(buf, from);
    ck_assert_ptr_nonnull(p);
    size_t fl = strlen(from), tl = strlen(to);
    memmove(p + tl, p + fl, n - (size_t)(p - buf) - fl + 1);
    memcpy(p, to, tl);
    miaopi_ruleset *rs = NULL;
    miaopi_error err;
    ck_assert_msg(miaopi_ruleset_load_buffer(&rs, buf, strlen(buf), "variant",
                                             NULL, &err) == MIAOPI_OK,
                  "%s", err.message);
    return rs;
}

START_TEST(test_audit_shadow__divergence_logged)
{
    miaopi_ruleset *live = load_rules();
    /* The candidate lowers the 本科 age limit from 35 to 24. */
    miaopi_ruleset *cand = load_variant("<row key=\"本科\">35</row>",
                                        "<row key=\"本科\">24</row>");
    miaopi_decision *d;
    miaopi_decision_new(&d);
    miaopi_eval_options eo = MIAOPI_EVAL_OPTIONS_INIT;
    eo.shadow = cand;
    miaopi_case *same = load_case("reject-age"); /* 硕士: same under both */
    ck_assert_int_eq(miaopi_evaluate(d, live, same, &eo, NULL), 0);
    ck_assert_ptr_nonnull(miaopi_decision_shadow(d));
    ck_assert_int_eq(miaopi_decision_diverged(d), 0);
    miaopi_case *c = load_case("approve");
    ck_assert_int_eq(miaopi_evaluate(d, live, c, &eo, NULL), 0);
    ck_assert_int_eq(miaopi_decision_outcome(d), MIAOPI_APPROVE);
    const miaopi_decision *s = miaopi_decision_shadow(d);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(miaopi_decision_outcome(s), MIAOPI_REJECT);
    ck_assert_int_eq(miaopi_decision_diverged(d), 1);
    char *json;
    ck_assert_int_eq(miaopi_decision_to_json(&json, d, NULL, 0), 0);
    ck_assert_ptr_nonnull(strstr(json, "\"diverged\":true"));
    ck_assert_ptr_nonnull(strstr(json, "\"shadow\":{\"decision\":\"REJECT\""));
    miaopi_free(json);
    miaopi_case_free(c);
    miaopi_case_free(same);
    miaopi_decision_free(d);
    miaopi_ruleset_unref(cand);
    miaopi_ruleset_unref(live);
}
END_TEST

START_TEST(test_audit_spot__deterministic_by_id)
{
    miaopi_ruleset *rs = load_rules();
    miaopi_case *c = load_case("approve");
    miaopi_decision *d;
    miaopi_decision_new(&d);
    miaopi_eval_options eo = MIAOPI_EVAL_OPTIONS_INIT;
    eo.spot_check_rate = 0.3;
    int selected = 0;
    char id[64];
    for (int i = 0; i < 2000; i++) {
        snprintf(id, sizeof(id), "case-%d", i);
        eo.decision_id = id;
        ck_assert_int_eq(miaopi_evaluate(d, rs, c, &eo, NULL), 0);
        int first = miaopi_decision_spot_check(d);
        ck_assert_int_eq(miaopi_evaluate(d, rs, c, &eo, NULL), 0);
        ck_assert_int_eq(miaopi_decision_spot_check(d), first);
        ck_assert_str_eq(miaopi_decision_id(d), id);
        selected += first;
    }
    /* About 30%: a binomial(2000, 0.3) is within 450..750 surely. */
    ck_assert_int_gt(selected, 450);
    ck_assert_int_lt(selected, 750);
    /* Only approvals are sampled. */
    miaopi_case *r = load_case("reject-age");
    eo.spot_check_rate = 1;
    ck_assert_int_eq(miaopi_evaluate(d, rs, r, &eo, NULL), 0);
    ck_assert_int_eq(miaopi_decision_spot_check(d), 0);
    ck_assert_int_eq(miaopi_evaluate(d, rs, c, &eo, NULL), 0);
    ck_assert_int_eq(miaopi_decision_spot_check(d), 1);
    eo.spot_check_rate = 0;
    eo.decision_id = NULL;
    ck_assert_int_eq(miaopi_evaluate(d, rs, c, &eo, NULL), 0);
    ck_assert_int_eq(miaopi_decision_spot_check(d), 0);
    ck_assert_int_eq((int)strlen(miaopi_decision_id(d)), 36);
    miaopi_case_free(r);
    miaopi_case_free(c);
    miaopi_decision_free(d);
    miaopi_ruleset_unref(rs);
}
END_TEST

/* ---- redaction ---- */

START_TEST(test_audit_redact__masked_and_verifiable)
{
    char path[4200], out[4200];
    tmp_path(path, sizeof(path), "orig.log");
    tmp_path(out, sizeof(out), "redacted.log");
    write_log(path, 4, NULL);
    miaopi_ruleset *rs = load_rules();
    FILE *f = fopen(out, "wb");
    miaopi_error err;
    int rc = miaopi_log_redact(path, fileno(f), &rs, 1, NULL, &err);
    fclose(f);
    ck_assert_msg(rc == MIAOPI_OK, "%s", err.message);
    miaopi_log_report orig = verify(path, NULL);
    miaopi_log_report r = verify(out, NULL);
    ck_assert_msg(r.problem == MIAOPI_LOG_INTACT, "%s", r.message);
    ck_assert_uint_eq(r.entries, 5);
    lines l = read_lines(out);
    ck_assert_ptr_nonnull(strstr(l.line[0], orig.final_hash));
    for (size_t i = 1; i < l.n; i++) {
        ck_assert_ptr_nonnull(strstr(l.line[i], "\"id_number\":\"4403****"));
        ck_assert_ptr_null(strstr(l.line[i], "\"name\":\"张三\""));
        ck_assert_ptr_nonnull(strstr(l.line[i], "\"original_seq\":"));
    }
    free_lines(&l);
    /* Without the entries' ruleset the copy cannot be made. */
    f = fopen(out, "wb");
    ck_assert_int_eq(miaopi_log_redact(path, fileno(f), NULL, 0, NULL, &err),
                     MIAOPI_ENOTFOUND);
    fclose(f);
    miaopi_ruleset_unref(rs);
}
END_TEST

static Suite *audit_suite(void)
{
    Suite *s = suite_create("audit");
    TCase *tc = tcase_create("hash");
    tcase_add_test(tc, test_audit_hash__vectors);
    suite_add_tcase(s, tc);
    tc = tcase_create("chain");
    tcase_add_test(tc, test_audit_chain__intact_sha256_sm3_hmac);
    tcase_add_test(tc, test_audit_chain__reopen_continues);
    suite_add_tcase(s, tc);
    tc = tcase_create("tamper");
    tcase_add_test(tc, test_audit_tamper__changed_byte);
    tcase_add_test(tc, test_audit_tamper__deleted_line);
    tcase_add_test(tc, test_audit_tamper__swapped_lines);
    tcase_add_test(tc, test_audit_tamper__duplicated_line);
    tcase_add_test(tc, test_audit_tamper__truncated_mid_line);
    tcase_add_test(tc, test_audit_tamper__rehashed_entry);
    tcase_add_test(tc, test_audit_tamper__wrong_key);
    tcase_add_test(tc, test_audit_tamper__forged_without_key);
    tcase_add_test(tc, test_audit_tamper__not_a_log);
    suite_add_tcase(s, tc);
    tc = tcase_create("crash");
    tcase_add_test(tc, test_audit_crash__torn_tail_recovered);
    tcase_add_test(tc, test_audit_crash__sigkill_loses_nothing);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    tc = tcase_create("threads");
    tcase_add_test(tc, test_audit_threads__four_by_ten_thousand);
    tcase_set_timeout(tc, 300);
    suite_add_tcase(s, tc);
    tc = tcase_create("replay");
    tcase_add_test(tc, test_audit_replay__reproduces_everything);
    tcase_add_test(tc, test_audit_replay__fetched_records_are_logged);
    tcase_add_test(tc, test_audit_shadow__divergence_logged);
    tcase_add_test(tc, test_audit_spot__deterministic_by_id);
    tcase_add_test(tc, test_audit_redact__masked_and_verifiable);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    setup_paths();
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    SRunner *sr = srunner_create(audit_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return failed ? 1 : 0;
}
