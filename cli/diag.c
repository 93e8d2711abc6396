/*
 * Diagnostics as a modern compiler prints them: the location, the
 * message with its stable id, then the source line with a caret under the
 * column. Colour only when asked for, or on a terminal (--color=auto, the
 * default, which also honours NO_COLOR).
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool use_color;

/* The file whose lines are shown; kept while diagnostics for it come. */
static char *src_path;
static char *src_data;
static size_t src_len;

bool cli_color_set(const char *mode)
{
    if (strcmp(mode, "always") == 0) {
        use_color = true;
    } else if (strcmp(mode, "never") == 0) {
        use_color = false;
    } else if (strcmp(mode, "auto") == 0) {
        const char *term = getenv("TERM");
        use_color = isatty(STDERR_FILENO) && !getenv("NO_COLOR") &&
                    !(term && strcmp(term, "dumb") == 0);
    } else {
        return false;
    }
    return true;
}

bool cli_color(void)
{
    return use_color;
}

const char *cli_sgr(const char *code)
{
    return use_color ? code : "";
}

static const char *load_source(const char *path)
{
    if (src_path && strcmp(src_path, path) == 0)
        return src_data;
    free(src_path);
    free(src_data);
    src_path = strdup(path);
    src_data = NULL;
    src_len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 65536;
    char *buf = malloc(cap + 1);
    size_t n = 0, got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            if (cap >= ((size_t)64 << 20))
                break;
            char *b = realloc(buf, cap * 2 + 1);
            if (!b) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = b;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf)
        buf[n] = '\0';
    src_data = buf;
    src_len = n;
    return src_data;
}

void cli_diag_reset(void)
{
    free(src_path);
    free(src_data);
    src_path = src_data = NULL;
    src_len = 0;
}

/* Display width of the UTF-8 character at s (1 or 2 terminal cells):
 * CJK ideographs, kana, Hangul and full-width forms take two. */
static int char_width(const unsigned char *s, int *bytes)
{
    unsigned cp = s[0];
    *bytes = 1;
    if (cp >= 0xF0 && s[1] && s[2] && s[3]) {
        cp = ((cp & 7u) << 18) | ((s[1] & 0x3Fu) << 12) |
             ((s[2] & 0x3Fu) << 6) | (s[3] & 0x3Fu);
        *bytes = 4;
    } else if (cp >= 0xE0 && s[1] && s[2]) {
        cp = ((cp & 0xFu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu);
        *bytes = 3;
    } else if (cp >= 0xC0 && s[1]) {
        cp = ((cp & 0x1Fu) << 6) | (s[1] & 0x3Fu);
        *bytes = 2;
    }
    bool wide = (cp >= 0x1100 && cp <= 0x115F) ||
                (cp >= 0x2E80 && cp <= 0xA4CF && cp != 0x303F) ||
                (cp >= 0xAC00 && cp <= 0xD7A3) ||
                (cp >= 0xF900 && cp <= 0xFAFF) ||
                (cp >= 0xFE30 && cp <= 0xFE4F) ||
                (cp >= 0xFF00 && cp <= 0xFF60) ||
                (cp >= 0xFFE0 && cp <= 0xFFE6) || cp >= 0x20000;
    return wide ? 2 : 1;
}

static bool ident_byte(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* Print line `line` of text with a caret under character column `col`,
 * underlining the rest of a word that starts there. */
void cli_show_source(FILE *out, const char *text, size_t len, int line,
                     int col)
{
    if (!text || line < 1)
        return;
    const char *p = text, *end = text + len;
    for (int l = 1; l < line && p < end; l++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            return;
        p = nl + 1;
    }
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol)
        eol = end;
    if (eol > p && eol[-1] == '\r')
        eol--;
    if (eol - p > 400)
        return; /* a minified file: the line would not help */
    fprintf(out, " %5d | %.*s\n", line, (int)(eol - p), p);
    fprintf(out, "       | ");
    const char *q = p;
    for (int c = 1; c < col && q < eol; c++) {
        int bytes;
        int w = char_width((const unsigned char *)q, &bytes);
        if (*q == '\t')
            fputc('\t', out);
        else
            fprintf(out, "%*s", w, "");
        q += bytes;
    }
    fprintf(out, "%s^", cli_sgr("\033[1;32m"));
    if (q < eol && ident_byte(*q))
        for (const char *r = q + 1; r < eol && ident_byte(*r); r++)
            fputc('~', out);
    fprintf(out, "%s\n", cli_sgr("\033[0m"));
}

void cli_print_diag(const miaopi_diagnostic *d)
{
    bool err = d->severity == MIAOPI_SEVERITY_ERROR;
    fprintf(stderr, "%s", cli_sgr("\033[1m"));
    if (d->line > 0)
        fprintf(stderr, "%s:%d:%d: ", d->file, d->line,
                d->column > 0 ? d->column : 1);
    else
        fprintf(stderr, "%s: ", d->file);
    fprintf(stderr, "%s%s:%s %s%s%s [%s]\n",
            cli_sgr(err ? "\033[1;31m" : "\033[1;35m"),
            err ? "error" : "warning", cli_sgr("\033[0m"),
            cli_sgr("\033[1m"), d->message, cli_sgr("\033[0m"), d->id);
    if (d->line > 0 && d->file && strcmp(d->file, "<memory>") != 0) {
        const char *text = load_source(d->file);
        cli_show_source(stderr, text, src_len, d->line,
                        d->column > 0 ? d->column : 1);
    }
}

/* For a miaopi_error from loading: the same layout as a diagnostic. */
void cli_print_load_error(const char *what, const miaopi_error *err)
{
    if (err->line <= 0 || !err->id[0]) {
        cli_print_error(what, err);
        return;
    }
    miaopi_diagnostic d = {MIAOPI_SEVERITY_ERROR, err->id, err->message,
                           err->file[0] ? err->file : what, err->line,
                           err->column, err->offset};
    cli_print_diag(&d);
}
