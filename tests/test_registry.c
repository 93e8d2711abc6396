/*
 * The ruleset registry through the public API: MIAOPI_EAMBIGUOUS when no
 * id is named and several are held, the generation counter, and
 * snapshots (one set, unaffected by reloads, alive until released, and
 * internally consistent while another thread reloads). Selection by date
 * and transitional provisions are in test_data.c.
 *
 * Built with -Db_sanitize=thread this is also a ThreadSanitizer test (it
 * is in the "threads" suite).
 */
#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "miaopi.h"

/* ---- helpers ---- */

/* A one-rule ruleset @id @version, in force from @from until @until
 * (NULL: open end), that approves applicants aged at most @limit. */
static void write_ruleset(const char *dir, const char *file, const char *id,
                          const char *version, const char *from,
                          const char *until, int limit)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f,
            "<ruleset xmlns=\"urn:miaopi:rules:1\" id=\"%s\" "
            "version=\"%s\" effective-from=\"%s\"%s%s%s>"
            "<title>%s</title><application>"
            "<field name=\"age\" type=\"integer\"/></application>"
            "<rules><rule id=\"age\" on-fail=\"reject\" code=\"AGE\">"
            "<title>age</title><basis>b</basis>"
            "<require>application.age le %d</require><message>m</message>"
            "</rule></rules></ruleset>\n",
            id, version, from, until ? " effective-until=\"" : "",
            until ? until : "", until ? "\"" : "", id, limit);
    ck_assert_int_eq(fclose(f), 0);
}

static void write_file(const char *dir, const char *file, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

static void remove_file(const char *dir, const char *file)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    unlink(path);
}

static char *temp_dir(void)
{
    char *t = strdup("/tmp/miaopi-registry-api-XXXXXX");
    ck_assert_ptr_nonnull(t);
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

static miaopi_case *make_case(const char *json)
{
    miaopi_case *c = NULL;
    miaopi_error err;
    int rc = miaopi_case_from_json(&c, json, strlen(json), &err);
    ck_assert_msg(rc == 0, "case: %s", err.message);
    return c;
}

static const char case_2024[] = "{\"application\": {\"age\": 38}, "
                                "\"context\": {\"decision_date\": "
                                "\"2024-05-01\"}}";

/* ---- ambiguity ---- */

START_TEST(test_registry_ambiguous__no_id_and_several)
{
    char *dir = temp_dir();
    write_ruleset(dir, "a.xml", "alpha", "1", "2024-01-01", NULL, 35);
    write_ruleset(dir, "b.xml", "beta", "1", "2024-01-01", NULL, 40);
    miaopi_registry *reg = NULL;
    miaopi_error err;
    ck_assert_int_eq(miaopi_registry_load(&reg, dir, NULL, &err), 0);
    miaopi_case *c = make_case(case_2024);

    miaopi_ruleset *rs = NULL;
    ck_assert_int_eq(miaopi_registry_select(&rs, reg, NULL, c, &err),
                     MIAOPI_EAMBIGUOUS);
    ck_assert_ptr_null(rs);
    ck_assert_int_eq(err.code, MIAOPI_EAMBIGUOUS);
    /* The message names the ids, so the caller knows what to pass. */
    ck_assert_ptr_nonnull(strstr(err.message, "alpha, beta"));
    ck_assert_str_eq(miaopi_strerror(MIAOPI_EAMBIGUOUS), "MIAOPI_EAMBIGUOUS");
    ck_assert_int_eq(MIAOPI_EAMBIGUOUS, -11);

    /* Evaluation says the same and never approves. */
    miaopi_decision *d = NULL;
    ck_assert_int_eq(miaopi_decision_new(&d), 0);
    ck_assert_int_eq(miaopi_registry_evaluate(d, reg, NULL, c, NULL, &err),
                     MIAOPI_EAMBIGUOUS);
    ck_assert_int_eq(miaopi_decision_outcome(d), MIAOPI_ESCALATE);
    /* Naming one works. */
    ck_assert_int_eq(miaopi_registry_evaluate(d, reg, "beta", c, NULL, &err),
                     0);
    ck_assert_int_eq(miaopi_decision_outcome(d), MIAOPI_APPROVE);
    /* So does a snapshot's selection. */
    miaopi_registry_snapshot *snap = miaopi_registry_snapshot_take(reg);
    ck_assert_int_eq(miaopi_registry_snapshot_select(&rs, snap, NULL, c, &err),
                     MIAOPI_EAMBIGUOUS);
    ck_assert_int_eq(miaopi_registry_snapshot_select(&rs, snap, "alpha", c,
                                                     &err),
                     0);
    ck_assert_str_eq(miaopi_ruleset_id(rs), "alpha");
    miaopi_ruleset_unref(rs);
    miaopi_registry_snapshot_unref(snap);
    /* A NULL argument is still EINVAL: the two stay distinguishable. */
    ck_assert_int_eq(miaopi_registry_select(&rs, NULL, NULL, c, &err),
                     MIAOPI_EINVAL);
    ck_assert_int_eq(miaopi_registry_select(&rs, reg, NULL, NULL, &err),
                     MIAOPI_EINVAL);

    miaopi_decision_free(d);
    miaopi_case_free(c);
    miaopi_registry_free(reg);
    remove_dir(dir);
}
END_TEST

/* Several versions of one id are not ambiguous: the date picks one. */
START_TEST(test_registry_ambiguous__versions_of_one_id)
{
    char *dir = temp_dir();
    write_ruleset(dir, "v1.xml", "grant", "1", "2024-01-01", "2024-07-01", 35);
    write_ruleset(dir, "v2.xml", "grant", "2", "2024-07-01", NULL, 40);
    miaopi_registry *reg = NULL;
    ck_assert_int_eq(miaopi_registry_load(&reg, dir, NULL, NULL), 0);
    miaopi_case *c = make_case(case_2024);
    miaopi_ruleset *rs = NULL;
    ck_assert_int_eq(miaopi_registry_select(&rs, reg, NULL, c, NULL), 0);
    ck_assert_str_eq(miaopi_ruleset_version(rs), "1");
    miaopi_ruleset_unref(rs);
    miaopi_case_free(c);
    miaopi_registry_free(reg);
    remove_dir(dir);
}
END_TEST

/* ---- generation ---- */

START_TEST(test_registry_generation__counts_successful_reloads)
{
    char *dir = temp_dir();
    write_ruleset(dir, "v.xml", "grant", "a", "2024-01-01", NULL, 35);
    miaopi_registry *reg = NULL;
    miaopi_error err;
    ck_assert_int_eq(miaopi_registry_load(&reg, dir, NULL, &err), 0);
    ck_assert_uint_eq(miaopi_registry_generation(reg), 1);

    write_ruleset(dir, "v.xml", "grant", "b", "2024-01-01", NULL, 40);
    ck_assert_int_eq(miaopi_registry_reload(reg, &err), 0);
    ck_assert_uint_eq(miaopi_registry_generation(reg), 2);

    /* A refused reload (an invalid file) keeps the set and its number. */
    write_file(dir, "broken.xml", "<ruleset");
    ck_assert_int_eq(miaopi_registry_reload(reg, &err), MIAOPI_ERULES);
    ck_assert_uint_eq(miaopi_registry_generation(reg), 2);
    /* So does an emptied directory. */
    remove_file(dir, "broken.xml");
    remove_file(dir, "v.xml");
    ck_assert_int_eq(miaopi_registry_reload(reg, &err), MIAOPI_ENOTFOUND);
    ck_assert_uint_eq(miaopi_registry_generation(reg), 2);
    miaopi_ruleset *rs = miaopi_registry_get(reg, 0);
    ck_assert_str_eq(miaopi_ruleset_version(rs), "b");
    miaopi_ruleset_unref(rs);

    /* Reloading an unchanged directory is still a new set. */
    write_ruleset(dir, "v.xml", "grant", "c", "2024-01-01", NULL, 40);
    ck_assert_int_eq(miaopi_registry_reload(reg, &err), 0);
    ck_assert_int_eq(miaopi_registry_reload(reg, &err), 0);
    ck_assert_uint_eq(miaopi_registry_generation(reg), 4);

    ck_assert_uint_eq(miaopi_registry_generation(NULL), 0);
    miaopi_registry_free(reg);
    remove_dir(dir);
}
END_TEST

/* Each registry counts its own sets. */
START_TEST(test_registry_generation__per_registry)
{
    char *dir = temp_dir();
    write_ruleset(dir, "v.xml", "grant", "a", "2024-01-01", NULL, 35);
    miaopi_registry *r1 = NULL, *r2 = NULL;
    ck_assert_int_eq(miaopi_registry_load(&r1, dir, NULL, NULL), 0);
    ck_assert_int_eq(miaopi_registry_reload(r1, NULL), 0);
    ck_assert_int_eq(miaopi_registry_load(&r2, dir, NULL, NULL), 0);
    ck_assert_uint_eq(miaopi_registry_generation(r1), 2);
    ck_assert_uint_eq(miaopi_registry_generation(r2), 1);
    miaopi_registry_free(r1);
    miaopi_registry_free(r2);
    remove_dir(dir);
}
END_TEST

/* ---- snapshots ---- */

START_TEST(test_registry_snapshot__outlives_reload_and_free)
{
    char *dir = temp_dir();
    write_ruleset(dir, "v.xml", "grant", "a", "2024-01-01", NULL, 35);
    miaopi_registry *reg = NULL;
    miaopi_error err;
    ck_assert_int_eq(miaopi_registry_load(&reg, dir, NULL, &err), 0);
    miaopi_registry_snapshot *old = miaopi_registry_snapshot_take(reg);
    ck_assert_ptr_nonnull(old);
    ck_assert_uint_eq(miaopi_registry_snapshot_generation(old), 1);

    /* The new set has two versions, and a second id. */
    write_ruleset(dir, "v.xml", "grant", "b1", "2024-01-01", "2024-07-01",
                  40);
    write_ruleset(dir, "w.xml", "grant", "b2", "2024-07-01", NULL, 40);
    write_ruleset(dir, "x.xml", "other", "1", "2024-01-01", NULL, 40);
    ck_assert_int_eq(miaopi_registry_reload(reg, &err), 0);
    miaopi_registry_snapshot *cur = miaopi_registry_snapshot_take(reg);
    ck_assert_uint_eq(miaopi_registry_snapshot_generation(cur), 2);
    ck_assert_uint_eq(miaopi_registry_snapshot_count(cur), 3);
    ck_assert_uint_eq(miaopi_registry_count(reg), 3);

    /* The old snapshot still lists and selects in the old set. */
    ck_assert_uint_eq(miaopi_registry_snapshot_generation(old), 1);
    ck_assert_uint_eq(miaopi_registry_snapshot_count(old), 1);
    miaopi_ruleset *listed = miaopi_registry_snapshot_get(old, 0);
    ck_assert_str_eq(miaopi_ruleset_version(listed), "a");
    ck_assert_ptr_null(miaopi_registry_snapshot_get(old, 1));
    miaopi_case *c = make_case(case_2024);
    miaopi_ruleset *sel = NULL;
    ck_assert_int_eq(miaopi_registry_snapshot_select(&sel, old, NULL, c, &err),
                     0);
    ck_assert_str_eq(miaopi_ruleset_version(sel), "a");
    /* ...while the registry and the new snapshot select in the new one. */
    miaopi_ruleset *now = NULL;
    ck_assert_int_eq(miaopi_registry_snapshot_select(&now, cur, "grant", c,
                                                     &err),
                     0);
    ck_assert_str_eq(miaopi_ruleset_version(now), "b1");
    miaopi_ruleset_unref(now);

    /* Everything outlives the registry: the snapshots, and the rulesets
     * got from them outlive the snapshots (ASan and valgrind check the
     * memory; the decisions check the rules still work). */
    miaopi_registry_free(reg);
    ck_assert_uint_eq(miaopi_registry_snapshot_count(old), 1);
    ck_assert_int_eq(miaopi_registry_snapshot_select(&now, cur, "other", c,
                                                     &err),
                     0);
    ck_assert_str_eq(miaopi_ruleset_id(now), "other");
    miaopi_ruleset_unref(now);
    miaopi_registry_snapshot_unref(old);
    miaopi_registry_snapshot_unref(cur);
    miaopi_decision *d = NULL;
    ck_assert_int_eq(miaopi_decision_new(&d), 0);
    ck_assert_int_eq(miaopi_evaluate(d, sel, c, NULL, &err), 0);
    ck_assert_int_eq(miaopi_decision_outcome(d), MIAOPI_REJECT); /* 38>35 */
    ck_assert_int_eq(miaopi_evaluate(d, listed, c, NULL, &err), 0);
    ck_assert_str_eq(miaopi_ruleset_version(miaopi_decision_ruleset(d)), "a");
    miaopi_decision_free(d);
    miaopi_ruleset_unref(sel);
    miaopi_ruleset_unref(listed);
    miaopi_case_free(c);
    remove_dir(dir);
}
END_TEST

START_TEST(test_registry_snapshot__references_and_null)
{
    char *dir = temp_dir();
    write_ruleset(dir, "v.xml", "grant", "a", "2024-01-01", NULL, 35);
    miaopi_registry *reg = NULL;
    ck_assert_int_eq(miaopi_registry_load(&reg, dir, NULL, NULL), 0);
    miaopi_registry_snapshot *s1 = miaopi_registry_snapshot_take(reg);
    miaopi_registry_snapshot *s2 = miaopi_registry_snapshot_take(reg);
    /* Without a reload in between both are the set the registry serves. */
    ck_assert_ptr_eq(s1, s2);
    ck_assert_ptr_eq(miaopi_registry_snapshot_ref(s1), s1);
    miaopi_registry_snapshot_unref(s1);
    miaopi_registry_snapshot_unref(s1);
    ck_assert_uint_eq(miaopi_registry_snapshot_count(s2), 1);
    miaopi_registry_snapshot_unref(s2);
    /* The registry's own reference is untouched. */
    ck_assert_uint_eq(miaopi_registry_count(reg), 1);

    ck_assert_ptr_null(miaopi_registry_snapshot_take(NULL));
    ck_assert_ptr_null(miaopi_registry_snapshot_ref(NULL));
    miaopi_registry_snapshot_unref(NULL);
    ck_assert_uint_eq(miaopi_registry_snapshot_count(NULL), 0);
    ck_assert_uint_eq(miaopi_registry_snapshot_generation(NULL), 0);
    ck_assert_ptr_null(miaopi_registry_snapshot_get(NULL, 0));
    miaopi_case *c = make_case(case_2024);
    miaopi_ruleset *rs = NULL;
    miaopi_error err;
    ck_assert_int_eq(miaopi_registry_snapshot_select(&rs, NULL, NULL, c, &err),
                     MIAOPI_EINVAL);
    ck_assert_int_eq(err.code, MIAOPI_EINVAL);
    miaopi_case_free(c);
    miaopi_registry_free(reg);
    remove_dir(dir);
}
END_TEST

/* ---- threads: snapshots while another thread reloads ---- */

/* The set of generation @g has (g % 3) + 1 versions of "grant" with
 * consecutive ranges, versions "g<g>-<i>". A reader can therefore check,
 * from a snapshot alone, that it holds exactly the set of its
 * generation and nothing of another. */
#define RELOADS 60

static size_t set_size(uint64_t g)
{
    return (size_t)(g % 3) + 1;
}

static void write_set(const char *dir, uint64_t g)
{
    static const char *const from[] = {"2024-01-01", "2024-04-01",
                                       "2024-07-01"};
    size_t n = set_size(g);
    for (size_t i = 0; i < 3; i++) {
        char file[32], version[48];
        snprintf(file, sizeof(file), "f%zu.xml", i);
        if (i >= n) {
            remove_file(dir, file);
            continue;
        }
        snprintf(version, sizeof(version), "g%llu-%zu",
                 (unsigned long long)g, i);
        write_ruleset(dir, file, "grant", version, from[i],
                      i + 1 < n ? from[i + 1] : NULL, 35);
    }
}

typedef struct reader {
    miaopi_registry *reg;
    const int *stop;
    long snapshots;
    long bad;
    uint64_t last;
} reader;

/* 0 if @s is exactly the set of its generation. */
static int check_snapshot(const miaopi_registry_snapshot *s)
{
    uint64_t g = miaopi_registry_snapshot_generation(s);
    size_t n = miaopi_registry_snapshot_count(s);
    if (g == 0 || n != set_size(g))
        return -1;
    for (size_t i = 0; i < n; i++) {
        char want[48];
        snprintf(want, sizeof(want), "g%llu-%zu", (unsigned long long)g, i);
        miaopi_ruleset *rs = miaopi_registry_snapshot_get(s, i);
        int ok = rs && strcmp(miaopi_ruleset_version(rs), want) == 0;
        miaopi_ruleset_unref(rs);
        if (!ok)
            return -1;
    }
    return miaopi_registry_snapshot_get(s, n) == NULL ? 0 : -1;
}

static void *read_loop(void *arg)
{
    reader *r = arg;
    while (!__atomic_load_n(r->stop, __ATOMIC_ACQUIRE)) {
        miaopi_registry_snapshot *s = miaopi_registry_snapshot_take(r->reg);
        uint64_t g = miaopi_registry_snapshot_generation(s);
        /* Generations never go back, and the registry is never behind a
         * snapshot taken before asking it. */
        if (!s || check_snapshot(s) != 0 || g < r->last ||
            miaopi_registry_generation(r->reg) < g)
            r->bad++;
        r->last = g;
        r->snapshots++;
        /* Hold some snapshots across the next reloads. */
        if (r->snapshots % 7 == 0)
            sched_yield();
        miaopi_registry_snapshot_unref(s);
    }
    return NULL;
}

START_TEST(test_registry_threads__snapshots_while_reloading)
{
    char *dir = temp_dir();
    write_set(dir, 1);
    miaopi_registry *reg = NULL;
    miaopi_error err;
    ck_assert_int_eq(miaopi_registry_load(&reg, dir, NULL, &err), 0);
    int stop = 0;
    reader r[2] = {{reg, &stop, 0, 0, 0}, {reg, &stop, 0, 0, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, read_loop, &r[i]), 0);
    for (uint64_t g = 2; g <= RELOADS; g++) {
        write_set(dir, g);
        ck_assert_int_eq(miaopi_registry_reload(reg, &err), 0);
        ck_assert_uint_eq(miaopi_registry_generation(reg), g);
        if (g % 10 == 0) {
            /* A refused reload in between changes nothing. */
            write_file(dir, "zz.xml", "<ruleset");
            ck_assert_int_eq(miaopi_registry_reload(reg, NULL),
                             MIAOPI_ERULES);
            remove_file(dir, "zz.xml");
            ck_assert_uint_eq(miaopi_registry_generation(reg), g);
        }
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_join(t[i], NULL), 0);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(r[i].bad, 0);
        ck_assert_int_gt(r[i].snapshots, 0);
        ck_assert_uint_le(r[i].last, RELOADS);
    }
    miaopi_registry_snapshot *s = miaopi_registry_snapshot_take(reg);
    ck_assert_int_eq(check_snapshot(s), 0);
    ck_assert_uint_eq(miaopi_registry_snapshot_generation(s), RELOADS);
    miaopi_registry_snapshot_unref(s);
    miaopi_registry_free(reg);
    remove_dir(dir);
}
END_TEST

/* ---- suite ---- */

static Suite *registry_suite(void)
{
    Suite *s = suite_create("registry");
    TCase *tc = tcase_create("ambiguous");
    tcase_add_test(tc, test_registry_ambiguous__no_id_and_several);
    tcase_add_test(tc, test_registry_ambiguous__versions_of_one_id);
    suite_add_tcase(s, tc);
    tc = tcase_create("generation");
    tcase_add_test(tc, test_registry_generation__counts_successful_reloads);
    tcase_add_test(tc, test_registry_generation__per_registry);
    suite_add_tcase(s, tc);
    tc = tcase_create("snapshot");
    tcase_add_test(tc, test_registry_snapshot__outlives_reload_and_free);
    tcase_add_test(tc, test_registry_snapshot__references_and_null);
    suite_add_tcase(s, tc);
    tc = tcase_create("threads");
    tcase_add_test(tc, test_registry_threads__snapshots_while_reloading);
    tcase_set_timeout(tc, 300);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(registry_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
