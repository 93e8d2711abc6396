/*
 * miaopi replay: re-decide every logged case under the ruleset it was
 * decided with (found by SHA-256) and report any difference; or, with
 * --what-if, decide every logged case under a new ruleset and report the
 * impact of the change.
 */
#include "audit_util.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char usage_replay[] =
    "usage: miaopi replay LOG -r RULES... [--json]\n"
    "       miaopi replay LOG --what-if NEW.xml [--json]\n"
    "\n"
    "Replay: every logged decision is evaluated again with its logged case,\n"
    "decision date and decision id, under the ruleset whose SHA-256 it\n"
    "names (found among the -r files and directories; an entry whose\n"
    "ruleset is not given is reported, never guessed). The decision, every\n"
    "rule's status and the spot-check mark are compared.\n"
    "\n"
    "What-if: every logged case is decided under NEW.xml instead, and the\n"
    "change is shown as a from-to matrix of decisions with, for each changed\n"
    "case, the rules whose status changed.\n"
    "\n"
    "Options:\n"
    "  -r, --rules PATH   a rule file or a directory of them (repeatable)\n"
    "  -w, --what-if FILE the candidate ruleset\n"
    "      --json         print one JSON report\n"
    "  -q, --quiet        no progress and no per-entry lines\n"
    "  -h, --help         show this help\n"
    "\n"
    "Exit status: 0 everything reproduced (what-if: the run completed),\n"
    "1 a difference or a missing ruleset, 2 error.\n";

enum { N_OUTCOMES = 4 };

typedef struct replay {
    bool json, quiet, what_if, progress;
    cli_rulesets rules;
    miaopi_ruleset *candidate;
    miaopi_decision *d;
    uint64_t entries, reproduced, differed, missing, errors;
    uint64_t matrix[N_OUTCOMES][N_OUTCOMES];
    bool first_item; /* JSON list punctuation */
    struct timespec start;
} replay;

static double elapsed(const replay *r)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - r->start.tv_sec) +
           (double)(now.tv_nsec - r->start.tv_nsec) / 1e9;
}

static void progress(replay *r, bool done)
{
    if (!r->progress || (!done && r->entries % 4096 != 0))
        return;
    double t = elapsed(r);
    fprintf(stderr, "\r%s: %llu entries, %.0f/s%s", cli_prog,
            (unsigned long long)r->entries, t > 0 ? (double)r->entries / t : 0,
            done ? "\n" : "");
}

static void item_start(replay *r)
{
    if (!r->first_item)
        printf(",");
    r->first_item = false;
}

/* Rules whose status differs, as "id: a→b" for text or JSON objects. */
static void print_rule_changes(const miaopi_log_entry *e,
                               const miaopi_decision *d, bool json)
{
    size_t n = miaopi_decision_rule_count(d);
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        miaopi_rule_result now = MIAOPI_RULE_RESULT_INIT;
        miaopi_decision_rule(&now, d, i);
        const char *was = "absent";
        for (size_t k = 0; k < miaopi_log_entry_rule_count(e); k++) {
            const char *id;
            miaopi_rule_status st;
            miaopi_log_entry_rule(e, k, &id, &st);
            if (strcmp(id, now.id) == 0)
                was = miaopi_rule_status_name(st);
        }
        const char *is = miaopi_rule_status_name(now.status);
        if (strcmp(was, is) == 0)
            continue;
        if (json) {
            printf("%s{\"rule\":", first ? "" : ",");
            cli_json_string(stdout, now.id);
            printf(",\"from\":\"%s\",\"to\":\"%s\"}", was, is);
        } else {
            printf("%s%s %s→%s", first ? "" : ", ", now.id, was, is);
        }
        first = false;
    }
    /* Rules that were logged but are gone from the ruleset now. */
    for (size_t k = 0; k < miaopi_log_entry_rule_count(e); k++) {
        const char *id;
        miaopi_rule_status st;
        miaopi_log_entry_rule(e, k, &id, &st);
        bool found = false;
        for (size_t i = 0; i < n && !found; i++) {
            miaopi_rule_result now = MIAOPI_RULE_RESULT_INIT;
            miaopi_decision_rule(&now, d, i);
            found = strcmp(now.id, id) == 0;
        }
        if (found)
            continue;
        if (json) {
            printf("%s{\"rule\":", first ? "" : ",");
            cli_json_string(stdout, id);
            printf(",\"from\":\"%s\",\"to\":\"absent\"}",
                   miaopi_rule_status_name(st));
        } else {
            printf("%s%s %s→absent", first ? "" : ", ", id,
                   miaopi_rule_status_name(st));
        }
        first = false;
    }
}

static void report_difference(replay *r, const miaopi_log_entry *e,
                              const char *what, const miaopi_decision *d)
{
    if (r->quiet)
        return;
    miaopi_outcome was = miaopi_log_entry_outcome(e);
    const char *now = d ? miaopi_outcome_name(miaopi_decision_outcome(d))
                        : "none";
    if (r->json) {
        item_start(r);
        printf("{\"seq\":%llu,\"id\":",
               (unsigned long long)miaopi_log_entry_seq(e));
        cli_json_string(stdout, miaopi_log_entry_id(e));
        printf(",\"kind\":\"%s\",\"logged\":\"%s\",\"replayed\":\"%s\"", what,
               miaopi_outcome_name(was), now);
        if (d) {
            printf(",\"rules\":[");
            print_rule_changes(e, d, true);
            printf("]");
        }
        printf("}");
        return;
    }
    printf("seq %llu id %s: %s: logged %s, %s %s",
           (unsigned long long)miaopi_log_entry_seq(e),
           miaopi_log_entry_id(e), what, miaopi_outcome_name(was),
           r->what_if ? "what-if" : "replayed", now);
    if (d) {
        printf("; rules: ");
        print_rule_changes(e, d, false);
    }
    printf("\n");
}

static void report_missing(replay *r, const miaopi_log_entry *e)
{
    r->missing++;
    if (r->quiet)
        return;
    if (r->json) {
        item_start(r);
        printf("{\"seq\":%llu,\"kind\":\"ruleset-missing\",\"sha256\":\"%s\"}",
               (unsigned long long)miaopi_log_entry_seq(e),
               miaopi_log_entry_ruleset_sha256(e));
        return;
    }
    printf("seq %llu id %s: ruleset %s %s (sha256 %s) was not given\n",
           (unsigned long long)miaopi_log_entry_seq(e), miaopi_log_entry_id(e),
           miaopi_log_entry_ruleset_id(e),
           miaopi_log_entry_ruleset_version(e),
           miaopi_log_entry_ruleset_sha256(e));
}

/* What-if: evaluate the logged case under the candidate ruleset, even
 * outside its effective dates, and count where each outcome went. (A
 * plain replay is miaopi_log_entry_replay's, in cmd_replay below.) */
static void what_if_entry(replay *r, const miaopi_log_entry *e)
{
    const miaopi_case *c = miaopi_log_entry_case(e);
    miaopi_eval_options eo = MIAOPI_EVAL_OPTIONS_INIT;
    eo.decision_id = miaopi_log_entry_id(e);
    double rate = 0;
    (void)miaopi_log_entry_spot_check(e, &rate);
    eo.spot_check_rate = rate;
    eo.ignore_effective_dates = true;
    miaopi_error err;
    if (!c || miaopi_evaluate(r->d, r->candidate, c, &eo, &err) != MIAOPI_OK) {
        r->errors++;
        r->differed++;
        report_difference(r, e, "error", NULL);
        return;
    }
    miaopi_outcome was = miaopi_log_entry_outcome(e);
    miaopi_outcome now = miaopi_decision_outcome(r->d);
    r->matrix[was][now]++;
    if (was != now) {
        r->differed++;
        report_difference(r, e, "changed", r->d);
    } else {
        r->reproduced++;
    }
}

static const char *const outcome_names[N_OUTCOMES] = {"", "APPROVE", "REJECT",
                                                      "ESCALATE"};

static void print_summary(replay *r, const char *log)
{
    double t = elapsed(r);
    double rate = t > 0 ? (double)r->entries / t : 0;
    if (r->json) {
        printf("],\"log\":");
        cli_json_string(stdout, log);
        printf(",\"entries\":%llu,\"reproduced\":%llu,\"%s\":%llu,"
               "\"ruleset_missing\":%llu,\"errors\":%llu,"
               "\"entries_per_second\":%.0f",
               (unsigned long long)r->entries,
               (unsigned long long)r->reproduced,
               r->what_if ? "changed" : "differed",
               (unsigned long long)r->differed,
               (unsigned long long)r->missing,
               (unsigned long long)r->errors, rate);
        if (r->what_if) {
            printf(",\"matrix\":{");
            for (int a = 1; a < N_OUTCOMES; a++) {
                printf("%s\"%s\":{", a > 1 ? "," : "", outcome_names[a]);
                for (int b = 1; b < N_OUTCOMES; b++)
                    printf("%s\"%s\":%llu", b > 1 ? "," : "",
                           outcome_names[b],
                           (unsigned long long)r->matrix[a][b]);
                printf("}");
            }
            printf("}");
        }
        printf("}\n");
        return;
    }
    if (r->what_if) {
        printf("\nwhat-if under %s %s (sha256 %s):\n",
               miaopi_ruleset_id(r->candidate),
               miaopi_ruleset_version(r->candidate),
               miaopi_ruleset_sha256(r->candidate));
        printf("  %-10s %10s %10s %10s\n", "from \\ to", "APPROVE", "REJECT",
               "ESCALATE");
        for (int a = 1; a < N_OUTCOMES; a++)
            printf("  %-10s %10llu %10llu %10llu\n", outcome_names[a],
                   (unsigned long long)r->matrix[a][1],
                   (unsigned long long)r->matrix[a][2],
                   (unsigned long long)r->matrix[a][3]);
        printf("%llu cases: %llu unchanged, %llu changed, %llu errors\n",
               (unsigned long long)(r->reproduced + r->differed),
               (unsigned long long)r->reproduced,
               (unsigned long long)r->differed,
               (unsigned long long)r->errors);
        return;
    }
    printf("%s: %llu decisions: %llu reproduced, %llu differed, %llu "
           "ruleset missing (%.0f entries/s)\n",
           log, (unsigned long long)(r->reproduced + r->differed + r->missing),
           (unsigned long long)r->reproduced, (unsigned long long)r->differed,
           (unsigned long long)r->missing, rate);
}

static int run(replay *r, const char *log)
{
    miaopi_log_reader *reader;
    miaopi_error err;
    if (miaopi_log_reader_open(&reader, log, &err) != MIAOPI_OK) {
        cli_print_error(log, &err);
        return EXIT_ERROR;
    }
    if (miaopi_decision_new(&r->d) != MIAOPI_OK) {
        miaopi_log_reader_free(reader);
        return EXIT_ERROR;
    }
    clock_gettime(CLOCK_MONOTONIC, &r->start);
    r->first_item = true;
    if (r->json)
        printf("{\"items\":[");
    const miaopi_log_entry *e;
    int got, status = 0;
    while ((got = miaopi_log_reader_next(reader, &e, &err)) != 0) {
        if (got < 0) {
            if (got != MIAOPI_ECASE) {
                cli_print_error(log, &err);
                status = EXIT_ERROR;
                break;
            }
            fprintf(stderr, "%s: %s: %s\n", cli_prog, log, err.message);
            r->errors++;
            continue;
        }
        if (r->what_if) {
            if (strcmp(miaopi_log_entry_type(e), "decision") != 0)
                continue;
            r->entries++;
            what_if_entry(r, e);
            progress(r, false);
            continue;
        }
        /* One call per entry; it usually compares the entry's bytes
         * instead of parsing them (docs/audit-log.md). */
        int rc = miaopi_log_entry_replay(e, r->d, r->rules.items, r->rules.n,
                                         &err);
        if (rc == 1) {
            /* Reproduced. Nothing else is asked of the entry: an accessor
             * would parse the part the replay only compared as bytes. */
            r->entries++;
            r->reproduced++;
            progress(r, false);
            continue;
        }
        if (rc == MIAOPI_ENOMEM) {
            cli_print_error(log, &err);
            status = EXIT_ERROR;
            break;
        }
        if (rc == MIAOPI_ECASE && !*miaopi_log_entry_type(e)) {
            /* The entry's head does not parse (the reader checks its
             * syntax, jansson may still refuse it, e.g. a number out of
             * range): an entry that is not one, as the reader says. */
            fprintf(stderr, "%s: %s: %s\n", cli_prog, log, err.message);
            r->errors++;
            continue;
        }
        if (strcmp(miaopi_log_entry_type(e), "decision") != 0)
            continue; /* the header, a recovery record */
        r->entries++;
        if (rc == 0) {
            r->differed++;
            report_difference(r, e, "differs", r->d);
        } else if (rc == MIAOPI_ENOTFOUND) {
            report_missing(r, e);
        } else {
            r->errors++;
            r->differed++;
            report_difference(r, e, "error", NULL);
        }
        progress(r, false);
    }
    progress(r, true);
    print_summary(r, log);
    miaopi_log_reader_free(reader);
    if (status == 0 && !r->what_if && (r->differed || r->missing || r->errors))
        status = EXIT_FOUND;
    if (status == 0 && r->what_if && r->errors)
        status = EXIT_FOUND;
    return status;
}

int cmd_replay(int argc, char **argv)
{
    replay r;
    memset(&r, 0, sizeof(r));
    const char *log = NULL, *what_if = NULL;
    int status = EXIT_ERROR;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            fputs(usage_replay, stdout);
            cli_rulesets_free(&r.rules);
            return 0;
        } else if (strcmp(a, "-r") == 0 || strcmp(a, "--rules") == 0) {
            if (++i >= argc) {
                status = cli_usage_error(usage_replay, "a path must follow", a);
                goto out;
            }
            if (cli_rulesets_add(&r.rules, argv[i]) != 0)
                goto out;
        } else if (strcmp(a, "-w") == 0 || strcmp(a, "--what-if") == 0) {
            if (++i >= argc) {
                status = cli_usage_error(usage_replay, "a file must follow", a);
                goto out;
            }
            what_if = argv[i];
        } else if (strcmp(a, "--json") == 0) {
            r.json = true;
        } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            r.quiet = true;
        } else if (a[0] == '-' && a[1]) {
            status = cli_usage_error(usage_replay, "unknown option", a);
            goto out;
        } else if (!log) {
            log = a;
        } else {
            status = cli_usage_error(usage_replay, "unexpected argument", a);
            goto out;
        }
    }
    if (!log) {
        status = cli_usage_error(usage_replay, "no log given", NULL);
        goto out;
    }
    if (!what_if && r.rules.n == 0) {
        status = cli_usage_error(usage_replay,
                                 "give the rulesets with -r (or --what-if)",
                                 NULL);
        goto out;
    }
    if (what_if) {
        miaopi_error err;
        if (miaopi_ruleset_load_file(&r.candidate, what_if, NULL, &err) !=
            MIAOPI_OK) {
            cli_print_error(what_if, &err);
            goto out;
        }
        r.what_if = true;
    }
    r.progress = !r.quiet && isatty(STDERR_FILENO);
    status = run(&r, log);
out:
    miaopi_decision_free(r.d);
    miaopi_ruleset_unref(r.candidate);
    cli_rulesets_free(&r.rules);
    return status;
}
