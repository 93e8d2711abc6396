/*
 * miaopi eval --batch --jobs N: the one-thread loop of batch.c spread over
 * N worker threads, writing the same bytes in the same order.
 *
 * The main thread reads the input into batches of BATCH_LINES lines (or
 * BATCH_BYTES bytes, whichever comes first), so that threads meet once a
 * batch, not once a line. Batches live in a ring of 2N slots: at most 2N
 * batches are in memory however long the input, and the reader waits for
 * a free slot. Workers take batches in input order, each with decisions
 * of its own, and render every line's output into its batch. A writer
 * thread writes the batches in input order and keeps the counts.
 *
 * With --log the entries must reach the chain in input order too. A
 * worker parses and evaluates its whole batch first (one decision per
 * line, kept), then waits for the batch's turn at the log and appends;
 * the turns go in batch order. Parsing and evaluating, which are most of
 * the work, run in parallel; appending runs one batch after another, as
 * the chain requires anyway.
 *
 * An error that no line can avoid (MIAOPI_EAMBIGUOUS, or running out of
 * memory) stops the run at its line as the one-thread loop does: the
 * lines before it are written (and logged), none after it; workers skip
 * later batches and the log's turn never reaches them.
 */
#include "batch.h"

#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BATCH_LINES 256
#define BATCH_BYTES ((size_t)1 << 20)
/* With a log each worker keeps a decision per line of its batch, and a
 * warm decision holds tens of KiB: many workers get shorter batches, so
 * that all of them together keep at most about this many. */
#define LOG_DECISIONS 4096
#define LOG_BATCH_MIN 16

typedef struct buf {
    char *data;
    size_t len, cap;
    bool failed;
} buf;

typedef struct job_line {
    unsigned long number; /* in the input, from 1 */
    size_t off, len;      /* of its text in the batch's text */
    /* With a log, kept from evaluating to appending: */
    int rc;               /* 0, or why the line is an error record */
    miaopi_case *c;       /* the parsed case (rc == 0) */
    char *record;         /* the error record (rc != 0); may be NULL */
    char *json;           /* the decision's JSON (rc == 0), made before
                             the log's turn; NULL: json_rc says why */
    int json_rc;
} job_line;

typedef enum slot_state {
    SLOT_FREE = 0, /* the reader may fill it */
    SLOT_READ,     /* read; waits for a worker */
    SLOT_TAKEN,    /* a worker decides it */
    SLOT_DONE      /* decided; waits for the writer */
} slot_state;

typedef struct job_batch {
    slot_state state;
    unsigned long seq;     /* batches are numbered from 0 in input order */
    buf text;              /* the non-blank lines, back to back */
    job_line lines[BATCH_LINES];
    size_t nlines;         /* non-blank lines */
    unsigned long read;    /* lines read, blank ones included */
    long long bytes;       /* bytes read */
    buf out;               /* what the writer writes */
    unsigned long counts[4];
    unsigned long errors;
    int stop;              /* 0, or the error that stops the run ... */
    size_t stop_at;        /* ... at this line of the batch */
    miaopi_error err;      /* for stop == MIAOPI_EAMBIGUOUS */
} job_batch;

typedef struct pipeline {
    pthread_mutex_t lock;
    pthread_cond_t cv_read;  /* a slot was freed, or the run stops */
    pthread_cond_t cv_work;  /* a batch was read, or the input ended */
    pthread_cond_t cv_write; /* a batch was decided, or the input ended */
    pthread_cond_t cv_log;   /* the log's turn moved on, or a stop */
    job_batch *slots;
    size_t nslots;
    unsigned long nread;     /* batches read so far */
    unsigned long next_work; /* the batch the next free worker takes */
    unsigned long next_write;
    unsigned long log_turn;  /* the batch whose entries go next */
    unsigned long stop_seq;  /* the first batch known to stop, or ULONG_MAX */
    bool eof;                /* no more batches will be read */
    bool quit;               /* the writer has stopped: everybody stops */
    int end;                 /* the stop the writer reached, or 0 */
    miaopi_error end_err;
    /* Read-only while the threads run. */
    size_t batch_lines;      /* at most BATCH_LINES */
    const cli_batch_target *t;
    const miaopi_eval_options *eo;
    const char *lang;
    unsigned flags;
    batch_stats *st;         /* the writer's */
} pipeline;

typedef struct worker {
    pipeline *p;
    pthread_t thread;
    /* One decision; with a log, one per line of a batch. */
    miaopi_decision *d[BATCH_LINES];
    size_t nd;
} worker;

/* Room for n more bytes; false (and b failed) without memory. */
static bool buf_reserve(buf *b, size_t n)
{
    if (b->failed)
        return false;
    if (n > b->cap - b->len) {
        if (n > SIZE_MAX / 4 - b->len) {
            b->failed = true;
            return false;
        }
        size_t cap = b->cap ? b->cap : 4096;
        while (cap - b->len < n)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d) {
            b->failed = true;
            return false;
        }
        b->data = d;
        b->cap = cap;
    }
    return true;
}

static bool buf_add(buf *b, const char *s, size_t n)
{
    if (!buf_reserve(b, n))
        return false;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    return true;
}

static job_batch *slot(pipeline *p, unsigned long seq)
{
    return &p->slots[seq % p->nslots];
}

static bool slot_is(const job_batch *b, slot_state s, unsigned long seq)
{
    return b->state == s && b->seq == seq;
}

/* ---- rendering: the same bytes as batch.c's one_line ---- */

/* An error record made earlier (NULL when there was no memory for it). */
static void put_record(job_batch *b, const char *record)
{
    b->errors++;
    if (record) {
        buf_add(&b->out, record, strlen(record));
        buf_add(&b->out, "\n", 1);
    }
}

static void put_error(job_batch *b, unsigned long number, int rc,
                      const char *msg)
{
    char *s = batch_error_json(number, rc, msg);
    put_record(b, s);
    free(s);
}

/* A decision's line: its JSON s (made by miaopi_decision_to_json, rc) with
 * the line number first. */
static void put_json(job_batch *b, unsigned long number,
                     const miaopi_decision *d, const char *s, int rc)
{
    if (rc != MIAOPI_OK) {
        put_error(b, number, rc, miaopi_strerror(rc));
        return;
    }
    b->counts[miaopi_decision_outcome(d)]++;
    char head[32];
    int n = snprintf(head, sizeof(head), "{\"line\":%lu,", number);
    buf_add(&b->out, head, (size_t)n);
    buf_add(&b->out, s + 1, strlen(s + 1));
    buf_add(&b->out, "\n", 1);
}

static void put_decision(job_batch *b, const pipeline *p,
                         unsigned long number, const miaopi_decision *d)
{
    char *s = NULL;
    int rc = miaopi_decision_to_json(&s, d, p->lang, p->flags);
    put_json(b, number, d, s, rc);
    miaopi_free(s);
}

/* ---- workers ---- */

/* Parse and evaluate one line into d; on an error, err says why. */
static int evaluate(const pipeline *p, const job_batch *b, const job_line *l,
                    miaopi_decision *d, miaopi_case **c, miaopi_error *err)
{
    const cli_batch_target *t = p->t;
    int rc = miaopi_case_from_json(c, b->text.data + l->off, l->len, err);
    if (rc == MIAOPI_OK)
        rc = t->reg ? miaopi_registry_evaluate(d, t->reg, t->id, *c, p->eo,
                                               err)
                    : miaopi_evaluate(d, t->rs, *c, p->eo, err);
    return rc;
}

static const char *message(int rc, const miaopi_error *err)
{
    return err->message[0] ? err->message : miaopi_strerror(rc);
}

/* Say that the run stops in batch b, so that no later batch is logged
 * or decided. Before the log's turn moves past b. */
static void announce_stop(pipeline *p, const job_batch *b)
{
    pthread_mutex_lock(&p->lock);
    if (b->seq < p->stop_seq)
        p->stop_seq = b->seq;
    pthread_cond_broadcast(&p->cv_log);
    pthread_mutex_unlock(&p->lock);
}

/* Lines [0, n) without a log: decide and render each at once. Returns
 * how many lines were decided before a stop. */
static size_t decide_now(worker *w, job_batch *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const job_line *l = &b->lines[i];
        miaopi_case *c = NULL;
        miaopi_error err;
        int rc = evaluate(w->p, b, l, w->d[0], &c, &err);
        miaopi_case_free(c);
        if (rc == MIAOPI_EAMBIGUOUS) {
            b->err = err;
            return i;
        }
        if (rc == MIAOPI_OK)
            put_decision(b, w->p, l->number, w->d[0]);
        else
            put_error(b, l->number, rc, message(rc, &err));
    }
    return n;
}

/* Lines [0, n) with a log: evaluate each into a decision of its own and
 * keep the case (or the error record) for appending. */
static size_t decide_for_log(worker *w, job_batch *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        job_line *l = &b->lines[i];
        miaopi_error err;
        l->c = NULL;
        l->record = NULL;
        l->rc = evaluate(w->p, b, l, w->d[i], &l->c, &err);
        if (l->rc == MIAOPI_EAMBIGUOUS) {
            miaopi_case_free(l->c);
            b->err = err;
            return i;
        }
        if (l->rc != MIAOPI_OK) {
            miaopi_case_free(l->c);
            l->c = NULL;
            l->record = batch_error_json(l->number, l->rc,
                                         message(l->rc, &err));
        }
    }
    return n;
}

/* Lines [0, n) with a log, before the batch's turn: each decision's id
 * fixed (the entry and the output carry the same) and its JSON made, and
 * room kept for the batch's output, so that writing the output in the
 * turn cannot fail and the turn is not passed on before a failure is
 * known. False when out of memory. */
static bool render_for_log(worker *w, job_batch *b, size_t n)
{
    const pipeline *p = w->p;
    size_t need = 0;
    for (size_t i = 0; i < n; i++) {
        b->lines[i].json = NULL; /* all of them: the loop below may stop */
        b->lines[i].json_rc = MIAOPI_OK;
    }
    for (size_t i = 0; i < n; i++) {
        job_line *l = &b->lines[i];
        if (l->rc != MIAOPI_OK) {
            need += l->record ? strlen(l->record) + 1 : 0;
            continue;
        }
        /* Made now, used by the append (if making it fails, so does the
         * append, and the line becomes its error record). */
        (void)miaopi_decision_id(w->d[i]);
        l->json_rc = miaopi_decision_to_json(&l->json, w->d[i], p->lang,
                                             p->flags);
        need += 32 + (l->json ? strlen(l->json) : 0);
    }
    return buf_reserve(&b->out, need);
}

/* Append lines [0, n) in the batch's turn and write their output. The
 * turn passes on only after the output is written (or known to fail:
 * then the run stops here, and no later batch is logged). A batch after
 * a stop appends nothing (and is never written). */
static void append_and_render(worker *w, job_batch *b, size_t n)
{
    pipeline *p = w->p;
    bool rendered = render_for_log(w, b, n);
    if (!rendered) {
        b->stop = MIAOPI_ENOMEM;
        b->stop_at = 0;
        announce_stop(p, b);
    }
    pthread_mutex_lock(&p->lock);
    while (rendered && p->log_turn != b->seq && b->seq <= p->stop_seq)
        pthread_cond_wait(&p->cv_log, &p->lock);
    bool skip = !rendered || b->seq > p->stop_seq;
    pthread_mutex_unlock(&p->lock);
    for (size_t i = 0; i < n && !skip; i++) {
        job_line *l = &b->lines[i];
        miaopi_error err;
        if (l->rc != MIAOPI_OK)
            continue;
        l->rc = miaopi_log_append(p->t->log, w->d[i], l->c, NULL, &err);
        if (l->rc != MIAOPI_OK)
            l->record = batch_error_json(l->number, l->rc,
                                         message(l->rc, &err));
    }
    for (size_t i = 0; i < n && !skip; i++) {
        job_line *l = &b->lines[i];
        if (l->rc == MIAOPI_OK)
            put_json(b, l->number, w->d[i], l->json, l->json_rc);
        else
            put_record(b, l->record);
    }
    if (!skip) {
        pthread_mutex_lock(&p->lock);
        if (b->out.failed && !b->stop) {
            /* Logged but not written: stop before any later batch is
             * logged. */
            b->stop = MIAOPI_ENOMEM;
            b->stop_at = n;
            if (b->seq < p->stop_seq)
                p->stop_seq = b->seq;
        }
        p->log_turn++;
        pthread_cond_broadcast(&p->cv_log);
        pthread_mutex_unlock(&p->lock);
    }
    for (size_t i = 0; i < n; i++) {
        job_line *l = &b->lines[i];
        miaopi_case_free(l->c);
        free(l->record);
        miaopi_free(l->json);
        l->c = NULL;
        l->record = l->json = NULL;
    }
}

static void decide_batch(worker *w, job_batch *b)
{
    b->out.len = 0;
    b->out.failed = false;
    memset(b->counts, 0, sizeof(b->counts));
    b->errors = 0;
    /* The reader stops a batch at a line it could not store. */
    size_t n = b->stop ? b->stop_at : b->nlines;
    bool log = w->p->t->log != NULL;
    size_t done = log ? decide_for_log(w, b, n) : decide_now(w, b, n);
    if (done < n) {
        b->stop = MIAOPI_EAMBIGUOUS;
        b->stop_at = done;
    }
    if (b->stop)
        announce_stop(w->p, b);
    if (log)
        append_and_render(w, b, done);
    if (b->out.failed && !b->stop) {
        /* Without a log (append_and_render stops a logged batch itself,
         * before a later batch is logged): the output is not complete,
         * and the exit status says so. */
        b->stop = MIAOPI_ENOMEM;
        announce_stop(w->p, b);
    }
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
            decide_batch(w, b);
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
    batch_stats *st = p->st;
    if (!b->out.failed &&
        (fwrite(b->out.data, 1, b->out.len, stdout) != b->out.len ||
         ferror(stdout)) &&
        !b->stop) {
        /* As the one-thread loop: the run stops at a failed write (the
         * batches being decided after this one are not logged: see the
         * writer). */
        b->stop = MIAOPI_EIO;
    }
    st->lines += b->read;
    st->done += b->bytes;
    for (int i = 0; i < 4; i++)
        st->counts[i] += b->counts[i];
    st->errors += b->errors;
    batch_progress(st, false);
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
            p->end_err = b->err;
            p->quit = true;
            /* No batch after this one takes its turn at the log. */
            if (b->seq < p->stop_seq)
                p->stop_seq = b->seq;
            pthread_cond_broadcast(&p->cv_read);
            pthread_cond_broadcast(&p->cv_work);
            pthread_cond_broadcast(&p->cv_log);
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

/* Fill b with the next lines; false when the input has ended (or a line
 * could not be stored, which stops the run at that line). */
static bool read_batch(job_batch *b, size_t max_lines, FILE *in,
                       char **line, size_t *cap, unsigned long *number)
{
    b->text.len = 0;
    /* A long line left this slot's buffers large: give that back, so that
     * 2N slots hold about 2N batches' worth, not 2N of the longest line. */
    if (b->text.cap > 4 * BATCH_BYTES) {
        free(b->text.data);
        b->text.data = NULL;
        b->text.cap = 0;
    }
    if (b->out.cap > 4 * BATCH_BYTES) {
        free(b->out.data);
        b->out.data = NULL;
        b->out.cap = b->out.len = 0;
    }
    b->text.failed = false;
    b->nlines = 0;
    b->read = 0;
    b->bytes = 0;
    b->stop = 0;
    while (b->nlines < max_lines && b->text.len < BATCH_BYTES) {
        ssize_t n = getline(line, cap, in);
        if (n < 0)
            return false;
        (*number)++;
        b->read++;
        b->bytes += n;
        if (batch_blank(*line, (size_t)n))
            continue;
        job_line *l = &b->lines[b->nlines];
        l->number = *number;
        l->off = b->text.len;
        l->len = (size_t)n;
        if (!buf_add(&b->text, *line, (size_t)n)) {
            b->stop = MIAOPI_ENOMEM;
            b->stop_at = b->nlines;
            return false;
        }
        b->nlines++;
    }
    return true;
}

static void read_all(pipeline *p, FILE *in)
{
    char *line = NULL;
    size_t cap = 0;
    unsigned long number = 0;
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
        more = read_batch(b, p->batch_lines, in, &line, &cap, &number);
        if (b->read == 0 && !b->stop)
            break;
        pthread_mutex_lock(&p->lock);
        b->seq = p->nread++;
        b->state = SLOT_READ;
        pthread_cond_signal(&p->cv_work);
        pthread_mutex_unlock(&p->lock);
    }
    free(line);
    pthread_mutex_lock(&p->lock);
    p->eof = true;
    pthread_cond_broadcast(&p->cv_work);
    pthread_cond_signal(&p->cv_write);
    pthread_mutex_unlock(&p->lock);
}

/* ---- setting up and tearing down ---- */

static bool workers_new(worker *ws, int jobs, pipeline *p, bool trace)
{
    size_t nd = p->t->log ? p->batch_lines : 1;
    for (int i = 0; i < jobs; i++) {
        ws[i].p = p;
        for (; ws[i].nd < nd; ws[i].nd++) {
            miaopi_decision **d = &ws[i].d[ws[i].nd];
            if (miaopi_decision_new(d) != MIAOPI_OK)
                return false;
            if (trace && miaopi_decision_set_trace(*d, 1) != MIAOPI_OK) {
                ws[i].nd++; /* so that it is freed */
                return false;
            }
        }
    }
    return true;
}

static void pipeline_free(pipeline *p, worker *ws, int jobs)
{
    for (int i = 0; ws && i < jobs; i++)
        for (size_t j = 0; j < ws[i].nd; j++)
            miaopi_decision_free(ws[i].d[j]);
    for (size_t i = 0; p->slots && i < p->nslots; i++) {
        free(p->slots[i].text.data);
        free(p->slots[i].out.data);
    }
    free(p->slots);
    free(ws);
    pthread_cond_destroy(&p->cv_log);
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
    pthread_cond_broadcast(&p->cv_log);
    pthread_mutex_unlock(&p->lock);
}

batch_end batch_run_jobs(FILE *in, batch_stats *st, const cli_batch_target *t,
                         const miaopi_eval_options *eo, const char *lang,
                         bool trace, int jobs)
{
    pipeline p;
    memset(&p, 0, sizeof(p));
    pthread_mutex_init(&p.lock, NULL);
    pthread_cond_init(&p.cv_read, NULL);
    pthread_cond_init(&p.cv_work, NULL);
    pthread_cond_init(&p.cv_write, NULL);
    pthread_cond_init(&p.cv_log, NULL);
    p.stop_seq = ULONG_MAX;
    p.t = t;
    p.eo = eo;
    p.lang = lang;
    p.flags = MIAOPI_JSON_REASONS | (trace ? MIAOPI_JSON_TRACE : 0);
    p.st = st;
    p.batch_lines = BATCH_LINES;
    if (t->log && LOG_DECISIONS / jobs < BATCH_LINES)
        p.batch_lines = LOG_DECISIONS / jobs < LOG_BATCH_MIN
                            ? LOG_BATCH_MIN : LOG_DECISIONS / jobs;
    p.nslots = 2 * (size_t)jobs;
    p.slots = calloc(p.nslots, sizeof(*p.slots));
    worker *ws = calloc((size_t)jobs, sizeof(*ws));
    if (!p.slots || !ws || !workers_new(ws, jobs, &p, trace)) {
        fprintf(stderr, "%s: out of memory\n", cli_prog);
        pipeline_free(&p, ws, jobs);
        return BATCH_STOPPED;
    }
    pthread_t writer;
    int started = 0;
    bool ok = pthread_create(&writer, NULL, writer_main, &p) == 0;
    while (ok && started < jobs &&
           pthread_create(&ws[started].thread, NULL, worker_main,
                          &ws[started]) == 0)
        started++;
    if (ok && started == jobs)
        read_all(&p, in);
    else
        cancel(&p);
    for (int i = 0; i < started; i++)
        pthread_join(ws[i].thread, NULL);
    if (ok)
        pthread_join(writer, NULL);
    batch_end end = BATCH_FINISHED;
    if (!ok || started < jobs) {
        fprintf(stderr, "%s: cannot start %d threads\n", cli_prog, jobs);
        end = BATCH_STOPPED;
    } else if (p.end == MIAOPI_EAMBIGUOUS) {
        cli_print_ambiguous(t->rules, &p.end_err);
        end = BATCH_STOPPED;
    } else if (p.end == MIAOPI_EIO) {
        batch_output_failed();
        end = BATCH_STOPPED;
    } else if (p.end) {
        fprintf(stderr, "%s: out of memory\n", cli_prog);
        end = BATCH_STOPPED;
    }
    pipeline_free(&p, ws, jobs);
    return end;
}
