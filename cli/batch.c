/*
 * miaopi eval --batch: JSON Lines in, one JSON decision per line out, in
 * input order. A line that cannot be decided (malformed JSON, a case the
 * library refuses) gives an error record for that line and the run goes
 * on. One decision object is reused for every line, so once it has warmed
 * up the library does not allocate per decision. With --jobs N > 1 the
 * lines go through batch_jobs.c instead, which writes the same bytes.
 */
#include "batch.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

char *batch_error_json(unsigned long line, int code, const char *msg)
{
    json_t *o = json_pack("{s:I, s:s, s:s}", "line", (json_int_t)line,
                          "error", msg, "code", miaopi_strerror(code));
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    return s;
}

static void error_record(unsigned long line, int code, const char *msg)
{
    char *s = batch_error_json(line, code, msg);
    if (s)
        puts(s);
    free(s);
}

/* "[#####.....]  42%  1234 decisions" on one stderr line, at most ten
 * times a second. */
void batch_progress(batch_stats *st, bool final)
{
    if (!st->progress)
        return;
    double t = now();
    if (!final && t - st->last_progress < 0.1)
        return;
    st->last_progress = t;
    if (st->size > 0) {
        int pct = (int)(100.0 * (double)st->done / (double)st->size);
        if (pct > 100)
            pct = 100;
        char bar[31];
        int fill = pct * 30 / 100;
        for (int i = 0; i < 30; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[30] = '\0';
        fprintf(stderr, "\r[%s] %3d%%  %lu decisions", bar, pct, st->lines);
    } else {
        fprintf(stderr, "\r%lu decisions", st->lines);
    }
    if (final)
        fputs("\r\033[K", stderr);
}

static void summary(const batch_stats *st)
{
    double secs = now() - st->start;
    unsigned long decided = st->counts[MIAOPI_APPROVE] +
                            st->counts[MIAOPI_REJECT] +
                            st->counts[MIAOPI_ESCALATE];
    fprintf(stderr,
            "%lu line%s: %lu APPROVE, %lu REJECT, %lu ESCALATE, %lu "
            "error%s; %.3f s, %.0f decisions/s\n",
            st->lines, st->lines == 1 ? "" : "s", st->counts[MIAOPI_APPROVE],
            st->counts[MIAOPI_REJECT], st->counts[MIAOPI_ESCALATE],
            st->errors, st->errors == 1 ? "" : "s", secs,
            secs > 0 ? (double)decided / secs : 0.0);
}

bool batch_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return false;
    return true;
}

/* Decide one line; print its decision or its error record. Returns the
 * status, so that an error no line can avoid stops the run. */
static int one_line(batch_stats *st, const char *text, size_t len,
                     const cli_batch_target *t, miaopi_decision *d,
                     const miaopi_eval_options *eo, const char *lang,
                     unsigned flags)
{
    miaopi_case *c = NULL;
    miaopi_error err;
    int rc = miaopi_case_from_json(&c, text, len, &err);
    if (rc == MIAOPI_OK)
        rc = t->reg ? miaopi_registry_evaluate(d, t->reg, t->id, c, eo, &err)
                    : miaopi_evaluate(d, t->rs, c, eo, &err);
    if (rc == MIAOPI_OK && t->log)
        rc = miaopi_log_append(t->log, d, c, NULL, &err);
    char *s = NULL;
    if (rc == MIAOPI_OK)
        rc = miaopi_decision_to_json(&s, d, lang, flags);
    miaopi_case_free(c);
    if (rc == MIAOPI_EAMBIGUOUS) {
        /* Every line would fail alike: a usage error, said once. */
        cli_print_ambiguous(t->rules, &err);
        return rc;
    }
    if (rc != MIAOPI_OK) {
        st->errors++;
        error_record(st->lines, rc, err.message[0] ? err.message
                                                   : miaopi_strerror(rc));
        return rc;
    }
    st->counts[miaopi_decision_outcome(d)]++;
    /* The decision's JSON is an object; the line number goes first. */
    printf("{\"line\":%lu,%s\n", st->lines, s + 1);
    miaopi_free(s);
    return MIAOPI_OK;
}

/* The one-thread loop: --jobs 1, and the code path of every release
 * before --jobs. */
static batch_end batch_run(FILE *in, batch_stats *st,
                           const cli_batch_target *t,
                           const miaopi_eval_options *eo, const char *lang,
                           bool trace)
{
    miaopi_decision *d = NULL;
    if (miaopi_decision_new(&d) != MIAOPI_OK ||
        (trace && miaopi_decision_set_trace(d, 1) != MIAOPI_OK)) {
        fprintf(stderr, "%s: out of memory\n", cli_prog);
        miaopi_decision_free(d);
        return BATCH_STOPPED;
    }
    unsigned flags = MIAOPI_JSON_REASONS | (trace ? MIAOPI_JSON_TRACE : 0);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    bool stop = false;
    while (!stop && (n = getline(&line, &cap, in)) >= 0) {
        st->lines++;
        st->done += n;
        if (!batch_blank(line, (size_t)n))
            stop = one_line(st, line, (size_t)n, t, d, eo, lang, flags) ==
                   MIAOPI_EAMBIGUOUS;
        if (!stop && ferror(stdout)) {
            batch_output_failed();
            stop = true;
        }
        batch_progress(st, false);
    }
    free(line);
    miaopi_decision_free(d);
    return stop ? BATCH_STOPPED : BATCH_FINISHED;
}

static bool output_failed_said;

void batch_output_failed(void)
{
    if (!output_failed_said)
        fprintf(stderr, "%s: cannot write the output\n", cli_prog);
    output_failed_said = true;
}

int cli_eval_batch(const char *path, const cli_batch_target *t,
                   const miaopi_eval_options *eo, const char *lang,
                   bool trace, int jobs)
{
    FILE *in = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!in) {
        fprintf(stderr, "%s: %s: cannot open\n", cli_prog, path);
        return EXIT_ERROR;
    }
    batch_stats st;
    memset(&st, 0, sizeof(st));
    st.start = now();
    st.size = -1;
    struct stat sb;
    if (fstat(fileno(in), &sb) == 0 && S_ISREG(sb.st_mode))
        st.size = (long long)sb.st_size;
    st.progress = isatty(STDERR_FILENO);
    batch_end end = jobs > 1 ? batch_run_jobs(in, &st, t, eo, lang, trace,
                                              jobs)
                             : batch_run(in, &st, t, eo, lang, trace);
    int status = ferror(in) || end == BATCH_STOPPED ? EXIT_ERROR : 0;
    if (ferror(in))
        fprintf(stderr, "%s: %s: read error\n", cli_prog, path);
    if (in != stdin)
        fclose(in);
    batch_progress(&st, true);
    if (end == BATCH_FINISHED)
        summary(&st);
    /* A failed write may show only now, at the last flush. */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        batch_output_failed();
        status = EXIT_ERROR;
    }
    if (status == 0 && st.errors)
        status = EXIT_FOUND;
    return status;
}
