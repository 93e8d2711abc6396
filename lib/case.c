/*
 * Case documents. A case is a jansson tree; evaluation reads it in place,
 * converting only the fields that rules touch, once per evaluation.
 */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct miaopi_case {
    json_t *root;
};

#define CASE_MAX_BYTES ((size_t)64 << 20)
#define CASE_MAX_DEPTH 64

const json_t *miaopi__case_root(const miaopi_case *c);
const json_t *miaopi__case_root(const miaopi_case *c)
{
    return c ? c->root : NULL;
}

static int depth_of(const json_t *j, int limit)
{
    if (limit < 0)
        return 1;
    int d = 0;
    if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v) {
            int c = depth_of(v, limit - 1);
            if (c > d)
                d = c;
        }
        return d + 1;
    }
    if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) {
            int c = depth_of(v, limit - 1);
            if (c > d)
                d = c;
        }
        return d + 1;
    }
    return 0;
}

static int shape_error(miaopi_error *err, const char *what)
{
    return miaopi__error_set(err, MIAOPI_ECASE, "invalid case: %s", what);
}

static int check_shape(const json_t *root, miaopi_error *err)
{
    if (!json_is_object(root))
        return shape_error(err, "the document must be a JSON object");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)root, k, v) {
        if (json_is_null(v))
            continue; /* null is absent, as everywhere in a case */
        if (strcmp(k, "application") == 0 || strcmp(k, "context") == 0) {
            if (!json_is_object(v))
                return miaopi__error_set(err, MIAOPI_ECASE,
                                         "invalid case: \"%s\" must be an "
                                         "object",
                                         k);
        } else if (strcmp(k, "sources") == 0) {
            if (!json_is_object(v))
                return shape_error(err, "\"sources\" must be an object");
        }
        /* Other top-level members (ids, metadata) are the portal's
         * business and are ignored. */
    }
    if (depth_of(root, CASE_MAX_DEPTH + 1) > CASE_MAX_DEPTH)
        return miaopi__error_set(err, MIAOPI_ELIMIT,
                                 "invalid case: nested deeper than %d",
                                 CASE_MAX_DEPTH);
    return MIAOPI_OK;
}

int miaopi_case_from_json(miaopi_case **out, const char *json, size_t len,
                          miaopi_error *err)
{
    miaopi__error_clear(err);
    if (!out || (!json && len))
        return miaopi__error_set(err, MIAOPI_EINVAL, "invalid argument");
    *out = NULL;
    if (len > CASE_MAX_BYTES)
        return miaopi__error_set(err, MIAOPI_ELIMIT,
                                 "the case is larger than %zu bytes",
                                 CASE_MAX_BYTES);
    json_error_t je;
    json_t *root = json_loadb(json ? json : "", len, JSON_REJECT_DUPLICATES,
                              &je);
    if (!root) {
        /* jansson stops at its own depth limit (2048) before ours: that
         * is still "nested too deep", not a malformed document. */
        int rc = miaopi__error_set(err,
                                   json_error_code(&je) ==
                                           json_error_stack_overflow
                                       ? MIAOPI_ELIMIT
                                       : MIAOPI_ECASE,
                                   "invalid JSON: %s", je.text);
        if (err) {
            err->line = je.line;
            err->column = je.column;
            err->offset = je.position;
        }
        return rc;
    }
    int rc = check_shape(root, err);
    if (rc != MIAOPI_OK) {
        json_decref(root);
        return rc;
    }
    miaopi_case *c = miaopi__calloc(1, sizeof(*c));
    if (!c) {
        json_decref(root);
        return miaopi__error_set(err, MIAOPI_ENOMEM, "out of memory");
    }
    c->root = root;
    *out = c;
    return MIAOPI_OK;
}

int miaopi_case_load_file(miaopi_case **out, const char *path,
                          miaopi_error *err)
{
    if (!out || !path)
        return miaopi__error_set(err, MIAOPI_EINVAL, "invalid argument");
    *out = NULL;
    char *data;
    size_t len;
    int rc = miaopi__read_file(path, CASE_MAX_BYTES, &data, &len, err);
    if (rc != MIAOPI_OK)
        return rc;
    rc = miaopi_case_from_json(out, data, len, err);
    miaopi__free(data);
    if (rc != MIAOPI_OK && err)
        snprintf(err->file, sizeof(err->file), "%s", path);
    return rc;
}

int miaopi_case_new(miaopi_case **out)
{
    if (!out)
        return MIAOPI_EINVAL;
    *out = NULL;
    miaopi_case *c = miaopi__calloc(1, sizeof(*c));
    if (!c)
        return MIAOPI_ENOMEM;
    c->root = json_object();
    if (!c->root) {
        miaopi__free(c);
        return MIAOPI_ENOMEM;
    }
    *out = c;
    return MIAOPI_OK;
}

void miaopi_case_free(miaopi_case *c)
{
    if (!c)
        return;
    json_decref(c->root);
    miaopi__free(c);
}

static bool valid_segment(const char *s, size_t n)
{
    if (n == 0 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '.' || (unsigned char)s[i] < 0x20)
            return false;
    return true;
}

/* Set value (stolen) at a dotted path; the first segment must be one of
 * application, sources, context. */
static int set_path(miaopi_case *c, const char *path, json_t *value)
{
    if (!c || !path || !value) {
        json_decref(value);
        return value ? MIAOPI_EINVAL : MIAOPI_ENOMEM;
    }
    if (strncmp(path, "application.", 12) != 0 &&
        strncmp(path, "sources.", 8) != 0 &&
        strncmp(path, "context.", 8) != 0) {
        json_decref(value);
        return MIAOPI_EINVAL;
    }
    /* Check every segment first: a refused path changes nothing. */
    for (const char *p = path;;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (!valid_segment(p, n)) {
            json_decref(value);
            return MIAOPI_EINVAL;
        }
        if (!dot)
            break;
        p = dot + 1;
    }
    json_t *obj = c->root;
    const char *p = path;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (!valid_segment(p, n)) {
            json_decref(value);
            return MIAOPI_EINVAL;
        }
        char key[129];
        memcpy(key, p, n);
        key[n] = '\0';
        if (!dot)
            return json_object_set_new(obj, key, value) == 0 ? MIAOPI_OK
                                                             : MIAOPI_ENOMEM;
        json_t *next = json_object_get(obj, key);
        if (!next || !json_is_object(next)) {
            next = json_object();
            if (!next || json_object_set_new(obj, key, next) != 0) {
                json_decref(value);
                return MIAOPI_ENOMEM;
            }
        }
        obj = next;
        p = dot + 1;
    }
}

int miaopi_case_set_string(miaopi_case *c, const char *path,
                           const char *value)
{
    if (!value)
        return MIAOPI_EINVAL;
    json_t *v = json_string(value); /* NULL also for invalid UTF-8 */
    if (!v)
        return miaopi__utf8_valid(value, strlen(value)) ? MIAOPI_ENOMEM
                                                        : MIAOPI_EINVAL;
    return set_path(c, path, v);
}

int miaopi_case_set_int(miaopi_case *c, const char *path, int64_t value)
{
    return set_path(c, path, json_integer((json_int_t)value));
}

int miaopi_case_set_bool(miaopi_case *c, const char *path, int value)
{
    return set_path(c, path, json_boolean(value));
}

int miaopi_case_set_json(miaopi_case *c, const char *path, const char *json,
                         miaopi_error *err)
{
    miaopi__error_clear(err);
    if (!json)
        return miaopi__error_set(err, MIAOPI_EINVAL, "invalid argument");
    json_error_t je;
    json_t *v = json_loads(json, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES,
                           &je);
    if (!v)
        return miaopi__error_set(err,
                                 json_error_code(&je) ==
                                         json_error_stack_overflow
                                     ? MIAOPI_ELIMIT
                                     : MIAOPI_EINVAL,
                                 "invalid JSON: %s", je.text);
    if (depth_of(v, CASE_MAX_DEPTH + 1) > CASE_MAX_DEPTH) {
        json_decref(v);
        return miaopi__error_set(err, MIAOPI_ELIMIT, "nested too deep");
    }
    int rc = set_path(c, path, v);
    if (rc != MIAOPI_OK)
        miaopi__error_set(err, rc, "cannot set %s", path ? path : "(null)");
    return rc;
}

int miaopi_case_set_source_unavailable(miaopi_case *c, const char *source)
{
    if (!source)
        return MIAOPI_EINVAL;
    char path[160];
    int n = snprintf(path, sizeof(path), "sources.%s", source);
    if (n < 0 || (size_t)n >= sizeof(path))
        return MIAOPI_EINVAL;
    return set_path(c, path, json_null());
}

int miaopi_case_to_json(char **out, const miaopi_case *c)
{
    if (!out || !c)
        return MIAOPI_EINVAL;
    char *s = json_dumps(c->root, JSON_COMPACT | JSON_SORT_KEYS);
    if (!s)
        return MIAOPI_ENOMEM;
    *out = miaopi__strdup(s);
    free(s);
    return *out ? MIAOPI_OK : MIAOPI_ENOMEM;
}

/* Wrap a parsed case object (takes ownership of the reference), for the
 * decision-log reader, whose entries hold the case as evaluated. */
int miaopi__case_wrap(miaopi_case **out, json_t *root);
int miaopi__case_wrap(miaopi_case **out, json_t *root)
{
    *out = NULL;
    miaopi_case *c = miaopi__calloc(1, sizeof(*c));
    if (!c) {
        json_decref(root);
        return MIAOPI_ENOMEM;
    }
    c->root = root;
    *out = c;
    return MIAOPI_OK;
}
