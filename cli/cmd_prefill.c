/* miaopi prefill: the application as pre-filled from the sources (秒报). */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static const char usage_prefill[] =
    "usage: miaopi prefill -r RULES.xml CASE.json\n"
    "\n"
    "Print the application of CASE.json with every field declared\n"
    "prefill=\"SOURCE.FIELD\" in RULES.xml filled from the source records\n"
    "in the case, and the status of each such field (filled, missing,\n"
    "not-found, unavailable, stale), as one JSON object:\n"
    "  {\"application\": {...}, \"fields\": [...], \"sources\": [...]}\n"
    "The case needs context.decision_date (it dates the freshness check)\n"
    "but not the required application fields. CASE.json may be -.\n"
    "\n"
    "Options:\n"
    "  -r, --rules FILE   the rule file (required)\n"
    "  -h, --help         show this help\n"
    "\n"
    "Exit status: 0 success, 2 on any error.\n";

int cmd_prefill(int argc, char **argv)
{
    const char *rules = NULL, *case_path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            fputs(usage_prefill, stdout);
            return 0;
        } else if (strcmp(a, "-r") == 0 || strcmp(a, "--rules") == 0) {
            if (++i >= argc)
                return cli_usage_error(usage_prefill, "a file must follow",
                                       a);
            rules = argv[i];
        } else if (strncmp(a, "--rules=", 8) == 0) {
            rules = a + 8;
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error(usage_prefill, "unknown option", a);
        } else if (!case_path) {
            case_path = a;
        } else {
            return cli_usage_error(usage_prefill, "unexpected argument", a);
        }
    }
    if (!rules)
        return cli_usage_error(usage_prefill, "-r RULES.xml is required",
                               NULL);
    if (!case_path)
        return cli_usage_error(usage_prefill, "no case file given", NULL);
    int status = EXIT_ERROR;
    miaopi_ruleset *rs = NULL;
    miaopi_case *c = NULL;
    char *out = NULL;
    miaopi_error err;
    if (miaopi_ruleset_load_file(&rs, rules, NULL, &err) != MIAOPI_OK) {
        cli_print_error(rules, &err);
        goto done;
    }
    if (cli_load_case(case_path, &c, &err) != MIAOPI_OK) {
        cli_print_error(case_path, &err);
        goto done;
    }
    if (miaopi_prefill(&out, rs, c, NULL, &err) != MIAOPI_OK) {
        cli_print_error(case_path, &err);
        goto done;
    }
    printf("%s\n", out);
    status = fflush(stdout) == 0 ? 0 : EXIT_ERROR;
done:
    miaopi_free(out);
    miaopi_case_free(c);
    miaopi_ruleset_unref(rs);
    return status;
}
