/*
 * libFuzzer target: the expression language. The input is wrapped into a
 * fixed small ruleset whose declarations cover every type, then loaded
 * (lexer, parser, type checker, constant folding, regex compilation) and,
 * when it loads, evaluated against a case.
 *
 * Input: MODE EXPRESSION [ "\n----\n" APPLICATION-JSON ]
 *  - MODE's low bit 0: the expression is a rule's <require> (must be a
 *    condition); 1: it is a message placeholder {EXPRESSION} of any type,
 *    rendered because the rule fails;
 *  - APPLICATION-JSON, when present, replaces the default application.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

#define DECLS                                                                \
    "<application>"                                                          \
    "<field name=\"s\" type=\"string\"/><field name=\"t\" type=\"string\"/>" \
    "<field name=\"i\" type=\"integer\"/><field name=\"j\" type=\"integer\"/>" \
    "<field name=\"d\" type=\"decimal\"/><field name=\"e\" type=\"decimal\"/>" \
    "<field name=\"b\" type=\"boolean\"/><field name=\"c\" type=\"boolean\"/>" \
    "<field name=\"dt\" type=\"date\"/><field name=\"dt2\" type=\"date\"/>"  \
    "<field name=\"id_number\" type=\"string\" pii=\"id-number\"/>"          \
    "<field name=\"name\" type=\"string\" pii=\"name\"/>"                    \
    "<field name=\"phone\" type=\"string\" pii=\"phone\"/>"                  \
    "<field name=\"tags\" type=\"list\" of=\"string\"/>"                     \
    "<field name=\"nums\" type=\"list\" of=\"integer\"/>"                    \
    "<field name=\"decs\" type=\"list\" of=\"decimal\"/>"                    \
    "<field name=\"kids\" type=\"list\"><field name=\"name\" type=\"string\"/>" \
    "<field name=\"age\" type=\"integer\"/>"                                 \
    "<field name=\"birth_date\" type=\"date\"/></field>"                     \
    "</application><sources><source name=\"hukou\">"                         \
    "<field name=\"name\" type=\"string\" pii=\"name\"/>"                    \
    "<field name=\"alive\" type=\"boolean\"/></source>"                      \
    "<source name=\"gone\"><field name=\"x\" type=\"integer\"/></source>"    \
    "</sources><context><field name=\"channel\" type=\"string\"/></context>" \
    "<constants><constant name=\"limit\" type=\"integer\">35</constant>"     \
    "<constant name=\"degrees\" type=\"list\" of=\"string\">"                \
    "[\"本科\", \"硕士\", \"博士\"]</constant></constants>"                  \
    "<tables><table name=\"age_limit\" key=\"string\" value=\"integer\">"    \
    "<row key=\"本科\">35</row><row key=\"硕士\">40</row></table>"           \
    "<table name=\"by_date\" key=\"date\" value=\"decimal\">"                \
    "<row key=\"2024-01-01\">1.5</row></table></tables>"

static const char head[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<ruleset xmlns=\"urn:miaopi:rules:1\" id=\"f\" version=\"1\" "
    "effective-from=\"2000-01-01\"><title>f</title>" DECLS "<rules>"
    "<rule id=\"r\" on-fail=\"reject\" code=\"R\"><title>r</title>"
    "<basis>b</basis>";

static const char default_app[] =
    "{\"s\": \"abc\", \"t\": \"ＡＢＣ\", \"i\": 7, \"j\": -3, \"d\": \"12.50\","
    " \"e\": 0.1, \"b\": true, \"c\": false, \"dt\": \"2000-02-29\","
    " \"dt2\": \"9999-12-31\", \"id_number\": \"11010519491231002X\","
    " \"name\": \"张 三\", \"phone\": \"13800138000\","
    " \"tags\": [\"a\", \"b\"], \"nums\": [1, 2, 9223372036854775807],"
    " \"decs\": [\"0.1\", 2], \"kids\": [{\"name\": \"x\", \"age\": 3,"
    " \"birth_date\": \"2020-01-01\"}, {\"name\": null}]}";

static miaopi_decision *d;

/* Append s[0..n) escaped for XML text. */
static char *escape(char *o, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '<') {
            memcpy(o, "&lt;", 4);
            o += 4;
        } else if (s[i] == '&') {
            memcpy(o, "&amp;", 5);
            o += 5;
        } else if (s[i] == '>') {
            memcpy(o, "&gt;", 4);
            o += 4;
        } else {
            *o++ = s[i];
        }
    }
    return o;
}

static char *build(const char *expr, size_t n, int mode, size_t *len)
{
    char *xml = malloc(sizeof(head) + 5 * n + 256);
    if (!xml)
        return NULL;
    char *o = xml;
    memcpy(o, head, sizeof(head) - 1);
    o += sizeof(head) - 1;
    if (mode == 0) {
        memcpy(o, "<require>", 9);
        o = escape(o + 9, expr, n);
        const char *tail = "</require><message>m</message>";
        memcpy(o, tail, strlen(tail));
        o += strlen(tail);
    } else {
        const char *req = "<require>application.c</require><message>{";
        memcpy(o, req, strlen(req));
        o = escape(o + strlen(req), expr, n);
        memcpy(o, "}</message>", 11);
        o += 11;
    }
    const char *end = "</rule></rules></ruleset>\n";
    memcpy(o, end, strlen(end));
    o += strlen(end);
    *len = (size_t)(o - xml);
    return xml;
}

static miaopi_case *make_case(const char *app, size_t n)
{
    const char *pre = "{\"application\": ";
    const char *post = ", \"sources\": {\"hukou\": {\"name\": \"张三\", "
                       "\"alive\": true}, \"gone\": null}, \"context\": "
                       "{\"decision_date\": \"2024-05-01\", "
                       "\"channel\": \"web\"}}";
    size_t len = strlen(pre) + n + strlen(post);
    char *json = malloc(len + 1);
    if (!json)
        return NULL;
    memcpy(json, pre, strlen(pre));
    memcpy(json + strlen(pre), app, n);
    memcpy(json + strlen(pre) + n, post, strlen(post) + 1);
    miaopi_case *c = NULL;
    if (miaopi_case_from_json(&c, json, len, NULL) != MIAOPI_OK)
        c = NULL;
    free(json);
    return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (!d && miaopi_decision_new(&d) != MIAOPI_OK)
        abort();
    int mode = data[0] & 1;
    const char *expr = (const char *)data + 1;
    size_t n = size - 1;
    const char *app = default_app;
    size_t app_len = strlen(default_app);
    const char *sep = NULL;
    for (size_t i = 0; i + 6 <= n && !sep; i++)
        if (memcmp(expr + i, "\n----\n", 6) == 0)
            sep = expr + i;
    if (sep) {
        app = sep + 6;
        app_len = n - (size_t)(app - expr);
        n = (size_t)(sep - expr);
    }
    size_t len;
    char *xml = build(expr, n, mode, &len);
    if (!xml)
        return 0;
    miaopi_ruleset *rs = NULL;
    int rc = miaopi_ruleset_load_buffer(&rs, xml, len, "expr.xml", NULL,
                                        NULL);
    free(xml);
    if (rc != MIAOPI_OK)
        return 0;
    miaopi_case *c = make_case(app, app_len);
    if (c)
        fz_evaluate(d, rs, c);
    miaopi_case_free(c);
    miaopi_ruleset_unref(rs);
    return 0;
}
