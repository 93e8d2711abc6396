/*
 * The miaopi command: a thin layer over the public API (it links the shared
 * library and includes only miaopi.h), for rule authors and auditors.
 *
 * Exit codes: 0 success; 1 the check or test found problems; 2 usage,
 * I/O or evaluation error.
 */
#include "cli.h"

#include <string.h>

static const char usage_main[] =
    "usage: miaopi COMMAND [OPTIONS] [ARGS]\n"
    "\n"
    "Rule-based instant approval (秒批) of government applications.\n"
    "\n"
    "Commands:\n"
    "  check RULES.xml...          validate rule files; print diagnostics\n"
    "  eval -r RULES.xml CASE.json decide a case and explain the decision\n"
    "  verify LOG...               check decision logs' hash chains\n"
    "  replay LOG -r RULES...      re-decide logged cases; --what-if NEW.xml\n"
    "  log redact LOG -r RULES...  a copy of a log with personal data masked\n"
    "  prefill -r RULES.xml CASE.json\n"
    "                              pre-fill an application from the sources\n"
    "  screen -r RULES.xml RECORDS.jsonl\n"
    "                              find who qualifies, and the near misses\n"
    "  test SUITE.json... | DIR    run test suites (every *.test.json in DIR)\n"
    "  expr [-r RULES.xml] EXPR    evaluate one expression\n"
    "\n"
    "Options:\n"
    "  -h, --help                  show help (also: miaopi COMMAND --help)\n"
    "  -V, --version               show the version\n"
    "\n"
    "Exit status: 0 success, 1 problems found, 2 usage or run-time error.\n";

/* ---- main ---- */

static const struct command {
    const char *name;
    int (*run)(int argc, char **argv);
} commands[] = {
    {"check", cmd_check},
    {"eval", cmd_eval},
    {"verify", cmd_verify},
    {"replay", cmd_replay},
    {"log", cmd_log},
    {"prefill", cmd_prefill},
    {"screen", cmd_screen},
    {"test", cmd_test},
    {"expr", cmd_expr},
};

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage_main, stderr);
        return EXIT_ERROR;
    }
    const char *cmd = argv[1];
    if (cli_is_help(cmd) || strcmp(cmd, "help") == 0) {
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
    fprintf(stderr, "%s: unknown command '%s'\n\n%s", cli_prog, cmd, usage_main);
    return EXIT_ERROR;
}
