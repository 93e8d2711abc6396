/* miaopi check: validate rule files and print diagnostics. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char usage_check[] =
    "usage: miaopi check [--quiet] [--werror] [--color=WHEN] RULES.xml|DIR...\n"
    "\n"
    "Validate rule files against the schema and type-check every\n"
    "expression. Diagnostics are printed as\n"
    "  FILE:LINE:COL: error: MESSAGE [MIAOPI-Exxx]\n"
    "followed by the source line with a caret under the column.\n"
    "A directory is checked as a registry: every *.xml file in it, and\n"
    "the effective ranges of each ruleset id: overlapping versions are\n"
    "errors [MIAOPI-E060], gaps between versions warnings [MIAOPI-E061].\n"
    "\n"
    "Options:\n"
    "  -q, --quiet        print nothing for valid files\n"
    "      --werror       treat warnings as errors (exit 1)\n"
    "      --color=WHEN   auto (default: on a terminal), always, never\n"
    "  -h, --help         show this help\n"
    "\n"
    "Exit status: 0 all files valid, 1 a file has errors (or warnings\n"
    "with --werror), 2 usage or I/O error.\n";

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
    cli_print_diag(d);
}

/* A directory: load it as a registry and list what is in force when. */
static int check_dir(const char *dir, check_state *st)
{
    miaopi_load_options opts = MIAOPI_LOAD_OPTIONS_INIT;
    opts.on_diagnostic = print_diag;
    opts.payload = st;
    miaopi_registry *reg = NULL;
    miaopi_error err;
    int rc = miaopi_registry_load(&reg, dir, &opts, &err);
    if (rc == MIAOPI_EIO || rc == MIAOPI_ENOMEM || rc == MIAOPI_ENOTFOUND) {
        cli_print_error(dir, &err);
        return EXIT_ERROR;
    }
    if (rc != MIAOPI_OK)
        return EXIT_FOUND;
    size_t n = miaopi_registry_count(reg);
    if (!st->quiet)
        printf("%s: ok: %zu ruleset version%s\n", dir, n, n == 1 ? "" : "s");
    for (size_t i = 0; i < n && !st->quiet; i++) {
        miaopi_ruleset *rs = miaopi_registry_get(reg, i);
        const char *until = miaopi_ruleset_effective_until(rs);
        printf("  %s %s: %s .. %s\n", miaopi_ruleset_id(rs),
               miaopi_ruleset_version(rs), miaopi_ruleset_effective_from(rs),
               until[0] ? until : "(open)");
        miaopi_ruleset_unref(rs);
    }
    miaopi_registry_free(reg);
    return 0;
}

int cmd_check(int argc, char **argv)
{
    check_state st = {false, 0, 0};
    bool werror = false;
    cli_color_set("auto");
    int first = argc;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            fputs(usage_check, stdout);
            return 0;
        } else if (strcmp(argv[i], "-q") == 0 ||
                   strcmp(argv[i], "--quiet") == 0) {
            st.quiet = true;
        } else if (strcmp(argv[i], "--werror") == 0) {
            werror = true;
        } else if (strncmp(argv[i], "--color=", 8) == 0 ||
                   strncmp(argv[i], "--colour=", 9) == 0) {
            if (!cli_color_set(strchr(argv[i], '=') + 1))
                return cli_usage_error(usage_check,
                                       "--color takes auto, always or never:",
                                       argv[i]);
        } else if (strcmp(argv[i], "--") == 0) {
            first = i + 1;
            break;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error(usage_check, "unknown option", argv[i]);
        } else {
            first = i;
            break;
        }
    }
    if (first >= argc)
        return cli_usage_error(usage_check, "no rule files given", NULL);
    int status = 0;
    for (int i = first; i < argc; i++) {
        struct stat sb;
        if (stat(argv[i], &sb) == 0 && S_ISDIR(sb.st_mode)) {
            int r = check_dir(argv[i], &st);
            if (r > status)
                status = r;
            continue;
        }
        miaopi_load_options opts = MIAOPI_LOAD_OPTIONS_INIT;
        opts.on_diagnostic = print_diag;
        opts.payload = &st;
        miaopi_ruleset *rs = NULL;
        miaopi_error err;
        int warnings = st.warnings;
        int rc = miaopi_ruleset_load_file(&rs, argv[i], &opts, &err);
        if (rc == MIAOPI_OK && werror && st.warnings > warnings) {
            fprintf(stderr, "%s: %d warning%s treated as errors (--werror)\n",
                    argv[i], st.warnings - warnings,
                    st.warnings - warnings == 1 ? "" : "s");
            miaopi_ruleset_unref(rs);
            if (status == 0)
                status = EXIT_FOUND;
        } else if (rc == MIAOPI_OK) {
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
    cli_diag_reset();
    return status;
}

