/*
 * Decision ids: random UUIDs drawn from a pool of random bytes kept in
 * each decision (lib/idpool.c). Every id is well formed and issued once:
 * within one decision, across decisions, and across fork(), where the
 * child holds a copy of the parent's pool and must not use it.
 */
#include <miaopi.h>

#include "internal.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define ID_LEN 36

static char rules_path[4096];

/* sz-talent's approve case: an APPROVE, so a spot-check rate makes ids
 * during evaluation as well as through miaopi_decision_id. */
static const char case_text[] =
    "{\"application\":{\"id_number\":\"440305199807151231\",\"name\":"
    "\"李明轩\",\"phone\":\"13826541234\",\"degree\":\"本科\","
    "\"employer_uscc\":\"91440300MA5F12342Q\"},\"sources\":{\"hukou\":{"
    "\"name\":\"李明轩\",\"id_number\":\"440305199807151231\","
    "\"registered_city\":\"湛江市\",\"has_criminal_record\":false},"
    "\"xuexin\":{\"name\":\"李明轩\",\"id_number\":\"440305199807151231\","
    "\"degree\":\"本科\",\"study_mode\":\"全日制\",\"graduation_date\":"
    "\"2023-06-30\",\"school\":\"华南理工大学\"},\"shebao\":{\"months_paid\":"
    "6,\"employer_uscc\":\"91440300MA5F12342Q\",\"city\":\"深圳市\"}},"
    "\"context\":{\"decision_date\":\"2024-05-01\"}}";

static miaopi_ruleset *rs;
static miaopi_case *kase;

static void setup(void)
{
    miaopi_error err;
    ck_assert_msg(miaopi_ruleset_load_file(&rs, rules_path, NULL, &err) ==
                      MIAOPI_OK,
                  "%s", err.message);
    ck_assert_msg(miaopi_case_from_json(&kase, case_text, strlen(case_text),
                                        &err) == MIAOPI_OK,
                  "%s", err.message);
}

static void teardown(void)
{
    miaopi_case_free(kase);
    miaopi_ruleset_unref(rs);
}

/* Evaluate and return the decision's new id, or NULL. Every other
 * evaluation asks for a spot check, which makes the id inside
 * miaopi_evaluate; the others make it in miaopi_decision_id. Safe in a
 * forked child: no check assertions. */
static const char *next_id(miaopi_decision *d, unsigned i)
{
    miaopi_eval_options o = MIAOPI_EVAL_OPTIONS_INIT;
    o.spot_check_rate = i % 2 ? 0.5 : 0;
    if (miaopi_evaluate(d, rs, kase, &o, NULL) != MIAOPI_OK)
        return NULL;
    const char *id = miaopi_decision_id(d);
    return strlen(id) == ID_LEN ? id : NULL;
}

/* 8-4-4-4-12 lower-case hex digits, version 4, variant 10xx. */
static int uuid4_ok(const char *s)
{
    if (strlen(s) != ID_LEN)
        return 0;
    for (int i = 0; i < ID_LEN; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!strchr("0123456789abcdef", s[i]) || !s[i]) {
            return 0;
        }
    }
    return s[14] == '4' && strchr("89ab", s[19]) != NULL;
}

static int cmp_id(const void *a, const void *b)
{
    return memcmp(a, b, ID_LEN);
}

/* Sort n ids of ID_LEN bytes each; 1 if all differ. */
static int all_distinct(char (*ids)[ID_LEN], size_t n)
{
    qsort(ids, n, ID_LEN, cmp_id);
    for (size_t i = 1; i < n; i++)
        if (memcmp(ids[i - 1], ids[i], ID_LEN) == 0)
            return 0;
    return 1;
}

enum { MANY = 10000 };

START_TEST(test_ids_unique__many_from_one_decision)
{
    char(*ids)[ID_LEN] = malloc(MANY * sizeof(*ids));
    ck_assert_ptr_nonnull(ids);
    miaopi_decision *d;
    ck_assert_int_eq(miaopi_decision_new(&d), MIAOPI_OK);
    for (unsigned i = 0; i < MANY; i++) {
        const char *id = next_id(d, i);
        ck_assert_ptr_nonnull(id);
        ck_assert_msg(uuid4_ok(id), "not a UUIDv4: %s", id);
        /* Asking again gives the same id, not a new one. */
        ck_assert_str_eq(miaopi_decision_id(d), id);
        memcpy(ids[i], id, ID_LEN);
    }
    ck_assert(all_distinct(ids, MANY));
    miaopi_decision_free(d);
    free(ids);
}
END_TEST

START_TEST(test_ids_unique__two_decisions)
{
    enum { N = 100 };
    char(*ids)[ID_LEN] = malloc(2 * N * sizeof(*ids));
    ck_assert_ptr_nonnull(ids);
    miaopi_decision *a, *b;
    ck_assert_int_eq(miaopi_decision_new(&a), MIAOPI_OK);
    ck_assert_int_eq(miaopi_decision_new(&b), MIAOPI_OK);
    /* Interleaved, so both pools are live at once. */
    for (unsigned i = 0; i < N; i++) {
        const char *x = next_id(a, i);
        ck_assert_ptr_nonnull(x);
        memcpy(ids[2 * i], x, ID_LEN);
        const char *y = next_id(b, i);
        ck_assert_ptr_nonnull(y);
        memcpy(ids[2 * i + 1], y, ID_LEN);
    }
    ck_assert(all_distinct(ids, 2 * N));
    miaopi_decision_free(a);
    miaopi_decision_free(b);
    free(ids);
}
END_TEST

/* A given id is used as is and does not consume the pool. */
START_TEST(test_ids_unique__given_id_kept)
{
    miaopi_decision *d;
    ck_assert_int_eq(miaopi_decision_new(&d), MIAOPI_OK);
    miaopi_eval_options o = MIAOPI_EVAL_OPTIONS_INIT;
    o.decision_id = "replayed-id";
    o.spot_check_rate = 1;
    ck_assert_int_eq(miaopi_evaluate(d, rs, kase, &o, NULL), MIAOPI_OK);
    ck_assert_str_eq(miaopi_decision_id(d), "replayed-id");
    miaopi_decision_free(d);
}
END_TEST

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static size_t read_all(int fd, void *p, size_t n)
{
    char *c = p;
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, c + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    return got;
}

/* More ids than one pool holds on each side, so the comparison covers
 * the bytes left in the parent's pool at fork() and the draws after. */
enum { PER_SIDE = 2 * MIAOPI__IDPOOL_SIZE / 16 };

/* The parent draws its pool, forks, and both go on issuing ids from the
 * same decision object. Without the fork generation the child would
 * issue the parent's next ids from its copy of the pool. */
START_TEST(test_ids_fork__child_never_repeats_parent)
{
    char(*ids)[ID_LEN] = malloc((2 * PER_SIDE + 1) * sizeof(*ids));
    ck_assert_ptr_nonnull(ids);
    miaopi_decision *d;
    ck_assert_int_eq(miaopi_decision_new(&d), MIAOPI_OK);
    const char *first = next_id(d, 0);
    ck_assert_ptr_nonnull(first);
    memcpy(ids[0], first, ID_LEN);
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* No check assertions here, and everything freed before _exit
         * so that memcheck's leak report does not fail the child. */
        close(fds[0]);
        free(ids);
        int rc = 0;
        for (unsigned i = 0; i < PER_SIDE && rc == 0; i++) {
            const char *id = next_id(d, i);
            if (!id || !uuid4_ok(id) || write_all(fds[1], id, ID_LEN) != 0)
                rc = 1;
        }
        miaopi_decision_free(d);
        teardown();
        _exit(rc);
    }
    close(fds[1]);
    for (unsigned i = 0; i < PER_SIDE; i++) {
        const char *id = next_id(d, i);
        ck_assert_ptr_nonnull(id);
        memcpy(ids[1 + i], id, ID_LEN);
    }
    size_t want = PER_SIDE * ID_LEN;
    ck_assert_uint_eq(read_all(fds[0], ids[1 + PER_SIDE], want), want);
    close(fds[0]);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_msg(all_distinct(ids, 2 * PER_SIDE + 1),
                  "an id was issued by both the parent and the child");
    miaopi_decision_free(d);
    free(ids);
}
END_TEST

/* ---- the pool itself (internal) ---- */

/* A byte copy of a pool (a struct assignment, a memcpy) must not repeat
 * the original's bytes: the pool knows the address it was drawn at. */
START_TEST(test_ids_pool__copy_is_redrawn)
{
    static miaopi__idpool a, b;
    unsigned char x[16], y[16];
    ck_assert_int_eq(miaopi__idpool_take(&a, x, sizeof(x)), MIAOPI_OK);
    b = a;
    ck_assert_int_eq(miaopi__idpool_take(&a, x, sizeof(x)), MIAOPI_OK);
    ck_assert_int_eq(miaopi__idpool_take(&b, y, sizeof(y)), MIAOPI_OK);
    ck_assert(memcmp(x, y, sizeof(x)) != 0);
    miaopi__idpool_wipe(&a);
    miaopi__idpool_wipe(&b);
}
END_TEST

/* Bytes handed out are zeroed in the pool; a wipe zeroes the rest. */
START_TEST(test_ids_pool__consumed_and_wiped)
{
    static miaopi__idpool p;
    static const unsigned char zero[MIAOPI__IDPOOL_SIZE];
    unsigned char x[16];
    ck_assert_int_eq(miaopi__idpool_take(&p, x, sizeof(x)), MIAOPI_OK);
    ck_assert_int_eq(miaopi__idpool_take(&p, x, sizeof(x)), MIAOPI_OK);
    ck_assert(memcmp(p.bytes, zero, 32) == 0);
    ck_assert(memcmp(p.bytes + 32, zero, sizeof(zero) - 32) != 0);
    miaopi__idpool_wipe(&p);
    ck_assert(memcmp(p.bytes, zero, sizeof(zero)) == 0);
    /* An emptied pool draws again. */
    ck_assert_int_eq(miaopi__idpool_take(&p, x, sizeof(x)), MIAOPI_OK);
    ck_assert(memcmp(p.bytes + 16, zero, sizeof(zero) - 16) != 0);
    miaopi__idpool_wipe(&p);
}
END_TEST

int main(void)
{
    const char *root = getenv("MIAOPI_SOURCE_ROOT");
    snprintf(rules_path, sizeof(rules_path), "%s/rules/sz-talent/ruleset.xml",
             root ? root : ".");
    Suite *s = suite_create("ids");
    TCase *tc = tcase_create("unique");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_ids_unique__many_from_one_decision);
    tcase_add_test(tc, test_ids_unique__two_decisions);
    tcase_add_test(tc, test_ids_unique__given_id_kept);
    suite_add_tcase(s, tc);
    tc = tcase_create("fork");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_ids_fork__child_never_repeats_parent);
    suite_add_tcase(s, tc);
    tc = tcase_create("pool");
    tcase_add_test(tc, test_ids_pool__copy_is_redrawn);
    tcase_add_test(tc, test_ids_pool__consumed_and_wiped);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
