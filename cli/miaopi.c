/*
 * The miaopi command: a thin layer over the public API (it links the shared
 * library and includes only miaopi.h), for rule authors and auditors.
 *
 * Exit codes: 0 success; 1 the check or test found problems; 2 usage,
 * I/O or evaluation error.
 */
#include <miaopi.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXIT_FOUND 1
#define EXIT_ERROR 2

static const char *prog = "miaopi";

static const char usage_main[] =
    "usage: miaopi COMMAND [OPTIONS] [ARGS]\n"
    "\n"
    "Rule-based instant approval (秒批) of government applications.\n"
    "\n"
    "Commands:\n"
    "  check RULES.xml...          validate rule files; print diagnostics\n"
    "  eval -r RULES.xml CASE.json decide a case and explain the decision\n"
    "\n"
    "Options:\n"
    "  -h, --help                  show help (also: miaopi COMMAND --help)\n"
    "  -V, --version               show the version\n"
    "\n"
    "Exit status: 0 success, 1 problems found, 2 usage or run-time error.\n";

static const char usage_check[] =
    "usage: miaopi check [--quiet] RULES.xml...\n"
    "\n"
    "Validate rule files against the schema and type-check every\n"
    "expression. Diagnostics are printed as\n"
    "  FILE:LINE:COL: error: MESSAGE [MIAOPI-Exxx]\n"
    "\n"
    "Options:\n"
    "  -q, --quiet        print nothing for valid files\n"
    "  -h, --help         show this help\n"
    "\n"
    "Exit status: 0 all files valid, 1 a file has errors, 2 usage or I/O\n"
    "error.\n";

static const char usage_eval[] =
    "usage: miaopi eval -r RULES.xml [--lang zh-CN|en] [--json] CASE.json\n"
    "\n"
    "Decide one case (JSON: application, sources, context) and print the\n"
    "decision, the reasons with their legal basis, and each rule's status.\n"
    "CASE.json may be - for standard input.\n"
    "\n"
    "Options:\n"
    "  -r, --rules FILE   the rule file (required)\n"
    "  -l, --lang LANG    zh-CN (default) or en, for messages\n"
    "      --json         print one JSON object instead of text\n"
    "      --pretty       indent the JSON\n"
    "      --ignore-effective-dates\n"
    "                     evaluate even outside the ruleset's effective range\n"
    "  -h, --help         show this help\n"
    "\n"
    "Exit status: 0 a decision was made (APPROVE, REJECT or ESCALATE),\n"
    "2 on any error.\n";

static bool is_help(const char *a)
{
    return strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0;
}

/* Print "miaopi: WHAT ARG" and the usage; returns the usage exit code. */
static int usage_error(const char *usage, const char *what, const char *arg)
{
    fprintf(stderr, "%s: %s%s%s\n\n%s", prog, what, arg ? " " : "",
            arg ? arg : "", usage);
    return EXIT_ERROR;
}

/* ---- check ---- */

typedef struct check_state {
    bool quiet;
    int errors;
    int warnings;
} check_state;

static void print_diag(const miaopi_diagnostic *d, void *payload)
{
    check_state *st = payload;
    bool err = d->severity == MIAOPI_SEVERITY_ERROR;
    if (err)
        st->errors++;
    else
        st->warnings++;
    if (d->line > 0)
        fprintf(stderr, "%s:%d:%d: %s: %s [%s]\n", d->file, d->line,
                d->column > 0 ? d->column : 1, err ? "error" : "warning",
                d->message, d->id);
    else
        fprintf(stderr, "%s: %s: %s [%s]\n", d->file,
                err ? "error" : "warning", d->message, d->id);
}

static int cmd_check(int argc, char **argv)
{
    check_state st = {false, 0, 0};
    int first = argc;
    for (int i = 1; i < argc; i++) {
        if (is_help(argv[i])) {
            fputs(usage_check, stdout);
            return 0;
        } else if (strcmp(argv[i], "-q") == 0 ||
                   strcmp(argv[i], "--quiet") == 0) {
            st.quiet = true;
        } else if (strcmp(argv[i], "--") == 0) {
            first = i + 1;
            break;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return usage_error(usage_check, "unknown option", argv[i]);
        } else {
            first = i;
            break;
        }
    }
    if (first >= argc)
        return usage_error(usage_check, "no rule files given", NULL);
    int status = 0;
    for (int i = first; i < argc; i++) {
        miaopi_load_options opts = MIAOPI_LOAD_OPTIONS_INIT;
        opts.on_diagnostic = print_diag;
        opts.payload = &st;
        miaopi_ruleset *rs = NULL;
        miaopi_error err;
        int rc = miaopi_ruleset_load_file(&rs, argv[i], &opts, &err);
        if (rc == MIAOPI_OK) {
            if (!st.quiet)
                printf("%s: ok: %s %s, %zu rules, sha256 %s\n", argv[i],
                       miaopi_ruleset_id(rs), miaopi_ruleset_version(rs),
                       miaopi_ruleset_rule_count(rs),
                       miaopi_ruleset_sha256(rs));
            miaopi_ruleset_unref(rs);
        } else if (rc == MIAOPI_EIO || rc == MIAOPI_ENOMEM) {
            status = EXIT_ERROR;
        } else if (status == 0) {
            status = EXIT_FOUND;
        }
    }
    return status;
}

/* ---- eval ---- */

static char *read_stdin(size_t *len)
{
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    if (!buf)
        return NULL;
    size_t got;
    while ((got = fread(buf + n, 1, cap - n, stdin)) > 0) {
        n += got;
        if (n == cap) {
            if (cap > ((size_t)64 << 20)) {
                free(buf);
                return NULL;
            }
            char *b = realloc(buf, cap * 2);
            if (!b) {
                free(buf);
                return NULL;
            }
            buf = b;
            cap *= 2;
        }
    }
    *len = n;
    return buf;
}

static int load_case(const char *path, miaopi_case **c, miaopi_error *err)
{
    if (strcmp(path, "-") != 0)
        return miaopi_case_load_file(c, path, err);
    size_t len = 0;
    char *data = read_stdin(&len);
    if (!data) {
        snprintf(err->message, sizeof(err->message),
                 "cannot read the case from standard input");
        return MIAOPI_EIO;
    }
    int rc = miaopi_case_from_json(c, data, len, err);
    free(data);
    return rc;
}

static void print_error(const char *what, const miaopi_error *err)
{
    if (err->line > 0)
        fprintf(stderr, "%s: %s:%d:%d: %s\n", prog,
                err->file[0] ? err->file : what, err->line,
                err->column > 0 ? err->column : 1, err->message);
    else
        fprintf(stderr, "%s: %s: %s\n", prog, what, err->message);
}

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
}

static int cmd_eval(int argc, char **argv)
{
    const char *rules = NULL, *case_path = NULL, *lang = "zh-CN";
    bool json = false, pretty = false, ignore_dates = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) {
            fputs(usage_eval, stdout);
            return 0;
        } else if (strcmp(a, "-r") == 0 || strcmp(a, "--rules") == 0) {
            if (++i >= argc)
                return usage_error(usage_eval, "a file must follow", a);
            rules = argv[i];
        } else if (strncmp(a, "--rules=", 8) == 0) {
            rules = a + 8;
        } else if (strcmp(a, "-l") == 0 || strcmp(a, "--lang") == 0) {
            if (++i >= argc)
                return usage_error(usage_eval, "zh-CN or en must follow", a);
            lang = argv[i];
        } else if (strncmp(a, "--lang=", 7) == 0) {
            lang = a + 7;
        } else if (strcmp(a, "--json") == 0) {
            json = true;
        } else if (strcmp(a, "--pretty") == 0) {
            json = pretty = true;
        } else if (strcmp(a, "--ignore-effective-dates") == 0) {
            ignore_dates = true;
        } else if (a[0] == '-' && a[1]) {
            return usage_error(usage_eval, "unknown option", a);
        } else if (!case_path) {
            case_path = a;
        } else {
            return usage_error(usage_eval, "unexpected argument", a);
        }
    }
    if (!rules)
        return usage_error(usage_eval, "-r RULES.xml is required", NULL);
    if (!case_path)
        return usage_error(usage_eval, "no case file given", NULL);
    if (strcmp(lang, "zh-CN") != 0 && strcmp(lang, "en") != 0)
        return usage_error(usage_eval, "unknown language (use zh-CN or en):",
                           lang);
    int status = EXIT_ERROR;
    miaopi_ruleset *rs = NULL;
    miaopi_case *c = NULL;
    miaopi_decision *d = NULL;
    miaopi_error err;
    if (miaopi_ruleset_load_file(&rs, rules, NULL, &err) != MIAOPI_OK) {
        print_error(rules, &err);
        goto out;
    }
    if (load_case(case_path, &c, &err) != MIAOPI_OK) {
        print_error(case_path, &err);
        goto out;
    }
    if (miaopi_decision_new(&d) != MIAOPI_OK) {
        fprintf(stderr, "%s: out of memory\n", prog);
        goto out;
    }
    miaopi_eval_options eo = MIAOPI_EVAL_OPTIONS_INIT;
    eo.ignore_effective_dates = ignore_dates;
    if (miaopi_evaluate(d, rs, c, &eo, &err) != MIAOPI_OK) {
        print_error(case_path, &err);
        goto out;
    }
    if (json) {
        char *s = NULL;
        unsigned flags = MIAOPI_JSON_REASONS | (pretty ? MIAOPI_JSON_PRETTY : 0);
        if (miaopi_decision_to_json(&s, d, lang, flags) != MIAOPI_OK) {
            fprintf(stderr, "%s: cannot serialise the decision\n", prog);
            goto out;
        }
        printf("%s\n", s);
        miaopi_free(s);
    } else {
        print_text(d, lang);
    }
    status = fflush(stdout) == 0 ? 0 : EXIT_ERROR;
out:
    miaopi_decision_free(d);
    miaopi_case_free(c);
    miaopi_ruleset_unref(rs);
    return status;
}

/* ---- main ---- */

static const struct command {
    const char *name;
    int (*run)(int argc, char **argv);
} commands[] = {
    {"check", cmd_check},
    {"eval", cmd_eval},
};

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage_main, stderr);
        return EXIT_ERROR;
    }
    const char *cmd = argv[1];
    if (is_help(cmd) || strcmp(cmd, "help") == 0) {
        fputs(usage_main, stdout);
        return 0;
    }
    if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0) {
        printf("miaopi %s\n", miaopi_version());
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(cmd, commands[i].name) == 0) {
            for (int k = 2; k < argc; k++)
                if (strcmp(argv[k], "-V") == 0 ||
                    strcmp(argv[k], "--version") == 0) {
                    printf("miaopi %s\n", miaopi_version());
                    return 0;
                }
            return commands[i].run(argc - 1, argv + 1);
        }
    fprintf(stderr, "%s: unknown command '%s'\n\n%s", prog, cmd, usage_main);
    return EXIT_ERROR;
}
