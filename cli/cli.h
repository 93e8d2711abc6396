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
/* Print an error from the library as "miaopi: FILE:LINE:COL: MESSAGE". */
void cli_print_error(const char *what, const miaopi_error *err);
/* Load a case from a file, or from standard input when path is "-". */
int cli_load_case(const char *path, miaopi_case **c, miaopi_error *err);

int cmd_check(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_log(int argc, char **argv);
int cmd_prefill(int argc, char **argv);
int cmd_screen(int argc, char **argv);

#endif
