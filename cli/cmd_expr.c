/* miaopi expr: evaluate one expression, to try a regex or a builtin
 * before writing it into a rule. */
#include "cli.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char usage_expr[] =
    "usage: miaopi expr [-r RULES.xml] [-c CASE.json] [--json] 'EXPRESSION'\n"
    "\n"
    "Evaluate one expression and print its value and type, or UNKNOWN and\n"
    "why (which path was missing or which source unavailable). With -r the\n"
    "expression sees the ruleset's fields, sources, constants and tables;\n"
    "without it, literals, builtins and context.decision_date. With -c the\n"
    "paths read that case (CASE.json may be - for standard input); the\n"
    "decision date is the case's context.decision_date. Personal data is\n"
    "masked by its class, as in explanations.\n"
    "\n"
    "Examples:\n"
    "  miaopi expr 'age(date(\"1990-05-01\"), date(\"2024-05-01\"))'\n"
    "  miaopi expr 'matches(\"13812345678\", \"^1[3-9]\\\\d{9}$\")'\n"
    "  miaopi expr -r rules.xml -c case.json 'age_limit[application.degree]'\n"
    "\n"
    "Options:\n"
    "  -r, --rules FILE   compile in this ruleset's scope\n"
    "  -c, --case FILE    evaluate against this case\n"
    "      --json         print {\"expr\", \"type\", \"known\", \"value\"[, \"unknown\"]}\n"
    "      --color=WHEN   auto (default), always, never\n"
    "  -h, --help         show this help\n"
    "\n"
    "Exit status: 0 the expression was evaluated (its value may be\n"
    "UNKNOWN), 1 the expression is invalid, 2 usage, I/O or rule-file\n"
    "error.\n";

typedef struct expr_args {
    const char *rules;
    const char *case_path;
    const char *text;
    bool json;
} expr_args;

static bool looks_negative_number(const char *a)
{
    return a[0] == '-' && a[1] >= '0' && a[1] <= '9';
}

static int parse_args(int argc, char **argv, expr_args *x)
{
    bool rest = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!rest && cli_is_help(a)) {
            fputs(usage_expr, stdout);
            return 0;
        } else if (!rest && (strcmp(a, "-r") == 0 ||
                             strcmp(a, "--rules") == 0)) {
            if (++i >= argc)
                return cli_usage_error(usage_expr, "a file must follow", a);
            x->rules = argv[i];
        } else if (!rest && strncmp(a, "--rules=", 8) == 0) {
            x->rules = a + 8;
        } else if (!rest && (strcmp(a, "-c") == 0 ||
                             strcmp(a, "--case") == 0)) {
            if (++i >= argc)
                return cli_usage_error(usage_expr, "a file must follow", a);
            x->case_path = argv[i];
        } else if (!rest && strncmp(a, "--case=", 7) == 0) {
            x->case_path = a + 7;
        } else if (!rest && strcmp(a, "--json") == 0) {
            x->json = true;
        } else if (!rest && (strncmp(a, "--color=", 8) == 0 ||
                             strncmp(a, "--colour=", 9) == 0)) {
            if (!cli_color_set(strchr(a, '=') + 1))
                return cli_usage_error(usage_expr,
                                       "--color takes auto, always or never:",
                                       a);
        } else if (!rest && strcmp(a, "--") == 0) {
            rest = true;
        } else if (!rest && a[0] == '-' && a[1] &&
                   !looks_negative_number(a)) {
            return cli_usage_error(usage_expr, "unknown option", a);
        } else if (!x->text) {
            x->text = a;
        } else {
            return cli_usage_error(usage_expr,
                                   "one expression only (quote it):", a);
        }
    }
    if (!x->text)
        return cli_usage_error(usage_expr, "no expression given", NULL);
    return -1;
}

static void print_compile_error(const char *text, const miaopi_error *err)
{
    fprintf(stderr, "%s<expr>:%d:%d: %serror:%s %s%s%s [%s]\n",
            cli_sgr("\033[1m"), err->line, err->column,
            cli_sgr("\033[1;31m"), cli_sgr("\033[0m"), cli_sgr("\033[1m"),
            err->message, cli_sgr("\033[0m"), err->id);
    cli_show_source(stderr, text, strlen(text), err->line, err->column);
}

static void print_warnings(const char *text, const miaopi_expr *e)
{
    miaopi_error w;
    for (size_t i = 0; miaopi_expr_warning(&w, e, i) == MIAOPI_OK; i++) {
        fprintf(stderr, "%s<expr>:%d:%d: %swarning:%s %s%s%s [%s]\n",
                cli_sgr("\033[1m"), w.line, w.column,
                cli_sgr("\033[1;35m"), cli_sgr("\033[0m"),
                cli_sgr("\033[1m"), w.message, cli_sgr("\033[0m"), w.id);
        cli_show_source(stderr, text, strlen(text), w.line, w.column);
    }
}

static int print_json(const char *text, const miaopi_value_info *v)
{
    json_t *o = json_pack("{s:s, s:s, s:b, s:s}", "expr", text, "type",
                          v->type, "known", v->known, "value", v->value);
    if (o && !v->known)
        json_object_set_new(o, "unknown",
                            json_pack("{s:s, s:s}", "reason",
                                      v->unknown_reason, "path",
                                      v->unknown_path));
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    if (!s)
        return EXIT_ERROR;
    puts(s);
    free(s);
    return 0;
}

static void print_text(const miaopi_value_info *v)
{
    if (v->known)
        printf("%s (%s)\n", v->value, v->type);
    else
        printf("UNKNOWN (%s): %s\n", v->type, v->unknown_reason);
}

int cmd_expr(int argc, char **argv)
{
    expr_args x = {NULL, NULL, NULL, false};
    cli_color_set("auto");
    int rc = parse_args(argc, argv, &x);
    if (rc >= 0)
        return rc;
    int status = EXIT_ERROR;
    miaopi_ruleset *rs = NULL;
    miaopi_case *c = NULL;
    miaopi_expr *e = NULL;
    miaopi_decision *d = NULL;
    miaopi_error err;
    if (x.rules &&
        miaopi_ruleset_load_file(&rs, x.rules, NULL, &err) != MIAOPI_OK) {
        cli_print_load_error(x.rules, &err);
        goto out;
    }
    if (x.case_path && cli_load_case(x.case_path, &c, &err) != MIAOPI_OK) {
        cli_print_error(x.case_path, &err);
        goto out;
    }
    rc = miaopi_expr_compile(&e, rs, x.text, strlen(x.text), &err);
    if (rc == MIAOPI_EEXPR) {
        print_compile_error(x.text, &err);
        status = EXIT_FOUND;
        goto out;
    } else if (rc != MIAOPI_OK || miaopi_decision_new(&d) != MIAOPI_OK) {
        fprintf(stderr, "%s: %s\n", cli_prog, miaopi_strerror(rc));
        goto out;
    }
    print_warnings(x.text, e);
    miaopi_value_info v = MIAOPI_VALUE_INFO_INIT;
    if (miaopi_expr_eval(&v, d, e, c, &err) != MIAOPI_OK) {
        cli_print_error("<expr>", &err);
        goto out;
    }
    if (x.json)
        status = print_json(x.text, &v);
    else {
        print_text(&v);
        status = 0;
    }
    if (fflush(stdout) != 0)
        status = EXIT_ERROR;
out:
    miaopi_decision_free(d);
    miaopi_expr_free(e);
    miaopi_case_free(c);
    miaopi_ruleset_unref(rs);
    cli_diag_reset();
    return status;
}
