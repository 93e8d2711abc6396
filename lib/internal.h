/*
 * Internal declarations shared by the library's modules. Nothing here is
 * exported: non-static symbols use the miaopi__ prefix and hidden
 * visibility (the default for this library).
 */
#ifndef MIAOPI_INTERNAL_H
#define MIAOPI_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "miaopi.h"

#if defined(__GNUC__)
#define MP_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define MP_PRINTF(f, a)
#endif

#define MP_UNUSED(x) ((void)(x))

/* Diagnostic ids, from diag.def. */
typedef enum miaopi__diag_id {
#define MIAOPI_DIAG(num, sym, sev, summary) MIAOPI__D_##sym = num,
#include "diag.def"
#undef MIAOPI_DIAG
    MIAOPI__D_NONE = 0
} miaopi__diag_id;

const char *miaopi__diag_id_string(miaopi__diag_id d);
miaopi_severity miaopi__diag_severity(miaopi__diag_id d);

/* Fill an error. Safe with err == NULL. Returns code. */
int miaopi__error_set(miaopi_error *err, int code, const char *fmt, ...)
    MP_PRINTF(3, 4);
void miaopi__error_clear(miaopi_error *err);

/* Allocation. Every allocation in the library goes through these, with
 * the allocator of the object it belongs to (NULL: the C library's), so
 * an embedder's hooks and the failure-injection test see all of it. */
void *miaopi__malloc(const miaopi_allocator *al, size_t n);
void *miaopi__calloc(const miaopi_allocator *al, size_t n, size_t size);
void *miaopi__realloc(const miaopi_allocator *al, void *p, size_t n);
void miaopi__free(const miaopi_allocator *al, void *p);
char *miaopi__strndup(const miaopi_allocator *al, const char *s, size_t n);
char *miaopi__strdup(const miaopi_allocator *al, const char *s);

/* Copy an embedder's allocator into an object. NULL src leaves dst
 * unused and returns the pointer to store (NULL); an incomplete one
 * returns false. */
bool miaopi__allocator_copy(miaopi_allocator *dst, const miaopi_allocator *src,
                            const miaopi_allocator **use);

/* PCRE2 general-context callbacks; data is a const miaopi_allocator *. */
void *miaopi__pcre2_malloc(size_t n, void *data);
void miaopi__pcre2_free(void *p, void *data);

/* Strings handed to the caller, freed with miaopi_free: they come from
 * the C library's malloc (miaopi__strdup(NULL, s) is the same). */
char *miaopi__out_strdup(const char *s);
/* json_dumps that fails as a whole when any allocation fails; the result
 * is freed with miaopi_free. (json_t is jansson's; declared opaquely so
 * this header does not need jansson.h.) */
struct json_t;
char *miaopi__json_dumps(const struct json_t *j, size_t flags);
/* json_loadb that tells an allocation failure (*oom, whatever jansson
 * reports) from a malformed document (je), and never returns a tree a
 * failed allocation silently damaged (case.c). */
struct json_error_t;
struct json_t *miaopi__json_load_checked(const char *text, size_t len,
                                         size_t flags,
                                         struct json_error_t *je, bool *oom);

/* A growable byte buffer. */
typedef struct miaopi__buf {
    char *data;
    size_t len;
    size_t cap;
    bool failed; /* an allocation failed; contents are truncated */
    const miaopi_allocator *al;
} miaopi__buf;

void miaopi__buf_init(miaopi__buf *b); /* the C library's allocator */
void miaopi__buf_init_al(miaopi__buf *b, const miaopi_allocator *al);
void miaopi__buf_free(miaopi__buf *b);
bool miaopi__buf_reserve(miaopi__buf *b, size_t extra);
void miaopi__buf_add(miaopi__buf *b, const char *s, size_t n);
void miaopi__buf_adds(miaopi__buf *b, const char *s);
void miaopi__buf_addc(miaopi__buf *b, char c);
void miaopi__buf_printf(miaopi__buf *b, const char *fmt, ...) MP_PRINTF(2, 3);
/* Returns a NUL-terminated string (never NULL, "" on failure). */
const char *miaopi__buf_cstr(miaopi__buf *b);

/* A bump allocator whose chunks are kept across resets, so a reused
 * decision allocates nothing once it has warmed up. */
typedef struct miaopi__arena_chunk miaopi__arena_chunk;
typedef struct miaopi__arena {
    miaopi__arena_chunk *head;
    miaopi__arena_chunk *cur;
    const miaopi_allocator *al;
} miaopi__arena;

void miaopi__arena_init(miaopi__arena *a, const miaopi_allocator *al);
void miaopi__arena_reset(miaopi__arena *a);
void miaopi__arena_free(miaopi__arena *a);
void *miaopi__arena_alloc(miaopi__arena *a, size_t n);
char *miaopi__arena_strndup(miaopi__arena *a, const char *s, size_t n);

/* Read a whole file, up to max bytes. Returns 0, MIAOPI_EIO or
 * MIAOPI_ELIMIT (with err filled), MIAOPI_ENOMEM. */
int miaopi__read_file(const miaopi_allocator *al, const char *path,
                      size_t max, char **out, size_t *len, miaopi_error *err);

/* SHA-256 of data as 64 lower-case hex digits plus NUL. */
bool miaopi__sha256_hex(const void *data, size_t len, char out[65]);

/* A pool of random bytes for decision ids (idpool.c), kept in each
 * decision so that one RAND_bytes call serves many ids. Bytes are handed
 * out once and zeroed; the pool is drawn again after a fork() (the child
 * must not repeat the parent's ids) or when it is found at another
 * address than it was drawn at (a byte copy). All zero is a valid empty
 * pool. Not thread-safe: it belongs to one decision. */
#define MIAOPI__IDPOOL_SIZE 512
typedef struct miaopi__idpool {
    unsigned char bytes[MIAOPI__IDPOOL_SIZE];
    size_t next;                 /* bytes before this were handed out */
    unsigned long gen;           /* fork generation of the draw */
    const struct miaopi__idpool *owner; /* where drawn; NULL: empty */
} miaopi__idpool;

/* n (at most MIAOPI__IDPOOL_SIZE) fresh random bytes into out. Returns 0
 * or MIAOPI_EINTERNAL when OpenSSL's generator fails; there is no other
 * source. */
int miaopi__idpool_take(miaopi__idpool *p, unsigned char *out, size_t n);
/* Cleanse the pool's bytes and leave it empty. */
void miaopi__idpool_wipe(miaopi__idpool *p);

/* Edit distance between two names, for "did you mean" suggestions. */
size_t miaopi__edit_distance(const char *a, size_t n, const char *b,
                             size_t m);

/* UTF-8 validity. */
bool miaopi__utf8_valid(const char *s, size_t len);

#endif
