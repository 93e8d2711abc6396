/*
 * What the one-thread replay (cmd_replay.c) and the parallel one
 * (replay_jobs.c) share: the configuration, the counts, and the step that
 * replays one line and reports it, so that both print the same bytes.
 */
#ifndef MIAOPI_CLI_REPLAY_H
#define MIAOPI_CLI_REPLAY_H

#include "audit_util.h"

#include <stdint.h>
#include <time.h>

enum { N_OUTCOMES = 4 };

/* What a run was asked to do; read-only while it runs. */
typedef struct replay_cfg {
    const char *log;
    bool json, quiet, what_if;
    cli_rulesets rules;
    miaopi_ruleset *candidate;
} replay_cfg;

typedef struct replay_tally {
    uint64_t entries, reproduced, differed, missing, errors;
    uint64_t matrix[N_OUTCOMES][N_OUTCOMES];
} replay_tally;

/* Where a step reports: per-entry lines to out, complaints about lines
 * that are not entries to err. */
typedef struct replay_out {
    FILE *out, *err;
    bool first_item; /* no comma before the next JSON item */
    replay_tally t;
} replay_out;

/* One line of the log: `got` and `err` are what reading it gave (1 with
 * the entry @p e). Counts and reports it into @p o, replaying with @p d.
 * Returns 0, or EXIT_ERROR when the run stops at this line (err says
 * why; nothing was counted or reported for it). */
int replay_step(const replay_cfg *cfg, replay_out *o, miaopi_decision *d,
                const miaopi_log_entry *e, int got, miaopi_error *err);

/* Add a's counts to t. */
void replay_tally_add(replay_tally *t, const replay_tally *a);

/* The progress line on standard error (when it is a terminal). */
typedef struct replay_meter {
    bool on;
    struct timespec start;
    uint64_t shown; /* entries when it was last shown */
} replay_meter;

/* Show the count when it passed a multiple of 4096, or when done. */
void replay_meter_show(replay_meter *m, uint64_t entries, bool done);

/* Replay the lines of @p reader with @p jobs worker threads, writing in
 * input order what the one-thread loop writes, counting into @p t
 * (replay_jobs.c). Returns 0, or EXIT_ERROR when the run stopped at a
 * line (said already, as the one-thread loop says it). */
int replay_run_jobs(const replay_cfg *cfg, miaopi_log_reader *reader,
                    replay_tally *t, replay_meter *m, int jobs);

#endif
