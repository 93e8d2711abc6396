/* The registries a service serves; see registries.h.
 * SPDX-License-Identifier: Apache-2.0 */
#include "registries.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int set_error(miaopi_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int set_error(miaopi_error *err, int code, const char *fmt, ...)
{
    if (err) {
        memset(err, 0, sizeof *err);
        err->code = code;
        err->offset = -1;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* Every load diagnostic (errors and warnings, of every file) goes to the
 * stream the directory was loaded with; the registry keeps this callback
 * and calls it again on each reload. */
static void print_diag(const miaopi_diagnostic *d, void *payload)
{
    const registry_dir *dir = payload;
    if (!dir->diag)
        return;
    if (d->line > 0)
        fprintf(dir->diag, "%s:%d:%d: %s: %s [%s]\n", d->file, d->line,
                d->column,
                d->severity == MIAOPI_SEVERITY_ERROR ? "error" : "warning",
                d->message, d->id);
    else
        fprintf(dir->diag, "%s: %s: %s [%s]\n", d->file,
                d->severity == MIAOPI_SEVERITY_ERROR ? "error" : "warning",
                d->message, d->id);
}

/* ---- directories ---- */

/* A registry loads the files whose names end in ".xml" (not hidden ones),
 * so this is what counts as a rule file here too. */
static bool is_rule_file_name(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' && n >= 5 && strcmp(name + n - 4, ".xml") == 0;
}

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir), len = n + strlen(name) + 2;
    char *p = malloc(len);
    if (p)   /* "rules/" and "rules" give the same paths */
        snprintf(p, len, "%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/",
                 name);
    return p;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names)
{
    for (size_t i = 0; names && names[i]; i++)
        free(names[i]);
    free(names);
}

/* The entries of @dir that @keep accepts, as sorted full paths in a
 * NULL-terminated array; NULL if the directory cannot be read (*rc
 * MIAOPI_EIO) or memory runs out (*rc MIAOPI_ENOMEM). */
static char **list_dir(const char *dir, bool (*keep)(const char *path,
                                                     const char *name),
                       int *rc)
{
    DIR *dp = opendir(dir);
    if (!dp) {
        *rc = MIAOPI_EIO;
        return NULL;
    }
    *rc = MIAOPI_OK;
    size_t n = 0;
    char **names = calloc(1, sizeof *names);
    struct dirent *e;
    while (names && (e = readdir(dp)) != NULL) {
        char *path = join(dir, e->d_name);
        char **grown = path ? realloc(names, (n + 2) * sizeof *names) : NULL;
        if (!grown) {
            free(path);
            free_names(names);
            names = NULL;
            break;
        }
        names = grown;
        if (keep(path, e->d_name)) {
            names[n++] = path;
            names[n] = NULL;
        } else {
            free(path);
        }
    }
    closedir(dp);
    if (!names) {
        *rc = MIAOPI_ENOMEM;
        return NULL;
    }
    qsort(names, n, sizeof *names, compare_names);
    return names;
}

static bool keep_rule_file(const char *path, const char *name)
{
    (void)path;
    return is_rule_file_name(name);
}

/* 1 if @dir holds a rule file, 0 if not, -1 if it cannot be read. */
static int holds_rule_files(const char *dir)
{
    int rc;
    char **names = list_dir(dir, keep_rule_file, &rc);
    int found = names ? names[0] != NULL : -1;
    free_names(names);
    return found;
}

static bool keep_registry_dir(const char *path, const char *name)
{
    struct stat st;
    return name[0] != '.' && stat(path, &st) == 0 && S_ISDIR(st.st_mode) &&
           holds_rule_files(path) == 1;
}

/* ---- which file is which version (for /healthz) ---- */

static void free_files(registry_dir *dir)
{
    for (size_t i = 0; i < dir->nfiles; i++)
        free(dir->files[i].path);
    free(dir->files);
    dir->files = NULL;
    dir->nfiles = 0;
}

/* The SHA-256 of a file's bytes, as miaopi_ruleset_sha256 reports it. */
static int hash_file(const char *path, char out[65])
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    char *data = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 65536;
            char *grown = cap <= (64u << 20) ? realloc(data, cap) : NULL;
            if (!grown) {
                rc = -1;
                break;
            }
            data = grown;
        }
        size_t got = fread(data + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    if (ferror(f))
        rc = -1;
    fclose(f);
    if (rc == 0 &&
        miaopi_hash_hex(out, MIAOPI_HASH_SHA256, data, len) != MIAOPI_OK)
        rc = -1;
    free(data);
    return rc;
}

/* Hash the directory's rule files after a load. A file changed between
 * the registry reading it and this is simply not matched ("file": ""). */
static void hash_files(registry_dir *dir)
{
    free_files(dir);
    int rc;
    char **names = list_dir(dir->path, keep_rule_file, &rc);
    size_t n = 0;
    while (names && names[n])
        n++;
    dir->files = n ? calloc(n, sizeof *dir->files) : NULL;
    for (size_t i = 0; dir->files && i < n; i++) {
        rule_file *f = &dir->files[dir->nfiles];
        if (hash_file(names[i], f->sha256) == 0 &&
            (f->path = strdup(names[i])) != NULL)
            dir->nfiles++;
    }
    free_names(names);
}

const char *registry_dir_file(const registry_dir *dir, const char *sha256)
{
    for (size_t i = 0; i < dir->nfiles; i++)
        if (strcmp(dir->files[i].sha256, sha256) == 0)
            return dir->files[i].path;
    return "";
}

/* ---- loading and reloading ---- */

static bool registry_has_id(miaopi_registry *reg, const char *id)
{
    bool found = false;
    miaopi_ruleset *rs;
    for (size_t i = 0; !found && (rs = miaopi_registry_get(reg, i)); i++) {
        found = strcmp(miaopi_ruleset_id(rs), id) == 0;
        miaopi_ruleset_unref(rs);
    }
    return found;
}

/* One ruleset id in two directories would make ?ruleset=ID ambiguous
 * (and the registry checks overlapping versions only within one
 * directory). Returns true and a message when it happens. */
static bool find_duplicate_id(registries *regs, char *msg, size_t size)
{
    for (size_t i = 0; i < regs->n; i++) {
        miaopi_ruleset *rs;
        for (size_t k = 0; (rs = miaopi_registry_get(regs->dirs[i].reg, k));
             k++) {
            const char *id = miaopi_ruleset_id(rs);
            for (size_t j = i + 1; j < regs->n; j++) {
                if (registry_has_id(regs->dirs[j].reg, id)) {
                    snprintf(msg, size,
                             "ruleset %s is in both %s and %s; requests "
                             "for it use %s", id, regs->dirs[i].path,
                             regs->dirs[j].path, regs->dirs[i].path);
                    miaopi_ruleset_unref(rs);
                    return true;
                }
            }
            miaopi_ruleset_unref(rs);
        }
    }
    return false;
}

int registries_load(registries *out, const char *root, FILE *diag)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_init(&out->lock, NULL);
    /* Which directories: @root itself, or its subdirectories. */
    int rc = MIAOPI_OK;
    char **paths = NULL;
    int own = holds_rule_files(root);
    if (own == 1) {
        paths = calloc(2, sizeof *paths);
        if (paths && !(paths[0] = strdup(root))) {
            free(paths);
            paths = NULL;
        }
        rc = paths ? MIAOPI_OK : MIAOPI_ENOMEM;
    } else if (own == 0) {
        paths = list_dir(root, keep_registry_dir, &rc);
    } else {
        rc = MIAOPI_EIO;
    }
    size_t n = 0;
    while (paths && paths[n])
        n++;
    if (rc == MIAOPI_EIO && diag)
        fprintf(diag, "%s: cannot read the rules directory\n", root);
    else if (rc == MIAOPI_OK && n == 0 && diag)
        fprintf(diag, "%s: no rule files (%s/*.xml or %s/*/*.xml)\n", root,
                root, root);
    if (rc == MIAOPI_OK && n == 0)
        rc = MIAOPI_ENOTFOUND;
    /* The array is allocated once: each registry keeps a pointer to its
     * entry as the payload of its diagnostic callback. */
    if (rc == MIAOPI_OK && !(out->dirs = calloc(n, sizeof *out->dirs)))
        rc = MIAOPI_ENOMEM;
    for (size_t i = 0; rc == MIAOPI_OK && i < n; i++) {
        registry_dir *dir = &out->dirs[out->n++];
        dir->path = paths[i];
        paths[i] = NULL;
        dir->diag = diag;
        miaopi_load_options lo = MIAOPI_LOAD_OPTIONS_INIT;
        lo.on_diagnostic = print_diag;
        lo.payload = dir;
        miaopi_error err;
        rc = miaopi_registry_load(&dir->reg, dir->path, &lo, &err);
        if (rc != MIAOPI_OK && diag)
            fprintf(diag, "%s: %s\n", dir->path, err.message);
        else
            hash_files(dir);
    }
    for (size_t i = 0; i < n; i++)
        free(paths ? paths[i] : NULL);
    free(paths);
    char msg[sizeof out->warning];
    if (rc == MIAOPI_OK && find_duplicate_id(out, msg, sizeof msg)) {
        if (diag)
            fprintf(diag, "%s: error: %s\n", root, msg);
        rc = MIAOPI_ERULES;
    }
    if (rc != MIAOPI_OK)
        registries_free(out);
    return rc;
}

void registries_reload(registries *regs)
{
    pthread_mutex_lock(&regs->lock);
    bool changed = false;
    for (size_t i = 0; i < regs->n; i++) {
        registry_dir *dir = &regs->dirs[i];
        dir->last_error[0] = '\0';
        /* An emptied directory would load as an empty registry and stop
         * every request for its rulesets: more likely a deployment in
         * progress than an intent, so keep what is loaded. */
        if (holds_rule_files(dir->path) != 1) {
            snprintf(dir->last_error, sizeof dir->last_error,
                     "%s: no rule files to load (or not readable)",
                     dir->path);
        } else {
            miaopi_error err;
            /* The registry counts its own generations. */
            if (miaopi_registry_reload(dir->reg, &err) == MIAOPI_OK) {
                changed = true;
                hash_files(dir);
            } else if (err.file[0] && err.line > 0) {
                snprintf(dir->last_error, sizeof dir->last_error,
                         "%s:%d:%d: %s [%s]", err.file, err.line,
                         err.column, err.message, err.id);
            } else {
                snprintf(dir->last_error, sizeof dir->last_error,
                         "%s: %s%s%s%s", err.file[0] ? err.file : dir->path,
                         err.message, err.id[0] ? " [" : "", err.id,
                         err.id[0] ? "]" : "");
            }
        }
        if (dir->last_error[0] && dir->diag)
            fprintf(dir->diag, "miaopi-httpd: reload of %s refused (%s); "
                    "still serving its previous rulesets\n", dir->path,
                    dir->last_error);
    }
    if (changed)
        regs->generation++;
    regs->warning[0] = '\0';
    if (find_duplicate_id(regs, regs->warning, sizeof regs->warning) &&
        regs->n && regs->dirs[0].diag)
        fprintf(regs->dirs[0].diag, "miaopi-httpd: warning: %s\n",
                regs->warning);
    pthread_mutex_unlock(&regs->lock);
}

void registries_free(registries *regs)
{
    for (size_t i = 0; i < regs->n; i++) {
        miaopi_registry_free(regs->dirs[i].reg);
        free_files(&regs->dirs[i]);
        free(regs->dirs[i].path);
    }
    free(regs->dirs);
    regs->dirs = NULL;
    regs->n = 0;
    pthread_mutex_destroy(&regs->lock);
}

/* ---- deciding ---- */

/* Find the registry that holds @id by asking each in turn: a registry
 * that does not hold it answers MIAOPI_ENOTFOUND (after the case's date
 * is checked, so a case without a decision date is MIAOPI_ECASE however
 * the id is spelt). The first directory in sorted order that holds the
 * id answers. The directory list is fixed, so no lock is needed; each
 * registry's selection is lock-free. */
typedef int (*per_registry)(miaopi_registry *reg, const char *id,
                            const miaopi_case *c, void *arg,
                            miaopi_error *err);

static int route(registries *regs, const char *id, const miaopi_case *c,
                 per_registry fn, void *arg, miaopi_error *err)
{
    if (!id) {
        /* One directory may still hold several ids: then the library
         * answers MIAOPI_EAMBIGUOUS itself. */
        if (regs->n != 1)
            return set_error(err, MIAOPI_EAMBIGUOUS,
                             "several rulesets are loaded; name one");
        return fn(regs->dirs[0].reg, NULL, c, arg, err);
    }
    int rc = MIAOPI_ENOTFOUND;
    for (size_t i = 0; i < regs->n && rc == MIAOPI_ENOTFOUND; i++)
        rc = fn(regs->dirs[i].reg, id, c, arg, err);
    if (rc == MIAOPI_ENOTFOUND)
        set_error(err, rc, "no ruleset with id '%s' is loaded", id);
    return rc;
}

struct evaluation {
    miaopi_decision *d;
    const miaopi_eval_options *opts;
};

static int evaluate_in(miaopi_registry *reg, const char *id,
                       const miaopi_case *c, void *arg, miaopi_error *err)
{
    /* Selects the version as miaopi_registry_select does, then evaluates
     * under it without checking its effective range again: under a
     * transitional provision the version chosen by filing date may have
     * ended on the decision date. */
    struct evaluation *ev = arg;
    return miaopi_registry_evaluate(ev->d, reg, id, c, ev->opts, err);
}

int registries_evaluate(miaopi_decision *d, registries *regs, const char *id,
                        const miaopi_case *c, const miaopi_eval_options *opts,
                        miaopi_error *err)
{
    struct evaluation ev = { d, opts };
    return route(regs, id, c, evaluate_in, &ev, err);
}

static int select_in(miaopi_registry *reg, const char *id,
                     const miaopi_case *c, void *arg, miaopi_error *err)
{
    return miaopi_registry_select(arg, reg, id, c, err);
}

int registries_select(miaopi_ruleset **out, registries *regs, const char *id,
                      const miaopi_case *c, miaopi_error *err)
{
    *out = NULL;
    return route(regs, id, c, select_in, out, err);
}
