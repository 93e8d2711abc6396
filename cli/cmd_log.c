/* miaopi log: operations on decision logs (redact). */
#include "audit_util.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_log[] =
    "usage: miaopi log redact LOG -r RULES... [--key FILE] [-o OUT]\n"
    "\n"
    "Write a copy of LOG with every personal-data field of each logged case\n"
    "masked by the class its ruleset declares (id numbers 4403**********123X,\n"
    "names 张*, phones 138****5678 ...), for sharing with a third party.\n"
    "The copy is a log of its own, with its own chain; its header records\n"
    "the original's final hash and entry count, so `miaopi verify` checks\n"
    "it and ties it to the original. LOG is verified first.\n"
    "\n"
    "Options:\n"
    "  -r, --rules PATH   a rule file or a directory of them (repeatable);\n"
    "                     every entry's ruleset must be among them\n"
    "  -k, --key FILE     LOG's HMAC key (the copy is keyed the same)\n"
    "      --sm3          chain the copy with SM3 instead of SHA-256\n"
    "  -o, --output FILE  write to FILE instead of standard output\n"
    "  -h, --help         show this help\n"
    "\n"
    "Exit status: 0 written, 1 LOG does not verify or a ruleset is missing,\n"
    "2 error.\n";

static int redact(int argc, char **argv)
{
    cli_rulesets rules = {0};
    const char *log = NULL, *key_path = NULL, *output = NULL;
    bool sm3 = false;
    int status = EXIT_ERROR;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_value = i + 1 < argc;
        if (cli_is_help(a)) {
            fputs(usage_log, stdout);
            status = 0;
            goto out;
        } else if ((strcmp(a, "-r") == 0 || strcmp(a, "--rules") == 0) &&
                   has_value) {
            if (cli_rulesets_add(&rules, argv[++i]) != 0)
                goto out;
        } else if ((strcmp(a, "-k") == 0 || strcmp(a, "--key") == 0) &&
                   has_value) {
            key_path = argv[++i];
        } else if ((strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) &&
                   has_value) {
            output = argv[++i];
        } else if (strcmp(a, "--sm3") == 0) {
            sm3 = true;
        } else if (a[0] == '-' && a[1]) {
            status = cli_usage_error(usage_log, "unknown or incomplete option",
                                     a);
            goto out;
        } else if (!log) {
            log = a;
        } else {
            status = cli_usage_error(usage_log, "unexpected argument", a);
            goto out;
        }
    }
    if (!log || rules.n == 0) {
        status = cli_usage_error(usage_log, "give a LOG and -r RULES", NULL);
        goto out;
    }
    miaopi_log_options lo = MIAOPI_LOG_OPTIONS_INIT;
    lo.hash = sm3 ? MIAOPI_HASH_SM3 : MIAOPI_HASH_SHA256;
    unsigned char *key = NULL;
    if (key_path && cli_read_key(key_path, &key, &lo.key_len) != 0)
        goto out;
    lo.key = key;
    int fd = STDOUT_FILENO;
    if (output) {
        fd = open(output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
        if (fd < 0) {
            fprintf(stderr, "%s: cannot create %s\n", cli_prog, output);
            free(key);
            goto out;
        }
    }
    fflush(stdout);
    miaopi_error err;
    int rc = miaopi_log_redact(log, fd, rules.items, rules.n, &lo, &err);
    if (output)
        close(fd);
    free(key);
    if (rc != MIAOPI_OK) {
        cli_print_error(log, &err);
        status = (rc == MIAOPI_ECASE || rc == MIAOPI_ENOTFOUND) ? EXIT_FOUND
                                                                : EXIT_ERROR;
        goto out;
    }
    status = 0;
out:
    cli_rulesets_free(&rules);
    return status;
}

int cmd_log(int argc, char **argv)
{
    if (argc < 2 || cli_is_help(argv[1])) {
        fputs(usage_log, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_ERROR : 0;
    }
    if (strcmp(argv[1], "redact") == 0)
        return redact(argc - 1, argv + 1);
    return cli_usage_error(usage_log, "unknown log command", argv[1]);
}
