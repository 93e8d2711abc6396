/* Helpers for the audit commands: keys and sets of rulesets. */
#include "audit_util.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int cli_read_key(const char *path, unsigned char **key, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot open key file %s\n", cli_prog, path);
        return EXIT_ERROR;
    }
    unsigned char buf[4096];
    size_t n = fread(buf, 1, sizeof(buf), f);
    bool too_long = !feof(f);
    fclose(f);
    /* One trailing newline is not part of the key: `echo secret > k`. */
    if (n > 0 && buf[n - 1] == '\n')
        n--;
    if (n == 0 || too_long) {
        fprintf(stderr, "%s: key file %s must hold 1 to 4095 bytes\n",
                cli_prog, path);
        return EXIT_ERROR;
    }
    *key = malloc(n);
    if (!*key)
        return EXIT_ERROR;
    memcpy(*key, buf, n);
    *len = n;
    return 0;
}

static int add(cli_rulesets *set, miaopi_ruleset *rs)
{
    if (set->n == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 8;
        miaopi_ruleset **r = realloc(set->items, cap * sizeof(*r));
        if (!r)
            return EXIT_ERROR;
        set->items = r;
        set->cap = cap;
    }
    set->items[set->n++] = rs;
    return 0;
}

static bool ends_with_xml(const char *name)
{
    size_t n = strlen(name);
    return n > 4 && strcmp(name + n - 4, ".xml") == 0;
}

int cli_rulesets_add(cli_rulesets *set, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "%s: cannot find %s\n", cli_prog, path);
        return EXIT_ERROR;
    }
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d) {
            fprintf(stderr, "%s: cannot read directory %s\n", cli_prog, path);
            return EXIT_ERROR;
        }
        struct dirent *de;
        int rc = 0;
        while (rc == 0 && (de = readdir(d))) {
            if (de->d_name[0] == '.')
                continue;
            char sub[4096];
            snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
            struct stat s2;
            if (stat(sub, &s2) != 0)
                continue;
            if (S_ISDIR(s2.st_mode) || ends_with_xml(de->d_name))
                rc = cli_rulesets_add(set, sub);
        }
        closedir(d);
        return rc;
    }
    miaopi_ruleset *rs = NULL;
    miaopi_error err;
    if (miaopi_ruleset_load_file(&rs, path, NULL, &err) != MIAOPI_OK) {
        cli_print_error(path, &err);
        return EXIT_ERROR;
    }
    return add(set, rs);
}

void cli_rulesets_free(cli_rulesets *set)
{
    for (size_t i = 0; i < set->n; i++)
        miaopi_ruleset_unref(set->items[i]);
    free(set->items);
    memset(set, 0, sizeof(*set));
}

void cli_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}
