/*
 * Small shared services: errors, allocation, buffers, arenas, file reading,
 * hashing. Kept together because each is a handful of lines.
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

/* ---- diagnostics registry ---- */

const char *miaopi__diag_id_string(miaopi__diag_id d)
{
    switch (d) {
/* Ids are zero-padded to three digits: MIAOPI-E001 ... MIAOPI-E999. Each
 * branch is a string literal, so the result has static storage. */
#define MIAOPI_DIAG(num, sym, sev, summary)                                  \
    case MIAOPI__D_##sym:                                                    \
        return (num) < 10    ? "MIAOPI-E00" #num                             \
               : (num) < 100 ? "MIAOPI-E0" #num                              \
                             : "MIAOPI-E" #num;
#include "diag.def"
#undef MIAOPI_DIAG
    default:
        return "";
    }
}

miaopi_severity miaopi__diag_severity(miaopi__diag_id d)
{
    switch (d) {
#define MIAOPI_DIAG(num, sym, sev, summary)                                  \
    case MIAOPI__D_##sym:                                                    \
        return MIAOPI_SEVERITY_##sev;
#include "diag.def"
#undef MIAOPI_DIAG
    default:
        return MIAOPI_SEVERITY_ERROR;
    }
}

/* ---- errors ---- */

void miaopi__error_clear(miaopi_error *err)
{
    if (!err)
        return;
    /* Only the scalars and the strings' first bytes: clearing all ~800
     * bytes was a visible share of a fast evaluation, which clears the
     * caller's error on every call. */
    err->code = 0;
    err->id[0] = err->message[0] = err->file[0] = '\0';
    err->line = err->column = 0;
    err->offset = -1;
}

int miaopi__error_set(miaopi_error *err, int code, const char *fmt, ...)
{
    if (!err)
        return code;
    miaopi__error_clear(err);
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return code;
}

const char *miaopi_strerror(int code)
{
    switch (code) {
    case MIAOPI_OK: return "MIAOPI_OK";
    case MIAOPI_EINVAL: return "MIAOPI_EINVAL";
    case MIAOPI_ENOMEM: return "MIAOPI_ENOMEM";
    case MIAOPI_EIO: return "MIAOPI_EIO";
    case MIAOPI_ERULES: return "MIAOPI_ERULES";
    case MIAOPI_ECASE: return "MIAOPI_ECASE";
    case MIAOPI_ELIMIT: return "MIAOPI_ELIMIT";
    case MIAOPI_ENOTINFORCE: return "MIAOPI_ENOTINFORCE";
    case MIAOPI_EEXPR: return "MIAOPI_EEXPR";
    case MIAOPI_ENOTFOUND: return "MIAOPI_ENOTFOUND";
    case MIAOPI_EINTERNAL: return "MIAOPI_EINTERNAL";
    case MIAOPI_EAMBIGUOUS: return "MIAOPI_EAMBIGUOUS";
    default: return "MIAOPI_E?";
    }
}

const char *miaopi_version(void)
{
    return MIAOPI_VERSION_STRING;
}

/* ---- allocation ---- */

void *miaopi__malloc(const miaopi_allocator *al, size_t n)
{
    if (n == 0)
        n = 1;
    return al ? al->malloc_fn(n, al->payload) : malloc(n);
}

void *miaopi__calloc(const miaopi_allocator *al, size_t n, size_t size)
{
    if (n && size > SIZE_MAX / n)
        return NULL;
    size_t total = n * size;
    void *p = miaopi__malloc(al, total);
    if (p)
        memset(p, 0, total ? total : 1);
    return p;
}

void *miaopi__realloc(const miaopi_allocator *al, void *p, size_t n)
{
    if (n == 0)
        n = 1;
    return al ? al->realloc_fn(p, n, al->payload) : realloc(p, n);
}

void miaopi__free(const miaopi_allocator *al, void *p)
{
    if (!p)
        return;
    if (al)
        al->free_fn(p, al->payload);
    else
        free(p);
}

bool miaopi__allocator_copy(miaopi_allocator *dst, const miaopi_allocator *src,
                            const miaopi_allocator **use)
{
    *use = NULL;
    memset(dst, 0, sizeof(*dst));
    if (!src)
        return true;
    /* Fields are only appended: copy what the caller's version has. */
    size_t n = src->size < sizeof(*dst) ? src->size : sizeof(*dst);
    if (n < offsetof(miaopi_allocator, payload) + sizeof(void *))
        return false;
    memcpy(dst, src, n);
    dst->size = sizeof(*dst);
    if (!dst->malloc_fn || !dst->realloc_fn || !dst->free_fn)
        return false;
    *use = dst;
    return true;
}

void *miaopi__pcre2_malloc(size_t n, void *data)
{
    return miaopi__malloc(data, n);
}

void miaopi__pcre2_free(void *p, void *data)
{
    miaopi__free(data, p);
}

/* Everything the library hands to the caller to free (strings) comes from
 * the C library's malloc, whatever allocators the objects involved use:
 * miaopi_free has no object to find another allocator through. */
void miaopi_free(void *p)
{
    free(p);
}

char *miaopi__out_strdup(const char *s)
{
    return miaopi__strdup(NULL, s);
}

/* json_dumps through a callback into a buffer whose failures stick:
 * jansson 2.14's own json_dumps ignores a failed write of an object key
 * and returns the document without it. The text is the caller's (C
 * library malloc, see miaopi_free). */
static int dump_cb(const char *buf, size_t n, void *data)
{
    miaopi__buf *b = data;
    miaopi__buf_add(b, buf, n);
    return b->failed ? -1 : 0;
}

char *miaopi__json_dumps(const json_t *j, size_t flags)
{
    miaopi__buf b;
    miaopi__buf_init(&b);
    if (json_dump_callback(j, dump_cb, &b, flags) != 0 || b.failed ||
        !miaopi__buf_reserve(&b, 0)) {
        miaopi__buf_free(&b);
        return NULL;
    }
    b.data[b.len] = '\0';
    return b.data;
}

char *miaopi__strndup(const miaopi_allocator *al, const char *s, size_t n)
{
    if (n == SIZE_MAX)
        return NULL;
    char *r = miaopi__malloc(al, n + 1);
    if (!r)
        return NULL;
    memcpy(r, s, n);
    r[n] = '\0';
    return r;
}

char *miaopi__strdup(const miaopi_allocator *al, const char *s)
{
    return miaopi__strndup(al, s, strlen(s));
}

/* ---- buffers ---- */

void miaopi__buf_init(miaopi__buf *b)
{
    memset(b, 0, sizeof(*b));
}

void miaopi__buf_init_al(miaopi__buf *b, const miaopi_allocator *al)
{
    memset(b, 0, sizeof(*b));
    b->al = al;
}

void miaopi__buf_free(miaopi__buf *b)
{
    miaopi__free(b->al, b->data);
    miaopi__buf_init_al(b, b->al);
}

bool miaopi__buf_reserve(miaopi__buf *b, size_t extra)
{
    if (b->failed)
        return false;
    if (extra > SIZE_MAX / 4 - b->len) {
        b->failed = true;
        return false;
    }
    if (b->len + extra + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1) {
        if (cap > SIZE_MAX / 2) {
            b->failed = true;
            return false;
        }
        cap *= 2;
    }
    char *d = miaopi__realloc(b->al, b->data, cap);
    if (!d) {
        b->failed = true;
        return false;
    }
    b->data = d;
    b->cap = cap;
    return true;
}

void miaopi__buf_add(miaopi__buf *b, const char *s, size_t n)
{
    if (!miaopi__buf_reserve(b, n))
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void miaopi__buf_adds(miaopi__buf *b, const char *s)
{
    miaopi__buf_add(b, s, strlen(s));
}

void miaopi__buf_addc(miaopi__buf *b, char c)
{
    miaopi__buf_add(b, &c, 1);
}

void miaopi__buf_printf(miaopi__buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !miaopi__buf_reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

const char *miaopi__buf_cstr(miaopi__buf *b)
{
    if (!b->data || b->failed)
        return "";
    return b->data;
}

/* ---- arena ---- */

struct miaopi__arena_chunk {
    miaopi__arena_chunk *next;
    size_t cap;
    size_t used;
    max_align_t data[];
};

void miaopi__arena_init(miaopi__arena *a, const miaopi_allocator *al)
{
    a->head = a->cur = NULL;
    a->al = al;
}

void miaopi__arena_reset(miaopi__arena *a)
{
    for (miaopi__arena_chunk *c = a->head; c; c = c->next)
        c->used = 0;
    a->cur = a->head;
}

void miaopi__arena_free(miaopi__arena *a)
{
    miaopi__arena_chunk *c = a->head;
    while (c) {
        miaopi__arena_chunk *n = c->next;
        miaopi__free(a->al, c);
        c = n;
    }
    a->head = a->cur = NULL;
}

void *miaopi__arena_alloc(miaopi__arena *a, size_t n)
{
    const size_t align = sizeof(max_align_t);
    if (n > SIZE_MAX / 2)
        return NULL;
    n = (n + align - 1) / align * align;
    if (n == 0)
        n = align;
    /* Walk the kept chunks first: after a reset they are all empty. */
    for (miaopi__arena_chunk *c = a->cur; c; c = c->next) {
        if (c->cap - c->used >= n) {
            void *p = (char *)c->data + c->used;
            c->used += n;
            a->cur = c;
            return p;
        }
    }
    size_t cap = n > 4096 ? n : 4096;
    if (cap > SIZE_MAX - sizeof(miaopi__arena_chunk))
        return NULL;
    miaopi__arena_chunk *c = miaopi__malloc(a->al, sizeof(*c) + cap);
    if (!c)
        return NULL;
    c->cap = cap;
    c->used = n;
    c->next = NULL;
    /* Append at the end so chunk order is stable across resets. */
    if (!a->head) {
        a->head = c;
    } else {
        miaopi__arena_chunk *t = a->cur ? a->cur : a->head;
        while (t->next)
            t = t->next;
        t->next = c;
    }
    a->cur = c;
    return c->data;
}

char *miaopi__arena_strndup(miaopi__arena *a, const char *s, size_t n)
{
    char *r = miaopi__arena_alloc(a, n + 1);
    if (!r)
        return NULL;
    memcpy(r, s, n);
    r[n] = '\0';
    return r;
}

/* ---- files ---- */

int miaopi__read_file(const miaopi_allocator *al, const char *path,
                      size_t max, char **out, size_t *len, miaopi_error *err)
{
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return miaopi__error_set(err, MIAOPI_EIO, "cannot open %s: %s", path,
                                 strerror(errno));
    miaopi__buf b;
    miaopi__buf_init_al(&b, al);
    char chunk[65536];
    size_t n;
    int rc = MIAOPI_OK;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (b.len + n > max) {
            rc = miaopi__error_set(err, MIAOPI_ELIMIT,
                                   "%s is larger than the limit of %zu bytes",
                                   path, max);
            break;
        }
        miaopi__buf_add(&b, chunk, n);
        if (b.failed) {
            rc = miaopi__error_set(err, MIAOPI_ENOMEM, "out of memory");
            break;
        }
    }
    if (rc == MIAOPI_OK && ferror(f))
        rc = miaopi__error_set(err, MIAOPI_EIO, "cannot read %s: %s", path,
                               strerror(errno));
    fclose(f);
    if (rc != MIAOPI_OK) {
        miaopi__buf_free(&b);
        return rc;
    }
    if (!miaopi__buf_reserve(&b, 0)) {
        miaopi__buf_free(&b);
        return miaopi__error_set(err, MIAOPI_ENOMEM, "out of memory");
    }
    b.data[b.len] = '\0';
    *out = b.data;
    *len = b.len;
    return MIAOPI_OK;
}

/* ---- hashing ---- */

bool miaopi__sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
        return false;
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
    return true;
}

/* ---- UTF-8 ---- */

bool miaopi__utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 2;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 3;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + n > len)
            return false;
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        /* Overlong forms, surrogates and values past U+10FFFF. */
        if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
            (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n;
    }
    return true;
}

/* ---- suggestions ---- */

/* Levenshtein distance, for "did you mean"; 99 for names over 40 bytes,
 * which are never worth suggesting. */
size_t miaopi__edit_distance(const char *a, size_t n, const char *b, size_t m)
{
    if (n > 40 || m > 40)
        return 99;
    size_t row[41];
    for (size_t j = 0; j <= m; j++)
        row[j] = j;
    for (size_t i = 1; i <= n; i++) {
        size_t prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= m; j++) {
            size_t cur = row[j];
            size_t best = prev + (a[i - 1] == b[j - 1] ? 0 : 1);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            prev = cur;
        }
    }
    return row[m];
}
