/*
 * Threads: four evaluators share one ruleset and three cases while a
 * fifth thread hot-reloads the ruleset over and over. Built normally it
 * checks that every decision stays right; built with
 * -Db_sanitize=thread it is the ThreadSanitizer test (see
 * docs/fuzzing.md, "Sanitizers").
 *
 * The hand-over is the pattern an embedder should use: the current
 * ruleset lives in one pointer; a reader takes a reference to it under a
 * short lock (loading the pointer and taking the reference must not be
 * split by the writer's unref, or the reader could reference a freed
 * ruleset); the writer loads a fresh copy outside the lock, publishes it
 * under the lock, and drops its reference to the old one after. A reader
 * that still evaluates with the old ruleset keeps it alive through its
 * own reference (and its decision's). Every decision is appended to one
 * shared decision log, which must verify intact with one entry per
 * evaluation.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "miaopi.h"

#define EVALUATORS 4
#define ROUNDS 300   /* per evaluator, each over all cases */
#define RELOADS 25

static const char *const case_files[] = {
    "rules/sz-talent/cases/approve.json",
    "rules/sz-talent/cases/reject-age.json",
    "rules/sz-talent/cases/escalate-no-xuexin.json",
};
static const miaopi_outcome expected[] = {MIAOPI_APPROVE, MIAOPI_REJECT,
                                          MIAOPI_ESCALATE};
#define NCASES 3

typedef struct shared {
    pthread_mutex_t lock;
    miaopi_ruleset *current; /* guarded by lock */
    miaopi_case *cases[NCASES];
    char *rules_path;
    miaopi_log *log;
    atomic_int stop;
    atomic_long evaluations;
    atomic_long wrong;
    atomic_long reloads;
} shared;

static miaopi_ruleset *acquire(shared *s)
{
    pthread_mutex_lock(&s->lock);
    miaopi_ruleset *rs = miaopi_ruleset_ref(s->current);
    pthread_mutex_unlock(&s->lock);
    return rs;
}

static void publish(shared *s, miaopi_ruleset *fresh)
{
    pthread_mutex_lock(&s->lock);
    miaopi_ruleset *old = s->current;
    s->current = fresh;
    pthread_mutex_unlock(&s->lock);
    miaopi_ruleset_unref(old);
}

static void *evaluator(void *arg)
{
    shared *s = arg;
    miaopi_decision *d = NULL;
    if (miaopi_decision_new(&d) != MIAOPI_OK)
        return (void *)1;
    /* At least ROUNDS, and for as long as the reloader runs. */
    for (int r = 0; r < ROUNDS || !atomic_load(&s->stop); r++) {
        for (int i = 0; i < NCASES; i++) {
            miaopi_ruleset *rs = acquire(s);
            miaopi_error err;
            int rc = miaopi_evaluate(d, rs, s->cases[i], NULL, &err);
            if (rc != MIAOPI_OK || miaopi_decision_outcome(d) != expected[i])
                atomic_fetch_add(&s->wrong, 1);
            if (miaopi_log_append(s->log, d, s->cases[i], NULL, &err) !=
                MIAOPI_OK)
                atomic_fetch_add(&s->wrong, 1);
            /* Read the results while still holding the reference. */
            miaopi_reason reason = MIAOPI_REASON_INIT;
            if (miaopi_decision_reason_count(d) > 0 &&
                (miaopi_decision_reason(&reason, d, 0, "en") != MIAOPI_OK ||
                 !reason.message))
                atomic_fetch_add(&s->wrong, 1);
            miaopi_ruleset_unref(rs);
            atomic_fetch_add(&s->evaluations, 1);
        }
    }
    miaopi_decision_free(d);
    return NULL;
}

static void *reloader(void *arg)
{
    shared *s = arg;
    for (int i = 0; i < RELOADS; i++) {
        miaopi_ruleset *fresh = NULL;
        if (miaopi_ruleset_load_file(&fresh, s->rules_path, NULL, NULL) !=
            MIAOPI_OK)
            return (void *)1;
        publish(s, fresh);
        atomic_fetch_add(&s->reloads, 1);
    }
    atomic_store(&s->stop, 1);
    return NULL;
}

static char *path_of(const char *rel)
{
    const char *root = getenv("MIAOPI_SOURCE_ROOT");
    ck_assert_msg(root != NULL, "MIAOPI_SOURCE_ROOT is not set");
    size_t n = strlen(root) + strlen(rel) + 2;
    char *p = malloc(n);
    ck_assert_ptr_nonnull(p);
    snprintf(p, n, "%s/%s", root, rel);
    return p;
}

START_TEST(test_threads_reload__evaluate_while_reloading)
{
    shared s;
    memset(&s, 0, sizeof(s));
    pthread_mutex_init(&s.lock, NULL);
    s.rules_path = path_of("rules/sz-talent/ruleset.xml");
    ck_assert_int_eq(miaopi_ruleset_load_file(&s.current, s.rules_path, NULL,
                                              NULL),
                     MIAOPI_OK);
    for (int i = 0; i < NCASES; i++) {
        char *p = path_of(case_files[i]);
        ck_assert_int_eq(miaopi_case_load_file(&s.cases[i], p, NULL),
                         MIAOPI_OK);
        free(p);
    }
    char dir[] = "/tmp/miaopi-threads-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char logpath[64];
    snprintf(logpath, sizeof(logpath), "%s/log.jsonl", dir);
    ck_assert_int_eq(miaopi_log_open(&s.log, logpath, NULL, NULL),
                     MIAOPI_OK);
    pthread_t ev[EVALUATORS], rl;
    for (int i = 0; i < EVALUATORS; i++)
        ck_assert_int_eq(pthread_create(&ev[i], NULL, evaluator, &s), 0);
    ck_assert_int_eq(pthread_create(&rl, NULL, reloader, &s), 0);
    void *ret;
    pthread_join(rl, &ret);
    if (ret)
        atomic_store(&s.stop, 1);
    ck_assert_ptr_null(ret);
    for (int i = 0; i < EVALUATORS; i++) {
        pthread_join(ev[i], &ret);
        ck_assert_ptr_null(ret);
    }
    printf("threads: %ld evaluations on %d threads across %ld reloads, "
           "%ld wrong\n",
           atomic_load(&s.evaluations), EVALUATORS, atomic_load(&s.reloads),
           atomic_load(&s.wrong));
    ck_assert_int_eq(atomic_load(&s.wrong), 0);
    ck_assert_int_ge(atomic_load(&s.evaluations),
                     (long)EVALUATORS * ROUNDS * NCASES);
    ck_assert_int_eq(atomic_load(&s.reloads), RELOADS);
    ck_assert_int_eq(miaopi_log_close(s.log, NULL), MIAOPI_OK);
    miaopi_log_report rep = MIAOPI_LOG_REPORT_INIT;
    ck_assert_int_eq(miaopi_log_verify(&rep, logpath, NULL, 0, NULL),
                     MIAOPI_OK);
    ck_assert_msg(rep.problem == MIAOPI_LOG_INTACT, "%s", rep.message);
    ck_assert_int_eq(rep.entries, atomic_load(&s.evaluations) + 1);
    remove(logpath);
    rmdir(dir);
    for (int i = 0; i < NCASES; i++)
        miaopi_case_free(s.cases[i]);
    miaopi_ruleset_unref(s.current);
    pthread_mutex_destroy(&s.lock);
    free(s.rules_path);
}
END_TEST

/* Concurrent loads: the loader's shared state (libxml2 initialisation,
 * the compiled schema) under contention, including a first load racing
 * others. */
static void *loader_thread(void *arg)
{
    const char *path = arg;
    for (int i = 0; i < 5; i++) {
        miaopi_ruleset *rs = NULL;
        if (miaopi_ruleset_load_file(&rs, path, NULL, NULL) != MIAOPI_OK)
            return (void *)1;
        miaopi_ruleset_unref(rs);
    }
    return NULL;
}

START_TEST(test_threads_load__concurrent)
{
    char *path = path_of("rules/sz-talent/ruleset.xml");
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, loader_thread, path),
                         0);
    for (int i = 0; i < 4; i++) {
        void *ret;
        pthread_join(t[i], &ret);
        ck_assert_ptr_null(ret);
    }
    free(path);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("threads");
    TCase *tc = tcase_create("reload");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_threads_reload__evaluate_while_reloading);
    suite_add_tcase(s, tc);
    tc = tcase_create("load");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_threads_load__concurrent);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
