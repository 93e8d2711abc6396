/*
 * Shared declarations of the miaopi command. Each command lives in its own
 * cmd_*.c file and uses only the public API.
 */
#ifndef MIAOPI_CLI_H
#define MIAOPI_CLI_H

#include <miaopi.h>

#include <stdbool.h>
#include <stdio.h>

#define EXIT_FOUND 1 /* the check or test found problems */
#define EXIT_ERROR 2 /* usage, I/O or run-time error */

extern const char *cli_prog;

/* Print "miaopi: WHAT ARG", a blank line and the usage; returns
 * EXIT_ERROR. arg may be NULL. */
int cli_usage_error(const char *usage, const char *what, const char *arg);
bool cli_is_help(const char *arg);
/* --jobs N: 1 to 256, or 0 or "auto" for one per online CPU; -1 for
 * anything else. */
int cli_parse_jobs(const char *v);
/* Print an error from the library as "miaopi: FILE:LINE:COL: MESSAGE". */
void cli_print_error(const char *what, const miaopi_error *err);
/* MIAOPI_EAMBIGUOUS from a registry: the ids it holds and the option
 * that names one. The caller exits with EXIT_ERROR (a usage error). */
void cli_print_ambiguous(const char *rules, const miaopi_error *err);
/* Load a case from a file, or from standard input when path is "-". */
int cli_load_case(const char *path, miaopi_case **c, miaopi_error *err);

int cmd_check(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_log(int argc, char **argv);
int cmd_prefill(int argc, char **argv);
int cmd_screen(int argc, char **argv);

/* ---- authoring: diagnostics with source lines (diag.c) ---- */

/* --color=auto|always|never; false for another word. */
bool cli_color_set(const char *mode);
bool cli_color(void);
/* An SGR escape sequence when colour is on, else "". */
const char *cli_sgr(const char *code);
/* "FILE:LINE:COL: error: MESSAGE [ID]", the source line and a caret. */
void cli_print_diag(const miaopi_diagnostic *d);
/* A load error (first diagnostic in a miaopi_error) in the same form. */
void cli_print_load_error(const char *what, const miaopi_error *err);
/* Print line `line` of text with a caret under column `col`. */
void cli_show_source(FILE *out, const char *text, size_t len, int line,
                     int col);
void cli_diag_reset(void);

/* What a batch decides with: a ruleset, or a registry (with an optional
 * ruleset id); and a log to append each decision to, or NULL. */
typedef struct cli_batch_target {
    const miaopi_ruleset *rs;
    miaopi_registry *reg;
    const char *rules;       /* the -r argument, for messages */
    const char *id;
    miaopi_log *log;
} cli_batch_target;

/* miaopi eval --batch (batch.c); with jobs > 1, that many worker threads
 * decide the lines (batch_jobs.c) and the output is the same. */
int cli_eval_batch(const char *path, const cli_batch_target *t,
                   const miaopi_eval_options *eo, const char *lang,
                   bool trace, int jobs);

int cmd_test(int argc, char **argv);
int cmd_expr(int argc, char **argv);

#endif
