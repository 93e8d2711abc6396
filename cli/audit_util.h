#ifndef MIAOPI_CLI_AUDIT_UTIL_H
#define MIAOPI_CLI_AUDIT_UTIL_H

#include "cli.h"

/* Rulesets loaded from files and directories, found by SHA-256. */
typedef struct cli_rulesets {
    miaopi_ruleset **items;
    size_t n;
    size_t cap;
} cli_rulesets;

/* Load a rule file, or every *.xml under a directory. 0 or EXIT_ERROR. */
int cli_rulesets_add(cli_rulesets *set, const char *path);
void cli_rulesets_free(cli_rulesets *set);

/* Read an HMAC key file (its bytes, less one trailing newline); *key is
 * malloc'd. 0 or EXIT_ERROR (with a message). */
int cli_read_key(const char *path, unsigned char **key, size_t *len);

/* Write s as a JSON string literal. */
void cli_json_string(FILE *f, const char *s);

#endif
