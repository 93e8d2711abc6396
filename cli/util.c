/* Helpers shared by the commands. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *cli_prog = "miaopi";

bool cli_is_help(const char *a)
{
    return strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0;
}

int cli_usage_error(const char *usage, const char *what, const char *arg)
{
    fprintf(stderr, "%s: %s%s%s\n\n%s", cli_prog, what, arg ? " " : "",
            arg ? arg : "", usage);
    return EXIT_ERROR;
}

void cli_print_error(const char *what, const miaopi_error *err)
{
    if (err->line > 0)
        fprintf(stderr, "%s: %s:%d:%d: %s\n", cli_prog,
                err->file[0] ? err->file : what, err->line,
                err->column > 0 ? err->column : 1, err->message);
    else
        fprintf(stderr, "%s: %s: %s\n", cli_prog, what, err->message);
}

void cli_print_ambiguous(const char *rules, const miaopi_error *err)
{
    fprintf(stderr, "%s: %s: %s\n%s: use --id ID to choose the ruleset\n",
            cli_prog, rules, err->message, cli_prog);
}

/* Cases are capped at 64 MiB by the library; stop reading past that. */
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

int cli_load_case(const char *path, miaopi_case **c, miaopi_error *err)
{
    if (strcmp(path, "-") != 0)
        return miaopi_case_load_file(c, path, err);
    size_t len = 0;
    char *data = read_stdin(&len);
    if (!data) {
        memset(err, 0, sizeof(*err));
        snprintf(err->message, sizeof(err->message),
                 "cannot read the case from standard input");
        return MIAOPI_EIO;
    }
    int rc = miaopi_case_from_json(c, data, len, err);
    free(data);
    return rc;
}

/* --jobs N: 1 to 256, or 0 or "auto" for one per online CPU. Returns -1
 * for anything else. */
int cli_parse_jobs(const char *v)
{
    long n = 0;
    if (strcmp(v, "auto") != 0) {
        char *end;
        n = strtol(v, &end, 10);
        if (end == v || *end || n < 0 || n > 256)
            return -1;
    }
    if (n == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        n = cpus < 1 ? 1 : cpus > 256 ? 256 : cpus;
    }
    return (int)n;
}
