/* miaopi eval: decide one case and explain the decision. */
#include "audit_util.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char usage_eval[] =
    "usage: miaopi eval -r RULES.xml|DIR [--lang zh-CN|en] [--json] [--trace]\n"
    "                   CASE.json\n"
    "       miaopi eval -r RULES.xml|DIR --batch CASES.jsonl [--jobs N]\n"
    "                   [--trace]\n"
    "\n"
    "Decide one case (JSON: application, sources, context) and print the\n"
    "decision, the reasons with their legal basis, and each rule's status.\n"
    "CASE.json may be - for standard input.\n"
    "\n"
    "With --batch, read one case per line (JSON Lines; - for standard\n"
    "input) and write one JSON decision per line, in input order, each with\n"
    "its input \"line\" number. A line that cannot be decided gives\n"
    "{\"line\": N, \"error\": MESSAGE, \"code\": \"MIAOPI_E...\"} and the run\n"
    "goes on; blank lines are skipped. A progress bar (on a terminal) and a\n"
    "summary go to standard error. With --jobs N, N threads decide the\n"
    "lines and the output (and the log) are the same as with one.\n"
    "\n"
    "Options:\n"
    "  -r, --rules FILE   the rule file, or a directory of rule files: the\n"
    "                     version in force on context.decision_date is\n"
    "                     used (context.filing_date under a transitional\n"
    "                     provision) (required)\n"
    "      --id ID        with a directory: the ruleset id, when it holds\n"
    "                     several\n"
    "  -l, --lang LANG    zh-CN (default) or en, for messages\n"
    "      --json         print one JSON object instead of text\n"
    "      --pretty       indent the JSON\n"
    "      --trace        show, for each rule, the sub-expressions and the\n"
    "                     values they had (personal data masked)\n"
    "      --batch FILE   decide every case of a JSON Lines file\n"
    "  -j, --jobs N       with --batch: decide on N threads (1 to 256;\n"
    "                     0 or auto: one per online CPU; default 1)\n"
    "      --color=WHEN   for rule-file errors: auto (default), always, never\n"
    "      --ignore-effective-dates\n"
    "                     evaluate even outside the ruleset's effective range\n"
    "      --log FILE     append the decision to a hash-chained decision log\n"
    "      --log-sm3      chain a new log with SM3 instead of SHA-256\n"
    "      --log-key FILE HMAC key for the log's chain\n"
    "      --sync WHEN    every, never, or a number N: fdatasync every N\n"
    "                     entries (default 1000)\n"
    "      --spot-check RATE\n"
    "                     mark this fraction of approvals for spot checks\n"
    "      --shadow FILE  also decide under a candidate ruleset (shadow mode)\n"
    "      --decision-id ID\n"
    "                     the decision's id (default: a random UUID)\n"
    "  -h, --help         show this help\n"
    "\n"
    "Exit status: 0 a decision was made (APPROVE, REJECT or ESCALATE);\n"
    "with --batch, 0 every line was decided, 1 some lines were error\n"
    "records; 2 on any other error (also when DIR holds several ruleset\n"
    "ids and --id names none).\n";

/* ---- eval ---- */

static const char *status_label(miaopi_rule_status s, bool zh)
{
    if (!zh)
        return miaopi_rule_status_name(s);
    switch (s) {
    case MIAOPI_RULE_PASS: return "通过";
    case MIAOPI_RULE_FAIL: return "未通过";
    case MIAOPI_RULE_NOT_APPLICABLE: return "不适用";
    default: return "无法核验";
    }
}

static const char *outcome_label(miaopi_outcome o, bool zh)
{
    if (!zh)
        return miaopi_outcome_name(o);
    switch (o) {
    case MIAOPI_APPROVE: return "APPROVE（批准）";
    case MIAOPI_REJECT: return "REJECT（不予批准）";
    default: return "ESCALATE（转人工审核）";
    }
}

/* Each declared source: where its record came from and how fresh. */
static void print_sources(const miaopi_decision *d, bool zh)
{
    size_t n = miaopi_decision_source_count(d);
    if (n == 0)
        return;
    printf("\n%s\n", zh ? "数据来源：" : "Sources:");
    for (size_t i = 0; i < n; i++) {
        miaopi_source_info s = MIAOPI_SOURCE_INFO_INIT;
        if (miaopi_decision_source(&s, d, i) != MIAOPI_OK)
            continue;
        printf("  %-16s %s", s.name, s.status);
        if (s.origin[0] || s.retrieved_at[0] || s.version[0])
            printf(": %s, %s, %s", s.origin, s.retrieved_at, s.version);
        if (s.detail[0])
            printf(" (%s)", s.detail);
        printf("\n");
    }
}

static void print_text(const miaopi_decision *d, const char *lang)
{
    bool zh = strcmp(lang, "en") != 0;
    const miaopi_ruleset *rs = miaopi_decision_ruleset(d);
    printf("%s %s\n", zh ? "决定：" : "Decision:",
           outcome_label(miaopi_decision_outcome(d), zh));
    printf("%s %s %s (%s)\n", zh ? "规则集：" : "Ruleset:",
           miaopi_ruleset_id(rs), miaopi_ruleset_version(rs),
           miaopi_ruleset_title(rs, lang));
    printf("%s %s\n", zh ? "SHA-256：" : "SHA-256:", miaopi_ruleset_sha256(rs));
    printf("%s %s\n", zh ? "决定日期：" : "Decision date:",
           miaopi_decision_date(d));
    size_t nr = miaopi_decision_reason_count(d);
    if (nr > 0) {
        printf("\n%s\n", zh ? "理由：" : "Reasons:");
        for (size_t i = 0; i < nr; i++) {
            miaopi_reason r = MIAOPI_REASON_INIT;
            if (miaopi_decision_reason(&r, d, i, lang) != MIAOPI_OK)
                continue;
            printf("  [%s] %s %s\n", r.code,
                   miaopi_outcome_name((miaopi_outcome)r.effect), r.title);
            printf("    %s\n", r.message);
            if (r.basis[0])
                printf("    %s%s\n", zh ? "依据：" : "Basis: ", r.basis);
        }
    }
    printf("\n%s\n", zh ? "规则：" : "Rules:");
    for (size_t i = 0; i < miaopi_decision_rule_count(d); i++) {
        miaopi_rule_result r = MIAOPI_RULE_RESULT_INIT;
        miaopi_rule_info info = MIAOPI_RULE_INFO_INIT;
        if (miaopi_decision_rule(&r, d, i) != MIAOPI_OK ||
            miaopi_ruleset_rule(&info, rs, i, lang) != MIAOPI_OK)
            continue;
        printf("  %-16s %-24s %s", miaopi_rule_status_name(r.status), r.id,
               info.title);
        if (zh)
            printf("（%s）", status_label(r.status, true));
        if (r.status == MIAOPI_RULE_UNKNOWN)
            printf(zh ? " — %s" : " (%s)", r.unknown_reason);
        printf("\n");
    }
    print_sources(d, zh);
}

/* One line per sub-expression, indented by depth, in the order the rules
 * evaluated them. */
static void print_expr_text(const char *s)
{
    /* Expressions may span lines in the rule file: show them on one. */
    bool space = false;
    for (; *s; s++) {
        if (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r') {
            space = true;
            continue;
        }
        if (space)
            putchar(' ');
        space = false;
        putchar(*s);
    }
}

static void print_trace(const miaopi_decision *d)
{
    size_t n = miaopi_decision_trace_count(d);
    printf("\nTrace:\n");
    size_t last_rule = (size_t)-1;
    for (size_t i = 0; i < n; i++) {
        miaopi_trace_step t = MIAOPI_TRACE_STEP_INIT;
        if (miaopi_decision_trace(&t, d, i) != MIAOPI_OK)
            continue;
        if (t.rule != last_rule) {
            miaopi_rule_result r = MIAOPI_RULE_RESULT_INIT;
            miaopi_decision_rule(&r, d, t.rule);
            printf("  %s: %s\n", t.rule_id, miaopi_rule_status_name(r.status));
            last_rule = t.rule;
        }
        if (t.depth == 0)
            printf("    %s ", t.part == MIAOPI_TRACE_WHEN ? "when" : "require");
        else
            printf("    %*s", 2 * t.depth + (t.part == MIAOPI_TRACE_WHEN
                                                 ? 5 : 8), "");
        print_expr_text(t.expr);
        if (t.known)
            printf("  → %s\n", t.value);
        else
            printf("  → UNKNOWN (%s)\n", t.unknown_reason);
    }
}

/* Rule-file errors, with the source line and a caret; warnings are for
 * miaopi check. */
static void print_load_diag(const miaopi_diagnostic *diag, void *payload)
{
    int *count = payload;
    if (diag->severity != MIAOPI_SEVERITY_ERROR)
        return;
    (*count)++;
    cli_print_diag(diag);
}

int cmd_eval(int argc, char **argv)
{
    const char *rules = NULL, *case_path = NULL, *lang = "zh-CN", *id = NULL;
    const char *batch = NULL, *jobs_arg = NULL;
    bool json = false, pretty = false, ignore_dates = false, trace = false;
    const char *log_path = NULL, *key_path = NULL, *shadow_path = NULL;
    const char *decision_id = NULL;
    miaopi_log_options lo = MIAOPI_LOG_OPTIONS_INIT;
    double spot_rate = 0;
    cli_color_set("auto");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            fputs(usage_eval, stdout);
            return 0;
        } else if (strcmp(a, "-r") == 0 || strcmp(a, "--rules") == 0) {
            if (++i >= argc)
                return cli_usage_error(usage_eval, "a file must follow", a);
            rules = argv[i];
        } else if (strncmp(a, "--rules=", 8) == 0) {
            rules = a + 8;
        } else if (strcmp(a, "-l") == 0 || strcmp(a, "--lang") == 0) {
            if (++i >= argc)
                return cli_usage_error(usage_eval, "zh-CN or en must follow", a);
            lang = argv[i];
        } else if (strncmp(a, "--lang=", 7) == 0) {
            lang = a + 7;
        } else if (strcmp(a, "--id") == 0) {
            if (++i >= argc)
                return cli_usage_error(usage_eval, "an id must follow", a);
            id = argv[i];
        } else if (strcmp(a, "--json") == 0) {
            json = true;
        } else if (strcmp(a, "--pretty") == 0) {
            json = pretty = true;
        } else if (strcmp(a, "--ignore-effective-dates") == 0) {
            ignore_dates = true;
        } else if (strcmp(a, "--log-sm3") == 0) {
            lo.hash = MIAOPI_HASH_SM3;
        } else if (i + 1 < argc && (strcmp(a, "--log") == 0 ||
                                    strcmp(a, "--log-key") == 0 ||
                                    strcmp(a, "--shadow") == 0 ||
                                    strcmp(a, "--decision-id") == 0)) {
            const char *v = argv[++i];
            if (strcmp(a, "--log") == 0)
                log_path = v;
            else if (strcmp(a, "--log-key") == 0)
                key_path = v;
            else if (strcmp(a, "--shadow") == 0)
                shadow_path = v;
            else
                decision_id = v;
        } else if (strcmp(a, "--sync") == 0 && i + 1 < argc) {
            const char *v = argv[++i];
            if (strcmp(v, "every") == 0) {
                lo.sync = MIAOPI_SYNC_EVERY;
            } else if (strcmp(v, "never") == 0) {
                lo.sync = MIAOPI_SYNC_NEVER;
            } else if (atoi(v) > 0) {
                lo.sync = MIAOPI_SYNC_EVERY_N;
                lo.sync_every = (unsigned)atoi(v);
            } else {
                return cli_usage_error(usage_eval, "--sync takes every, never "
                                                   "or a number, not",
                                       v);
            }
        } else if (strcmp(a, "--spot-check") == 0 && i + 1 < argc) {
            char *end;
            spot_rate = strtod(argv[++i], &end);
            if (*end || spot_rate < 0 || spot_rate > 1)
                return cli_usage_error(usage_eval, "--spot-check takes a "
                                                   "fraction from 0 to 1, not",
                                       argv[i]);
        } else if (strcmp(a, "--trace") == 0) {
            trace = true;
        } else if (strcmp(a, "--batch") == 0) {
            if (++i >= argc)
                return cli_usage_error(usage_eval, "a file must follow", a);
            batch = argv[i];
        } else if (strncmp(a, "--batch=", 8) == 0) {
            batch = a + 8;
        } else if (strcmp(a, "-j") == 0 || strcmp(a, "--jobs") == 0) {
            if (++i >= argc)
                return cli_usage_error(usage_eval, "a number must follow", a);
            jobs_arg = argv[i];
        } else if (strncmp(a, "--jobs=", 7) == 0) {
            jobs_arg = a + 7;
        } else if (strncmp(a, "-j", 2) == 0) {
            jobs_arg = a + 2;
        } else if (strncmp(a, "--color=", 8) == 0 ||
                   strncmp(a, "--colour=", 9) == 0) {
            if (!cli_color_set(strchr(a, '=') + 1))
                return cli_usage_error(usage_eval,
                                       "--color takes auto, always or never:",
                                       a);
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error(usage_eval, "unknown option", a);
        } else if (!case_path) {
            case_path = a;
        } else {
            return cli_usage_error(usage_eval, "unexpected argument", a);
        }
    }
    if (!rules)
        return cli_usage_error(usage_eval, "-r RULES.xml is required", NULL);
    if (batch && case_path)
        return cli_usage_error(usage_eval, "--batch takes no case file:",
                               case_path);
    if (!case_path && !batch)
        return cli_usage_error(usage_eval, "no case file given", NULL);
    int jobs = 1;
    if (jobs_arg && !batch)
        return cli_usage_error(usage_eval, "--jobs needs --batch", NULL);
    if (jobs_arg && (jobs = cli_parse_jobs(jobs_arg)) < 0)
        return cli_usage_error(usage_eval, "--jobs takes 0 to 256 or auto, "
                                           "not",
                               jobs_arg);
    if (strcmp(lang, "zh-CN") != 0 && strcmp(lang, "en") != 0)
        return cli_usage_error(usage_eval, "unknown language (use zh-CN or en):",
                           lang);
    int status = EXIT_ERROR;
    unsigned char *key = NULL;
    miaopi_ruleset *shadow = NULL;
    miaopi_log *log = NULL;
    miaopi_ruleset *rs = NULL;
    miaopi_registry *reg = NULL;
    miaopi_case *c = NULL;
    miaopi_decision *d = NULL;
    miaopi_error err;
    int shown = 0;
    miaopi_load_options load_opts = MIAOPI_LOAD_OPTIONS_INIT;
    load_opts.on_diagnostic = print_load_diag;
    load_opts.payload = &shown;
    struct stat sb;
    if (stat(rules, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        if (miaopi_registry_load(&reg, rules, &load_opts, &err) != MIAOPI_OK) {
            if (!shown)
                cli_print_error(rules, &err);
            goto out;
        }
    } else if (miaopi_ruleset_load_file(&rs, rules, &load_opts, &err) !=
               MIAOPI_OK) {
        if (!shown)
            cli_print_error(rules, &err);
        goto out;
    }
    if (shadow_path &&
        miaopi_ruleset_load_file(&shadow, shadow_path, NULL, &err) !=
            MIAOPI_OK) {
        cli_print_error(shadow_path, &err);
        goto out;
    }
    if (log_path) {
        if (key_path && cli_read_key(key_path, &key, &lo.key_len) != 0)
            goto out;
        lo.key = key;
        if (miaopi_log_open(&log, log_path, &lo, &err) != MIAOPI_OK) {
            cli_print_error(log_path, &err);
            goto out;
        }
    }
    miaopi_eval_options eo = MIAOPI_EVAL_OPTIONS_INIT;
    eo.ignore_effective_dates = ignore_dates;
    eo.shadow = shadow;
    eo.spot_check_rate = spot_rate;
    eo.decision_id = decision_id;
    if (batch) {
        cli_batch_target target = {rs, reg, rules, id, log};
        status = cli_eval_batch(batch, &target, &eo, lang, trace, jobs);
        goto out;
    }
    if (cli_load_case(case_path, &c, &err) != MIAOPI_OK) {
        cli_print_error(case_path, &err);
        goto out;
    }
    if (miaopi_decision_new(&d) != MIAOPI_OK ||
        (trace && miaopi_decision_set_trace(d, 1) != MIAOPI_OK)) {
        fprintf(stderr, "%s: out of memory\n", cli_prog);
        goto out;
    }
    int rc = reg ? miaopi_registry_evaluate(d, reg, id, c, &eo, &err)
                 : miaopi_evaluate(d, rs, c, &eo, &err);
    if (rc == MIAOPI_EAMBIGUOUS) {
        /* The command line's fault, not the case's. */
        cli_print_ambiguous(rules, &err);
        goto out;
    }
    if (rc != MIAOPI_OK) {
        cli_print_error(case_path, &err);
        goto out;
    }
    if (log) {
        if (miaopi_log_append(log, d, c, NULL, &err) != MIAOPI_OK) {
            cli_print_error(log_path, &err);
            goto out;
        }
        int closed = miaopi_log_close(log, &err);
        log = NULL;
        if (closed != MIAOPI_OK) {
            cli_print_error(log_path, &err);
            goto out;
        }
    }
    if (json) {
        char *s = NULL;
        unsigned flags = MIAOPI_JSON_REASONS |
                         (pretty ? MIAOPI_JSON_PRETTY : 0) |
                         (trace ? MIAOPI_JSON_TRACE : 0);
        if (miaopi_decision_to_json(&s, d, lang, flags) != MIAOPI_OK) {
            fprintf(stderr, "%s: cannot serialise the decision\n", cli_prog);
            goto out;
        }
        printf("%s\n", s);
        miaopi_free(s);
    } else {
        print_text(d, lang);
        if (trace)
            print_trace(d);
    }
    status = fflush(stdout) == 0 ? 0 : EXIT_ERROR;
out:
    miaopi_log_close(log, NULL);
    free(key);
    miaopi_ruleset_unref(shadow);
    miaopi_decision_free(d);
    miaopi_case_free(c);
    miaopi_ruleset_unref(rs);
    miaopi_registry_free(reg);
    cli_diag_reset();
    return status;
}

