/*
 * The decision log: a hash-chained JSON Lines file.
 *
 * Each line is {"hash":"H","entry":E} where E is the entry's JSON exactly as
 * hashed, beginning {"seq":N,"prev":"P",...}. Hashing the bytes as written,
 * rather than a re-serialisation, means a verifier in any language needs
 * no canonical-JSON library: it slices the line and hashes the slice. The
 * writer still produces E deterministically (fixed key order, compact).
 *
 * Crash safety: one write(2) per entry on an O_APPEND descriptor, a lock
 * against a second writer, and on reopen a torn last line is cut off and
 * recorded in a "recovery" entry.
 */
#include "model.h"

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

json_t *miaopi__decision_json(const miaopi_decision *d, const char *lang,
                              unsigned flags);
const json_t *miaopi__case_root(const miaopi_case *c);
const char *miaopi__case_text(const miaopi_case *c, size_t *len);
int miaopi__case_wrap(miaopi_case **out, json_t *root);
double miaopi__decision_spot_rate(const miaopi_decision *d);
json_t *miaopi__decision_inputs(const miaopi_decision *d, const miaopi_case *c);
bool miaopi__decision_fetched(const miaopi_decision *d);

#define LOG_FORMAT "miaopi-log/1"
#define ZERO_HASH                                                            \
    "0000000000000000000000000000000000000000000000000000000000000000"
#define PREFIX "{\"hash\":\""
#define PREFIX_LEN 9
#define MIDDLE "\",\"entry\":"
#define MIDDLE_LEN 10
#define ENTRY_AT (PREFIX_LEN + 64 + MIDDLE_LEN)
#define MAX_LINE ((size_t)160 << 20) /* a 64 MiB case, escaped, and more */

/* ---- hashing ---- */

static const EVP_MD *md_of(miaopi_hash_alg alg)
{
    return alg == MIAOPI_HASH_SM3 ? EVP_sm3() : EVP_sha256();
}

static void to_hex(const unsigned char *md, unsigned n, char out[65])
{
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < n && i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}

/* A digest context kept across entries: OpenSSL 3's one-shot EVP_Digest
 * looks the algorithm up and allocates a context on every call, 15% of
 * hashing a 2 KB entry with SHA-256 (1.42 us against 1.20 us per entry
 * with the context reused, measured on the bench machine). */
typedef struct hasher {
    miaopi_hash_alg alg;
    EVP_MD *md;
    EVP_MD_CTX *ctx;
} hasher;

static void hasher_free(hasher *h)
{
    EVP_MD_CTX_free(h->ctx);
    EVP_MD_free(h->md);
    h->ctx = NULL;
    h->md = NULL;
}

/* Hash (or, with a key, HMAC) of data as 64 hex digits. With h, an
 * unkeyed hash reuses h's context (made on first use). */
static bool chain_hash_with(hasher *h, miaopi_hash_alg alg,
                            const unsigned char *key, size_t key_len,
                            const void *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (h && !key) {
        if (h->ctx && h->alg != alg)
            hasher_free(h);
        if (!h->ctx) {
            h->alg = alg;
            h->md = EVP_MD_fetch(NULL, alg == MIAOPI_HASH_SM3 ? "SM3"
                                                              : "SHA256",
                                 NULL);
            h->ctx = h->md ? EVP_MD_CTX_new() : NULL;
            if (!h->ctx) {
                hasher_free(h);
                h = NULL; /* the one-shot path below */
            }
        }
        if (h) {
            if (!EVP_DigestInit_ex2(h->ctx, h->md, NULL) ||
                !EVP_DigestUpdate(h->ctx, data, len) ||
                !EVP_DigestFinal_ex(h->ctx, md, &n) || n != 32)
                return false;
            to_hex(md, n, out);
            return true;
        }
    }
    const EVP_MD *m = md_of(alg);
    if (!m)
        return false;
    if (key) {
        if (key_len > INT32_MAX ||
            !HMAC(m, key, (int)key_len, data, len, md, &n))
            return false;
    } else if (!EVP_Digest(data, len, md, &n, m, NULL)) {
        return false;
    }
    if (n != 32)
        return false;
    to_hex(md, n, out);
    return true;
}

static bool chain_hash(miaopi_hash_alg alg, const unsigned char *key,
                       size_t key_len, const void *data, size_t len,
                       char out[65])
{
    return chain_hash_with(NULL, alg, key, key_len, data, len, out);
}

int miaopi_hash_hex(char out[65], miaopi_hash_alg alg, const void *data,
                    size_t len)
{
    if (!out || (!data && len) ||
        (alg != MIAOPI_HASH_SHA256 && alg != MIAOPI_HASH_SM3))
        return MIAOPI_EINVAL;
    return chain_hash(alg, NULL, 0, data ? data : "", len, out)
               ? MIAOPI_OK
               : MIAOPI_EINTERNAL;
}

/* A short value that tells whether a key is the log's key without
 * revealing it: the HMAC of a fixed label, first 16 hex digits. */
static bool key_check(miaopi_hash_alg alg, const unsigned char *key,
                      size_t key_len, char out[17])
{
    char full[65];
    static const char label[] = "miaopi-log-key-check";
    if (!chain_hash(alg, key, key_len, label, sizeof(label) - 1, full))
        return false;
    memcpy(out, full, 16);
    out[16] = '\0';
    return true;
}

static const char *alg_name(miaopi_hash_alg alg)
{
    return alg == MIAOPI_HASH_SM3 ? "sm3" : "sha256";
}

static bool alg_parse(const char *s, miaopi_hash_alg *alg)
{
    if (s && strcmp(s, "sha256") == 0)
        *alg = MIAOPI_HASH_SHA256;
    else if (s && strcmp(s, "sm3") == 0)
        *alg = MIAOPI_HASH_SM3;
    else
        return false;
    return true;
}

static bool is_hex64(const char *s)
{
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* The wall clock as 2024-05-01T08:00:00.123456Z. The date and time up to
 * the second are formatted once per second per thread (strftime and
 * snprintf were 3,000 instructions of every entry). */
static void now_utc(char out[40])
{
    static _Thread_local time_t cached_sec = (time_t)-1;
    static _Thread_local char cached[32];
    static _Thread_local size_t cached_len;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != cached_sec || !cached_len) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        cached_len = strftime(cached, sizeof(cached), "%Y-%m-%dT%H:%M:%S",
                              &tm);
        cached_sec = ts.tv_sec;
    }
    memcpy(out, cached, cached_len);
    long us = ts.tv_nsec / 1000;
    char *p = out + cached_len;
    *p++ = '.';
    for (int i = 5; i >= 0; i--, us /= 10)
        p[i] = (char)('0' + us % 10);
    p[6] = 'Z';
    p[7] = '\0';
}

/* ---- parsing one line ---- */

typedef struct line_view {
    const char *hash;  /* 64 hex digits */
    const char *entry; /* the entry's bytes */
    size_t entry_len;
    uint64_t seq;
    const char *prev;  /* 64 hex digits */
} line_view;

/* Slice a line (without its newline) into hash, entry, seq and prev,
 * without a JSON parse. */
static bool view_line(const char *line, size_t len, line_view *v)
{
    if (len < ENTRY_AT + 2 || memcmp(line, PREFIX, PREFIX_LEN) != 0 ||
        !is_hex64(line + PREFIX_LEN) ||
        memcmp(line + PREFIX_LEN + 64, MIDDLE, MIDDLE_LEN) != 0 ||
        line[len - 1] != '}')
        return false;
    v->hash = line + PREFIX_LEN;
    v->entry = line + ENTRY_AT;
    v->entry_len = len - ENTRY_AT - 1;
    const char *e = v->entry, *end = v->entry + v->entry_len;
    static const char seq[] = "{\"seq\":";
    if ((size_t)(end - e) < sizeof(seq) - 1 + 1 + 9 + 64 + 1 ||
        memcmp(e, seq, sizeof(seq) - 1) != 0)
        return false;
    e += sizeof(seq) - 1;
    uint64_t n = 0;
    const char *digits = e;
    while (e < end && *e >= '0' && *e <= '9') {
        if (n > (UINT64_MAX - 9) / 10)
            return false;
        n = n * 10 + (uint64_t)(*e++ - '0');
    }
    static const char prev[] = ",\"prev\":\"";
    if (e == digits || (size_t)(end - e) < sizeof(prev) - 1 + 64 + 1 ||
        memcmp(e, prev, sizeof(prev) - 1) != 0)
        return false;
    e += sizeof(prev) - 1;
    if (!is_hex64(e) || e[64] != '"')
        return false;
    v->seq = n;
    v->prev = e;
    return true;
}

/* ---- reading lines ---- */

typedef struct line_reader {
    FILE *f;
    char *buf;
    size_t cap;
    size_t len;      /* without the newline */
    bool newline;    /* the line ended with '\n' */
    uint64_t lineno;
    /* Input read ahead from f; lines are split here with memchr, so a
     * NUL byte in a line is part of it (fgets, which the reader used
     * before, cannot say how many bytes it read: a line with a NUL
     * merged with the next and every later line number was off by one). */
    char *in;
    size_t in_pos, in_len;
} line_reader;

#define READ_BLOCK ((size_t)1 << 16)

/* Append n bytes of input to the line; false (errno set) past MAX_LINE
 * or without memory. */
static bool line_append(line_reader *r, const char *p, size_t n)
{
    if (n > MAX_LINE - r->len) {
        errno = EFBIG;
        return false;
    }
    if (r->cap - r->len <= n) {
        size_t cap = r->cap ? r->cap : READ_BLOCK;
        while (cap - r->len <= n)
            cap *= 2;
        char *b = miaopi__realloc(NULL, r->buf, cap);
        if (!b) {
            errno = ENOMEM;
            return false;
        }
        r->buf = b;
        r->cap = cap;
    }
    memcpy(r->buf + r->len, p, n);
    r->len += n;
    r->buf[r->len] = '\0';
    return true;
}

/* Past the rest of a line too long to keep (counted, not kept). */
static void skip_line(line_reader *r)
{
    int saved = errno;
    for (;;) {
        if (r->in_pos == r->in_len) {
            r->in_pos = 0;
            r->in_len = fread(r->in, 1, READ_BLOCK, r->f);
            if (r->in_len == 0)
                break;
        }
        const char *nl = memchr(r->in + r->in_pos, '\n',
                                r->in_len - r->in_pos);
        if (nl) {
            r->in_pos = (size_t)(nl - r->in) + 1;
            break;
        }
        r->in_pos = r->in_len;
    }
    r->lineno++;
    r->len = 0;
    errno = saved;
}

/* 1 with a line, 0 at end of file, -1 on error (errno) or a line longer
 * than MAX_LINE (errno = EFBIG; the line is skipped and counted, so that
 * the next call reads the next one). */
static int read_line(line_reader *r)
{
    r->len = 0;
    r->newline = false;
    if (!r->in && !(r->in = miaopi__malloc(NULL, READ_BLOCK))) {
        errno = ENOMEM;
        return -1;
    }
    if (!line_append(r, "", 0)) /* an empty line is a valid string too */
        return -1;
    for (;;) {
        if (r->in_pos == r->in_len) {
            r->in_pos = 0;
            r->in_len = fread(r->in, 1, READ_BLOCK, r->f);
            if (r->in_len == 0) {
                if (ferror(r->f))
                    return -1;
                if (r->len == 0)
                    return 0;
                r->lineno++; /* a last line without its newline */
                return 1;
            }
        }
        const char *p = r->in + r->in_pos;
        size_t avail = r->in_len - r->in_pos;
        const char *nl = memchr(p, '\n', avail);
        size_t n = nl ? (size_t)(nl - p) : avail;
        if (!line_append(r, p, n)) {
            if (errno == EFBIG)
                skip_line(r); /* the next call reads the next line */
            return -1;
        }
        r->in_pos += n;
        if (nl) {
            r->in_pos++;
            r->newline = true;
            r->lineno++;
            return 1;
        }
    }
}

/* ---- the header ---- */

typedef struct header {
    miaopi_hash_alg alg;
    bool keyed;
    char key_check[17];
} header;

static bool parse_header(const line_view *v, header *h, bool *oom)
{
    json_error_t je;
    json_t *e = miaopi__json_load_checked(v->entry, v->entry_len, 0, &je,
                                          oom);
    if (!e)
        return false;
    const char *type = json_string_value(json_object_get(e, "type"));
    const char *fmt = json_string_value(json_object_get(e, "format"));
    const char *alg = json_string_value(json_object_get(e, "alg"));
    const char *kc = json_string_value(json_object_get(e, "key_check"));
    bool ok = type && strcmp(type, "header") == 0 && fmt &&
              strcmp(fmt, LOG_FORMAT) == 0 && alg_parse(alg, &h->alg);
    h->keyed = json_is_true(json_object_get(e, "keyed"));
    snprintf(h->key_check, sizeof(h->key_check), "%s", kc ? kc : "");
    json_decref(e);
    return ok;
}

/* ---- the writer ---- */

struct miaopi_log {
    pthread_mutex_t lock;
    int fd;
    bool own_fd;
    miaopi_hash_alg alg;
    unsigned char *key;
    size_t key_len;
    miaopi_sync sync;
    unsigned sync_every;
    unsigned unsynced;
    uint64_t next_seq;
    char prev[65];
    bool recovered;
    bool broken;      /* a write failed: the file may end in a torn line */
    miaopi__buf line; /* reused under the lock */
    hasher h;         /* used under the lock */
};

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Append one entry whose body (a JSON object text starting with '{',
 * without seq and prev) is given. Called with the lock held. */
static int append_body(miaopi_log *log, const char *body, size_t body_len,
                       uint64_t *seq_out, miaopi_error *err)
{
    if (log->broken)
        return miaopi__error_set(err, MIAOPI_EIO,
                                 "an earlier write to the log failed; "
                                 "reopen it to recover");
    if (body_len < 2 || body[0] != '{')
        return miaopi__error_set(err, MIAOPI_EINTERNAL, "bad entry body");
    miaopi__buf *b = &log->line;
    b->len = 0;
    b->failed = false;
    miaopi__buf_adds(b, PREFIX);
    miaopi__buf_add(b, ZERO_HASH, 64); /* the hash, filled below */
    miaopi__buf_adds(b, MIDDLE);
    size_t entry_at = b->len;
    char num[24];
    size_t nd = 0;
    for (uint64_t v = log->next_seq; nd == 0 || v; v /= 10)
        num[sizeof(num) - 1 - nd++] = (char)('0' + v % 10);
    miaopi__buf_adds(b, "{\"seq\":");
    miaopi__buf_add(b, num + sizeof(num) - nd, nd);
    miaopi__buf_adds(b, ",\"prev\":\"");
    miaopi__buf_add(b, log->prev, 64);
    miaopi__buf_addc(b, '"');
    if (body_len > 2) {
        miaopi__buf_addc(b, ',');
        miaopi__buf_add(b, body + 1, body_len - 1);
    } else {
        miaopi__buf_addc(b, '}');
    }
    if (b->failed)
        return miaopi__error_set(err, MIAOPI_ENOMEM, "out of memory");
    char hash[65];
    if (!chain_hash_with(&log->h, log->alg, log->key, log->key_len,
                         b->data + entry_at, b->len - entry_at, hash))
        return miaopi__error_set(err, MIAOPI_EINTERNAL, "hashing failed");
    memcpy(b->data + PREFIX_LEN, hash, 64);
    miaopi__buf_add(b, "}\n", 2);
    if (b->failed)
        return miaopi__error_set(err, MIAOPI_ENOMEM, "out of memory");
    if (write_all(log->fd, b->data, b->len) != 0) {
        log->broken = true;
        return miaopi__error_set(err, MIAOPI_EIO, "cannot write the log: %s",
                                 strerror(errno));
    }
    if (seq_out)
        *seq_out = log->next_seq;
    log->next_seq++;
    memcpy(log->prev, hash, 65);
    log->unsynced++;
    bool sync = log->sync == MIAOPI_SYNC_EVERY ||
                (log->sync == MIAOPI_SYNC_EVERY_N &&
                 log->unsynced >= log->sync_every);
    if (sync) {
        if (fdatasync(log->fd) != 0)
            return miaopi__error_set(err, MIAOPI_EIO,
                                     "cannot sync the log: %s",
                                     strerror(errno));
        log->unsynced = 0;
    }
    return MIAOPI_OK;
}

static int append_json(miaopi_log *log, json_t *body, uint64_t *seq,
                       miaopi_error *err)
{
    /* Not json_dumps: it drops an object key it fails to write and
     * returns the rest, which would chain a truncated entry. */
    char *text = miaopi__json_dumps(body, JSON_COMPACT);
    if (!text)
        return miaopi__error_set(err, MIAOPI_ENOMEM, "out of memory");
    pthread_mutex_lock(&log->lock);
    int rc = append_body(log, text, strlen(text), seq, err);
    pthread_mutex_unlock(&log->lock);
    miaopi_free(text);
    return rc;
}

static json_t *header_json(const miaopi_log *log)
{
    char when[40], kc[17] = "";
    now_utc(when);
    if (log->key && !key_check(log->alg, log->key, log->key_len, kc))
        return NULL;
    json_t *h = json_pack("{s:s, s:s, s:s, s:b, s:s, s:s}", "type", "header",
                          "format", LOG_FORMAT, "alg", alg_name(log->alg),
                          "keyed", log->key != NULL, "created_at", when,
                          "engine", "miaopi " MIAOPI_VERSION_STRING);
    if (h && log->key &&
        json_object_set_new(h, "key_check", json_string(kc)) != 0) {
        json_decref(h);
        return NULL;
    }
    return h;
}

/* Read the bytes [off, off+n) of fd into a new buffer. */
static char *pread_all(int fd, off_t off, size_t n)
{
    char *b = miaopi__malloc(NULL, n + 1);
    if (!b)
        return NULL;
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, b + got, n - got, off + (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            miaopi__free(NULL, b);
            return NULL;
        }
        got += (size_t)r;
    }
    b[n] = '\0';
    return b;
}

/* The first line of an existing log: its header. */
static int read_header(int fd, off_t size, header *h, miaopi_error *err)
{
    size_t n = size < 65536 ? (size_t)size : 65536;
    char *b = pread_all(fd, 0, n);
    if (!b)
        return miaopi__error_set(err, MIAOPI_EIO, "cannot read the log");
    char *nl = memchr(b, '\n', n);
    line_view v;
    bool oom = false;
    bool ok = nl && view_line(b, (size_t)(nl - b), &v) && v.seq == 0 &&
              parse_header(&v, h, &oom);
    miaopi__free(NULL, b);
    if (oom)
        return miaopi__error_set(err, MIAOPI_ENOMEM, "out of memory");
    if (!ok)
        return miaopi__error_set(err, MIAOPI_EIO,
                                 "the file is not a miaopi decision log");
    return MIAOPI_OK;
}

/* Find the last complete line: its offset and length, and where the file's
 * complete lines end (everything after is a torn tail). */
static int find_tail(int fd, off_t size, off_t *last_at, size_t *last_len,
                     off_t *complete_end, miaopi_error *err)
{
    size_t window = 1 << 16;
    for (;;) {
        off_t start = size > (off_t)window ? size - (off_t)window : 0;
        size_t n = (size_t)(size - start);
        char *b = pread_all(fd, start, n);
        if (!b)
            return miaopi__error_set(err, MIAOPI_EIO, "cannot read the log");
        /* The last newline ends the last complete line. */
        ssize_t end = (ssize_t)n - 1;
        while (end >= 0 && b[end] != '\n')
            end--;
        if (end >= 0) {
            ssize_t begin = end - 1;
            while (begin >= 0 && b[begin] != '\n')
                begin--;
            if (begin >= 0 || start == 0) {
                *last_at = start + begin + 1;
                *last_len = (size_t)(end - begin - 1);
                *complete_end = start + end + 1;
                miaopi__free(NULL, b);
                return MIAOPI_OK;
            }
        }
        miaopi__free(NULL, b);
        if (start == 0) {
            *complete_end = 0;
            *last_len = 0;
            *last_at = 0;
            return MIAOPI_OK;
        }
        if (window > MAX_LINE)
            return miaopi__error_set(err, MIAOPI_EIO,
                                     "the log's last line is too long");
        window *= 4;
    }
}

static int recover(miaopi_log *log, off_t size, miaopi_error *err)
{
    header h;
    int rc = read_header(log->fd, size, &h, err);
    if (rc != MIAOPI_OK)
        return rc;
    log->alg = h.alg;
    if (h.keyed != (log->key != NULL))
        return miaopi__error_set(err, MIAOPI_EINVAL,
                                 h.keyed ? "the log is keyed: give its key"
                                         : "the log is not keyed: give no key");
    char kc[17];
    if (log->key && (!key_check(log->alg, log->key, log->key_len, kc) ||
                     strcmp(kc, h.key_check) != 0))
        return miaopi__error_set(err, MIAOPI_EINVAL,
                                 "the key is not the log's key");
    off_t last_at, complete_end;
    size_t last_len;
    rc = find_tail(log->fd, size, &last_at, &last_len, &complete_end, err);
    if (rc != MIAOPI_OK)
        return rc;
    char *last = pread_all(log->fd, last_at, last_len);
    if (!last)
        return miaopi__error_set(err, MIAOPI_EIO, "cannot read the log");
    line_view v;
    char hash[65];
    bool ok = view_line(last, last_len, &v) &&
              chain_hash(log->alg, log->key, log->key_len, v.entry,
                         v.entry_len, hash) &&
              memcmp(hash, v.hash, 64) == 0;
    if (ok) {
        log->next_seq = v.seq + 1;
        memcpy(log->prev, hash, 65);
    }
    miaopi__free(NULL, last);
    if (!ok)
        return miaopi__error_set(err, MIAOPI_EIO,
                                 "the log's last entry does not match its "
                                 "hash; run `miaopi verify` before appending");
    if (complete_end == size)
        return MIAOPI_OK;
    /* A torn tail: keep a fingerprint of it in the log, then cut it off. */
    size_t torn = (size_t)(size - complete_end);
    char *tail = torn <= MAX_LINE ? pread_all(log->fd, complete_end, torn)
                                  : NULL;
    char digest[65] = "";
    if (tail && !miaopi__sha256_hex(tail, torn, digest))
        digest[0] = '\0';
    miaopi__free(NULL, tail);
    if (ftruncate(log->fd, complete_end) != 0)
        return miaopi__error_set(err, MIAOPI_EIO,
                                 "cannot cut the torn tail: %s",
                                 strerror(errno));
    char when[40];
    now_utc(when);
    json_t *body = json_pack("{s:s, s:s, s:I, s:s}", "type", "recovery",
                             "recovered_at", when, "torn_bytes",
                             (json_int_t)torn, "torn_sha256", digest);
    if (!body)
        return miaopi__error_set(err, MIAOPI_ENOMEM, "out of memory");
    rc = append_json(log, body, NULL, err);
    json_decref(body);
    log->recovered = true;
    return rc;
}

static void log_free(miaopi_log *log)
{
    if (!log)
        return;
    if (log->fd >= 0 && log->own_fd)
        close(log->fd);
    if (log->key) {
        OPENSSL_cleanse(log->key, log->key_len);
        miaopi__free(NULL, log->key);
    }
    miaopi__buf_free(&log->line);
    hasher_free(&log->h);
    pthread_mutex_destroy(&log->lock);
    miaopi__free(NULL, log);
}

static miaopi_log *log_new(const miaopi_log_options *opts)
{
    miaopi_log *log = miaopi__calloc(NULL, 1, sizeof(*log));
    if (!log)
        return NULL;
    log->fd = -1;
    pthread_mutex_init(&log->lock, NULL);
    miaopi__buf_init(&log->line);
    memcpy(log->prev, ZERO_HASH, 65);
    log->alg = opts->hash == MIAOPI_HASH_SM3 ? MIAOPI_HASH_SM3
                                             : MIAOPI_HASH_SHA256;
    log->sync = opts->sync;
    log->sync_every = opts->sync_every ? opts->sync_every : 1000;
    if (opts->key) {
        log->key = miaopi__malloc(NULL, opts->key_len ? opts->key_len : 1);
        if (!log->key) {
            log_free(log);
            return NULL;
        }
        memcpy(log->key, opts->key, opts->key_len);
        log->key_len = opts->key_len;
    }
    return log;
}

static int write_header(miaopi_log *log, json_t *extra, miaopi_error *err)
{
    json_t *h = header_json(log);
    if (!h || (extra && json_object_update(h, extra) != 0)) {
        json_decref(h);
        return miaopi__error_set(err, MIAOPI_ENOMEM, "out of memory");
    }
    int rc = append_json(log, h, NULL, err);
    json_decref(h);
    return rc;
}

/* Is the file only the beginning of a header line, cut by a crash while
 * the log was being created? Anything else is left alone. */
static bool torn_header(int fd, off_t size)
{
    if (size >= 65536)
        return false;
    char *b = pread_all(fd, 0, (size_t)size);
    if (!b)
        return false;
    size_t n = (size_t)size;
    bool torn = !memchr(b, '\n', n) &&
                memcmp(b, PREFIX, n < PREFIX_LEN ? n : PREFIX_LEN) == 0 &&
                (n <= ENTRY_AT ||
                 memcmp(b + ENTRY_AT, "{\"seq\":0,", n - ENTRY_AT < 9
                                                        ? n - ENTRY_AT
                                                        : 9) == 0);
    miaopi__free(NULL, b);
    return torn;
}

int miaopi_log_open(miaopi_log **out, const char *path,
                    const miaopi_log_options *opts, miaopi_error *err)
{
    miaopi__error_clear(err);
    if (!out || !path)
        return miaopi__error_set(err, MIAOPI_EINVAL, "invalid argument");
    *out = NULL;
    miaopi_log_options dflt = MIAOPI_LOG_OPTIONS_INIT;
    if (!opts || opts->size < sizeof(*opts))
        opts = &dflt;
    miaopi_log *log = log_new(opts);
    if (!log)
        return miaopi__error_set(err, MIAOPI_ENOMEM, "out of memory");
    log->own_fd = true;
    log->fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    int rc;
    struct stat st;
    if (log->fd < 0) {
        rc = miaopi__error_set(err, MIAOPI_EIO, "cannot open %s: %s", path,
                               strerror(errno));
    } else if (flock(log->fd, LOCK_EX | LOCK_NB) != 0) {
        rc = miaopi__error_set(err, MIAOPI_EIO,
                               "%s is locked by another writer", path);
    } else if (fstat(log->fd, &st) != 0) {
        rc = miaopi__error_set(err, MIAOPI_EIO, "cannot stat %s", path);
    } else if (st.st_size > 0 && torn_header(log->fd, st.st_size)) {
        /* A header torn while the log was being created holds no
         * decisions: start again. */
        rc = ftruncate(log->fd, 0) == 0
                 ? write_header(log, NULL, err)
                 : miaopi__error_set(err, MIAOPI_EIO, "cannot reset %s",
                                     path);
    } else if (st.st_size == 0) {
        rc = write_header(log, NULL, err);
    } else {
        rc = recover(log, st.st_size, err);
    }
    if (rc != MIAOPI_OK) {
        log_free(log);
        return rc;
    }
    *out = log;
    return MIAOPI_OK;
}

static json_t *entry_body(const miaopi_decision *d, const miaopi_case *c)
{
    char when[40];
    now_utc(when);
    json_t *dj = miaopi__decision_json(d, NULL, 0);
    if (!dj)
        return NULL;
    /* The id is made now if the decision has none yet. */
    const char *id = miaopi_decision_id(d);
    json_t *body = json_pack("{s:s, s:s, s:s, s:s}", "type", "decision", "id",
                             id, "logged_at", when, "engine",
                             "miaopi " MIAOPI_VERSION_STRING);
    json_object_del(dj, "id");
    /* The case as evaluated, with any records resolvers fetched, so a
     * replay needs no live source. */
    json_t *inputs = miaopi__decision_inputs(d, c);
    bool ok = body && inputs && json_object_update(body, dj) == 0;
    if (ok) /* json_object_set_new takes the reference, even on failure */
        ok = json_object_set_new(body, "case", inputs) == 0;
    else
        json_decref(inputs);
    json_decref(dj);
    if (!ok) {
        json_decref(body);
        return NULL;
    }
    return body;
}

bool miaopi__decision_json_members(miaopi__buf *b, const miaopi_decision *d);
bool miaopi__json_put_str(miaopi__buf *b, const char *s);

static int dump_to_buf(const char *p, size_t n, void *payload)
{
    miaopi__buf *b = payload;
    miaopi__buf_add(b, p, n);
    return b->failed ? -1 : 0;
}

/* The entry body entry_body() and json_dumps would make, written directly:
 * building, dumping and freeing a tree of the whole entry was three
 * quarters of the cost of logging. Only the case, which is the caller's
 * JSON, still goes through json_dumps (as a callback into the buffer).
 * Returns 0, 1 when the jansson path must be taken (spot checks, shadows,
 * strings jansson would refuse), or MIAOPI_ENOMEM. */
static int body_direct(miaopi__buf *b, const miaopi_decision *d,
                       const miaopi_case *c)
{
    char when[40];
    now_utc(when);
    miaopi__buf_reserve(b, 4096);
    miaopi__buf_adds(b, "{\"type\":\"decision\",\"id\":");
    bool ok = miaopi__json_put_str(b, miaopi_decision_id(d));
    miaopi__buf_adds(b, ",\"logged_at\":\"");
    miaopi__buf_adds(b, when);
    miaopi__buf_adds(b, "\",\"engine\":\"miaopi " MIAOPI_VERSION_STRING "\",");
    ok = ok && miaopi__decision_json_members(b, d);
    miaopi__buf_adds(b, ",\"case\":");
    if (!ok)
        return 1;
    /* The case as evaluated, with any records resolvers fetched. */
    /* Without fetched records the case as evaluated is the caller's own:
     * dump it in place. Dumping only reads the tree (jansson >= 2.13
     * detects loops without marking nodes), so a case shared by threads
     * is safe, where taking a reference to it would not be (see
     * miaopi__decision_inputs). A copy is made only to add records. */
    json_t *inputs = NULL;
    size_t text_len;
    const char *text = miaopi__case_text(c, &text_len);
    if (!miaopi__decision_fetched(d) && text) {
        /* The case was parsed from this text and not changed since:
         * the text is the case as evaluated, and jansson reads it back
         * as the same tree (case.c), without a second serialisation. */
        miaopi__buf_add(b, text, text_len);
        miaopi__buf_addc(b, '}');
        return b->failed ? MIAOPI_ENOMEM : MIAOPI_OK;
    }
    if (miaopi__decision_fetched(d) &&
        !(inputs = miaopi__decision_inputs(d, c)))
        return MIAOPI_ENOMEM;
    int dumped = json_dump_callback(inputs ? inputs
                                           : (json_t *)miaopi__case_root(c),
                                    dump_to_buf, b, JSON_COMPACT);
    json_decref(inputs);
    if (dumped != 0)
        return b->failed ? MIAOPI_ENOMEM : 1;
    miaopi__buf_addc(b, '}');
    return b->failed ? MIAOPI_ENOMEM : MIAOPI_OK;
}

int miaopi_log_append(miaopi_log *log, const miaopi_decision *d,
                      const miaopi_case *c, uint64_t *seq, miaopi_error *err)
{
    miaopi__error_clear(err);
    if (!log || !d || !c || !miaopi_decision_ruleset(d))
        return miaopi__error_set(err, MIAOPI_EINVAL,
                                 "invalid argument (was the decision made?)");
    miaopi__buf text;
    miaopi__buf_init(&text);
    int rc = body_direct(&text, d, c);
    if (rc == MIAOPI_OK) {
        pthread_mutex_lock(&log->lock);
        rc = append_body(log, text.data, text.len, seq, err);
        pthread_mutex_unlock(&log->lock);
    } else if (rc == MIAOPI_ENOMEM) {
        rc = miaopi__error_set(err, MIAOPI_ENOMEM, "out of memory");
    }
    miaopi__buf_free(&text);
    if (rc <= 0)
        return rc;
    json_t *body = entry_body(d, c);
    if (!body)
        return miaopi__error_set(err, MIAOPI_ENOMEM, "out of memory");
    rc = append_json(log, body, seq, err);
    json_decref(body);
    return rc;
}

int miaopi_log_sync(miaopi_log *log, miaopi_error *err)
{
    if (!log)
        return miaopi__error_set(err, MIAOPI_EINVAL, "invalid argument");
    pthread_mutex_lock(&log->lock);
    int rc = fdatasync(log->fd) == 0 ? MIAOPI_OK : MIAOPI_EIO;
    if (rc == MIAOPI_OK)
        log->unsynced = 0;
    pthread_mutex_unlock(&log->lock);
    if (rc != MIAOPI_OK)
        miaopi__error_set(err, rc, "cannot sync the log: %s",
                          strerror(errno));
    return rc;
}

int miaopi_log_recovered(const miaopi_log *log)
{
    return log && log->recovered;
}

uint64_t miaopi_log_next_seq(const miaopi_log *log)
{
    if (!log)
        return 0;
    pthread_mutex_lock((pthread_mutex_t *)&log->lock);
    uint64_t n = log->next_seq;
    pthread_mutex_unlock((pthread_mutex_t *)&log->lock);
    return n;
}

int miaopi_log_close(miaopi_log *log, miaopi_error *err)
{
    miaopi__error_clear(err);
    if (!log)
        return MIAOPI_OK;
    int rc = MIAOPI_OK;
    if (log->sync != MIAOPI_SYNC_NEVER && log->unsynced &&
        fdatasync(log->fd) != 0)
        rc = miaopi__error_set(err, MIAOPI_EIO, "cannot sync the log: %s",
                               strerror(errno));
    log_free(log);
    return rc;
}

/* ---- verification ---- */

const char *miaopi_log_problem_name(miaopi_log_problem p)
{
    switch (p) {
    case MIAOPI_LOG_INTACT: return "intact";
    case MIAOPI_LOG_CHANGED: return "changed";
    case MIAOPI_LOG_MISSING: return "missing";
    case MIAOPI_LOG_REORDERED: return "reordered";
    case MIAOPI_LOG_DUPLICATED: return "duplicated";
    case MIAOPI_LOG_TORN: return "torn";
    case MIAOPI_LOG_WRONG_KEY: return "wrong-key";
    case MIAOPI_LOG_KEY_REQUIRED: return "key-required";
    default: return "malformed";
    }
}

static void problem(miaopi_log_report *r, miaopi_log_problem p, uint64_t seq,
                    uint64_t line, const char *why)
{
    r->problem = p;
    r->bad_seq = seq;
    r->bad_line = line;
    snprintf(r->message, sizeof(r->message), "line %llu (entry %llu): %s",
             (unsigned long long)line, (unsigned long long)seq, why);
}

typedef struct verifier {
    line_reader lr;
    miaopi_log_report *r;
    const unsigned char *key;
    size_t key_len;
    uint64_t expect;
    char prev[65];
    bool oom; /* verification could not finish: MIAOPI_ENOMEM */
    hasher h;
} verifier;

static void verify_header(verifier *vf, const line_view *v)
{
    header h;
    miaopi_log_report *r = vf->r;
    if (v->seq != 0 || !parse_header(v, &h, &vf->oom)) {
        /* Out of memory is not a finding about the log. */
        problem(r, MIAOPI_LOG_MALFORMED, 0, 1,
                vf->oom ? "out of memory"
                        : "the first line is not a miaopi log header");
        return;
    }
    r->hash = h.alg;
    r->keyed = h.keyed;
    char kc[17];
    if (h.keyed && !vf->key)
        problem(r, MIAOPI_LOG_KEY_REQUIRED, 0, 1,
                "the log is an HMAC chain; give its key");
    else if (h.keyed && (!key_check(h.alg, vf->key, vf->key_len, kc) ||
                         strcmp(kc, h.key_check) != 0))
        problem(r, MIAOPI_LOG_WRONG_KEY, 0, 1, "the key is not the log's key");
    else if (!h.keyed && vf->key)
        vf->key = NULL; /* a plain chain: the key is not used */
}

/* Why does the entry at this position carry the wrong seq? Look at the
 * next line to tell a reordering from a gap. */
static void classify(verifier *vf, const line_view *v)
{
    uint64_t line = vf->lr.lineno;
    if (v->seq < vf->expect) {
        problem(vf->r, MIAOPI_LOG_DUPLICATED, v->seq, line,
                "this entry appeared earlier in the log");
        return;
    }
    if (v->seq == vf->expect) {
        /* This entry is consistent with itself, but the one before no
         * longer has the hash this one recorded: the one before was
         * rewritten (and rehashed). */
        problem(vf->r, MIAOPI_LOG_CHANGED, v->seq - 1, line - 1,
                "the entry was rewritten after the next one was logged "
                "(the next entry's prev no longer matches)");
        return;
    }
    line_view next;
    if (read_line(&vf->lr) == 1 &&
        view_line(vf->lr.buf, vf->lr.len, &next) && next.seq == vf->expect)
        problem(vf->r, MIAOPI_LOG_REORDERED, vf->expect, line,
                "entries are out of order");
    else
        problem(vf->r, MIAOPI_LOG_MISSING, vf->expect, line,
                "the entry is missing");
}

static void verify_lines(verifier *vf)
{
    miaopi_log_report *r = vf->r;
    int got;
    while ((got = read_line(&vf->lr)) == 1) {
        uint64_t line = vf->lr.lineno;
        line_view v;
        if (!vf->lr.newline) {
            problem(r, MIAOPI_LOG_TORN, vf->expect, line,
                    "the last line is incomplete (torn write)");
            return;
        }
        if (!view_line(vf->lr.buf, vf->lr.len, &v)) {
            problem(r, MIAOPI_LOG_MALFORMED, vf->expect, line,
                    "the line is not a log entry");
            return;
        }
        if (line == 1) {
            verify_header(vf, &v);
            if (r->problem != MIAOPI_LOG_INTACT)
                return;
        }
        char hash[65];
        if (!chain_hash_with(&vf->h, r->hash, vf->key, vf->key_len, v.entry,
                             v.entry_len, hash)) {
            problem(r, MIAOPI_LOG_MALFORMED, v.seq, line, "hashing failed");
            return;
        }
        if (memcmp(hash, v.hash, 64) != 0) {
            problem(r, MIAOPI_LOG_CHANGED, v.seq, line,
                    "the entry does not match its hash");
            return;
        }
        if (v.seq != vf->expect || memcmp(v.prev, vf->prev, 64) != 0) {
            if (memcmp(v.hash, vf->prev, 64) == 0)
                problem(r, MIAOPI_LOG_DUPLICATED, v.seq, line,
                        "the entry repeats the one before it");
            else
                classify(vf, &v);
            return;
        }
        if (r->entries == 0)
            r->first_seq = v.seq;
        r->entries++;
        r->last_seq = v.seq;
        memcpy(vf->prev, hash, 65);
        memcpy(r->final_hash, hash, 65);
        vf->expect++;
    }
    if (got < 0 && errno == EFBIG) /* the long line is counted */
        problem(r, MIAOPI_LOG_MALFORMED, vf->expect, vf->lr.lineno,
                "a line is too long");
    else if (got < 0)
        problem(r, MIAOPI_LOG_MALFORMED, vf->expect, vf->lr.lineno + 1,
                "read error");
    else if (r->entries == 0)
        problem(r, MIAOPI_LOG_MALFORMED, 0, 1, "the log is empty");
}

int miaopi_log_verify(miaopi_log_report *out, const char *path,
                      const unsigned char *key, size_t key_len,
                      miaopi_error *err)
{
    miaopi__error_clear(err);
    if (!out || !path || out->size < sizeof(*out))
        return miaopi__error_set(err, MIAOPI_EINVAL, "invalid argument");
    size_t size = out->size;
    memset(out, 0, sizeof(*out));
    out->size = size;
    verifier vf;
    memset(&vf, 0, sizeof(vf));
    vf.r = out;
    vf.key = key;
    vf.key_len = key_len;
    memcpy(vf.prev, ZERO_HASH, 65);
    vf.lr.f = fopen(path, "rb");
    if (!vf.lr.f)
        return miaopi__error_set(err, MIAOPI_EIO, "cannot open %s: %s", path,
                                 strerror(errno));
    verify_lines(&vf);
    hasher_free(&vf.h);
    fclose(vf.lr.f);
    miaopi__free(NULL, vf.lr.buf);
    miaopi__free(NULL, vf.lr.in);
    if (vf.oom || (out->problem == MIAOPI_LOG_MALFORMED && errno == ENOMEM))
        return miaopi__error_set(err, MIAOPI_ENOMEM, "out of memory");
    return MIAOPI_OK;
}

/* ---- the reader ---- */

/* A decision entry as the writer makes it ends with the case:
 *     {"seq":N,"prev":"P",...,"case":{CASE}}
 * Once miaopi_log_entry_replay is used on a reader, the reader parses only
 * the case at once, as its own document, and the rest of the entry (the "head", ~70% of its bytes and of
 * jansson's work) when something asks for it; miaopi_log_entry_replay
 * usually never does (it compares bytes, see there). Otherwise, or when an
 * entry cannot be split so, the entry is parsed whole, as before. */
struct miaopi_log_entry {
    json_t *json;         /* the entry, or the head only (split, parsed) */
    miaopi_case *c;       /* wraps the case */
    json_t *case_json;    /* the case object (owned by c) */
    const char *raw;      /* the entry's bytes (in the reader's buffer) */
    size_t raw_len;
    size_t head_len;      /* split: the bytes before ,"case": */
    const char *prev;     /* 64 hex digits, in raw */
    uint64_t seq;
    uint64_t line;
    const json_t *rules;
    bool split;           /* the case was parsed apart from the head */
    bool head_parsed;     /* json holds the head (or the whole entry) */
    bool head_bad;        /* the head did not parse */
    bool head_oom;
    /* Kept across the entries of a reader (entry_clear leaves them): */
    miaopi_log_reader *reader; /* the entry's reader; NULL: its own */
    miaopi__buf cmp;      /* miaopi_log_entry_replay's expected bytes */
    /* An entry of miaopi_log_entry_parse owns its line: */
    char *own;
};

struct miaopi_log_reader {
    line_reader lr;
    miaopi_log_entry e;
    bool lazy;       /* miaopi_log_entry_replay is used: split entries */
};

int miaopi_log_reader_open(miaopi_log_reader **out, const char *path,
                           miaopi_error *err)
{
    miaopi__error_clear(err);
    if (!out || !path)
        return miaopi__error_set(err, MIAOPI_EINVAL, "invalid argument");
    *out = NULL;
    miaopi_log_reader *r = miaopi__calloc(NULL, 1, sizeof(*r));
    if (!r)
        return miaopi__error_set(err, MIAOPI_ENOMEM, "out of memory");
    miaopi__buf_init(&r->e.cmp);
    r->e.reader = r;
    r->lr.f = fopen(path, "rb");
    if (!r->lr.f) {
        miaopi__free(NULL, r);
        return miaopi__error_set(err, MIAOPI_EIO, "cannot open %s: %s", path,
                                 strerror(errno));
    }
    *out = r;
    return MIAOPI_OK;
}

/* Empty e for its next line; a reader's entry keeps its reader and
 * its buffer. */
static void entry_clear(miaopi_log_entry *e)
{
    miaopi_case_free(e->c);
    json_decref(e->json);
    miaopi__free(NULL, e->own);
    miaopi_log_reader *r = e->reader;
    miaopi__buf cmp = e->cmp;
    memset(e, 0, sizeof(*e));
    e->reader = r;
    e->cmp = cmp;
}

/* memmem, which POSIX does not have. */
static const char *find_bytes(const char *h, size_t hn, const char *n,
                              size_t nn)
{
    if (nn == 0 || hn < nn)
        return NULL;
    const char *last = h + (hn - nn);
    for (const char *p = h; p <= last; p++) {
        p = memchr(p, n[0], (size_t)(last - p) + 1);
        if (!p)
            return NULL;
        if (memcmp(p, n, nn) == 0)
            return p;
    }
    return NULL;
}

/* Split entry at its top-level ,"case":{ member when that is the last one:
 * the first such pattern from which the rest, up to the entry's final
 * '}', is one JSON object. The pattern cannot occur inside a string (its
 * quote would be escaped); in a valid entry, from one nested in the head
 * or in the case the rest would close more than it opens, so only the
 * top-level member passes. The head (the bytes before it) is not
 * checked: replay_fast compares it with what the writer makes, and
 * anything else parses it with jansson and reports what does not parse.
 * On success e->case_json is the parsed case. */
static bool split_entry(miaopi_log_entry *e, const char *entry, size_t len,
                        bool *oom)
{
    static const char pat[] = ",\"case\":{";
    const size_t plen = sizeof(pat) - 1;
    if (len < 2 || entry[len - 1] != '}')
        return false;
    const char *end = entry + len;
    /* The writer's entries split at the first candidate; a few more
     * are tried, not every one: a hostile line full of the pattern
     * would make this quadratic. */
    int tries = 4;
    for (const char *p = entry;
         tries-- > 0 &&
         (p = find_bytes(p, (size_t)(end - p), pat, plen)) != NULL;
         p++) {
        const char *ctext = p + plen - 1;
        size_t clen = (size_t)(end - 1 - ctext);
        json_error_t je;
        json_t *c = miaopi__json_load_checked(ctext, clen, 0, &je, oom);
        if (*oom)
            return false;
        if (!c || !json_is_object(c)) {
            json_decref(c);
            continue;
        }
        e->case_json = c;
        e->head_len = (size_t)(p - entry);
        return true;
    }
    return false;
}

/* Make e from one line (without its newline) in line[0, len), which e
 * then borrows (its last byte is overwritten with a NUL). With lazy, only
 * the case is parsed (see struct miaopi_log_entry). The one per-line
 * implementation, for the reader and for miaopi_log_entry_parse alike. */
static int entry_from_line(miaopi_log_entry *e, char *line, size_t len,
                           uint64_t line_no, bool lazy, miaopi_error *err)
{
    line_view v;
    json_error_t je;
    bool oom = false;
    bool ok = view_line(line, len, &v);
    if (ok) {
        /* The accessors cannot report a failure, so an entry is parsed
         * whole here (its errors, out of memory among them, reported
         * now) unless the caller replays with miaopi_log_entry_replay,
         * which parses the rest itself when it needs to and says if that
         * fails. */
        e->split = lazy && split_entry(e, v.entry, v.entry_len, &oom);
        if (!e->split && !oom) {
            e->json = miaopi__json_load_checked(v.entry, v.entry_len, 0,
                                                &je, &oom);
            ok = e->json && json_is_object(e->json);
            e->head_parsed = true;
        }
    }
    if (!ok || oom) {
        entry_clear(e);
        if (oom)
            return miaopi__error_set(err, MIAOPI_ENOMEM, "out of memory");
        return miaopi__error_set(err, MIAOPI_ECASE,
                                 "line %llu is not a log entry",
                                 (unsigned long long)line_no);
    }
    /* The raw text stays valid in the line buffer as long as e does. */
    line[ENTRY_AT + v.entry_len] = '\0';
    e->raw = line + ENTRY_AT;
    e->raw_len = v.entry_len;
    e->prev = v.prev;
    e->seq = v.seq;
    e->line = line_no;
    json_t *c = e->split ? e->case_json : json_object_get(e->json, "case");
    if (e->split)
        e->rules = NULL;
    else
        e->rules = json_object_get(e->json, "rules");
    if (json_is_object(c)) {
        if (!e->split)
            json_incref(c);
        e->case_json = c;
        if (miaopi__case_wrap(&e->c, c) != MIAOPI_OK) {
            e->case_json = NULL;
            entry_clear(e);
            return miaopi__error_set(err, MIAOPI_ENOMEM, "out of memory");
        }
    } else if (e->split) {
        json_decref(c); /* cannot happen: the split needs an object */
        e->case_json = NULL;
    }
    return 1;
}

/* The next line into r->lr (the entry of the previous call let go). */
static int next_line(miaopi_log_reader *r, miaopi_error *err)
{
    entry_clear(&r->e);
    int got = read_line(&r->lr);
    if (got < 0 && errno == EFBIG)
        return miaopi__error_set(err, MIAOPI_EIO,
                                 "line %llu of the log is longer than %zu "
                                 "MiB",
                                 (unsigned long long)r->lr.lineno,
                                 MAX_LINE >> 20);
    if (got < 0)
        return miaopi__error_set(err, errno == ENOMEM ? MIAOPI_ENOMEM
                                                      : MIAOPI_EIO,
                                 "cannot read line %llu of the log",
                                 (unsigned long long)r->lr.lineno + 1);
    return got;
}

int miaopi_log_reader_next(miaopi_log_reader *r,
                           const miaopi_log_entry **entry, miaopi_error *err)
{
    miaopi__error_clear(err);
    if (!r || !entry)
        return miaopi__error_set(err, MIAOPI_EINVAL, "invalid argument");
    *entry = NULL;
    int got = next_line(r, err);
    if (got == 1)
        got = entry_from_line(&r->e, r->lr.buf, r->lr.len, r->lr.lineno,
                              r->lazy, err);
    if (got == 1)
        *entry = &r->e;
    return got;
}

int miaopi_log_reader_next_line(miaopi_log_reader *r, const char **line,
                                size_t *len, uint64_t *line_no,
                                miaopi_error *err)
{
    miaopi__error_clear(err);
    if (!r || !line || !len)
        return miaopi__error_set(err, MIAOPI_EINVAL, "invalid argument");
    *line = NULL;
    *len = 0;
    int got = next_line(r, err);
    if (got == 1) {
        *line = r->lr.buf;
        *len = r->lr.len;
    }
    if (line_no)
        *line_no = r->lr.lineno;
    return got;
}

int miaopi_log_entry_parse(miaopi_log_entry **out, const char *line,
                           size_t len, uint64_t line_no, unsigned flags,
                           miaopi_error *err)
{
    miaopi__error_clear(err);
    if (!out || (!line && len) || (flags & ~MIAOPI_LOG_ENTRY_LAZY))
        return miaopi__error_set(err, MIAOPI_EINVAL, "invalid argument");
    *out = NULL;
    if (len > 0 && line[len - 1] == '\n')
        len--; /* a line as getline(3) gives it */
    miaopi_log_entry *e = miaopi__calloc(NULL, 1, sizeof(*e));
    char *own = len < SIZE_MAX ? miaopi__malloc(NULL, len + 1) : NULL;
    if (!e || !own) {
        miaopi__free(NULL, e);
        miaopi__free(NULL, own);
        return miaopi__error_set(err, MIAOPI_ENOMEM, "out of memory");
    }
    miaopi__buf_init(&e->cmp);
    if (len)
        memcpy(own, line, len);
    own[len] = '\0';
    e->own = own; /* freed with e, also by entry_clear on a failure */
    int rc = entry_from_line(e, own, len, line_no,
                             (flags & MIAOPI_LOG_ENTRY_LAZY) != 0, err);
    if (rc != 1) {
        miaopi_log_entry_free(e);
        return rc;
    }
    *out = e;
    return MIAOPI_OK;
}

void miaopi_log_entry_free(miaopi_log_entry *e)
{
    if (!e || e->reader)
        return; /* a reader's entry is the reader's */
    entry_clear(e);
    miaopi__buf_free(&e->cmp);
    miaopi__free(NULL, e);
}

/* The head of a split entry, parsed on first use (the reader is used by
 * one thread at a time, and so are its entries). */
static const json_t *entry_json(const miaopi_log_entry *ce)
{
    if (!ce)
        return NULL;
    miaopi_log_entry *e = (miaopi_log_entry *)ce;
    if (e->head_parsed)
        return e->json;
    e->head_parsed = true;
    /* The head closed where the case began: a copy, because the raw
     * text is handed out unchanged. */
    char *h = miaopi__malloc(NULL, e->head_len + 2);
    if (!h) {
        e->head_oom = e->head_bad = true;
        return NULL;
    }
    memcpy(h, e->raw, e->head_len);
    h[e->head_len] = '}';
    h[e->head_len + 1] = '\0';
    json_error_t je;
    bool oom = false;
    e->json = miaopi__json_load_checked(h, e->head_len + 1, 0, &je, &oom);
    miaopi__free(NULL, h);
    if (!e->json || !json_is_object(e->json)) {
        json_decref(e->json);
        e->json = NULL;
        e->head_bad = true;
        e->head_oom = oom;
        return NULL;
    }
    e->rules = json_object_get(e->json, "rules");
    return e->json;
}

void miaopi_log_reader_free(miaopi_log_reader *r)
{
    if (!r)
        return;
    entry_clear(&r->e);
    if (r->lr.f)
        fclose(r->lr.f);
    miaopi__free(NULL, r->lr.buf);
    miaopi__free(NULL, r->lr.in);
    miaopi__buf_free(&r->e.cmp);
    miaopi__free(NULL, r);
}

static const char *str_at(const json_t *o, const char *k1, const char *k2)
{
    const json_t *v = json_object_get(o, k1);
    if (k2)
        v = json_object_get(v, k2);
    const char *s = json_string_value(v);
    return s ? s : "";
}

uint64_t miaopi_log_entry_seq(const miaopi_log_entry *e)
{
    return e ? e->seq : 0;
}

uint64_t miaopi_log_entry_line(const miaopi_log_entry *e)
{
    return e ? e->line : 0;
}

const char *miaopi_log_entry_type(const miaopi_log_entry *e)
{
    return e ? str_at(entry_json(e), "type", NULL) : "";
}

const char *miaopi_log_entry_id(const miaopi_log_entry *e)
{
    return e ? str_at(entry_json(e), "id", NULL) : "";
}

const char *miaopi_log_entry_ruleset_sha256(const miaopi_log_entry *e)
{
    return e ? str_at(entry_json(e), "ruleset", "sha256") : "";
}

const char *miaopi_log_entry_ruleset_id(const miaopi_log_entry *e)
{
    return e ? str_at(entry_json(e), "ruleset", "id") : "";
}

const char *miaopi_log_entry_ruleset_version(const miaopi_log_entry *e)
{
    return e ? str_at(entry_json(e), "ruleset", "version") : "";
}

static miaopi_outcome outcome_parse(const char *s)
{
    if (strcmp(s, "APPROVE") == 0)
        return MIAOPI_APPROVE;
    if (strcmp(s, "REJECT") == 0)
        return MIAOPI_REJECT;
    return MIAOPI_ESCALATE;
}

miaopi_outcome miaopi_log_entry_outcome(const miaopi_log_entry *e)
{
    return e ? outcome_parse(str_at(entry_json(e), "decision", NULL))
             : MIAOPI_ESCALATE;
}

int miaopi_log_entry_spot_check(const miaopi_log_entry *e, double *rate)
{
    const json_t *s = e ? json_object_get(entry_json(e), "spot_check") : NULL;
    if (rate)
        *rate = json_number_value(json_object_get(s, "rate"));
    return json_is_true(json_object_get(s, "selected"));
}

size_t miaopi_log_entry_rule_count(const miaopi_log_entry *e)
{
    return e && entry_json(e) ? json_array_size(e->rules) : 0;
}

static miaopi_rule_status status_parse(const char *s)
{
    if (strcmp(s, "pass") == 0)
        return MIAOPI_RULE_PASS;
    if (strcmp(s, "fail") == 0)
        return MIAOPI_RULE_FAIL;
    if (strcmp(s, "not-applicable") == 0)
        return MIAOPI_RULE_NOT_APPLICABLE;
    return MIAOPI_RULE_UNKNOWN;
}

int miaopi_log_entry_rule(const miaopi_log_entry *e, size_t index,
                          const char **id, miaopi_rule_status *status)
{
    if (!e)
        return MIAOPI_EINVAL;
    const json_t *r = entry_json(e) ? json_array_get(e->rules, index) : NULL;
    if (!r)
        return MIAOPI_ENOTFOUND;
    if (id)
        *id = str_at(r, "id", NULL);
    if (status)
        *status = status_parse(str_at(r, "status", NULL));
    return MIAOPI_OK;
}

const miaopi_case *miaopi_log_entry_case(const miaopi_log_entry *e)
{
    return e ? e->c : NULL;
}

const char *miaopi_log_entry_json(const miaopi_log_entry *e)
{
    return e ? e->raw : "";
}

/* ---- replay ---- */

/* A JSON string the writer wrote without escapes, at *p: its bytes (no
 * quote, backslash or control character, valid UTF-8) up to the closing
 * quote, which *p is left after. */
static bool plain_str(const char **p, const char *end, const char **s,
                      size_t *n)
{
    const char *q = *p;
    while (q < end && *q != '"') {
        if ((unsigned char)*q < 0x20 || *q == '\\')
            return false;
        q++;
    }
    if (q >= end || !miaopi__utf8_valid(*p, (size_t)(q - *p)))
        return false;
    *s = *p;
    *n = (size_t)(q - *p);
    *p = q + 1;
    return true;
}

static bool lit(const char **p, const char *end, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(end - *p) < n || memcmp(*p, w, n) != 0)
        return false;
    *p += n;
    return true;
}

/* The decision id of a decision entry as the writer lays it out
 * ({"seq":N,"prev":"P","type":"decision","id":"ID",...), without parsing
 * the head: a guess, which replay_fast confirms. */
static bool fast_id(const miaopi_log_entry *e, const char **id, size_t *n)
{
    const char *p = e->prev + 65, *end = e->raw + e->head_len;
    return lit(&p, end, ",\"type\":\"decision\",\"id\":\"") &&
           plain_str(&p, end, id, n);
}

/* Is the head of e, byte for byte, what the writer writes for decision
 * d (any logged_at and engine)? Then it is valid JSON with exactly the
 * members the writer puts there, among them d's outcome and every rule's
 * id, status, code and unknown reason, and no spot check: the entry is
 * reproduced, with no need to parse it. */
static bool replay_fast(const miaopi_log_entry *e, const miaopi_decision *d,
                        size_t id_len)
{
    /* The writer would write such a number, jansson refuses it: such an
     * entry is not one, and the whole parse says so, as a reader that
     * has not yet switched to lazy reading would. */
    if (e->seq > (uint64_t)INT64_MAX)
        return false;
    const char *p = e->raw, *end = e->raw + e->head_len, *s;
    size_t n;
    char num[24];
    int nd = snprintf(num, sizeof(num), "%llu", (unsigned long long)e->seq);
    if (!lit(&p, end, "{\"seq\":") || (size_t)(end - p) < (size_t)nd ||
        memcmp(p, num, (size_t)nd) != 0)
        return false;
    p += nd;
    if (!lit(&p, end, ",\"prev\":\"") || p != e->prev)
        return false;
    p += 65;
    if (!lit(&p, end, ",\"type\":\"decision\",\"id\":\"") ||
        !plain_str(&p, end, &s, &n) || n != id_len ||
        !lit(&p, end, ",\"logged_at\":\"") || !plain_str(&p, end, &s, &n) ||
        !lit(&p, end, ",\"engine\":\"") || !plain_str(&p, end, &s, &n) ||
        !lit(&p, end, ","))
        return false;
    /* The entry's own buffer: entries on other threads have theirs. */
    miaopi__buf *b = &((miaopi_log_entry *)e)->cmp;
    b->len = 0;
    b->failed = false;
    if (!miaopi__decision_json_members(b, d) || b->failed)
        return false;
    return (size_t)(end - p) == b->len && memcmp(p, b->data, b->len) == 0;
}

static const miaopi_ruleset *find_ruleset(miaopi_ruleset *const *rs, size_t n,
                                          const char *sha);

static bool same_statuses(const miaopi_log_entry *e, const miaopi_decision *d)
{
    size_t n = miaopi_decision_rule_count(d);
    if (n != miaopi_log_entry_rule_count(e))
        return false;
    for (size_t i = 0; i < n; i++) {
        miaopi_rule_result now = MIAOPI_RULE_RESULT_INIT;
        const char *id;
        miaopi_rule_status st;
        miaopi_decision_rule(&now, d, i);
        if (miaopi_log_entry_rule(e, i, &id, &st) != MIAOPI_OK ||
            strcmp(id, now.id) != 0 || st != now.status)
            return false;
    }
    return true;
}

int miaopi_log_entry_replay(const miaopi_log_entry *e, miaopi_decision *d,
                            miaopi_ruleset *const *rulesets, size_t n,
                            miaopi_error *err)
{
    miaopi__error_clear(err);
    if (!e || !d || (!rulesets && n))
        return miaopi__error_set(err, MIAOPI_EINVAL, "invalid argument");
    if (e->reader)
        e->reader->lazy = true; /* from its next entry on */
    const char *fid;
    size_t fid_len;
    const miaopi_ruleset *tried = NULL;
    if (e->split && e->c && fast_id(e, &fid, &fid_len)) {
        /* The ruleset whose hash the head names (the only one given,
         * or the one whose hash is in the head); replay_fast confirms
         * it, the hash being among the bytes it compares. */
        if (n == 1)
            tried = rulesets[0];
        for (size_t i = 0; n > 1 && i < n && !tried; i++)
            if (rulesets[i] && find_bytes(e->raw, e->head_len,
                                          rulesets[i]->sha256, 64))
                tried = rulesets[i];
        char id[64]; /* as miaopi_eval_options.decision_id */
        if (tried && fid_len < sizeof(id)) {
            memcpy(id, fid, fid_len);
            id[fid_len] = '\0';
            miaopi_eval_options eo = MIAOPI_EVAL_OPTIONS_INIT;
            eo.decision_id = id;
            miaopi_error e2;
            if (miaopi_evaluate(d, tried, e->c, &eo, &e2) == MIAOPI_OK &&
                replay_fast(e, d, fid_len))
                return 1;
        }
    }
    /* Anything else: read the entry's head and compare field by field. */
    if (!entry_json(e))
        return e->head_oom ? miaopi__error_set(err, MIAOPI_ENOMEM,
                                               "out of memory")
                           : miaopi__error_set(err, MIAOPI_ECASE,
                                               "line %llu is not a log entry",
                                               (unsigned long long)e->line);
    if (strcmp(miaopi_log_entry_type(e), "decision") != 0)
        return miaopi__error_set(err, MIAOPI_EINVAL,
                                 "entry %llu is not a decision",
                                 (unsigned long long)e->seq);
    const char *sha = miaopi_log_entry_ruleset_sha256(e);
    const miaopi_ruleset *rs = find_ruleset(rulesets, n, sha);
    if (!rs)
        return miaopi__error_set(err, MIAOPI_ENOTFOUND,
                                 "entry %llu was decided under ruleset %s %s "
                                 "(sha256 %s), which was not given",
                                 (unsigned long long)e->seq,
                                 miaopi_log_entry_ruleset_id(e),
                                 miaopi_log_entry_ruleset_version(e), sha);
    if (!e->c)
        return miaopi__error_set(err, MIAOPI_ECASE,
                                 "entry %llu holds no case",
                                 (unsigned long long)e->seq);
    miaopi_eval_options eo = MIAOPI_EVAL_OPTIONS_INIT;
    eo.decision_id = miaopi_log_entry_id(e);
    double rate = 0;
    int spot = miaopi_log_entry_spot_check(e, &rate);
    eo.spot_check_rate = rate;
    int rc = miaopi_evaluate(d, rs, e->c, &eo, err);
    if (rc != MIAOPI_OK)
        return rc;
    return miaopi_decision_outcome(d) == miaopi_log_entry_outcome(e) &&
           same_statuses(e, d) && spot == miaopi_decision_spot_check(d);
}

/* ---- redaction ---- */

static json_t *masked_string(miaopi__pii cls, const char *s, size_t len)
{
    size_t need = miaopi__mask(cls, s, len, NULL, 0);
    char *buf = miaopi__malloc(NULL, need + 1);
    if (!buf)
        return NULL;
    miaopi__mask(cls, s, len, buf, need + 1);
    json_t *j = json_stringn(buf, need);
    miaopi__free(NULL, buf);
    return j;
}

/* Mask, in place, the fields of object o that schema classifies. */
static bool mask_object(json_t *o, const mp_schema *schema)
{
    if (!json_is_object(o))
        return true;
    for (size_t i = 0; i < schema->nfields; i++) {
        const mp_field *f = &schema->fields[i];
        json_t *v = json_object_get(o, f->name);
        if (!v || json_is_null(v))
            continue;
        if (f->type.kind == MP_T_LIST && f->type.elem->kind == MP_T_RECORD) {
            size_t k;
            json_t *item;
            json_array_foreach(v, k, item)
                if (!mask_object(item, f->type.elem->record))
                    return false;
            continue;
        }
        if (f->pii == MIAOPI__PII_NONE)
            continue;
        json_t *m;
        if (json_is_string(v))
            m = masked_string(f->pii, json_string_value(v),
                              json_string_length(v));
        else
            m = json_string("***"); /* numbers, lists: nothing shown */
        if (!m || json_object_set_new(o, f->name, m) != 0)
            return false;
    }
    return true;
}

static bool mask_case(json_t *c, const miaopi_ruleset *rs)
{
    if (!mask_object(json_object_get(c, "application"), &rs->application) ||
        !mask_object(json_object_get(c, "context"), &rs->context))
        return false;
    json_t *sources = json_object_get(c, "sources");
    for (size_t i = 0; i < rs->nsources; i++)
        if (!mask_object(json_object_get(sources, rs->sources[i].name),
                         &rs->sources[i].schema))
            return false;
    return true;
}

static const miaopi_ruleset *find_ruleset(miaopi_ruleset *const *rs, size_t n,
                                          const char *sha)
{
    for (size_t i = 0; i < n; i++)
        if (rs[i] && strcmp(rs[i]->sha256, sha) == 0)
            return rs[i];
    return NULL;
}

static int redact_entry(miaopi_log *out, const miaopi_log_entry *e,
                        miaopi_ruleset *const *rulesets, size_t n,
                        miaopi_error *err)
{
    const char *type = miaopi_log_entry_type(e);
    if (strcmp(type, "header") == 0)
        return MIAOPI_OK;
    const json_t *ej = entry_json(e);
    json_t *body = ej ? json_deep_copy(ej) : NULL;
    if (body && e->split) {
        /* The head and the case were parsed apart: put the case back
         * where a whole parse would have it (last, or in place of an
         * earlier "case" key, as jansson does with a repeated key). */
        json_t *cc = json_deep_copy(e->case_json);
        if (!cc || json_object_set_new(body, "case", cc) != 0) {
            json_decref(body);
            body = NULL;
        }
    }
    if (!body)
        return miaopi__error_set(err, MIAOPI_ENOMEM, "out of memory");
    json_object_del(body, "seq");
    json_object_del(body, "prev");
    int rc = MIAOPI_OK;
    if (json_object_set_new(body, "original_seq",
                            json_integer((json_int_t)e->seq)) != 0)
        rc = miaopi__error_set(err, MIAOPI_ENOMEM, "out of memory");
    json_t *c = json_object_get(body, "case");
    if (rc == MIAOPI_OK && c) {
        const char *sha = miaopi_log_entry_ruleset_sha256(e);
        const miaopi_ruleset *rs = find_ruleset(rulesets, n, sha);
        if (!rs)
            rc = miaopi__error_set(err, MIAOPI_ENOTFOUND,
                                   "entry %llu was decided under ruleset "
                                   "%s %s (sha256 %s), which was not given",
                                   (unsigned long long)e->seq,
                                   miaopi_log_entry_ruleset_id(e),
                                   miaopi_log_entry_ruleset_version(e), sha);
        else if (!mask_case(c, rs))
            rc = miaopi__error_set(err, MIAOPI_ENOMEM, "out of memory");
    }
    if (rc == MIAOPI_OK)
        rc = append_json(out, body, NULL, err);
    json_decref(body);
    return rc;
}

int miaopi_log_redact(const char *in, int out_fd,
                      miaopi_ruleset *const *rulesets, size_t nrulesets,
                      const miaopi_log_options *opts, miaopi_error *err)
{
    miaopi__error_clear(err);
    if (!in || out_fd < 0 || (!rulesets && nrulesets))
        return miaopi__error_set(err, MIAOPI_EINVAL, "invalid argument");
    miaopi_log_options dflt = MIAOPI_LOG_OPTIONS_INIT;
    if (!opts || opts->size < sizeof(*opts))
        opts = &dflt;
    miaopi_log_report rep = MIAOPI_LOG_REPORT_INIT;
    int rc = miaopi_log_verify(&rep, in, opts->key, opts->key_len, err);
    if (rc != MIAOPI_OK)
        return rc;
    if (rep.problem == MIAOPI_LOG_KEY_REQUIRED ||
        rep.problem == MIAOPI_LOG_WRONG_KEY) {
        /* The original's key is not the copy's: verify it unkeyed is
         * impossible, so ask for the original's key explicitly. */
        return miaopi__error_set(err, MIAOPI_ECASE,
                                 "%s: %s (the copy is written with the same "
                                 "key)",
                                 in, rep.message);
    }
    if (rep.problem != MIAOPI_LOG_INTACT)
        return miaopi__error_set(err, MIAOPI_ECASE,
                                 "%s does not verify: %s", in, rep.message);
    miaopi_log *out = log_new(opts);
    if (!out)
        return miaopi__error_set(err, MIAOPI_ENOMEM, "out of memory");
    out->fd = out_fd;
    out->own_fd = false;
    json_t *extra = json_pack("{s:{s:s, s:s, s:I, s:I}}", "redacted_from",
                              "final_hash", rep.final_hash, "alg",
                              alg_name(rep.hash), "entries",
                              (json_int_t)rep.entries, "last_seq",
                              (json_int_t)rep.last_seq);
    rc = extra ? write_header(out, extra, err)
               : miaopi__error_set(err, MIAOPI_ENOMEM, "out of memory");
    json_decref(extra);
    miaopi_log_reader *r = NULL;
    if (rc == MIAOPI_OK)
        rc = miaopi_log_reader_open(&r, in, err);
    const miaopi_log_entry *e;
    int got = 0;
    while (rc == MIAOPI_OK && (got = miaopi_log_reader_next(r, &e, err)) == 1)
        rc = redact_entry(out, e, rulesets, nrulesets, err);
    if (rc == MIAOPI_OK && got < 0)
        rc = got;
    if (rc == MIAOPI_OK && out->sync != MIAOPI_SYNC_NEVER)
        (void)fdatasync(out->fd); /* a pipe cannot sync; that is fine */
    miaopi_log_reader_free(r);
    log_free(out);
    return rc;
}
