/*
 * miaopi-httpd: a multi-threaded HTTP decision service over libmiaopi.
 *
 *   POST /v1/decisions[?ruleset=ID][&lang=en]   a case -> the decision
 *   POST /v1/prefill[?ruleset=ID]               a case -> the pre-filled
 *                                               application (秒报)
 *   GET  /healthz                               status and loaded rulesets
 *
 * usage: miaopi-httpd --rules DIR [--bind ADDR] [--port N] [--threads N]
 *                     [--log FILE] [--max-body BYTES]
 *
 * The rule files are served through miaopi registries (registries.h):
 * DIR/ *.xml is one registry, or, when DIR holds no *.xml itself, each
 * subdirectory DIR/ * / that does is one. For each case the registry picks
 * the version of the ruleset in force on the case's decision date (or its
 * filing date, for a transitional version), exactly as
 * `miaopi eval -r DIR` does; the service never picks a version itself.
 * SIGHUP reloads the registries without stopping: a reload swaps a whole
 * directory in atomically or, if any file in it fails, keeps the old one
 * and prints the diagnostics. SIGTERM or SIGINT stops the service.
 * With --log every decision is appended to a hash-chained decision log
 * before it is served. The service binds to 127.0.0.1 unless told
 * otherwise; put it behind the portal's gateway, which does TLS and
 * authentication.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "decision_pool.h"
#include "registries.h"

#include <jansson.h>
#include <microhttpd.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#if MHD_VERSION < 0x00097002
typedef int mhd_result;
#else
typedef enum MHD_Result mhd_result;
#endif

struct server {
    registries rules;
    decision_pool decisions;
    miaopi_log *log;          /* NULL: not logging */
    size_t max_body;
    /* Where a real service plugs in its government-data clients (one
     * resolver per source: 公安人口库, 学信网, ...); they fetch the records a
     * case does not carry, for decisions and pre-fill alike. This example
     * has none: sources come in the case. */
    const miaopi_resolvers *resolvers;
};

/* One request's state between MHD's calls. */
struct request {
    char *body;
    size_t len, cap;
    size_t discarded;         /* bytes dropped after max_body */
};

/* ---- small JSON writer (only strings need care) ---- */

struct buf {
    char *p;
    size_t len, cap;
    bool failed;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap : 256);
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void buf_printf(struct buf *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        buf_add(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static void buf_json_string(struct buf *b, const char *s)
{
    buf_add(b, "\"", 1);
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char esc[2] = { '\\', (char)c };
            buf_add(b, esc, 2);
        } else if (c < 0x20) {
            buf_printf(b, "\\u%04x", c);
        } else {
            buf_add(b, (const char *)&c, 1);
        }
    }
    buf_add(b, "\"", 1);
}

/* ---- responses ---- */

static mhd_result respond(struct MHD_Connection *conn, unsigned status,
                          const char *body, size_t len, const char **headers)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type",
                            "application/json; charset=utf-8");
    for (; headers && headers[0]; headers += 2)
        MHD_add_response_header(r, headers[0], headers[1]);
    mhd_result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* {"error": {"status": .., "code": .., "id": .., "message": .., "line": ..,
 * "column": .., "offset": ..}}: the library's error, for the portal to act
 * on. line and column (1-based, the column in characters) and offset
 * (0-based, in bytes) say where in the request body a JSON error is. */
static mhd_result respond_error(struct MHD_Connection *conn, unsigned status,
                                const char *code, const miaopi_error *err,
                                const char *message)
{
    struct buf b = { 0 };
    buf_printf(&b, "{\"error\":{\"status\":%u,\"code\":", status);
    buf_json_string(&b, code);
    if (err && err->id[0]) {
        buf_add(&b, ",\"id\":", 6);
        buf_json_string(&b, err->id);
    }
    buf_add(&b, ",\"message\":", 11);
    buf_json_string(&b, message ? message : err ? err->message : "");
    if (err && err->line > 0)
        buf_printf(&b, ",\"line\":%d,\"column\":%d", err->line, err->column);
    if (err && err->line > 0 && err->offset >= 0)
        buf_printf(&b, ",\"offset\":%ld", err->offset);
    buf_add(&b, "}}\n", 3);
    mhd_result ret = b.failed ? MHD_NO
                              : respond(conn, status, b.p, b.len, NULL);
    free(b.p);
    return ret;
}

/* ---- errors of the library, as HTTP answers ---- */

/* How a failed decision or pre-fill is answered. ECASE and ELIMIT are the
 * caller's fault (fix the portal's form or mapping); ENOTFOUND and
 * EAMBIGUOUS come from choosing the ruleset; ENOTINFORCE means the request
 * is well-formed but no version of the ruleset covers its date. EINVAL
 * would be a bug in this service: 500. */
static mhd_result respond_failure(struct MHD_Connection *conn, int rc,
                                  const miaopi_error *err)
{
    switch (rc) {
    case MIAOPI_ECASE:
        return respond_error(conn, 400, "MIAOPI_ECASE", err, NULL);
    case MIAOPI_ELIMIT:
        return respond_error(conn, 413, "MIAOPI_ELIMIT", err, NULL);
    case MIAOPI_EAMBIGUOUS:
        return respond_error(conn, 400, "RULESET_REQUIRED", NULL,
                             "several rulesets are loaded; name one with "
                             "?ruleset=ID");
    case MIAOPI_ENOTFOUND:
        return respond_error(conn, 404, "RULESET_NOT_FOUND", err, NULL);
    case MIAOPI_ENOTINFORCE:
        return respond_error(conn, 422, "MIAOPI_ENOTINFORCE", err, NULL);
    case MIAOPI_ENOMEM:
        return respond_error(conn, 503, "MIAOPI_ENOMEM", NULL,
                             "out of memory; try again later");
    default:
        return respond_error(conn, 500, miaopi_strerror(rc), err, NULL);
    }
}

/* The ?ruleset=ID of the request, or NULL when not given (or empty). */
static const char *ruleset_param(struct MHD_Connection *conn)
{
    const char *id = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND,
                                                 "ruleset");
    return id && id[0] ? id : NULL;
}

/* ---- GET /healthz ---- */

/* One row of "rulesets": a version as the directory's set holds it. */
static void healthz_ruleset(struct buf *b, const registry_dir *dir,
                            uint64_t generation, const miaopi_ruleset *rs)
{
    buf_add(b, "{\"id\":", 6);
    buf_json_string(b, miaopi_ruleset_id(rs));
    buf_add(b, ",\"version\":", 11);
    buf_json_string(b, miaopi_ruleset_version(rs));
    buf_add(b, ",\"effective_from\":", 18);
    buf_json_string(b, miaopi_ruleset_effective_from(rs));
    buf_add(b, ",\"effective_until\":", 19);
    buf_json_string(b, miaopi_ruleset_effective_until(rs));
    buf_add(b, ",\"sha256\":", 10);
    buf_json_string(b, miaopi_ruleset_sha256(rs));
    buf_add(b, ",\"file\":", 8);
    buf_json_string(b, registry_dir_file(dir, miaopi_ruleset_sha256(rs)));
    buf_add(b, ",\"directory\":", 13);
    buf_json_string(b, dir->path);
    buf_printf(b, ",\"generation\":%llu}", (unsigned long long)generation);
}

/* The registries and what each holds. Each directory is read from one
 * snapshot of its registry, so its generation and its versions are one
 * set even if a reload swapped it in between (none can while the status
 * lock is held, but the snapshot does not rely on that). The lock makes
 * the rest one picture: last errors and file names match that set.
 * Decisions never take it. */
static mhd_result handle_healthz(struct server *srv,
                                 struct MHD_Connection *conn)
{
    registries *regs = &srv->rules;
    struct buf b = { 0 };
    miaopi_registry_snapshot **snaps = calloc(regs->n ? regs->n : 1,
                                              sizeof *snaps);
    if (!snaps)
        return respond_error(conn, 503, "MIAOPI_ENOMEM", NULL,
                             "out of memory; try again later");
    pthread_mutex_lock(&regs->lock);
    for (size_t i = 0; i < regs->n; i++)
        snaps[i] = miaopi_registry_snapshot_take(regs->dirs[i].reg);
    buf_printf(&b, "{\"status\":\"ok\",\"engine\":");
    buf_json_string(&b, miaopi_version());
    buf_printf(&b, ",\"generation\":%lu,\"logging\":%s", regs->generation,
               srv->log ? "true" : "false");
    if (regs->warning[0]) {
        buf_add(&b, ",\"warning\":", 11);
        buf_json_string(&b, regs->warning);
    }
    buf_add(&b, ",\"directories\":[", 16);
    for (size_t i = 0; i < regs->n; i++) {
        const registry_dir *dir = &regs->dirs[i];
        buf_add(&b, i ? ",{\"path\":" : "{\"path\":", i ? 9 : 8);
        buf_json_string(&b, dir->path);
        buf_printf(&b, ",\"generation\":%llu,\"last_reload_error\":",
                   (unsigned long long)miaopi_registry_snapshot_generation(
                       snaps[i]));
        buf_json_string(&b, dir->last_error);
        buf_add(&b, "}", 1);
    }
    /* Every version of every ruleset, sorted by id, then effective-from:
     * which one decides a case depends on the case's date. */
    buf_add(&b, "],\"rulesets\":[", 14);
    bool first = true;
    for (size_t i = 0; i < regs->n; i++) {
        uint64_t generation = miaopi_registry_snapshot_generation(snaps[i]);
        miaopi_ruleset *rs;
        for (size_t k = 0; (rs = miaopi_registry_snapshot_get(snaps[i], k));
             k++) {
            if (!first)
                buf_add(&b, ",", 1);
            first = false;
            healthz_ruleset(&b, &regs->dirs[i], generation, rs);
            miaopi_ruleset_unref(rs);
        }
    }
    pthread_mutex_unlock(&regs->lock);
    for (size_t i = 0; i < regs->n; i++)
        miaopi_registry_snapshot_unref(snaps[i]);
    free(snaps);
    buf_add(&b, "]}\n", 3);
    mhd_result ret = b.failed ? MHD_NO : respond(conn, 200, b.p, b.len, NULL);
    free(b.p);
    return ret;
}

/* ---- POST /v1/prefill ---- */

/* Answer with the library's pre-fill result and the ruleset version it
 * was made under: {"ruleset": {id, version, sha256}, "application",
 * "fields", "sources"}. A version that declares no prefill field cannot
 * pre-fill anything: that is 422, so a portal wired to the wrong ruleset
 * finds out at once instead of showing an empty form. */
static mhd_result respond_prefill(struct MHD_Connection *conn,
                                  const miaopi_ruleset *rs, const char *out)
{
    json_t *doc = json_loads(out, 0, NULL);
    json_t *fields = json_object_get(doc, "fields");
    mhd_result ret;
    if (doc && json_array_size(fields) == 0) {
        char msg[400];
        snprintf(msg, sizeof msg,
                 "%s %s declares no application field with "
                 "prefill=\"SOURCE.FIELD\": it cannot pre-fill a form",
                 miaopi_ruleset_id(rs), miaopi_ruleset_version(rs));
        ret = respond_error(conn, 422, "PREFILL_NOT_SUPPORTED", NULL, msg);
        json_decref(doc);
        return ret;
    }
    json_t *ruleset = json_pack("{s:s, s:s, s:s}",
                                "id", miaopi_ruleset_id(rs),
                                "version", miaopi_ruleset_version(rs),
                                "sha256", miaopi_ruleset_sha256(rs));
    char *text = NULL;
    if (doc && ruleset && json_object_set(doc, "ruleset", ruleset) == 0)
        text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    if (text) {
        ret = respond(conn, 200, text, strlen(text), NULL);
    } else {
        /* The library's output always parses; only memory can fail. */
        ret = respond_error(conn, 503, "MIAOPI_ENOMEM", NULL,
                            "out of memory; try again later");
    }
    free(text);
    json_decref(ruleset);
    json_decref(doc);
    return ret;
}

/* Pre-fill (秒报): the body is a case as for /v1/decisions, with whatever
 * the applicant has given so far (usually only application.id_number),
 * the source records (or resolvers that fetch them) and
 * context.decision_date, which picks the ruleset version and dates the
 * freshness of the records. Required application fields may be missing:
 * that is what pre-filling is for. Nothing is decided, so nothing goes to
 * the decision log. The answer holds personal data in clear (it fills the
 * applicant's own form): serve it only to that applicant's session. */
static mhd_result handle_prefill(struct server *srv,
                                 struct MHD_Connection *conn,
                                 const struct request *req)
{
    miaopi_error err;
    miaopi_case *c = NULL;
    int rc = miaopi_case_from_json(&c, req->body ? req->body : "", req->len,
                                   &err);
    if (rc != MIAOPI_OK)
        return respond_failure(conn, rc, &err);
    /* The same selection as a decision: the version in force on the
     * case's date, chosen by the registry. */
    miaopi_ruleset *rs = NULL;
    rc = registries_select(&rs, &srv->rules, ruleset_param(conn), c, &err);
    char *out = NULL;
    if (rc == MIAOPI_OK) {
        miaopi_eval_options eo = MIAOPI_EVAL_OPTIONS_INIT;
        eo.resolvers = srv->resolvers;
        rc = miaopi_prefill(&out, rs, c, &eo, &err);
    }
    mhd_result ret = rc == MIAOPI_OK ? respond_prefill(conn, rs, out)
                                     : respond_failure(conn, rc, &err);
    miaopi_free(out);
    miaopi_ruleset_unref(rs);
    miaopi_case_free(c);
    return ret;
}

/* ---- POST /v1/decisions ---- */

static mhd_result serve_decision(struct server *srv,
                                 struct MHD_Connection *conn,
                                 miaopi_decision *d, const miaopi_case *c,
                                 const char *lang)
{
    miaopi_error err;
    char seqbuf[32] = "";
    if (srv->log) {
        /* The decision is served only once it is in the log. */
        uint64_t seq;
        if (miaopi_log_append(srv->log, d, c, &seq, &err) != MIAOPI_OK)
            return respond_error(conn, 503, miaopi_strerror(err.code), &err,
                                 NULL);
        snprintf(seqbuf, sizeof seqbuf, "%llu", (unsigned long long)seq);
    }
    char *json = NULL;
    if (miaopi_decision_to_json(&json, d, lang, MIAOPI_JSON_REASONS) !=
        MIAOPI_OK)
        return respond_error(conn, 503, "MIAOPI_ENOMEM", NULL,
                             "out of memory");
    const char *headers[] = {
        "X-Miaopi-Decision-Id", miaopi_decision_id(d),
        seqbuf[0] ? "X-Miaopi-Log-Seq" : NULL, seqbuf,
        NULL, NULL
    };
    mhd_result ret = respond(conn, 200, json, strlen(json), headers);
    miaopi_free(json);
    return ret;
}

static mhd_result handle_decision(struct server *srv,
                                  struct MHD_Connection *conn,
                                  const struct request *req)
{
    const char *lang = MHD_lookup_connection_value(conn,
                                                   MHD_GET_ARGUMENT_KIND,
                                                   "lang");
    if (lang && strcmp(lang, "en") != 0 && strcmp(lang, "zh-CN") != 0)
        return respond_error(conn, 400, "BAD_LANG", NULL,
                             "lang must be zh-CN or en");
    miaopi_error err;
    miaopi_case *c = NULL;
    int rc = miaopi_case_from_json(&c, req->body ? req->body : "", req->len,
                                   &err);
    if (rc != MIAOPI_OK)
        return respond_failure(conn, rc, &err);
    /* The registry picks the version by the case's date and evaluates;
     * the decision keeps a reference to that version, so a reload while
     * this request runs changes nothing for it. */
    miaopi_decision *d = decision_pool_take(&srv->decisions);
    if (d) {
        miaopi_eval_options eo = MIAOPI_EVAL_OPTIONS_INIT;
        eo.resolvers = srv->resolvers;
        rc = registries_evaluate(d, &srv->rules, ruleset_param(conn), c,
                                 &eo, &err);
    } else {
        rc = MIAOPI_ENOMEM;
    }
    mhd_result ret = rc == MIAOPI_OK ? serve_decision(srv, conn, d, c, lang)
                                     : respond_failure(conn, rc, &err);
    decision_pool_give(&srv->decisions, d);
    miaopi_case_free(c);
    return ret;
}

/* ---- request plumbing ---- */

/* Keep the body up to max_body; beyond it count and drop what arrives,
 * so the client can read the 413 instead of seeing a reset. A body far
 * beyond the limit is not worth draining: the connection is closed. */
static bool take_upload(struct server *srv, struct request *req,
                        const char *data, size_t n)
{
    if (req->discarded || req->len + n > srv->max_body) {
        req->discarded += n;
        return req->discarded <= 16 * srv->max_body;
    }
    if (req->len + n + 1 > req->cap) {
        size_t cap = req->cap ? req->cap : 4096;
        while (cap < req->len + n + 1)
            cap *= 2;
        char *p = realloc(req->body, cap);
        if (!p)
            return false;
        req->body = p;
        req->cap = cap;
    }
    memcpy(req->body + req->len, data, n);
    req->len += n;
    req->body[req->len] = '\0';
    return true;
}

static bool declared_too_large(struct server *srv, struct MHD_Connection *c)
{
    const char *cl = MHD_lookup_connection_value(
        c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (!cl)
        return false;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(cl, &end, 10);
    return errno != 0 || *end != '\0' || n > 16ull * srv->max_body;
}

static mhd_result route(struct server *srv, struct MHD_Connection *conn,
                        const char *url, const char *method,
                        struct request *req)
{
    bool post = strcmp(method, "POST") == 0;
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    if (strcmp(url, "/healthz") == 0)
        return get ? handle_healthz(srv, conn)
                   : respond_error(conn, 405, "METHOD_NOT_ALLOWED", NULL,
                                   "use GET");
    bool decisions = strcmp(url, "/v1/decisions") == 0;
    bool prefill = strcmp(url, "/v1/prefill") == 0;
    if (!decisions && !prefill)
        return respond_error(conn, 404, "NOT_FOUND", NULL, "no such path");
    if (!post)
        return respond_error(conn, 405, "METHOD_NOT_ALLOWED", NULL,
                             "use POST");
    if (req->discarded)
        return respond_error(conn, 413, "BODY_TOO_LARGE", NULL,
                             "the request body exceeds the limit");
    return decisions ? handle_decision(srv, conn, req)
                     : handle_prefill(srv, conn, req);
}

static mhd_result on_request(void *cls, struct MHD_Connection *conn,
                             const char *url, const char *method,
                             const char *version, const char *upload,
                             size_t *upload_size, void **con_cls)
{
    struct server *srv = cls;
    (void)version;
    struct request *req = *con_cls;
    if (!req) {
        /* First call: headers only. Refuse an announced huge body now. */
        if (declared_too_large(srv, conn))
            return respond_error(conn, 413, "BODY_TOO_LARGE", NULL,
                                 "the request body exceeds the limit");
        req = calloc(1, sizeof *req);
        if (!req)
            return MHD_NO;
        *con_cls = req;
        return MHD_YES;
    }
    if (*upload_size > 0) {
        bool ok = take_upload(srv, req, upload, *upload_size);
        *upload_size = 0;
        return ok ? MHD_YES : MHD_NO;
    }
    return route(srv, conn, url, method, req);
}

static void on_completed(void *cls, struct MHD_Connection *conn,
                         void **con_cls, enum MHD_RequestTerminationCode t)
{
    (void)cls;
    (void)conn;
    (void)t;
    struct request *req = *con_cls;
    if (req) {
        free(req->body);
        free(req);
        *con_cls = NULL;
    }
}

/* ---- start-up, signals, shutdown ---- */

static const char usage[] =
    "usage: miaopi-httpd --rules DIR [--bind ADDR] [--port N] [--threads N]\n"
    "                    [--log FILE] [--max-body BYTES]\n"
    "\n"
    "  --rules DIR      rule files: DIR/*.xml, or DIR/*/*.xml (a registry\n"
    "                   per subdirectory)\n"
    "  --bind ADDR      address to listen on (default 127.0.0.1)\n"
    "  --port N         port (default 8080; 0: any free port)\n"
    "  --threads N      worker threads (default 4)\n"
    "  --log FILE       append every decision to this decision log\n"
    "  --max-body BYTES largest request body (default 1048576)\n"
    "\n"
    "SIGHUP reloads the rules; SIGTERM or SIGINT stops the service.\n";

struct options {
    const char *rules, *bind, *log;
    unsigned long port, threads, max_body;
};

static int parse_number(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || end == s || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_option(struct options *o, const char *a, const char *v)
{
    if (strcmp(a, "--rules") == 0)
        o->rules = v;
    else if (strcmp(a, "--bind") == 0)
        o->bind = v;
    else if (strcmp(a, "--log") == 0)
        o->log = v;
    else if (strcmp(a, "--port") == 0)
        return parse_number(v, 65535, &o->port);
    else if (strcmp(a, "--threads") == 0)
        return parse_number(v, 256, &o->threads) || !o->threads ? -1 : 0;
    else if (strcmp(a, "--max-body") == 0)
        return parse_number(v, 1ul << 30, &o->max_body) || !o->max_body
                   ? -1 : 0;
    else
        return -1;
    return 0;
}

static int parse_options(int argc, char **argv, struct options *o)
{
    *o = (struct options){ NULL, "127.0.0.1", NULL, 8080, 4, 1048576 };
    /* Options come in pairs: OPTION VALUE. */
    for (int i = 1; i < argc; i += 2) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(usage, stdout);
            exit(0);
        }
        if (i + 1 >= argc || parse_option(o, argv[i], argv[i + 1]) != 0)
            return -1;
    }
    return o->rules ? 0 : -1;
}

static struct MHD_Daemon *start_daemon(struct server *srv,
                                       const struct options *o)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO |
                     MHD_USE_ERROR_LOG;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, o->bind, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)o->port);
    } else if (inet_pton(AF_INET6, o->bind, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)o->port);
        flags |= MHD_USE_IPv6;
    } else {
        fprintf(stderr, "miaopi-httpd: --bind: not an IP address: %s\n",
                o->bind);
        return NULL;
    }
    return MHD_start_daemon(
        flags, (uint16_t)o->port, NULL, NULL, on_request, srv,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)o->threads,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)30,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)1024,
        MHD_OPTION_END);
}

/* SIGHUP: each registry rereads its directory and swaps the new set in
 * while requests go on; a directory that fails keeps what it had (the
 * diagnostics are printed and /healthz shows the reason). */
static void reload(struct server *srv)
{
    registries_reload(&srv->rules);
    size_t n = 0, refused = 0;
    pthread_mutex_lock(&srv->rules.lock);
    for (size_t i = 0; i < srv->rules.n; i++) {
        refused += srv->rules.dirs[i].last_error[0] != '\0';
        n += miaopi_registry_count(srv->rules.dirs[i].reg);
    }
    fprintf(stderr, "miaopi-httpd: reloaded: %zu ruleset version(s) in "
            "%zu director%s, %zu refused; generation %lu\n", n,
            srv->rules.n, srv->rules.n == 1 ? "y" : "ies", refused,
            srv->rules.generation);
    pthread_mutex_unlock(&srv->rules.lock);
}

static int open_log(struct server *srv, const char *path)
{
    miaopi_log_options lo = MIAOPI_LOG_OPTIONS_INIT;
    miaopi_error err;
    if (miaopi_log_open(&srv->log, path, &lo, &err) != MIAOPI_OK) {
        fprintf(stderr, "miaopi-httpd: %s: %s\n", path, err.message);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct options o;
    if (parse_options(argc, argv, &o) != 0) {
        fputs(usage, stderr);
        return 2;
    }
    struct server srv = { .max_body = o.max_body };
    if (registries_load(&srv.rules, o.rules, stderr) != MIAOPI_OK) {
        fprintf(stderr, "miaopi-httpd: no rules loaded; not starting\n");
        return 1;
    }
    if (o.log && open_log(&srv, o.log) != 0) {
        registries_free(&srv.rules);
        return 1;
    }
    decision_pool_init(&srv.decisions);

    /* Block the signals before MHD starts its threads, so they inherit
     * the mask and only the main thread's sigwait sees them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct MHD_Daemon *daemon = start_daemon(&srv, &o);
    int status = 0;
    if (!daemon) {
        fprintf(stderr, "miaopi-httpd: cannot listen on %s port %lu\n",
                o.bind, o.port);
        status = 1;
        goto out;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    size_t nrules = 0;
    for (size_t i = 0; i < srv.rules.n; i++)
        nrules += miaopi_registry_count(srv.rules.dirs[i].reg);
    printf("miaopi-httpd: listening on %s port %u, %zu ruleset(s)\n", o.bind,
           info ? (unsigned)info->port : (unsigned)o.port, nrules);
    fflush(stdout);

    for (;;) {
        int sig;
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            reload(&srv);
            continue;
        }
        break;
    }
    /* Stopping the daemon waits for the requests in flight. */
    MHD_stop_daemon(daemon);
    fprintf(stderr, "miaopi-httpd: stopped\n");
out:;
    miaopi_error err;
    if (srv.log && miaopi_log_close(srv.log, &err) != MIAOPI_OK) {
        fprintf(stderr, "miaopi-httpd: closing the log: %s\n", err.message);
        status = 1;
    }
    decision_pool_destroy(&srv.decisions);
    registries_free(&srv.rules);
    return status;
}
