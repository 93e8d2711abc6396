/*
 * miaopi replay --jobs N: the one-thread loop of cmd_replay.c spread over
 * N worker threads, writing the same bytes in the same order. The shape
 * is batch_jobs.c's (eval --batch --jobs), without the log's turns.
 *
 * The main thread reads the log's lines with the reader's own line
 * splitting (miaopi_log_reader_next_line: the same lines and line numbers
 * as miaopi_log_reader_next, blank and torn lines included) into batches
 * of BATCH_LINES lines or BATCH_BYTES bytes. Batches live in a ring of 2N
 * slots, so at most 2N are in memory however long the log. Workers take
 * batches in input order; each makes entries of its lines with
 * miaopi_log_entry_parse (lazily, as the reader does once replay is used;
 * whole for --what-if, which reads every field) and runs replay_step, the
 * one-thread loop's step, with a decision of its own, reporting into the
 * batch's memory streams. A writer thread writes the batches in input
 * order and adds up their counts.
 *
 * JSON items: a worker cannot know whether its first item is the run's
 * first, so every item it writes starts with a comma, and the writer
 * drops the comma of the run's first item.
 *
 * An error that stops the one-thread loop (out of memory, a line that
 * cannot be read) stops this run at the same line: the lines before it
 * are written, the error is said after them, none after it is written.
 */
#include "replay.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define BATCH_LINES 256
#define BATCH_BYTES ((size_t)1 << 20)

typedef struct job_line {
    uint64_t number;  /* in the log, from 1 */
    size_t off, len;  /* of its text in the batch's text */
} job_line;

typedef enum slot_state {
    SLOT_FREE = 0, /* the reader may fill it */
    SLOT_READ,     /* read; waits for a worker */
    SLOT_TAKEN,    /* a worker replays it */
    SLOT_DONE      /* replayed; waits for the writer */
} slot_state;

typedef struct job_batch {
    slot_state state;
    unsigned long seq;     /* batches are numbered from 0 in input order */
    char *text;            /* the lines, back to back */
    size_t text_len, text_cap;
    job_line lines[BATCH_LINES];
    size_t nlines;
    char *out, *errs;      /* what the writer writes (memory streams) */
    size_t out_len, errs_len;
    replay_tally t;
    int stop;              /* 0, or EXIT_ERROR: the run stops ... */
    size_t stop_at;        /* ... at this line (nlines: after the last) */
    miaopi_error err;      /* ... for this reason */
} job_batch;

typedef struct pipeline {
    pthread_mutex_t lock;
    pthread_cond_t cv_read;  /* a slot was freed, or the run stops */
    pthread_cond_t cv_work;  /* a batch was read, or the input ended */
    pthread_cond_t cv_write; /* a batch was replayed, or the input ended */
    job_batch *slots;
    size_t nslots;
    unsigned long nread;     /* batches read so far */
    unsigned long next_work; /* the batch the next free worker takes */
    unsigned long next_write;
    unsigned long stop_seq;  /* the first batch known to stop, or ULONG_MAX */
    bool eof;                /* no more batches will be read */
    bool quit;               /* the writer has stopped: everybody stops */
    int end;                 /* the stop the writer reached, or 0 */
    bool items;              /* the writer has written a JSON item */
    /* Read-only while the threads run. */
    const replay_cfg *cfg;
    unsigned flags;          /* for miaopi_log_entry_parse */
    /* The writer's. */
    replay_tally *t;
    replay_meter *m;
} pipeline;

typedef struct worker {
    pipeline *p;
    pthread_t thread;
    miaopi_decision *d;
} worker;

static job_batch *slot(pipeline *p, unsigned long seq)
{
    return &p->slots[seq % p->nslots];
}

static bool slot_is(const job_batch *b, slot_state s, unsigned long seq)
{
    return b->state == s && b->seq == seq;
}

/* The run stops in b at line i, for the reason in err. */
static void batch_stop(job_batch *b, size_t i, const miaopi_error *err)
{
    b->stop = EXIT_ERROR;
    b->stop_at = i;
    b->err = *err;
}

static void oom(job_batch *b, size_t i)
{
    miaopi_error err;
    memset(&err, 0, sizeof(err));
    err.code = MIAOPI_ENOMEM;
    snprintf(err.message, sizeof(err.message), "out of memory");
    batch_stop(b, i, &err);
}

/* ---- workers ---- */

/* Lines [0, n) of b through replay_step, reporting into o. */
static void replay_lines(worker *w, job_batch *b, size_t n, replay_out *o)
{
    const pipeline *p = w->p;
    for (size_t i = 0; i < n; i++) {
        const job_line *l = &b->lines[i];
        miaopi_log_entry *e = NULL;
        miaopi_error err;
        int got = miaopi_log_entry_parse(&e, b->text + l->off, l->len,
                                         l->number, p->flags, &err);
        int rc = replay_step(p->cfg, o, w->d, e, got == MIAOPI_OK ? 1 : got,
                             &err);
        miaopi_log_entry_free(e);
        if (rc != 0) {
            batch_stop(b, i, &err);
            return;
        }
    }
}

/* Say that the run stops in batch b, so that no later batch is replayed
 * or read. */
static void announce_stop(pipeline *p, const job_batch *b)
{
    pthread_mutex_lock(&p->lock);
    if (b->seq < p->stop_seq)
        p->stop_seq = b->seq;
    pthread_mutex_unlock(&p->lock);
}

static void replay_batch(worker *w, job_batch *b)
{
    memset(&b->t, 0, sizeof(b->t));
    /* The reader stops a batch at a line it could not read. */
    size_t n = b->stop ? b->stop_at : b->nlines;
    FILE *out = open_memstream(&b->out, &b->out_len);
    FILE *errs = open_memstream(&b->errs, &b->errs_len);
    if (out && errs) {
        replay_out o = {out, errs, false, {0}};
        replay_lines(w, b, n, &o);
        b->t = o.t;
    }
    bool failed = !out || !errs;
    if (out)
        failed |= fclose(out) != 0;
    if (errs)
        failed |= fclose(errs) != 0;
    if (failed) {
        /* What was written cannot be trusted whole: stop before it. */
        free(b->out);
        free(b->errs);
        b->out = b->errs = NULL;
        b->out_len = b->errs_len = 0;
        memset(&b->t, 0, sizeof(b->t));
        oom(b, 0);
    }
    if (b->stop)
        announce_stop(w->p, b);
}

static bool work_ready(pipeline *p)
{
    return p->quit ||
           slot_is(slot(p, p->next_work), SLOT_READ, p->next_work) ||
           (p->eof && p->next_work == p->nread);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    pipeline *p = w->p;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!work_ready(p))
            pthread_cond_wait(&p->cv_work, &p->lock);
        job_batch *b = slot(p, p->next_work);
        if (p->quit || !slot_is(b, SLOT_READ, p->next_work))
            break;
        b->state = SLOT_TAKEN;
        p->next_work++;
        bool skip = b->seq > p->stop_seq;
        pthread_mutex_unlock(&p->lock);
        if (!skip)
            replay_batch(w, b);
        pthread_mutex_lock(&p->lock);
        b->state = SLOT_DONE;
        pthread_cond_signal(&p->cv_write);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* ---- the writer ---- */

/* Write one batch and count it; true if the run stops here. */
static bool write_batch(pipeline *p, job_batch *b)
{
    const char *out = b->out;
    size_t len = b->out_len;
    if (p->cfg->json && !p->items && len > 0) {
        out++; /* the comma before the run's first item */
        len--;
        p->items = true;
    }
    fwrite(out, 1, len, stdout);
    fwrite(b->errs, 1, b->errs_len, stderr);
    free(b->out);
    free(b->errs);
    b->out = b->errs = NULL;
    b->out_len = b->errs_len = 0;
    replay_tally_add(p->t, &b->t);
    replay_meter_show(p->m, p->t->entries, false);
    if (b->stop)
        cli_print_error(p->cfg->log, &b->err);
    return b->stop != 0;
}

static bool write_ready(pipeline *p)
{
    return p->quit ||
           slot_is(slot(p, p->next_write), SLOT_DONE, p->next_write) ||
           (p->eof && p->next_write == p->nread);
}

static void *writer_main(void *arg)
{
    pipeline *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!write_ready(p))
            pthread_cond_wait(&p->cv_write, &p->lock);
        job_batch *b = slot(p, p->next_write);
        if (p->quit || !slot_is(b, SLOT_DONE, p->next_write))
            break;
        pthread_mutex_unlock(&p->lock);
        bool stop = write_batch(p, b);
        pthread_mutex_lock(&p->lock);
        if (stop) {
            p->end = b->stop;
            p->quit = true;
            pthread_cond_broadcast(&p->cv_read);
            pthread_cond_broadcast(&p->cv_work);
            break;
        }
        b->state = SLOT_FREE;
        p->next_write++;
        pthread_cond_signal(&p->cv_read);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* ---- the reader (the main thread) ---- */

static bool text_add(job_batch *b, const char *s, size_t n)
{
    if (n > b->text_cap - b->text_len) {
        size_t cap = b->text_cap ? b->text_cap : 1 << 16;
        while (cap - b->text_len < n) {
            if (cap > SIZE_MAX / 2)
                return false;
            cap *= 2;
        }
        char *t = realloc(b->text, cap);
        if (!t)
            return false;
        b->text = t;
        b->text_cap = cap;
    }
    memcpy(b->text + b->text_len, s, n);
    b->text_len += n;
    return true;
}

/* Fill b with the next lines; false when the log has ended (or a line
 * could not be read, which stops the run at that line). */
static bool read_batch(job_batch *b, miaopi_log_reader *reader)
{
    b->text_len = 0;
    /* A long line left this slot's text large: give that back, so that
     * 2N slots hold about 2N batches' worth, not 2N of the longest line. */
    if (b->text_cap > 4 * BATCH_BYTES) {
        free(b->text);
        b->text = NULL;
        b->text_cap = 0;
    }
    b->nlines = 0;
    b->stop = 0;
    while (b->nlines < BATCH_LINES && b->text_len < BATCH_BYTES) {
        const char *line;
        size_t len;
        uint64_t number;
        miaopi_error err;
        int got = miaopi_log_reader_next_line(reader, &line, &len, &number,
                                              &err);
        if (got == 0)
            return false;
        if (got < 0) {
            batch_stop(b, b->nlines, &err);
            return false;
        }
        job_line *l = &b->lines[b->nlines];
        l->number = number;
        l->off = b->text_len;
        l->len = len;
        if (!text_add(b, line, len)) {
            oom(b, b->nlines);
            return false;
        }
        b->nlines++;
    }
    return true;
}

static void read_all(pipeline *p, miaopi_log_reader *reader)
{
    bool more = true;
    while (more) {
        pthread_mutex_lock(&p->lock);
        job_batch *b = slot(p, p->nread);
        while (!p->quit && b->state != SLOT_FREE)
            pthread_cond_wait(&p->cv_read, &p->lock);
        /* After a stop, reading on would only feed batches nobody
         * writes. */
        bool go = !p->quit && p->stop_seq == ULONG_MAX;
        pthread_mutex_unlock(&p->lock);
        if (!go)
            break;
        more = read_batch(b, reader);
        if (b->nlines == 0 && !b->stop)
            break;
        pthread_mutex_lock(&p->lock);
        b->seq = p->nread++;
        b->state = SLOT_READ;
        pthread_cond_signal(&p->cv_work);
        pthread_mutex_unlock(&p->lock);
    }
    pthread_mutex_lock(&p->lock);
    p->eof = true;
    pthread_cond_broadcast(&p->cv_work);
    pthread_cond_signal(&p->cv_write);
    pthread_mutex_unlock(&p->lock);
}

/* ---- setting up and tearing down ---- */

static void pipeline_free(pipeline *p, worker *ws, int jobs)
{
    for (int i = 0; ws && i < jobs; i++)
        miaopi_decision_free(ws[i].d);
    for (size_t i = 0; p->slots && i < p->nslots; i++) {
        free(p->slots[i].text);
        free(p->slots[i].out);
        free(p->slots[i].errs);
    }
    free(p->slots);
    free(ws);
    pthread_cond_destroy(&p->cv_write);
    pthread_cond_destroy(&p->cv_work);
    pthread_cond_destroy(&p->cv_read);
    pthread_mutex_destroy(&p->lock);
}

/* Stop threads that started (when another could not) and join them. */
static void cancel(pipeline *p)
{
    pthread_mutex_lock(&p->lock);
    p->quit = true;
    p->eof = true;
    pthread_cond_broadcast(&p->cv_read);
    pthread_cond_broadcast(&p->cv_work);
    pthread_cond_broadcast(&p->cv_write);
    pthread_mutex_unlock(&p->lock);
}

int replay_run_jobs(const replay_cfg *cfg, miaopi_log_reader *reader,
                    replay_tally *t, replay_meter *m, int jobs)
{
    pipeline p;
    memset(&p, 0, sizeof(p));
    pthread_mutex_init(&p.lock, NULL);
    pthread_cond_init(&p.cv_read, NULL);
    pthread_cond_init(&p.cv_work, NULL);
    pthread_cond_init(&p.cv_write, NULL);
    p.stop_seq = ULONG_MAX;
    p.cfg = cfg;
    /* As the reader parses once replay is used; what-if reads every
     * field of every entry, which a whole parse has ready. */
    p.flags = cfg->what_if ? 0 : MIAOPI_LOG_ENTRY_LAZY;
    p.t = t;
    p.m = m;
    p.nslots = 2 * (size_t)jobs;
    p.slots = calloc(p.nslots, sizeof(*p.slots));
    worker *ws = calloc((size_t)jobs, sizeof(*ws));
    bool ok = p.slots && ws;
    for (int i = 0; ok && i < jobs; i++) {
        ws[i].p = &p;
        ok = miaopi_decision_new(&ws[i].d) == MIAOPI_OK;
    }
    if (!ok) {
        fprintf(stderr, "%s: out of memory\n", cli_prog);
        pipeline_free(&p, ws, jobs);
        return EXIT_ERROR;
    }
    pthread_t writer;
    int started = 0;
    ok = pthread_create(&writer, NULL, writer_main, &p) == 0;
    while (ok && started < jobs &&
           pthread_create(&ws[started].thread, NULL, worker_main,
                          &ws[started]) == 0)
        started++;
    if (ok && started == jobs)
        read_all(&p, reader);
    else
        cancel(&p);
    for (int i = 0; i < started; i++)
        pthread_join(ws[i].thread, NULL);
    if (ok)
        pthread_join(writer, NULL);
    int status = p.end;
    if (!ok || started < jobs) {
        fprintf(stderr, "%s: cannot start %d threads\n", cli_prog, jobs);
        status = EXIT_ERROR;
    }
    pipeline_free(&p, ws, jobs);
    return status;
}
