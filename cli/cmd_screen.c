/*
 * miaopi screen: evaluate a ruleset over a population's source records
 * (政策补贴直通车, "the service finds the person") and list who qualifies
 * and who misses by exactly one rule.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage_screen[] =
    "usage: miaopi screen -r RULES.xml [--date YYYY-MM-DD] [--lang LANG]\n"
    "                     [-o OUT.jsonl] [--quiet] RECORDS.jsonl\n"
    "\n"
    "Evaluate RULES.xml over source records alone, one person per line:\n"
    "  {\"id\": \"p1\", \"sources\": {\"hukou\": {...}, ...}}\n"
    "(a line may also hold \"application\" and \"context\"). Write one JSON\n"
    "line per person who qualifies (the decision is APPROVE):\n"
    "  {\"id\": \"p1\", \"result\": \"qualifies\"}\n"
    "and per near miss (exactly one rule fails, none is unknown):\n"
    "  {\"id\": \"p2\", \"result\": \"near-miss\", \"rule\": \"...\",\n"
    "   \"code\": \"...\", \"message\": \"...\"}\n"
    "Others (two or more failures, or unknown data) are only counted.\n"
    "A summary with the throughput goes to standard error.\n"
    "RECORDS.jsonl may be - for standard input.\n"
    "\n"
    "Options:\n"
    "  -r, --rules FILE   the rule file (required)\n"
    "  -d, --date DATE    the decision date for every record (sets\n"
    "                     context.decision_date); else each line's own\n"
    "  -l, --lang LANG    zh-CN (default) or en, for near-miss messages\n"
    "  -o, --output FILE  write the results there instead of stdout\n"
    "  -q, --quiet        write no results, only the summary\n"
    "  -h, --help         show this help\n"
    "\n"
    "Exit status: 0 success, 1 some lines could not be evaluated, 2 usage\n"
    "or I/O error.\n";

typedef struct screen_opts {
    const char *rules, *input, *date, *lang, *output;
    bool quiet;
} screen_opts;

typedef struct tally {
    unsigned long records, qualify, near, other, errors;
} tally;

static int parse_args(int argc, char **argv, screen_opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = NULL;
        if (cli_is_help(a)) {
            fputs(usage_screen, stdout);
            return -1;
        } else if (strcmp(a, "-r") == 0 || strcmp(a, "--rules") == 0) {
            slot = &o->rules;
        } else if (strcmp(a, "-d") == 0 || strcmp(a, "--date") == 0) {
            slot = &o->date;
        } else if (strcmp(a, "-l") == 0 || strcmp(a, "--lang") == 0) {
            slot = &o->lang;
        } else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
            slot = &o->output;
        } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            o->quiet = true;
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error(usage_screen, "unknown option", a);
        } else if (!o->input) {
            o->input = a;
        } else {
            return cli_usage_error(usage_screen, "unexpected argument", a);
        }
        if (slot) {
            if (++i >= argc)
                return cli_usage_error(usage_screen, "a value must follow", a);
            *slot = argv[i];
        }
    }
    if (!o->rules)
        return cli_usage_error(usage_screen, "-r RULES.xml is required", NULL);
    if (!o->input)
        return cli_usage_error(usage_screen, "no records file given", NULL);
    if (strcmp(o->lang, "zh-CN") != 0 && strcmp(o->lang, "en") != 0)
        return cli_usage_error(usage_screen, "unknown language:", o->lang);
    return 0;
}

/* The raw JSON text of the top-level member "id" of a valid JSON object
 * line, or NULL. A small scanner: the case parser has already accepted
 * the line, so only nesting and strings need tracking. */
static const char *find_id(const char *s, size_t len, size_t *n)
{
    int depth = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (ch == '"') {
            size_t start = i++;
            while (i < len && s[i] != '"')
                i += s[i] == '\\' ? 2 : 1;
            bool key = depth == 1 && i - start == 3 &&
                       memcmp(s + start, "\"id\"", 4) == 0;
            if (!key)
                continue;
            size_t j = i + 1;
            while (j < len && (s[j] == ' ' || s[j] == ':' || s[j] == '\t'))
                j++;
            size_t k = j;
            if (k < len && s[k] == '"') {
                for (k++; k < len && s[k] != '"'; k += s[k] == '\\' ? 2 : 1)
                    ;
                k++;
            } else {
                while (k < len && s[k] != ',' && s[k] != '}' && s[k] != ' ')
                    k++;
            }
            *n = k - j;
            return s + j;
        } else if (ch == '{' || ch == '[') {
            depth++;
        } else if (ch == '}' || ch == ']') {
            depth--;
        }
    }
    return NULL;
}

static void put_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

/* Classify one decision and write its line. */
static void report(FILE *out, const screen_opts *o, const miaopi_decision *d,
                   const char *id, size_t idlen, tally *t)
{
    if (miaopi_decision_outcome(d) == MIAOPI_APPROVE) {
        t->qualify++;
        if (!o->quiet)
            fprintf(out, "{\"id\":%.*s,\"result\":\"qualifies\"}\n",
                    (int)idlen, id);
        return;
    }
    size_t fails = 0, unknown = 0, which = 0;
    for (size_t i = 0; i < miaopi_decision_rule_count(d); i++) {
        miaopi_rule_result r = MIAOPI_RULE_RESULT_INIT;
        miaopi_decision_rule(&r, d, i);
        if (r.status == MIAOPI_RULE_FAIL) {
            fails++;
            which = i;
        } else if (r.status == MIAOPI_RULE_UNKNOWN) {
            unknown++;
        }
    }
    if (fails != 1 || unknown != 0) {
        t->other++;
        return;
    }
    t->near++;
    if (o->quiet)
        return;
    miaopi_rule_result r = MIAOPI_RULE_RESULT_INIT;
    miaopi_decision_rule(&r, d, which);
    const char *msg = "";
    for (size_t k = 0; k < miaopi_decision_reason_count(d); k++) {
        miaopi_reason rr = MIAOPI_REASON_INIT;
        if (miaopi_decision_reason(&rr, d, k, o->lang) == MIAOPI_OK &&
            strcmp(rr.rule_id, r.id) == 0)
            msg = rr.message;
    }
    fprintf(out, "{\"id\":%.*s,\"result\":\"near-miss\",\"rule\":", (int)idlen,
            id);
    put_json_string(out, r.id);
    fputs(",\"code\":", out);
    put_json_string(out, r.code);
    fputs(",\"message\":", out);
    put_json_string(out, msg);
    fputs("}\n", out);
}

static void screen_line(const screen_opts *o, const miaopi_ruleset *rs,
                        miaopi_decision *d, FILE *out, const char *line,
                        size_t len, unsigned long lineno, tally *t)
{
    miaopi_case *c = NULL;
    miaopi_error err;
    size_t idlen = 0;
    const char *id = NULL;
    int rc = miaopi_case_from_json(&c, line, len, &err);
    if (rc == MIAOPI_OK && o->date)
        rc = miaopi_case_set_string(c, "context.decision_date", o->date);
    if (rc == MIAOPI_OK)
        rc = miaopi_evaluate(d, rs, c, NULL, &err);
    if (rc == MIAOPI_OK) {
        id = find_id(line, len, &idlen);
        if (!id) {
            id = "null";
            idlen = 4;
        }
        report(out, o, d, id, idlen, t);
    } else {
        t->errors++;
        if (t->errors <= 20)
            fprintf(stderr, "%s: %s:%lu: %s\n", cli_prog, o->input, lineno,
                    rc == MIAOPI_EINVAL ? "invalid value" : err.message);
    }
    miaopi_case_free(c);
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int cmd_screen(int argc, char **argv)
{
    screen_opts o = {NULL, NULL, NULL, "zh-CN", NULL, false};
    int rc = parse_args(argc, argv, &o);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    int status = EXIT_ERROR;
    miaopi_ruleset *rs = NULL;
    miaopi_decision *d = NULL;
    miaopi_error err;
    FILE *in = NULL, *out = stdout;
    char *line = NULL;
    size_t cap = 0;
    tally t = {0, 0, 0, 0, 0};
    if (miaopi_ruleset_load_file(&rs, o.rules, NULL, &err) != MIAOPI_OK) {
        cli_print_error(o.rules, &err);
        goto done;
    }
    in = strcmp(o.input, "-") == 0 ? stdin : fopen(o.input, "rb");
    if (o.output && in)
        out = fopen(o.output, "wb");
    if (!in || !out || miaopi_decision_new(&d) != MIAOPI_OK) {
        fprintf(stderr, "%s: cannot open %s\n", cli_prog,
                !in ? o.input : o.output);
        goto done;
    }
    double start = now_seconds();
    ssize_t n;
    unsigned long lineno = 0;
    while ((n = getline(&line, &cap, in)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n == 0)
            continue;
        t.records++;
        screen_line(&o, rs, d, out, line, (size_t)n, lineno, &t);
    }
    double secs = now_seconds() - start;
    fprintf(stderr,
            "%s: screened %lu records in %.3f s (%.0f records/minute): "
            "%lu qualify, %lu near misses, %lu other, %lu errors\n",
            cli_prog, t.records, secs,
            secs > 0 ? (double)t.records * 60.0 / secs : 0.0, t.qualify,
            t.near, t.other, t.errors);
    status = ferror(in) || fflush(out) != 0 ? EXIT_ERROR
             : t.errors                     ? EXIT_FOUND
                                            : 0;
done:
    free(line);
    if (in && in != stdin)
        fclose(in);
    if (out && out != stdout)
        fclose(out);
    miaopi_decision_free(d);
    miaopi_ruleset_unref(rs);
    return status;
}
