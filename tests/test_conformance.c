/*
 * The conformance corpus (tests/conformance/, described in its README)
 * run through the public API only: miaopi_ruleset_load_file with a
 * diagnostic callback, miaopi_case_load_file, miaopi_evaluate and the
 * decision accessors.
 *
 *   valid/NAME/rules.xml + cases/CASE.json + cases/CASE.expected.json
 *   invalid/NAME.xml + NAME.expected.json
 *   and every rules/NAME/ruleset.xml with its cases/ (the bundled rulesets)
 *
 * One loop test per ruleset directory and per invalid file; a failing test
 * names the file and lists every mismatch found in it.
 *
 * MIAOPI_SOURCE_ROOT (set by meson) locates the source tree.
 */
#include <check.h>
#include <dirent.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "miaopi.h"

/* ---- small helpers ----------------------------------------------------- */

/* Usable outside a running test too (discovery runs before the suite). */
#define NEED(p)                                                              \
    do {                                                                     \
        if (!(p)) {                                                          \
            fprintf(stderr, "test_conformance: out of memory\n");            \
            abort();                                                         \
        }                                                                    \
    } while (0)

/* A growable string for collecting mismatch reports. */
typedef struct report {
    char *s;
    size_t len, cap;
    int count;
} report;

static void report_add(report *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void report_add(report *r, const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    size_t n = strlen(line);
    if (r->len + n + 3 > r->cap) {
        size_t cap = (r->cap ? r->cap * 2 : 4096) + n;
        char *s = realloc(r->s, cap);
        ck_assert_ptr_nonnull(s);
        r->s = s;
        r->cap = cap;
    }
    memcpy(r->s + r->len, "\n  ", 3);
    memcpy(r->s + r->len + 3, line, n);
    r->len += n + 3;
    r->s[r->len] = '\0';
    r->count++;
}

static char *join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *s = malloc(n);
    NEED(s);
    snprintf(s, n, "%s/%s", a, b);
    return s;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names in dir that satisfy keep(); NULL-terminated, count in *n.
 * A missing directory gives an empty list. */
static char **list_dir(const char *dir, bool (*keep)(const char *dir,
                                                      const char *name),
                       size_t *n)
{
    size_t cap = 16;
    char **v = malloc(cap * sizeof(*v));
    NEED(v);
    *n = 0;
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.' || !keep(dir, e->d_name))
                continue;
            if (*n + 1 >= cap) {
                cap *= 2;
                v = realloc(v, cap * sizeof(*v));
                NEED(v);
            }
            v[*n] = strdup(e->d_name);
            NEED(v[*n]);
            (*n)++;
        }
        closedir(d);
    }
    qsort(v, *n, sizeof(*v), cmp_str);
    v[*n] = NULL;
    return v;
}

static bool is_case(const char *dir, const char *name)
{
    (void)dir;
    return ends_with(name, ".json") && !ends_with(name, ".expected.json");
}

static bool is_xml(const char *dir, const char *name)
{
    (void)dir;
    return ends_with(name, ".xml");
}

static bool has_file(const char *dir, const char *name, const char *file)
{
    char *sub = join(dir, name);
    char *path = join(sub, file);
    FILE *f = fopen(path, "rb");
    if (f)
        fclose(f);
    free(sub);
    free(path);
    return f != NULL;
}

static bool has_rules_xml(const char *dir, const char *name)
{
    return has_file(dir, name, "rules.xml");
}

/* A bundled ruleset with per-case expectations (rules/NAME/cases/). */
static bool has_ruleset_xml(const char *dir, const char *name)
{
    return has_file(dir, name, "ruleset.xml") && has_file(dir, name, "cases");
}

/* "MIAOPI-E012" and "MIAOPI-E12" name the same diagnostic: compare the
 * numbers. -1 for anything else. */
static long diag_number(const char *id)
{
    if (!id || strncmp(id, "MIAOPI-E", 8) != 0 || !id[8])
        return -1;
    char *end;
    long v = strtol(id + 8, &end, 10);
    return *end == '\0' ? v : -1;
}

/* ---- the corpus ----------------------------------------------------------- */

typedef struct valid_dir {
    char *rules;     /* the rule file */
    char *cases;     /* its cases directory */
} valid_dir;

static valid_dir *g_valid;
static size_t g_nvalid;
static char **g_invalid; /* full paths of invalid/NAME.xml */
static size_t g_ninvalid;

static void add_valid(const char *rules, const char *cases)
{
    g_valid = realloc(g_valid, (g_nvalid + 1) * sizeof(*g_valid));
    NEED(g_valid);
    g_valid[g_nvalid].rules = strdup(rules);
    g_valid[g_nvalid].cases = strdup(cases);
    NEED(g_valid[g_nvalid].rules && g_valid[g_nvalid].cases);
    g_nvalid++;
}

static void discover(const char *root)
{
    size_t n;
    char *corpus = join(root, "tests/conformance");

    char *vdir = join(corpus, "valid");
    char **names = list_dir(vdir, has_rules_xml, &n);
    for (size_t i = 0; i < n; i++) {
        char *d = join(vdir, names[i]);
        char *r = join(d, "rules.xml"), *c = join(d, "cases");
        add_valid(r, c);
        free(d);
        free(r);
        free(c);
        free(names[i]);
    }
    free(names);
    free(vdir);

    char *rdir = join(root, "rules");
    names = list_dir(rdir, has_ruleset_xml, &n);
    for (size_t i = 0; i < n; i++) {
        char *d = join(rdir, names[i]);
        char *r = join(d, "ruleset.xml"), *c = join(d, "cases");
        add_valid(r, c);
        free(d);
        free(r);
        free(c);
        free(names[i]);
    }
    free(names);
    free(rdir);

    char *idir = join(corpus, "invalid");
    names = list_dir(idir, is_xml, &n);
    g_invalid = calloc(n + 1, sizeof(*g_invalid));
    NEED(g_invalid);
    for (size_t i = 0; i < n; i++) {
        g_invalid[i] = join(idir, names[i]);
        free(names[i]);
    }
    g_ninvalid = n;
    free(names);
    free(idir);
    free(corpus);
}

/* ---- diagnostics ------------------------------------------------------------ */

typedef struct diag_log {
    int errors;
    int warnings;
    char first_id[32];
    char first_file[512];
    char first_message[512];
    int first_line, first_column;
    char all[4096]; /* every diagnostic, for failure messages */
} diag_log;

static void on_diag(const miaopi_diagnostic *d, void *payload)
{
    diag_log *log = payload;
    bool err = d->severity == MIAOPI_SEVERITY_ERROR;
    if (err && log->errors++ == 0) {
        snprintf(log->first_id, sizeof(log->first_id), "%s",
                 d->id ? d->id : "");
        snprintf(log->first_file, sizeof(log->first_file), "%s",
                 d->file ? d->file : "");
        snprintf(log->first_message, sizeof(log->first_message), "%s",
                 d->message ? d->message : "");
        log->first_line = d->line;
        log->first_column = d->column;
    } else if (!err) {
        log->warnings++;
    }
    size_t used = strlen(log->all);
    if (used + 1 < sizeof(log->all))
        snprintf(log->all + used, sizeof(log->all) - used,
                 "\n    %s:%d:%d: %s: %s [%s]", d->file ? d->file : "",
                 d->line, d->column, err ? "error" : "warning",
                 d->message ? d->message : "", d->id ? d->id : "");
}

static json_t *load_json(const char *path, report *r)
{
    json_error_t je;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!j)
        report_add(r, "%s: cannot read: %s (line %d)", path, je.text,
                   je.line);
    return j;
}

/* ---- valid rulesets ------------------------------------------------------------ */

/* Decide one case and compare with its .expected.json. */
static void run_case(const miaopi_ruleset *rs, miaopi_decision *d,
                     const char *case_path, report *r)
{
    size_t n = strlen(case_path);
    char *exp_path = malloc(n + sizeof(".expected.json"));
    ck_assert_ptr_nonnull(exp_path);
    memcpy(exp_path, case_path, n - 5); /* drop ".json" */
    strcpy(exp_path + n - 5, ".expected.json");
    json_t *exp = load_json(exp_path, r);
    free(exp_path);
    if (!exp)
        return;

    const char *want_error = json_string_value(json_object_get(exp, "error"));
    miaopi_case *c = NULL;
    miaopi_error err;
    bool evaluated = false;
    int rc = miaopi_case_load_file(&c, case_path, &err);
    if (rc == MIAOPI_OK) {
        miaopi_eval_options opts = MIAOPI_EVAL_OPTIONS_INIT;
        rc = miaopi_evaluate(d, rs, c, &opts, &err);
        evaluated = true;
    }
    if (want_error) {
        if (rc == MIAOPI_OK)
            report_add(r, "%s: decided %s, want the error %s", case_path,
                       miaopi_outcome_name(miaopi_decision_outcome(d)),
                       want_error);
        else if (strcmp(miaopi_strerror(rc), want_error) != 0)
            report_add(r, "%s: error %s (%s), want %s", case_path,
                       miaopi_strerror(rc), err.message, want_error);
        else if (evaluated && miaopi_decision_outcome(d) != MIAOPI_ESCALATE)
            report_add(r, "%s: after an error the outcome must be "
                          "ESCALATE", case_path);
        goto out;
    }
    if (rc != MIAOPI_OK) {
        report_add(r, "%s: error %s: %s", case_path, miaopi_strerror(rc),
                   err.message);
        goto out;
    }

    /* The decision. */
    const char *want = json_string_value(json_object_get(exp, "decision"));
    const char *got = miaopi_outcome_name(miaopi_decision_outcome(d));
    if (!want || strcmp(want, got) != 0)
        report_add(r, "%s: decision %s, want %s", case_path, got,
                   want ? want : "(none)");

    /* Every rule's status, and no rule missing from the expectation. */
    json_t *rules = json_object_get(exp, "rules");
    size_t nrules = miaopi_decision_rule_count(d);
    if (nrules != miaopi_ruleset_rule_count(rs))
        report_add(r, "%s: %zu rule results for %zu rules", case_path,
                   nrules, miaopi_ruleset_rule_count(rs));
    if (!json_is_object(rules)) {
        report_add(r, "%s: the expected file has no \"rules\" object",
                   case_path);
    } else {
        size_t seen = 0;
        for (size_t i = 0; i < nrules; i++) {
            miaopi_rule_result res = MIAOPI_RULE_RESULT_INIT;
            if (miaopi_decision_rule(&res, d, i) != MIAOPI_OK) {
                report_add(r, "%s: miaopi_decision_rule(%zu) failed",
                           case_path, i);
                continue;
            }
            const char *st = miaopi_rule_status_name(res.status);
            const char *ws = json_string_value(json_object_get(rules, res.id));
            if (!ws) {
                report_add(r, "%s: rule %s (%s) is not in the expected file",
                           case_path, res.id, st);
                continue;
            }
            seen++;
            if (strcmp(ws, st) != 0)
                report_add(r, "%s: rule %s is %s, want %s%s%s%s", case_path,
                           res.id, st, ws,
                           res.status == MIAOPI_RULE_UNKNOWN ? " (unknown: "
                                                             : "",
                           res.status == MIAOPI_RULE_UNKNOWN
                               ? res.unknown_reason
                               : "",
                           res.status == MIAOPI_RULE_UNKNOWN ? ")" : "");
            /* The effect follows from the status and the rule's info. */
            miaopi_rule_info info = MIAOPI_RULE_INFO_INIT;
            if (miaopi_ruleset_rule(&info, rs, i, NULL) == MIAOPI_OK) {
                int want_effect = res.status == MIAOPI_RULE_FAIL ? info.on_fail
                                  : res.status == MIAOPI_RULE_UNKNOWN
                                      ? info.on_unknown
                                      : 0;
                if (res.effect != want_effect)
                    report_add(r, "%s: rule %s has effect %d, want %d",
                               case_path, res.id, res.effect, want_effect);
            }
        }
        if (seen != json_object_size(rules))
            report_add(r, "%s: the expected file names %zu rules, the "
                          "ruleset matched %zu of them",
                       case_path, json_object_size(rules), seen);
    }

    /* Reason codes, in order. */
    json_t *reasons = json_object_get(exp, "reasons");
    if (reasons) {
        size_t nr = miaopi_decision_reason_count(d);
        bool same = nr == json_array_size(reasons);
        char got_codes[1024] = "";
        for (size_t i = 0; i < nr; i++) {
            miaopi_reason rs_ = MIAOPI_REASON_INIT;
            const char *code = "?";
            if (miaopi_decision_reason(&rs_, d, i, NULL) == MIAOPI_OK)
                code = rs_.code;
            size_t used = strlen(got_codes);
            snprintf(got_codes + used, sizeof(got_codes) - used, "%s%s",
                     i ? " " : "", code);
            const char *wc = json_string_value(json_array_get(reasons, i));
            if (!wc || strcmp(wc, code) != 0)
                same = false;
        }
        if (!same) {
            char *want_codes = json_dumps(reasons, JSON_COMPACT);
            report_add(r, "%s: reasons [%s], want %s", case_path, got_codes,
                       want_codes ? want_codes : "?");
            free(want_codes);
        }
    }

    /* Determinism: a second evaluation into the same decision object
     * serialises identically. */
    char *first = NULL, *second = NULL;
    if (miaopi_decision_to_json(&first, d, "en", MIAOPI_JSON_REASONS) ==
        MIAOPI_OK) {
        miaopi_eval_options opts = MIAOPI_EVAL_OPTIONS_INIT;
        if (miaopi_evaluate(d, rs, c, &opts, &err) != MIAOPI_OK ||
            miaopi_decision_to_json(&second, d, "en", MIAOPI_JSON_REASONS) !=
                MIAOPI_OK ||
            strcmp(first, second) != 0)
            report_add(r, "%s: a second evaluation differs", case_path);
    } else {
        report_add(r, "%s: miaopi_decision_to_json failed", case_path);
    }
    miaopi_free(first);
    miaopi_free(second);
out:
    miaopi_case_free(c);
    json_decref(exp);
}

START_TEST(test_valid)
{
    const valid_dir *v = &g_valid[_i];
    report r = {NULL, 0, 0, 0};
    diag_log log;
    memset(&log, 0, sizeof(log));
    miaopi_load_options opts = MIAOPI_LOAD_OPTIONS_INIT;
    opts.on_diagnostic = on_diag;
    opts.payload = &log;
    miaopi_ruleset *rs = NULL;
    miaopi_error err;
    int rc = miaopi_ruleset_load_file(&rs, v->rules, &opts, &err);
    ck_assert_msg(rc == MIAOPI_OK && rs != NULL && log.errors == 0,
                  "%s does not load: %s %s:%d:%d %s%s", v->rules,
                  miaopi_strerror(rc), err.file, err.line, err.column,
                  err.message, log.all);

    size_t n;
    char **cases = list_dir(v->cases, is_case, &n);
    ck_assert_msg(n > 0, "%s has no cases", v->cases);
    miaopi_decision *d = NULL;
    ck_assert_int_eq(miaopi_decision_new(&d), MIAOPI_OK);
    for (size_t i = 0; i < n; i++) {
        char *path = join(v->cases, cases[i]);
        run_case(rs, d, path, &r);
        free(path);
        free(cases[i]);
    }
    free(cases);
    miaopi_decision_free(d);
    miaopi_ruleset_unref(rs);
    if (r.count) {
        /* check truncates long messages; print the whole list too. */
        fprintf(stderr, "%s: %d mismatch(es):%s\n", v->rules, r.count, r.s);
        ck_abort_msg("%s: %d mismatch(es):%s", v->rules, r.count, r.s);
    }
    free(r.s);
}
END_TEST

/* ---- invalid rule files ------------------------------------------------------------ */

static void check_invalid_load(const char *path, const json_t *exp,
                               const char *data, size_t len, report *r)
{
    const char *want_id = json_string_value(json_object_get(exp, "id"));
    int want_line = (int)json_integer_value(json_object_get(exp, "line"));
    int want_col = (int)json_integer_value(json_object_get(exp, "column"));
    const char *how = data ? "load_buffer" : "load_file";

    diag_log log;
    memset(&log, 0, sizeof(log));
    miaopi_load_options opts = MIAOPI_LOAD_OPTIONS_INIT;
    opts.on_diagnostic = on_diag;
    opts.payload = &log;
    miaopi_ruleset *rs = (miaopi_ruleset *)&log; /* must become NULL */
    miaopi_error err;
    int rc = data ? miaopi_ruleset_load_buffer(&rs, data, len, path, &opts,
                                               &err)
                  : miaopi_ruleset_load_file(&rs, path, &opts, &err);
    if (rc == MIAOPI_OK) {
        report_add(r, "%s: %s: loads, want %s at %d:%d", path, how,
                   want_id ? want_id : "?", want_line, want_col);
        miaopi_ruleset_unref(rs);
        return;
    }
    if (rc != MIAOPI_ERULES)
        report_add(r, "%s: %s: returned %s, want MIAOPI_ERULES", path, how,
                   miaopi_strerror(rc));
    if (rs != NULL)
        report_add(r, "%s: %s: *out is not NULL after a failure", path, how);
    if (log.errors == 0) {
        report_add(r, "%s: %s: no error diagnostic%s", path, how, log.all);
        return;
    }
    if (diag_number(log.first_id) != diag_number(want_id) ||
        log.first_line != want_line || log.first_column != want_col ||
        strcmp(log.first_file, path) != 0)
        report_add(r, "%s: %s: first error %s at %s:%d:%d (%s), want %s at "
                      "%d:%d; all diagnostics:%s",
                   path, how, log.first_id, log.first_file, log.first_line,
                   log.first_column, log.first_message,
                   want_id ? want_id : "?", want_line, want_col, log.all);
    /* err carries the same first error. */
    if (strcmp(err.id, log.first_id) != 0 || err.line != log.first_line ||
        err.column != log.first_column || err.code != MIAOPI_ERULES)
        report_add(r, "%s: %s: miaopi_error (%s %s %d:%d) differs from the "
                      "first diagnostic (%s %d:%d)",
                   path, how, miaopi_strerror(err.code), err.id, err.line,
                   err.column, log.first_id, log.first_line,
                   log.first_column);
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    ck_assert_ptr_nonnull(buf);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            ck_assert_ptr_nonnull(buf);
        }
    }
    fclose(f);
    *len = n;
    return buf;
}

START_TEST(test_invalid)
{
    const char *path = g_invalid[_i];
    report r = {NULL, 0, 0, 0};
    size_t n = strlen(path);
    char *exp_path = malloc(n + sizeof(".expected.json"));
    ck_assert_ptr_nonnull(exp_path);
    memcpy(exp_path, path, n - 4); /* drop ".xml" */
    strcpy(exp_path + n - 4, ".expected.json");
    json_t *exp = load_json(exp_path, &r);
    free(exp_path);
    if (exp) {
        check_invalid_load(path, exp, NULL, 0, &r);
        size_t len = 0;
        char *data = read_all(path, &len);
        ck_assert_msg(data != NULL, "cannot read %s", path);
        check_invalid_load(path, exp, data, len, &r);
        free(data);
        json_decref(exp);
    }
    if (r.count) {
        fprintf(stderr, "%s: %d mismatch(es):%s\n", path, r.count, r.s);
        ck_abort_msg("%s: %d mismatch(es):%s", path, r.count, r.s);
    }
    free(r.s);
}
END_TEST

/* The corpus itself must be there: an empty directory would pass. */
START_TEST(test_corpus_present)
{
    ck_assert_msg(g_nvalid >= 2, "found %zu valid rulesets", g_nvalid);
    ck_assert_msg(g_ninvalid >= 1, "found no invalid rule files");
}
END_TEST

static Suite *conformance_suite(void)
{
    Suite *s = suite_create("conformance");
    TCase *tc = tcase_create("corpus");
    tcase_add_test(tc, test_corpus_present);
    suite_add_tcase(s, tc);
    tc = tcase_create("valid");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_valid, 0, (int)g_nvalid);
    suite_add_tcase(s, tc);
    tc = tcase_create("invalid");
    tcase_add_loop_test(tc, test_invalid, 0, (int)g_ninvalid);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    const char *root = getenv("MIAOPI_SOURCE_ROOT");
    if (!root || !*root)
        root = ".";
    discover(root);
    SRunner *sr = srunner_create(conformance_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    for (size_t i = 0; i < g_nvalid; i++) {
        free(g_valid[i].rules);
        free(g_valid[i].cases);
    }
    free(g_valid);
    for (size_t i = 0; i < g_ninvalid; i++)
        free(g_invalid[i]);
    free(g_invalid);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
