/*
 * The rule directories an HTTP decision service serves, each held in a
 * miaopi_registry.
 *
 * A registry (see "Ruleset registry" in miaopi.h) holds every *.xml rule
 * file of one directory: several ruleset ids, each in several versions
 * with consecutive effective ranges. For each case it picks the version in
 * force on context.decision_date (or, for a transitional version declared
 * select-by="filing-date", on context.filing_date), exactly as
 * `miaopi eval -r DIR` does. Selection takes no lock, and a reload swaps
 * the whole directory in atomically while other threads evaluate.
 *
 * --rules DIR names either one registry directory (DIR holds *.xml files)
 * or, like the repository's rules/, a directory of them: then every
 * subdirectory that holds *.xml files is a registry of its own, found at
 * start-up. The list of directories is fixed once the service runs; what
 * is in them is reloaded on SIGHUP (a new subdirectory needs a restart).
 *
 * Threads: registries_evaluate and registries_select may be called from
 * any number of threads at once, also while registries_reload runs; they
 * take no lock. The status fields (last errors, file hashes, the reload
 * count) are guarded by `lock`, which only the reload and status readers
 * (/healthz) take. What a directory serves, and its generation, come from
 * the registry itself (miaopi_registry_snapshot_take), not from here.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef HTTPD_REGISTRIES_H
#define HTTPD_REGISTRIES_H

#include <miaopi.h>

#include <pthread.h>
#include <stdio.h>

/* Which rule file holds the version with a given SHA-256. The registry
 * does not say which file a ruleset came from; the service hashes the
 * files itself, after each load, for /healthz. */
typedef struct rule_file {
    char sha256[65];
    char *path;
} rule_file;

/* One registry directory. */
typedef struct registry_dir {
    char *path;
    miaopi_registry *reg;
    FILE *diag;                 /* where load diagnostics are printed */
    /* Guarded by registries.lock: */
    char last_error[1024];      /* why the last reload was refused, or "" */
    rule_file *files;
    size_t nfiles;
} registry_dir;

typedef struct registries {
    registry_dir *dirs;         /* fixed after registries_load; sorted */
    size_t n;
    pthread_mutex_t lock;       /* reload vs status readers; see above */
    unsigned long generation;   /* reloads that changed anything */
    char warning[600];          /* e.g. one id in two directories, or "" */
} registries;

/* Load the registries of @root (see above). All or nothing: when any rule
 * file is invalid, or no directory holds rule files, or one ruleset id is
 * in two directories, diagnostics go to @diag and the error is returned.
 * Returns 0 or a MIAOPI_E* code. */
int registries_load(registries *out, const char *root, FILE *diag);

/* Reload every directory (on SIGHUP). Each directory is reloaded on its
 * own and atomically: a directory whose files no longer load, or which
 * no longer holds any rule file, keeps serving what it had, and the
 * reason is printed to its diagnostics stream and kept in last_error. */
void registries_reload(registries *regs);

void registries_free(registries *regs);

/* Decide @c under ruleset @id (NULL: the only one loaded), with the
 * version the registry selects for the case's dates, with @opts (NULL:
 * defaults) as miaopi_evaluate takes them.
 * Returns 0; MIAOPI_ENOTFOUND (no such id); MIAOPI_EAMBIGUOUS (no id
 * given and several are loaded); MIAOPI_ENOTINFORCE (no version in force on the
 * date); MIAOPI_ECASE (no valid decision or filing date; or the case does
 * not fit the ruleset); MIAOPI_ENOMEM. err says which. */
int registries_evaluate(miaopi_decision *d, registries *regs, const char *id,
                        const miaopi_case *c, const miaopi_eval_options *opts,
                        miaopi_error *err);

/* The version of @id the registry selects for @c, a new reference (free
 * with miaopi_ruleset_unref). Returns as registries_evaluate. */
int registries_select(miaopi_ruleset **out, registries *regs, const char *id,
                      const miaopi_case *c, miaopi_error *err);

/* The file (as last hashed) whose bytes have SHA-256 @sha256, or "".
 * Call with regs->lock held. */
const char *registry_dir_file(const registry_dir *dir, const char *sha256);

#endif
