#define _XOPEN_SOURCE 700 /* realpath */
/*
 * miaopi test: run test suites (docs/testing.md). A suite is a JSON file
 * naming a ruleset and cases with their expected decisions; `miaopi test
 * DIR` runs every *.test.json under DIR, so `miaopi test rules/` proves the
 * whole rule library.
 */
#include "cli.h"

#include <dirent.h>
#include <stdarg.h>
#include <fnmatch.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char usage_test[] =
    "usage: miaopi test [--verbose] [--filter PATTERN] [--coverage]\n"
    "                   SUITE.test.json... | DIR...\n"
    "\n"
    "Run test suites: each names a ruleset and cases with the decision\n"
    "(and optionally the failing and unknown rules, reason codes or error)\n"
    "they must give. A directory is searched recursively for files named\n"
    "*.test.json. The format is described in docs/testing.md.\n"
    "\n"
    "For each failing case: what was expected, what came out, and every\n"
    "rule's status. The last line is \"N passed, N failed\".\n"
    "\n"
    "Options:\n"
    "  -v, --verbose        show passing cases too\n"
    "  -f, --filter PATTERN run only cases whose name matches PATTERN (a\n"
    "                       shell pattern such as 'reject-*', or a substring)\n"
    "      --coverage       after the run, list per ruleset the rules no case\n"
    "                       made fail and the rules no case made unknown\n"
    "      --color=WHEN     auto (default), always, never\n"
    "  -h, --help           show this help\n"
    "\n"
    "Exit status: 0 every case passed, 1 a case failed, 2 a suite, case or\n"
    "rule file could not be read (or usage error).\n";

#define MAX_RULES_SHOWN 4096

/* A loaded ruleset and what the cases run against it exercised. */
typedef struct rs_entry {
    char *path;           /* real path */
    char *shown;          /* as written, for messages */
    miaopi_ruleset *rs;
    unsigned char *failed; /* per rule: some case made it fail */
    unsigned char *unknown;
    unsigned cases;
    struct rs_entry *next;
} rs_entry;

typedef struct test_run {
    bool verbose;
    bool coverage;
    const char *filter;
    int passed;
    int failed;
    int errors;
    miaopi_decision *d;
    rs_entry *rulesets;
} test_run;

/* ---- small helpers ---- */

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, path, n);
        d[n] = '\0';
    }
    return d;
}

static char *join(const char *dir, const char *rel)
{
    if (rel[0] == '/')
        return strdup(rel);
    size_t dn = strlen(dir);
    while (dn > 1 && dir[dn - 1] == '/')
        dn--;
    size_t n = dn + strlen(rel) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%.*s/%s", (int)dn, dir, rel);
    return p;
}

/* Edit distance for "did you mean" on suite keys and rule ids. The
 * library has the same function (miaopi__edit_distance), but the CLI uses
 * only the public API, and a suggestion helper is not worth exporting. */
static size_t distance(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    if (n > 60 || m > 60)
        return 99;
    size_t row[61];
    for (size_t j = 0; j <= m; j++)
        row[j] = j;
    for (size_t i = 1; i <= n; i++) {
        size_t prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= m; j++) {
            size_t cur = row[j];
            size_t best = prev + (a[i - 1] == b[j - 1] ? 0 : 1);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            prev = cur;
        }
    }
    return row[m];
}

/* The closest of cands to word, if close enough to be a typo. */
static const char *closest(const char *word, const char *const *cands,
                           size_t n)
{
    const char *best = NULL;
    size_t bd = strlen(word) < 5 ? 2 : 3;
    for (size_t i = 0; i < n; i++) {
        size_t d = distance(word, cands[i]);
        if (d < bd) {
            bd = d;
            best = cands[i];
        }
    }
    return best;
}

static void suite_error(test_run *t, const char *file, const char *fmt,
                        ...) __attribute__((format(printf, 3, 4)));

static void suite_error(test_run *t, const char *file, const char *fmt, ...)
{
    t->errors++;
    fprintf(stderr, "%s%s:%s %serror:%s ", cli_sgr("\033[1m"), file,
            cli_sgr("\033[0m"), cli_sgr("\033[1;31m"), cli_sgr("\033[0m"));
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* Refuse keys the format does not have, suggesting the one meant. */
static bool check_keys(test_run *t, const char *file, const json_t *o,
                       const char *const *keys, size_t nkeys,
                       const char *where)
{
    const char *k;
    json_t *v;
    bool ok = true;
    json_object_foreach((json_t *)o, k, v) {
        bool known = false;
        for (size_t i = 0; i < nkeys; i++)
            known = known || strcmp(k, keys[i]) == 0;
        if (known)
            continue;
        const char *s = closest(k, keys, nkeys);
        char what[300];
        snprintf(what, sizeof(what), "%s%s%s%s", where,
                 s ? "; did you mean '" : "", s ? s : "", s ? "'?" : "");
        suite_error(t, file, "unknown key '%s' in %s", k, what);
        ok = false;
    }
    return ok;
}

/* ---- rulesets ---- */

static void print_load_diag(const miaopi_diagnostic *diag, void *payload)
{
    (void)payload;
    if (diag->severity == MIAOPI_SEVERITY_ERROR)
        cli_print_diag(diag);
}

static rs_entry *get_ruleset(test_run *t, const char *path)
{
    char real[PATH_MAX];
    const char *key = realpath(path, real) ? real : path;
    for (rs_entry *e = t->rulesets; e; e = e->next)
        if (strcmp(e->path, key) == 0)
            return e;
    miaopi_load_options lo = MIAOPI_LOAD_OPTIONS_INIT;
    lo.on_diagnostic = print_load_diag;
    miaopi_ruleset *rs = NULL;
    miaopi_error err;
    if (miaopi_ruleset_load_file(&rs, path, &lo, &err) != MIAOPI_OK) {
        t->errors++; /* the diagnostics said why */
        return NULL;
    }
    rs_entry *e = calloc(1, sizeof(*e));
    size_t n = miaopi_ruleset_rule_count(rs);
    if (e) {
        e->path = strdup(key);
        e->shown = strdup(path);
        e->failed = calloc(n + 1, 1);
        e->unknown = calloc(n + 1, 1);
    }
    if (!e || !e->path || !e->shown || !e->failed || !e->unknown) {
        fprintf(stderr, "%s: out of memory\n", cli_prog);
        if (e) {
            free(e->path);
            free(e->shown);
            free(e->failed);
            free(e->unknown);
        }
        free(e);
        miaopi_ruleset_unref(rs);
        t->errors++;
        return NULL;
    }
    e->rs = rs;
    e->next = t->rulesets;
    t->rulesets = e;
    return e;
}

static void free_rulesets(test_run *t)
{
    for (rs_entry *e = t->rulesets, *n; e; e = n) {
        n = e->next;
        miaopi_ruleset_unref(e->rs);
        free(e->path);
        free(e->shown);
        free(e->failed);
        free(e->unknown);
        free(e);
    }
    t->rulesets = NULL;
}

/* ---- one case ---- */

/* Problems found with one case, printed as one block if any. */
typedef struct report {
    char text[8192];
    size_t len;
} report;

#if defined(__GNUC__)
static void say(report *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
#endif

static void say(report *r, const char *fmt, ...)
{
    if (r->len >= sizeof(r->text) - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(r->text + r->len, sizeof(r->text) - r->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        r->len += (size_t)n < sizeof(r->text) - r->len
                      ? (size_t)n
                      : sizeof(r->text) - r->len - 1;
}

static long rule_index(const miaopi_ruleset *rs, const char *id)
{
    for (size_t i = 0; i < miaopi_ruleset_rule_count(rs); i++) {
        miaopi_rule_info info = MIAOPI_RULE_INFO_INIT;
        if (miaopi_ruleset_rule(&info, rs, i, NULL) == MIAOPI_OK &&
            strcmp(info.id, id) == 0)
            return (long)i;
    }
    return -1;
}

static void no_such_rule(report *r, const miaopi_ruleset *rs, const char *id)
{
    size_t n = miaopi_ruleset_rule_count(rs);
    const char **ids = calloc(n + 1, sizeof(*ids));
    const char *s = NULL;
    if (ids) {
        for (size_t i = 0; i < n; i++) {
            miaopi_rule_info info = MIAOPI_RULE_INFO_INIT;
            ids[i] = miaopi_ruleset_rule(&info, rs, i, NULL) == MIAOPI_OK
                         ? info.id
                         : "";
        }
        s = closest(id, ids, n);
    }
    say(r, "  the ruleset has no rule '%s'%s%s%s\n", id,
        s ? "; did you mean '" : "", s ? s : "", s ? "'?" : "");
    free(ids);
}

/* expect.fail / expect.unknown: exactly these rules have that status. */
static void check_status_set(report *r, const miaopi_decision *d,
                             const miaopi_ruleset *rs, const json_t *want,
                             miaopi_rule_status st, const char *what)
{
    if (!want)
        return;
    size_t i;
    json_t *v;
    json_array_foreach(want, i, v) {
        const char *id = json_string_value(v);
        long k = id ? rule_index(rs, id) : -1;
        if (!id) {
            say(r, "  expect.%s must list rule ids (strings)\n", what);
            continue;
        }
        if (k < 0) {
            no_such_rule(r, rs, id);
            continue;
        }
        miaopi_rule_result res = MIAOPI_RULE_RESULT_INIT;
        miaopi_decision_rule(&res, d, (size_t)k);
        if (res.status != st)
            say(r, "  rule %s: expected %s, got %s\n", id,
                miaopi_rule_status_name(st),
                miaopi_rule_status_name(res.status));
    }
    for (size_t k = 0; k < miaopi_decision_rule_count(d); k++) {
        miaopi_rule_result res = MIAOPI_RULE_RESULT_INIT;
        miaopi_decision_rule(&res, d, k);
        if (res.status != st)
            continue;
        bool listed = false;
        json_array_foreach(want, i, v) {
            const char *id = json_string_value(v);
            listed = listed || (id && strcmp(id, res.id) == 0);
        }
        if (!listed)
            say(r, "  rule %s: %s, but expect.%s does not list it\n", res.id,
                miaopi_rule_status_name(st), what);
    }
}

static void check_rules_map(report *r, const miaopi_decision *d,
                            const miaopi_ruleset *rs, const json_t *want)
{
    const char *id;
    json_t *v;
    json_object_foreach((json_t *)want, id, v) {
        long k = rule_index(rs, id);
        if (k < 0) {
            no_such_rule(r, rs, id);
            continue;
        }
        miaopi_rule_result res = MIAOPI_RULE_RESULT_INIT;
        miaopi_decision_rule(&res, d, (size_t)k);
        const char *got = miaopi_rule_status_name(res.status);
        const char *exp = json_string_value(v);
        if (!exp || strcmp(exp, got) != 0)
            say(r, "  rule %s: expected %s, got %s\n", id,
                exp ? exp : "(not a string)", got);
    }
}

/* expect.reasons: exactly these reason codes, in any order. */
static void check_reasons(report *r, const miaopi_decision *d,
                          const json_t *want)
{
    size_t n = miaopi_decision_reason_count(d), i;
    json_t *v;
    bool same = json_array_size(want) == n;
    for (size_t k = 0; same && k < n; k++) {
        miaopi_reason rr = MIAOPI_REASON_INIT;
        miaopi_decision_reason(&rr, d, k, NULL);
        bool found = false;
        json_array_foreach(want, i, v) {
            const char *c = json_string_value(v);
            found = found || (c && strcmp(c, rr.code) == 0);
        }
        same = found;
    }
    if (same)
        return;
    say(r, "  reasons: expected [");
    json_array_foreach(want, i, v) say(r, "%s%s", i ? ", " : "",
                                       json_string_value(v)
                                           ? json_string_value(v)
                                           : "?");
    say(r, "], got [");
    for (size_t k = 0; k < n; k++) {
        miaopi_reason rr = MIAOPI_REASON_INIT;
        miaopi_decision_reason(&rr, d, k, NULL);
        say(r, "%s%s", k ? ", " : "", rr.code);
    }
    say(r, "]\n");
}

static void rule_table(report *r, const miaopi_decision *d)
{
    say(r, "  rules:\n");
    for (size_t k = 0; k < miaopi_decision_rule_count(d); k++) {
        miaopi_rule_result res = MIAOPI_RULE_RESULT_INIT;
        miaopi_decision_rule(&res, d, k);
        say(r, "    %-15s %s", miaopi_rule_status_name(res.status), res.id);
        if (res.status == MIAOPI_RULE_UNKNOWN)
            say(r, " (%s)", res.unknown_reason);
        else if (res.status == MIAOPI_RULE_FAIL)
            say(r, " [%s]", res.code);
        say(r, "\n");
    }
}

static void record_coverage(rs_entry *e, const miaopi_decision *d)
{
    e->cases++;
    for (size_t k = 0; k < miaopi_decision_rule_count(d); k++) {
        miaopi_rule_result res = MIAOPI_RULE_RESULT_INIT;
        miaopi_decision_rule(&res, d, k);
        if (res.status == MIAOPI_RULE_FAIL)
            e->failed[k] = 1;
        else if (res.status == MIAOPI_RULE_UNKNOWN)
            e->unknown[k] = 1;
    }
}

static bool selected(const test_run *t, const char *name)
{
    if (!t->filter)
        return true;
    return fnmatch(t->filter, name, 0) == 0 || strstr(name, t->filter);
}

typedef struct case_spec {
    const char *suite;     /* suite file */
    const char *dir;       /* its directory */
    const char *name;
    rs_entry *rs;
    const json_t *doc;     /* inline case, or NULL */
    char *case_path;       /* or a file */
    const json_t *expect;
    bool ignore_dates;
} case_spec;

static miaopi_case *load_case(test_run *t, const case_spec *c, int *rc,
                              miaopi_error *err)
{
    miaopi_case *mc = NULL;
    if (c->doc) {
        char *s = json_dumps(c->doc, JSON_COMPACT);
        *rc = s ? miaopi_case_from_json(&mc, s, strlen(s), err)
                : MIAOPI_ENOMEM;
        free(s);
    } else {
        *rc = miaopi_case_load_file(&mc, c->case_path, err);
        if (*rc == MIAOPI_EIO) {
            suite_error(t, c->suite, "case '%s': %s", c->name, err->message);
            return NULL;
        }
    }
    return mc;
}

static void finish_case(test_run *t, const case_spec *c, report *r,
                        const char *got)
{
    if (r->len == 0) {
        t->passed++;
        if (t->verbose)
            printf("%sok%s   %s (%s)\n", cli_sgr("\033[32m"),
                   cli_sgr("\033[0m"), c->name, got);
        return;
    }
    t->failed++;
    printf("%sFAIL%s %s (%s)\n%s", cli_sgr("\033[1;31m"), cli_sgr("\033[0m"),
           c->name, c->suite, r->text);
}

static void run_case(test_run *t, const case_spec *c)
{
    report r;
    r.len = 0;
    r.text[0] = '\0';
    int rc;
    miaopi_error err;
    memset(&err, 0, sizeof(err));
    miaopi_case *mc = load_case(t, c, &rc, &err);
    if (!mc && rc == MIAOPI_EIO)
        return;
    miaopi_eval_options eo = MIAOPI_EVAL_OPTIONS_INIT;
    eo.ignore_effective_dates = c->ignore_dates;
    if (rc == MIAOPI_OK)
        rc = miaopi_evaluate(t->d, c->rs->rs, mc, &eo, &err);
    miaopi_case_free(mc);
    const char *want_err = json_string_value(json_object_get(c->expect,
                                                             "error"));
    const char *want = json_string_value(json_object_get(c->expect,
                                                         "decision"));
    if (rc != MIAOPI_OK) {
        if (!want_err || strcmp(want_err, miaopi_strerror(rc)) != 0)
            say(&r, "  expected %s, got error %s: %s\n",
                want_err ? want_err : want ? want : "a decision",
                miaopi_strerror(rc), err.message);
        finish_case(t, c, &r, miaopi_strerror(rc));
        return;
    }
    const miaopi_decision *d = t->d;
    record_coverage(c->rs, d);
    const char *got = miaopi_outcome_name(miaopi_decision_outcome(d));
    if (want_err)
        say(&r, "  expected error %s, got %s\n", want_err, got);
    if (want && strcmp(want, got) != 0)
        say(&r, "  decision: expected %s, got %s\n", want, got);
    check_status_set(&r, d, c->rs->rs, json_object_get(c->expect, "fail"),
                     MIAOPI_RULE_FAIL, "fail");
    check_status_set(&r, d, c->rs->rs, json_object_get(c->expect, "unknown"),
                     MIAOPI_RULE_UNKNOWN, "unknown");
    const json_t *rules = json_object_get(c->expect, "rules");
    if (rules)
        check_rules_map(&r, d, c->rs->rs, rules);
    const json_t *reasons = json_object_get(c->expect, "reasons");
    if (reasons)
        check_reasons(&r, d, reasons);
    if (r.len)
        rule_table(&r, d);
    finish_case(t, c, &r, got);
}

/* ---- suites ---- */

static const char *const suite_keys[] = {"ruleset", "description", "cases"};
static const char *const case_keys[] = {"name", "case", "ruleset", "expect",
                                        "ignore_effective_dates",
                                        "description"};
static const char *const expect_keys[] = {"decision", "fail", "unknown",
                                          "rules", "reasons", "error"};
#define NKEYS(a) (sizeof(a) / sizeof((a)[0]))

static bool valid_expect(test_run *t, const char *file, const json_t *x,
                         const char *name)
{
    if (!json_is_object(x)) {
        suite_error(t, file, "case '%s': expect must be an object", name);
        return false;
    }
    if (!check_keys(t, file, x, expect_keys, NKEYS(expect_keys), "expect"))
        return false;
    const json_t *dec = json_object_get(x, "decision");
    const char *ds = json_string_value(dec);
    if (dec && (!ds || (strcmp(ds, "APPROVE") && strcmp(ds, "REJECT") &&
                        strcmp(ds, "ESCALATE")))) {
        suite_error(t, file,
                    "case '%s': expect.decision must be APPROVE, REJECT or "
                    "ESCALATE",
                    name);
        return false;
    }
    if (!dec && !json_object_get(x, "error")) {
        suite_error(t, file, "case '%s': expect needs a decision or an "
                             "error", name);
        return false;
    }
    return true;
}

/* The expectation, inline or from a file; a new reference. */
static json_t *load_expect(test_run *t, const char *file, const char *dir,
                           const json_t *x, const char *name)
{
    if (!json_is_string(x))
        return json_incref((json_t *)x);
    char *p = join(dir, json_string_value(x));
    json_error_t je;
    json_t *e = p ? json_load_file(p, JSON_REJECT_DUPLICATES, &je) : NULL;
    if (!e)
        suite_error(t, file, "case '%s': %s", name, p ? je.text : "");
    free(p);
    return e;
}

static void run_suite_case(test_run *t, const char *file, const char *dir,
                           rs_entry *dflt, const json_t *jc, size_t idx)
{
    char fallback[32];
    snprintf(fallback, sizeof(fallback), "#%zu", idx + 1);
    const char *name = json_string_value(json_object_get(jc, "name"));
    if (!json_is_object(jc) ||
        !check_keys(t, file, jc, case_keys, NKEYS(case_keys), "a case")) {
        if (!json_is_object(jc))
            suite_error(t, file, "case %s is not an object", fallback);
        return;
    }
    if (!name)
        name = fallback;
    if (!selected(t, name))
        return;
    case_spec c;
    memset(&c, 0, sizeof(c));
    c.suite = file;
    c.dir = dir;
    c.name = name;
    c.rs = dflt;
    c.ignore_dates = json_is_true(json_object_get(jc, "ignore_effective_"
                                                      "dates"));
    const char *rsp = json_string_value(json_object_get(jc, "ruleset"));
    if (rsp) {
        char *p = join(dir, rsp);
        c.rs = p ? get_ruleset(t, p) : NULL;
        free(p);
    }
    if (!c.rs) {
        if (!rsp && !dflt)
            suite_error(t, file, "case '%s' names no ruleset", name);
        return;
    }
    const json_t *cj = json_object_get(jc, "case");
    if (json_is_object(cj)) {
        c.doc = cj;
    } else if (json_is_string(cj)) {
        c.case_path = join(dir, json_string_value(cj));
    } else {
        suite_error(t, file, "case '%s': \"case\" must be a file name or "
                             "a case object", name);
        return;
    }
    json_t *x = load_expect(t, file, dir, json_object_get(jc, "expect"),
                            name);
    if (x && valid_expect(t, file, x, name)) {
        c.expect = x;
        run_case(t, &c);
    }
    json_decref(x);
    free(c.case_path);
}

static void run_suite(test_run *t, const char *file)
{
    json_error_t je;
    json_t *s = json_load_file(file, JSON_REJECT_DUPLICATES, &je);
    if (!s) {
        char where[32] = "";
        if (je.line > 0)
            snprintf(where, sizeof(where), " (line %d)", je.line);
        suite_error(t, file, "%s%s", je.text, where);
        return;
    }
    char *dir = dir_of(file);
    if (!json_is_object(s) ||
        !check_keys(t, file, s, suite_keys, NKEYS(suite_keys), "the suite") ||
        !json_is_array(json_object_get(s, "cases")) || !dir) {
        if (json_is_object(s) && !json_is_array(json_object_get(s, "cases")))
            suite_error(t, file, "a suite needs \"cases\": [...]");
        else if (!json_is_object(s))
            suite_error(t, file, "a suite is a JSON object");
        json_decref(s);
        free(dir);
        return;
    }
    rs_entry *dflt = NULL;
    const char *rsp = json_string_value(json_object_get(s, "ruleset"));
    if (rsp) {
        char *p = join(dir, rsp);
        dflt = p ? get_ruleset(t, p) : NULL;
        free(p);
        if (!dflt) {
            json_decref(s);
            free(dir);
            return;
        }
    }
    size_t i;
    json_t *jc;
    json_array_foreach(json_object_get(s, "cases"), i, jc)
        run_suite_case(t, file, dir, dflt, jc, i);
    json_decref(s);
    free(dir);
}

static bool is_suite_name(const char *name)
{
    size_t n = strlen(name), k = strlen(".test.json");
    return n > k && strcmp(name + n - k, ".test.json") == 0;
}

/* Every *.test.json under dir, in name order, depth first. */
static void run_dir(test_run *t, const char *dir, int depth)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    if (n < 0) {
        suite_error(t, dir, "cannot read the directory");
        return;
    }
    for (int i = 0; i < n; i++) {
        const char *nm = names[i]->d_name;
        char *p = nm[0] == '.' ? NULL : join(dir, nm);
        struct stat sb;
        if (p && stat(p, &sb) == 0) {
            if (S_ISDIR(sb.st_mode) && depth < 32)
                run_dir(t, p, depth + 1);
            else if (S_ISREG(sb.st_mode) && is_suite_name(nm))
                run_suite(t, p);
        }
        free(p);
        free(names[i]);
    }
    free(names);
}

static void print_coverage(const test_run *t)
{
    for (const rs_entry *e = t->rulesets; e; e = e->next) {
        size_t n = miaopi_ruleset_rule_count(e->rs);
        printf("\ncoverage of %s %s (%s): %zu rules, %u cases\n",
               miaopi_ruleset_id(e->rs), miaopi_ruleset_version(e->rs),
               e->shown, n, e->cases);
        for (int which = 0; which < 2; which++) {
            const unsigned char *hit = which ? e->unknown : e->failed;
            size_t missing = 0;
            for (size_t k = 0; k < n; k++)
                missing += !hit[k];
            printf("  never %s (%zu):", which ? "unknown" : "failed",
                   missing);
            for (size_t k = 0; k < n; k++) {
                miaopi_rule_info info = MIAOPI_RULE_INFO_INIT;
                if (!hit[k] &&
                    miaopi_ruleset_rule(&info, e->rs, k, NULL) == MIAOPI_OK)
                    printf(" %s", info.id);
            }
            printf("%s\n", missing ? "" : " none");
        }
    }
}

/* Options may come before or after the suites; paths[] collects these. */
static int parse_args(int argc, char **argv, test_run *t, char **paths,
                      int *npaths)
{
    bool rest = false;
    for (int i = 1; i < argc; i++) {
        if (rest) {
            paths[(*npaths)++] = argv[i];
            continue;
        }
        const char *a = argv[i];
        if (cli_is_help(a)) {
            fputs(usage_test, stdout);
            return 0;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            t->verbose = true;
        } else if (strcmp(a, "--coverage") == 0) {
            t->coverage = true;
        } else if (strcmp(a, "-f") == 0 || strcmp(a, "--filter") == 0) {
            if (++i >= argc)
                return cli_usage_error(usage_test, "a pattern must follow",
                                       a);
            t->filter = argv[i];
        } else if (strncmp(a, "--filter=", 9) == 0) {
            t->filter = a + 9;
        } else if (strncmp(a, "--color=", 8) == 0 ||
                   strncmp(a, "--colour=", 9) == 0) {
            if (!cli_color_set(strchr(a, '=') + 1))
                return cli_usage_error(usage_test,
                                       "--color takes auto, always or never:",
                                       a);
        } else if (strcmp(a, "--") == 0) {
            rest = true;
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error(usage_test, "unknown option", a);
        } else {
            paths[(*npaths)++] = argv[i];
        }
    }
    return -1;
}

int cmd_test(int argc, char **argv)
{
    test_run t;
    memset(&t, 0, sizeof(t));
    cli_color_set("auto");
    char **paths = calloc((size_t)argc + 1, sizeof(*paths));
    int npaths = 0;
    if (!paths) {
        fprintf(stderr, "%s: out of memory\n", cli_prog);
        return EXIT_ERROR;
    }
    int rc = parse_args(argc, argv, &t, paths, &npaths);
    if (rc < 0 && npaths == 0)
        rc = cli_usage_error(usage_test, "no suites or directories given",
                             NULL);
    if (rc < 0 && miaopi_decision_new(&t.d) != MIAOPI_OK) {
        fprintf(stderr, "%s: out of memory\n", cli_prog);
        rc = EXIT_ERROR;
    }
    if (rc >= 0) {
        free(paths);
        return rc;
    }
    for (int i = 0; i < npaths; i++) {
        struct stat sb;
        if (stat(paths[i], &sb) != 0)
            suite_error(&t, paths[i], "no such file or directory");
        else if (S_ISDIR(sb.st_mode))
            run_dir(&t, paths[i], 0);
        else
            run_suite(&t, paths[i]);
    }
    free(paths);
    if (t.coverage)
        print_coverage(&t);
    if (t.errors)
        printf("%d error%s\n", t.errors, t.errors == 1 ? "" : "s");
    printf("%d passed, %d failed\n", t.passed, t.failed);
    miaopi_decision_free(t.d);
    free_rulesets(&t);
    cli_diag_reset();
    if (fflush(stdout) != 0 || t.errors)
        return EXIT_ERROR;
    return t.failed ? EXIT_FOUND : 0;
}
