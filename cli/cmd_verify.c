/* miaopi verify: check the hash chain of decision logs. */
#include "audit_util.h"

#include <stdlib.h>
#include <string.h>

static const char usage_verify[] =
    "usage: miaopi verify [--key FILE] [--json] LOG...\n"
    "\n"
    "Check each decision log's hash chain from the first entry to the last.\n"
    "A changed, missing, reordered or duplicated entry, a torn last line or\n"
    "the wrong key is reported with the entry's sequence number.\n"
    "\n"
    "Options:\n"
    "  -k, --key FILE     the HMAC key of a keyed log (the file's bytes,\n"
    "                     less one trailing newline)\n"
    "      --json         one JSON object per log\n"
    "  -h, --help         show this help\n"
    "\n"
    "Exit status: 0 every log is intact, 1 a log is not, 2 error.\n";

static const char *alg_label(const miaopi_log_report *r)
{
    if (r->hash == MIAOPI_HASH_SM3)
        return r->keyed ? "hmac-sm3" : "sm3";
    return r->keyed ? "hmac-sha256" : "sha256";
}

static void print_report(const char *path, const miaopi_log_report *r,
                         bool json)
{
    if (json) {
        printf("{\"log\":");
        cli_json_string(stdout, path);
        printf(",\"problem\":\"%s\",\"entries\":%llu,"
               "\"first_seq\":%llu,\"last_seq\":%llu,\"alg\":\"%s\","
               "\"final_hash\":\"%s\"",
               miaopi_log_problem_name(r->problem),
               (unsigned long long)r->entries,
               (unsigned long long)r->first_seq,
               (unsigned long long)r->last_seq, alg_label(r), r->final_hash);
        if (r->problem != MIAOPI_LOG_INTACT) {
            printf(",\"bad_seq\":%llu,\"bad_line\":%llu,\"message\":",
                   (unsigned long long)r->bad_seq,
                   (unsigned long long)r->bad_line);
            cli_json_string(stdout, r->message);
        }
        printf("}\n");
    } else if (r->problem == MIAOPI_LOG_INTACT) {
        printf("%s: intact: %llu entries, seq %llu..%llu, %s, final hash "
               "%s\n",
               path, (unsigned long long)r->entries,
               (unsigned long long)r->first_seq,
               (unsigned long long)r->last_seq, alg_label(r), r->final_hash);
    } else {
        printf("%s: %s: %s\n", path, miaopi_log_problem_name(r->problem),
               r->message);
    }
}

int cmd_verify(int argc, char **argv)
{
    const char *key_path = NULL;
    bool json = false;
    int first = argc;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            fputs(usage_verify, stdout);
            return 0;
        } else if (strcmp(argv[i], "-k") == 0 ||
                   strcmp(argv[i], "--key") == 0) {
            if (++i >= argc)
                return cli_usage_error(usage_verify, "a file must follow",
                                       argv[i - 1]);
            key_path = argv[i];
        } else if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error(usage_verify, "unknown option", argv[i]);
        } else {
            first = i;
            break;
        }
    }
    if (first >= argc)
        return cli_usage_error(usage_verify, "no log given", NULL);
    unsigned char *key = NULL;
    size_t key_len = 0;
    if (key_path && cli_read_key(key_path, &key, &key_len) != 0)
        return EXIT_ERROR;
    int status = 0;
    for (int i = first; i < argc; i++) {
        miaopi_log_report r = MIAOPI_LOG_REPORT_INIT;
        miaopi_error err;
        if (miaopi_log_verify(&r, argv[i], key, key_len, &err) != MIAOPI_OK) {
            cli_print_error(argv[i], &err);
            status = EXIT_ERROR;
            continue;
        }
        print_report(argv[i], &r, json);
        if (r.problem != MIAOPI_LOG_INTACT && status == 0)
            status = EXIT_FOUND;
    }
    free(key);
    return status;
}
