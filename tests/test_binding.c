/*
 * Binding case objects to slots (lib/eval.c mp_bind_object) against the
 * plain lookup it replaced.
 *
 * A ruleset's top-level schemas carry a name index; an evaluation walks
 * each case object's members once and converts the declared ones into
 * the slot cache. Without the index (schema.index == NULL) every field is
 * read with json_object_getn, as before. This test loads each bundled
 * ruleset twice, clears the indexes of the second copy, and evaluates
 * every bundled case and many mutations of it (members removed, null,
 * of the wrong type, extra members, names that collide in the index,
 * objects that are not objects, a decision date behind other members,
 * small work budgets) through both: the return codes, error messages and
 * the whole decision JSON (reasons, messages in both languages, traces)
 * must be byte-identical.
 */
#include "model.h"

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *root_dir(void)
{
    const char *r = getenv("MIAOPI_SOURCE_ROOT");
    return r ? r : ".";
}

static void clear_indexes(miaopi_ruleset *rs)
{
    rs->application.index = NULL;
    rs->context.index = NULL;
    for (size_t i = 0; i < rs->nsources; i++)
        rs->sources[i].schema.index = NULL;
}

void miaopi__case_drop_flat(miaopi_case *c);

/* Evaluate c under rs into a description of everything observable;
 * walked: without the case's member table (lib/case.c), so that binding
 * walks jansson's members as it does for resolvers' records. */
static char *run(const miaopi_ruleset *rs, const char *json,
                 uint64_t max_steps, bool walked)
{
    miaopi_case *c = NULL;
    miaopi_error err = {0};
    int rc = miaopi_case_from_json(&c, json, strlen(json), &err);
    if (rc == MIAOPI_OK && walked)
        miaopi__case_drop_flat(c);
    if (rc != MIAOPI_OK) {
        char *s = malloc(64);
        ck_assert_ptr_nonnull(s);
        snprintf(s, 64, "case rc %d", rc);
        return s;
    }
    miaopi_decision *d = NULL;
    ck_assert_int_eq(miaopi_decision_new(&d), MIAOPI_OK);
    ck_assert_int_eq(miaopi_decision_set_trace(d, 1), MIAOPI_OK);
    miaopi_eval_options o = MIAOPI_EVAL_OPTIONS_INIT;
    o.decision_id = "00000000-0000-4000-8000-000000000000";
    o.ignore_effective_dates = 1;
    o.max_steps = max_steps;
    rc = miaopi_evaluate(d, rs, c, &o, &err);
    char *zh = NULL, *en = NULL;
    if (rc == MIAOPI_OK) {
        unsigned f = MIAOPI_JSON_REASONS | MIAOPI_JSON_PRETTY |
                     MIAOPI_JSON_TRACE;
        ck_assert_int_eq(miaopi_decision_to_json(&zh, d, "zh-CN", f),
                         MIAOPI_OK);
        ck_assert_int_eq(miaopi_decision_to_json(&en, d, "en", f),
                         MIAOPI_OK);
    }
    size_t n = 64 + strlen(err.message) + (zh ? strlen(zh) : 0) +
               (en ? strlen(en) : 0);
    char *s = malloc(n);
    ck_assert_ptr_nonnull(s);
    snprintf(s, n, "rc %d %s\n%s\n%s", rc, err.message, zh ? zh : "",
             en ? en : "");
    miaopi_free(zh);
    miaopi_free(en);
    miaopi_decision_free(d);
    miaopi_case_free(c);
    return s;
}

typedef struct pair {
    miaopi_ruleset *bound; /* with the name indexes */
    miaopi_ruleset *plain; /* without: json_object_getn per field */
    long compared;
    long seen;
} pair;

/* A third of the variants (the pattern shifts from member to member, so
 * every kind of variant meets every member somewhere), and a hundredth
 * under valgrind (MIAOPI_TEST_SLOWDOWN). */
static long sample_every(void)
{
    const char *env = getenv("MIAOPI_TEST_SLOWDOWN");
    return env && atof(env) > 1.0 ? 101 : 3;
}

/* The whole story on stderr (check's own messages are limited to a few
 * KiB), then the failure. */
static void differ(const char *what, uint64_t budget, const char *json,
                   const char *xn, const char *x, const char *yn,
                   const char *y)
{
    fprintf(stderr, "%s (budget %llu): %s and %s differ\ncase: %s\n"
                    "--- %s\n%s\n--- %s\n%s\n",
            what, (unsigned long long)budget, xn, yn, json, xn, x, yn, y);
    ck_abort_msg("%s (budget %llu): %s and %s differ (details on stderr)",
                 what, (unsigned long long)budget, xn, yn);
}

static void compare(pair *p, json_t *root, const char *what)
{
    if (p->seen++ % sample_every() != 0)
        return;
    /* The text in turn compact, pretty-printed (several lines: the case
     * keeps no text, and its member table's pool is sized by a pass over
     * the tree) and ASCII-only (every non-ASCII character a \\u escape,
     * longer than what it decodes to). */
    static const size_t flags[] = {JSON_COMPACT, JSON_INDENT(2),
                                   JSON_COMPACT | JSON_ENSURE_ASCII};
    char *json = json_dumps(root, flags[p->compared % 3]);
    ck_assert_ptr_nonnull(json);
    static const uint64_t budgets[] = {0, 3, 17, 40};
    for (size_t b = 0; b < sizeof(budgets) / sizeof(budgets[0]); b++) {
        if (b > 0 && p->compared % 7 != 0)
            break; /* the small budgets on a sample of the variants */
        char *x = run(p->bound, json, budgets[b], false);
        char *y = run(p->plain, json, budgets[b], false);
        if (strcmp(x, y) != 0)
            differ(what, budgets[b], json, "bound", x, "plain", y);
        char *z = run(p->bound, json, budgets[b], true);
        if (strcmp(x, z) != 0)
            differ(what, budgets[b], json, "bound from the member table", x,
                   "bound walking the tree", z);
        free(x);
        free(y);
        free(z);
    }
    p->compared++;
    free(json);
}

/* Replacement values tried for every member. */
static json_t *variant(int k)
{
    switch (k) {
    case 0: return json_null();
    case 1: return json_integer(12345);
    case 2: return json_string("x");
    case 3: return json_true();
    case 4: return json_array();
    case 5: return json_object();
    case 6: return json_string("2024-02-30");
    case 7: return json_string("1990-01-01");
    case 8: return json_real(2.5);
    case 9: { /* longer than the member table copies (256 bytes) */
        char big[301];
        memset(big, '9', 300);
        big[300] = '\0';
        return json_string(big);
    }
    case 10: return json_string("\xe5\xbc\xa0\xe4\xb8\x89\\\"\n");
    default: return json_string("");
    }
}
#define NVARIANTS 12

/* A member name that collides with `name` in the schema index (same
 * length, first and last byte) without being equal to it. */
static char *collide(const char *name)
{
    size_t n = strlen(name);
    char *s = strdup(name);
    ck_assert_ptr_nonnull(s);
    if (n >= 3)
        s[n / 2] = s[n / 2] == 'q' ? 'z' : 'q';
    else
        s[0] = s[0] == 'q' ? 'z' : 'q';
    return s;
}

/* Every mutation of the members of obj (a member of root). */
static void mutate_object(pair *p, json_t *root, json_t *obj,
                          const char *where)
{
    const char *key;
    json_t *val;
    void *tmp;
    char what[256];
    /* Names first: deleting while iterating is not allowed. */
    size_t n = json_object_size(obj);
    char **keys = calloc(n ? n : 1, sizeof(char *));
    ck_assert_ptr_nonnull(keys);
    size_t k = 0;
    json_object_foreach_safe(obj, tmp, key, val) keys[k++] = strdup(key);
    for (size_t i = 0; i < k; i++) {
        json_t *orig = json_incref(json_object_get(obj, keys[i]));
        json_object_del(obj, keys[i]);
        snprintf(what, sizeof(what), "%s.%s removed", where, keys[i]);
        compare(p, root, what);
        for (int v = 0; v < NVARIANTS; v++) {
            json_object_set_new(obj, keys[i], variant(v));
            snprintf(what, sizeof(what), "%s.%s variant %d", where,
                     keys[i], v);
            compare(p, root, what);
        }
        json_object_set(obj, keys[i], orig);
        /* A member that collides with this one in the index. */
        char *c = collide(keys[i]);
        json_object_set(obj, c, orig);
        snprintf(what, sizeof(what), "%s.%s with colliding %s", where,
                 keys[i], c);
        compare(p, root, what);
        json_object_del(obj, keys[i]);
        snprintf(what, sizeof(what), "%s only colliding %s", where, c);
        compare(p, root, what);
        json_object_set(obj, keys[i], orig);
        json_object_del(obj, c);
        free(c);
        json_decref(orig);
        free(keys[i]);
    }
    free(keys);
    /* Extra members before and after the declared ones. */
    json_t *copy = json_deep_copy(obj);
    ck_assert_ptr_nonnull(copy);
    json_object_clear(obj);
    for (int i = 0; i < 6; i++) {
        char name[32];
        snprintf(name, sizeof(name), "zz_extra_%d", i);
        json_object_set_new(obj, name, json_integer(i));
    }
    json_object_update(obj, copy);
    json_object_set_new(obj, "", json_string("empty name"));
    snprintf(what, sizeof(what), "%s with extra members", where);
    compare(p, root, what);
    json_object_clear(obj);
    json_object_update(obj, copy);
    json_decref(copy);
}

static void mutate_case(pair *p, const char *file)
{
    json_error_t je;
    json_t *root = json_load_file(file, 0, &je);
    ck_assert_msg(root != NULL, "%s: %s", file, je.text);
    compare(p, root, file);
    static const char *const parts[] = {"application", "context", "sources"};
    for (size_t i = 0; i < 3; i++) {
        json_t *obj = json_object_get(root, parts[i]);
        if (!json_is_object(obj))
            continue;
        json_incref(obj);
        mutate_object(p, root, obj, parts[i]);
        /* Not an object, or absent. */
        json_object_set_new(root, parts[i], json_array());
        compare(p, root, "part is an array");
        json_object_del(root, parts[i]);
        compare(p, root, "part absent");
        json_object_set(root, parts[i], obj);
        json_decref(obj);
    }
    /* Each source record mutated, and not an object. */
    json_t *sources = json_object_get(root, "sources");
    const char *name;
    json_t *rec;
    json_object_foreach(sources, name, rec)
    {
        if (!json_is_object(rec))
            continue;
        mutate_object(p, root, rec, name);
    }
    /* Provenance in each record (fresh, stale, malformed, not an
     * object), found by the bound path in the walk that binds the record
     * when the source has no max-age. */
    static const char *const provs[] = {
        "{\"origin\": \"gov\", \"retrieved_at\": "
        "\"2024-01-01T00:00:00+08:00\", \"version\": \"v1\"}",
        "{\"origin\": \"gov\", \"retrieved_at\": "
        "\"1999-01-01T00:00:00Z\"}",
        "{\"retrieved_at\": \"not a time\", \"version\": 3}",
        "[1, 2]",
        "null",
    };
    json_object_foreach(sources, name, rec)
    {
        if (!json_is_object(rec))
            continue;
        for (size_t i = 0; i < sizeof(provs) / sizeof(provs[0]); i++) {
            json_t *pv = json_loads(provs[i], JSON_DECODE_ANY, &je);
            ck_assert_ptr_nonnull(pv);
            json_object_set_new(rec, "_provenance", pv);
            char what[256];
            snprintf(what, sizeof(what), "%s._provenance %zu", name, i);
            compare(p, root, what);
        }
        json_object_del(rec, "_provenance");
    }
    /* case.sources walked once: members the ruleset does not name, names
     * that collide with a source's, the sources in reverse order. */
    if (json_is_object(sources)) {
        json_t *copy = json_deep_copy(sources);
        ck_assert_ptr_nonnull(copy);
        json_object_clear(sources);
        json_object_set_new(sources, "zz_other", json_object());
        json_object_set_new(sources, "", json_object());
        const char *k;
        json_t *v;
        json_object_foreach(copy, k, v)
        {
            char *c = collide(k);
            json_object_set_new(sources, c, json_object());
            free(c);
        }
        json_object_update(sources, copy);
        compare(p, root, "sources with other members");
        json_object_clear(sources);
        size_t n = json_object_size(copy);
        const char **names = calloc(n ? n : 1, sizeof(char *));
        ck_assert_ptr_nonnull(names);
        size_t m = 0;
        json_object_foreach(copy, k, v) names[m++] = k;
        while (m > 0) {
            m--;
            json_object_set(sources, names[m],
                            json_object_get(copy, names[m]));
        }
        free(names);
        compare(p, root, "sources in reverse order");
        json_object_clear(sources);
        json_object_update(sources, copy);
        json_decref(copy);
    }
    /* Beyond the member table's limits: an object with a key longer
     * than 65,535 bytes, and more members than the table takes (512),
     * leave objects out of it; evaluation must not change. */
    static const char *const parts2[] = {"application", "context"};
    for (size_t i = 0; i < 2; i++) {
        json_t *obj = json_object_get(root, parts2[i]);
        if (!json_is_object(obj))
            continue;
        char *key = malloc(70001);
        ck_assert_ptr_nonnull(key);
        memset(key, 'k', 70000);
        key[70000] = '\0';
        json_object_set_new(obj, key, json_true());
        compare(p, root, "a 70,000-byte key");
        json_object_del(obj, key);
        free(key);
        for (int m = 0; m < 600; m++) {
            char n[16];
            snprintf(n, sizeof(n), "m%d", m);
            json_object_set_new(obj, n, json_integer(m));
        }
        compare(p, root, "600 more members");
        for (int m = 0; m < 600; m++) {
            char n[16];
            snprintf(n, sizeof(n), "m%d", m);
            json_object_del(obj, n);
        }
    }
    /* The decision date behind more than four other members. */
    json_t *ctx = json_object_get(root, "context");
    json_t *dd = json_object_get(ctx, "decision_date");
    if (json_is_object(ctx) && dd) {
        json_t *copy = json_deep_copy(ctx);
        json_object_clear(ctx);
        for (int i = 0; i < 6; i++) {
            char n[16];
            snprintf(n, sizeof(n), "a%d", i);
            json_object_set_new(ctx, n, json_integer(i));
        }
        json_object_update(ctx, copy);
        compare(p, root, "decision_date after six members");
        json_decref(copy);
    }
    json_decref(root);
}

static void check_ruleset(const char *dir)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/rules/%s/ruleset.xml", root_dir(), dir);
    pair p = {NULL, NULL, 0, 0};
    miaopi_error err = {0};
    ck_assert_msg(miaopi_ruleset_load_file(&p.bound, path, NULL, &err) ==
                      MIAOPI_OK,
                  "%s: %s", path, err.message);
    ck_assert_int_eq(miaopi_ruleset_load_file(&p.plain, path, NULL, &err),
                     MIAOPI_OK);
    ck_assert_ptr_nonnull(p.bound->application.index);
    clear_indexes(p.plain);
    snprintf(path, sizeof(path), "%s/rules/%s/cases", root_dir(), dir);
    DIR *dh = opendir(path);
    if (dh) {
        struct dirent *e;
        while ((e = readdir(dh)) != NULL) {
            size_t n = strlen(e->d_name);
            if (n < 6 || strcmp(e->d_name + n - 5, ".json") != 0 ||
                strstr(e->d_name, ".expected.") || strstr(e->d_name, ".test."))
                continue;
            char file[2048];
            snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
            mutate_case(&p, file);
        }
        closedir(dh);
    }
    ck_assert_int_gt(p.compared, 0);
    miaopi_ruleset_unref(p.bound);
    miaopi_ruleset_unref(p.plain);
}

START_TEST(test_binding__sz_talent) { check_ruleset("sz-talent"); }
END_TEST

START_TEST(test_binding__sz_elderly_allowance)
{
    check_ruleset("sz-elderly-allowance");
}
END_TEST

START_TEST(test_binding__sz_newborn_hukou) { check_ruleset("sz-newborn-hukou"); }
END_TEST

START_TEST(test_binding__sz_food_licence_renewal)
{
    check_ruleset("sz-food-licence-renewal");
}
END_TEST

START_TEST(test_binding__sz_food_licence) { check_ruleset("sz-food-licence"); }
END_TEST

/* The index itself: every declared name is found, nothing else is. */
START_TEST(test_binding__index_lookup)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/rules/sz-talent/ruleset.xml",
             root_dir());
    miaopi_ruleset *rs = NULL;
    miaopi_error err = {0};
    ck_assert_int_eq(miaopi_ruleset_load_file(&rs, path, NULL, &err),
                     MIAOPI_OK);
    const mp_schema *schemas[8];
    size_t ns = 0;
    schemas[ns++] = &rs->application;
    for (size_t i = 0; i < rs->nsources && ns < 8; i++)
        schemas[ns++] = &rs->sources[i].schema;
    for (size_t k = 0; k < ns; k++) {
        const mp_schema *s = schemas[k];
        ck_assert_ptr_nonnull(s->index);
        for (size_t i = 0; i < s->nfields; i++) {
            const mp_field *f = &s->fields[i];
            ck_assert_ptr_eq(mp_schema_lookup(s, f->name, f->name_len), f);
            char *c = collide(f->name);
            ck_assert_ptr_null(mp_schema_lookup(s, c, strlen(c)));
            ck_assert_ptr_null(mp_schema_lookup(s, f->name, f->name_len - 1));
            free(c);
        }
        ck_assert_ptr_null(mp_schema_lookup(s, "", 0));
    }
    /* The context index leaves out the built-in decision_date. */
    ck_assert_ptr_null(rs->context.index);
    miaopi_ruleset_unref(rs);
}
END_TEST

/* mp_name_eq against memcmp for every length up to 40. */
START_TEST(test_binding__name_eq)
{
    char a[48], b[48];
    for (size_t len = 0; len <= 40; len++) {
        for (size_t i = 0; i < len; i++)
            a[i] = b[i] = (char)('a' + i % 26);
        ck_assert(mp_name_eq(a, b, len));
        for (size_t d = 0; d < len; d++) {
            b[d] ^= 1;
            ck_assert(!mp_name_eq(a, b, len));
            b[d] ^= 1;
        }
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("binding");
    TCase *tc = tcase_create("binding");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_binding__index_lookup);
    tcase_add_test(tc, test_binding__name_eq);
    tcase_add_test(tc, test_binding__sz_talent);
    tcase_add_test(tc, test_binding__sz_elderly_allowance);
    tcase_add_test(tc, test_binding__sz_newborn_hukou);
    tcase_add_test(tc, test_binding__sz_food_licence_renewal);
    tcase_add_test(tc, test_binding__sz_food_licence);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
