/*
 * miaopi replay: re-decide every logged case under the ruleset it was
 * decided with (found by SHA-256) and report any difference; or, with
 * --what-if, decide every logged case under a new ruleset and report the
 * impact of the change.
 */
#include "replay.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char usage_replay[] =
    "usage: miaopi replay LOG -r RULES... [--json] [--jobs N]\n"
    "       miaopi replay LOG --what-if NEW.xml [--json] [--jobs N]\n"
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
    "  -j, --jobs N       replay on N threads (1 to 256; 0 or auto: one per\n"
    "                     online CPU; default 1); the output is the same\n"
    "  -h, --help         show this help\n"
    "\n"
    "Exit status: 0 everything reproduced (what-if: the run completed),\n"
    "1 a difference or a missing ruleset, 2 error.\n";

static double elapsed(const replay_meter *m)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - m->start.tv_sec) +
           (double)(now.tv_nsec - m->start.tv_nsec) / 1e9;
}

void replay_meter_show(replay_meter *m, uint64_t entries, bool done)
{
    if (!m->on || (!done && entries / 4096 == m->shown / 4096))
        return;
    m->shown = entries;
    double t = elapsed(m);
    fprintf(stderr, "\r%s: %llu entries, %.0f/s%s", cli_prog,
            (unsigned long long)entries, t > 0 ? (double)entries / t : 0,
            done ? "\n" : "");
}

void replay_tally_add(replay_tally *t, const replay_tally *a)
{
    t->entries += a->entries;
    t->reproduced += a->reproduced;
    t->differed += a->differed;
    t->missing += a->missing;
    t->errors += a->errors;
    for (int i = 0; i < N_OUTCOMES; i++)
        for (int k = 0; k < N_OUTCOMES; k++)
            t->matrix[i][k] += a->matrix[i][k];
}

static void item_start(replay_out *o)
{
    if (!o->first_item)
        fprintf(o->out, ",");
    o->first_item = false;
}

/* Rules whose status differs, as "id: a→b" for text or JSON objects. */
static void print_rule_changes(FILE *out, const miaopi_log_entry *e,
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
            fprintf(out, "%s{\"rule\":", first ? "" : ",");
            cli_json_string(out, now.id);
            fprintf(out, ",\"from\":\"%s\",\"to\":\"%s\"}", was, is);
        } else {
            fprintf(out, "%s%s %s→%s", first ? "" : ", ", now.id, was, is);
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
            fprintf(out, "%s{\"rule\":", first ? "" : ",");
            cli_json_string(out, id);
            fprintf(out, ",\"from\":\"%s\",\"to\":\"absent\"}",
                    miaopi_rule_status_name(st));
        } else {
            fprintf(out, "%s%s %s→absent", first ? "" : ", ", id,
                    miaopi_rule_status_name(st));
        }
        first = false;
    }
}

static void report_difference(const replay_cfg *cfg, replay_out *o,
                              const miaopi_log_entry *e, const char *what,
                              const miaopi_decision *d)
{
    if (cfg->quiet)
        return;
    FILE *out = o->out;
    miaopi_outcome was = miaopi_log_entry_outcome(e);
    const char *now = d ? miaopi_outcome_name(miaopi_decision_outcome(d))
                        : "none";
    if (cfg->json) {
        item_start(o);
        fprintf(out, "{\"seq\":%llu,\"id\":",
                (unsigned long long)miaopi_log_entry_seq(e));
        cli_json_string(out, miaopi_log_entry_id(e));
        fprintf(out, ",\"kind\":\"%s\",\"logged\":\"%s\",\"replayed\":\"%s\"",
                what, miaopi_outcome_name(was), now);
        if (d) {
            fprintf(out, ",\"rules\":[");
            print_rule_changes(out, e, d, true);
            fprintf(out, "]");
        }
        fprintf(out, "}");
        return;
    }
    fprintf(out, "seq %llu id %s: %s: logged %s, %s %s",
            (unsigned long long)miaopi_log_entry_seq(e),
            miaopi_log_entry_id(e), what, miaopi_outcome_name(was),
            cfg->what_if ? "what-if" : "replayed", now);
    if (d) {
        fprintf(out, "; rules: ");
        print_rule_changes(out, e, d, false);
    }
    fprintf(out, "\n");
}

static void report_missing(const replay_cfg *cfg, replay_out *o,
                           const miaopi_log_entry *e)
{
    o->t.missing++;
    if (cfg->quiet)
        return;
    if (cfg->json) {
        item_start(o);
        fprintf(o->out,
                "{\"seq\":%llu,\"kind\":\"ruleset-missing\",\"sha256\":\"%s\"}",
                (unsigned long long)miaopi_log_entry_seq(e),
                miaopi_log_entry_ruleset_sha256(e));
        return;
    }
    fprintf(o->out, "seq %llu id %s: ruleset %s %s (sha256 %s) was not given\n",
            (unsigned long long)miaopi_log_entry_seq(e),
            miaopi_log_entry_id(e), miaopi_log_entry_ruleset_id(e),
            miaopi_log_entry_ruleset_version(e),
            miaopi_log_entry_ruleset_sha256(e));
}

/* What-if: evaluate the logged case under the candidate ruleset, even
 * outside its effective dates, and count where each outcome went. (A
 * plain replay is miaopi_log_entry_replay's, in replay_step below.) */
static void what_if_entry(const replay_cfg *cfg, replay_out *o,
                          miaopi_decision *d, const miaopi_log_entry *e)
{
    const miaopi_case *c = miaopi_log_entry_case(e);
    miaopi_eval_options eo = MIAOPI_EVAL_OPTIONS_INIT;
    eo.decision_id = miaopi_log_entry_id(e);
    double rate = 0;
    (void)miaopi_log_entry_spot_check(e, &rate);
    eo.spot_check_rate = rate;
    eo.ignore_effective_dates = true;
    miaopi_error err;
    if (!c || miaopi_evaluate(d, cfg->candidate, c, &eo, &err) != MIAOPI_OK) {
        o->t.errors++;
        o->t.differed++;
        report_difference(cfg, o, e, "error", NULL);
        return;
    }
    miaopi_outcome was = miaopi_log_entry_outcome(e);
    miaopi_outcome now = miaopi_decision_outcome(d);
    o->t.matrix[was][now]++;
    if (was != now) {
        o->t.differed++;
        report_difference(cfg, o, e, "changed", d);
    } else {
        o->t.reproduced++;
    }
}

static void not_an_entry(const replay_cfg *cfg, replay_out *o,
                         const miaopi_error *err)
{
    fprintf(o->err, "%s: %s: %s\n", cli_prog, cfg->log, err->message);
    o->t.errors++;
}

int replay_step(const replay_cfg *cfg, replay_out *o, miaopi_decision *d,
                const miaopi_log_entry *e, int got, miaopi_error *err)
{
    if (got < 0) {
        if (got != MIAOPI_ECASE)
            return EXIT_ERROR;
        not_an_entry(cfg, o, err);
        return 0;
    }
    if (cfg->what_if) {
        if (strcmp(miaopi_log_entry_type(e), "decision") != 0)
            return 0;
        o->t.entries++;
        what_if_entry(cfg, o, d, e);
        return 0;
    }
    /* One call per entry; it usually compares the entry's bytes instead
     * of parsing them (docs/audit-log.md). */
    int rc = miaopi_log_entry_replay(e, d, cfg->rules.items, cfg->rules.n,
                                     err);
    if (rc == 1) {
        /* Reproduced. Nothing else is asked of the entry: an accessor
         * would parse the part the replay only compared as bytes. */
        o->t.entries++;
        o->t.reproduced++;
        return 0;
    }
    if (rc == MIAOPI_ENOMEM)
        return EXIT_ERROR;
    if (rc == MIAOPI_ECASE && !*miaopi_log_entry_type(e)) {
        /* The entry's head does not parse (the reader checks its
         * syntax, jansson may still refuse it, e.g. a number out of
         * range): an entry that is not one, as the reader says. */
        not_an_entry(cfg, o, err);
        return 0;
    }
    if (strcmp(miaopi_log_entry_type(e), "decision") != 0)
        return 0; /* the header, a recovery record */
    o->t.entries++;
    if (rc == 0) {
        o->t.differed++;
        report_difference(cfg, o, e, "differs", d);
    } else if (rc == MIAOPI_ENOTFOUND) {
        report_missing(cfg, o, e);
    } else {
        o->t.errors++;
        o->t.differed++;
        report_difference(cfg, o, e, "error", NULL);
    }
    return 0;
}

static const char *const outcome_names[N_OUTCOMES] = {"", "APPROVE", "REJECT",
                                                      "ESCALATE"};

static void print_summary(const replay_cfg *cfg, const replay_tally *t,
                          const replay_meter *m)
{
    double secs = elapsed(m);
    double rate = secs > 0 ? (double)t->entries / secs : 0;
    if (cfg->json) {
        printf("],\"log\":");
        cli_json_string(stdout, cfg->log);
        printf(",\"entries\":%llu,\"reproduced\":%llu,\"%s\":%llu,"
               "\"ruleset_missing\":%llu,\"errors\":%llu,"
               "\"entries_per_second\":%.0f",
               (unsigned long long)t->entries,
               (unsigned long long)t->reproduced,
               cfg->what_if ? "changed" : "differed",
               (unsigned long long)t->differed,
               (unsigned long long)t->missing,
               (unsigned long long)t->errors, rate);
        if (cfg->what_if) {
            printf(",\"matrix\":{");
            for (int a = 1; a < N_OUTCOMES; a++) {
                printf("%s\"%s\":{", a > 1 ? "," : "", outcome_names[a]);
                for (int b = 1; b < N_OUTCOMES; b++)
                    printf("%s\"%s\":%llu", b > 1 ? "," : "",
                           outcome_names[b],
                           (unsigned long long)t->matrix[a][b]);
                printf("}");
            }
            printf("}");
        }
        printf("}\n");
        return;
    }
    if (cfg->what_if) {
        printf("\nwhat-if under %s %s (sha256 %s):\n",
               miaopi_ruleset_id(cfg->candidate),
               miaopi_ruleset_version(cfg->candidate),
               miaopi_ruleset_sha256(cfg->candidate));
        printf("  %-10s %10s %10s %10s\n", "from \\ to", "APPROVE", "REJECT",
               "ESCALATE");
        for (int a = 1; a < N_OUTCOMES; a++)
            printf("  %-10s %10llu %10llu %10llu\n", outcome_names[a],
                   (unsigned long long)t->matrix[a][1],
                   (unsigned long long)t->matrix[a][2],
                   (unsigned long long)t->matrix[a][3]);
        printf("%llu cases: %llu unchanged, %llu changed, %llu errors\n",
               (unsigned long long)(t->reproduced + t->differed),
               (unsigned long long)t->reproduced,
               (unsigned long long)t->differed,
               (unsigned long long)t->errors);
        return;
    }
    printf("%s: %llu decisions: %llu reproduced, %llu differed, %llu "
           "ruleset missing (%.0f entries/s)\n",
           cfg->log,
           (unsigned long long)(t->reproduced + t->differed + t->missing),
           (unsigned long long)t->reproduced, (unsigned long long)t->differed,
           (unsigned long long)t->missing, rate);
}

/* Today's loop, on this thread: the reader's entries one by one. */
static int run_one(const replay_cfg *cfg, miaopi_log_reader *reader,
                   replay_tally *t, replay_meter *m)
{
    miaopi_decision *d;
    if (miaopi_decision_new(&d) != MIAOPI_OK)
        return EXIT_ERROR;
    replay_out o = {stdout, stderr, true, {0}};
    const miaopi_log_entry *e;
    miaopi_error err;
    int got, status = 0;
    while ((got = miaopi_log_reader_next(reader, &e, &err)) != 0) {
        status = replay_step(cfg, &o, d, e, got, &err);
        if (status != 0) {
            cli_print_error(cfg->log, &err);
            break;
        }
        replay_meter_show(m, o.t.entries, false);
    }
    *t = o.t;
    miaopi_decision_free(d);
    return status;
}

static int run(const replay_cfg *cfg, bool progress, int jobs)
{
    miaopi_log_reader *reader;
    miaopi_error err;
    if (miaopi_log_reader_open(&reader, cfg->log, &err) != MIAOPI_OK) {
        cli_print_error(cfg->log, &err);
        return EXIT_ERROR;
    }
    replay_meter m = {progress, {0, 0}, 0};
    clock_gettime(CLOCK_MONOTONIC, &m.start);
    if (cfg->json)
        printf("{\"items\":[");
    replay_tally t;
    memset(&t, 0, sizeof(t));
    int status = jobs > 1 ? replay_run_jobs(cfg, reader, &t, &m, jobs)
                          : run_one(cfg, reader, &t, &m);
    replay_meter_show(&m, t.entries, true);
    print_summary(cfg, &t, &m);
    miaopi_log_reader_free(reader);
    /* A report that did not reach its reader is a failed replay. */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "%s: cannot write the output\n", cli_prog);
        return EXIT_ERROR;
    }
    if (status == 0 && !cfg->what_if && (t.differed || t.missing || t.errors))
        status = EXIT_FOUND;
    if (status == 0 && cfg->what_if && t.errors)
        status = EXIT_FOUND;
    return status;
}

int cmd_replay(int argc, char **argv)
{
    replay_cfg cfg;
    memset(&cfg, 0, sizeof(cfg));
    const char *what_if = NULL, *jobs_arg = NULL;
    int status = EXIT_ERROR;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            fputs(usage_replay, stdout);
            cli_rulesets_free(&cfg.rules);
            return 0;
        } else if (strcmp(a, "-r") == 0 || strcmp(a, "--rules") == 0) {
            if (++i >= argc) {
                status = cli_usage_error(usage_replay, "a path must follow", a);
                goto out;
            }
            if (cli_rulesets_add(&cfg.rules, argv[i]) != 0)
                goto out;
        } else if (strcmp(a, "-w") == 0 || strcmp(a, "--what-if") == 0) {
            if (++i >= argc) {
                status = cli_usage_error(usage_replay, "a file must follow", a);
                goto out;
            }
            what_if = argv[i];
        } else if (strcmp(a, "-j") == 0 || strcmp(a, "--jobs") == 0) {
            if (++i >= argc) {
                status = cli_usage_error(usage_replay, "a number must follow",
                                         a);
                goto out;
            }
            jobs_arg = argv[i];
        } else if (strncmp(a, "--jobs=", 7) == 0) {
            jobs_arg = a + 7;
        } else if (strncmp(a, "-j", 2) == 0) {
            jobs_arg = a + 2;
        } else if (strcmp(a, "--json") == 0) {
            cfg.json = true;
        } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            cfg.quiet = true;
        } else if (a[0] == '-' && a[1]) {
            status = cli_usage_error(usage_replay, "unknown option", a);
            goto out;
        } else if (!cfg.log) {
            cfg.log = a;
        } else {
            status = cli_usage_error(usage_replay, "unexpected argument", a);
            goto out;
        }
    }
    if (!cfg.log) {
        status = cli_usage_error(usage_replay, "no log given", NULL);
        goto out;
    }
    if (!what_if && cfg.rules.n == 0) {
        status = cli_usage_error(usage_replay,
                                 "give the rulesets with -r (or --what-if)",
                                 NULL);
        goto out;
    }
    int jobs = 1;
    if (jobs_arg && (jobs = cli_parse_jobs(jobs_arg)) < 0) {
        status = cli_usage_error(usage_replay,
                                 "--jobs takes 0 to 256 or auto, not",
                                 jobs_arg);
        goto out;
    }
    if (what_if) {
        miaopi_error err;
        if (miaopi_ruleset_load_file(&cfg.candidate, what_if, NULL, &err) !=
            MIAOPI_OK) {
            cli_print_error(what_if, &err);
            goto out;
        }
        cfg.what_if = true;
    }
    status = run(&cfg, !cfg.quiet && isatty(STDERR_FILENO), jobs);
out:
    miaopi_ruleset_unref(cfg.candidate);
    cli_rulesets_free(&cfg.rules);
    return status;
}
