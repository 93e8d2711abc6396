/*
 * What the one-thread batch (batch.c) and the parallel one (batch_jobs.c)
 * share: the counts, the progress bar, the summary and the error record,
 * so that both print the same bytes.
 */
#ifndef MIAOPI_CLI_BATCH_H
#define MIAOPI_CLI_BATCH_H

#include "cli.h"

typedef struct batch_stats {
    unsigned long lines;
    unsigned long counts[4]; /* by miaopi_outcome */
    unsigned long errors;
    double start;
    double last_progress;
    long long size;          /* bytes of input, or -1 when not a file */
    long long done;
    bool progress;
} batch_stats;

/* How a run ended: every line was read (print the summary), or an error
 * no line can avoid stopped it (said already; exit with EXIT_ERROR). */
typedef enum batch_end { BATCH_FINISHED, BATCH_STOPPED } batch_end;

bool batch_blank(const char *s, size_t n);
/* Say that standard output cannot be written (once per run). A run stops
 * there: deciding, and logging, more cases whose decisions nobody will
 * read helps no one. */
void batch_output_failed(void);
void batch_progress(batch_stats *st, bool final);
/* The error record of a line, without a newline; free with free(). NULL
 * when out of memory. */
char *batch_error_json(unsigned long line, int code, const char *msg);

/* Decide every line of @p in with @p jobs worker threads, writing in input
 * order exactly what the one-thread loop writes (batch_jobs.c). */
batch_end batch_run_jobs(FILE *in, batch_stats *st, const cli_batch_target *t,
                         const miaopi_eval_options *eo, const char *lang,
                         bool trace, int jobs);

#endif
