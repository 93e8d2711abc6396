/*
 * embed: the smallest useful miaopi program.
 *
 * Loads a rule file, reads a case, decides it and prints the decision with
 * its reasons and their legal basis. Only <miaopi.h> is used, so this is
 * what a portal's back-end needs to get started. Build it against an
 * installed miaopi:
 *
 *     cc embed.c $(pkg-config --cflags --libs miaopi) -o embed
 *     ./embed rules/sz-talent/ruleset.xml rules/sz-talent/cases/reject-age.json
 *
 * Exit status: 0 APPROVE, 1 REJECT, 3 ESCALATE (a decision was made);
 * 2 when no decision could be made (bad rule file, bad case, not in force).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <miaopi.h>

#include <stdio.h>

/* Print an error the way compilers do, so editors can jump to it. */
static void print_error(const char *what, const miaopi_error *err)
{
    if (err->file[0] && err->line > 0)
        fprintf(stderr, "%s:%d:%d: %s: %s [%s]\n", err->file, err->line,
                err->column, what, err->message, miaopi_strerror(err->code));
    else
        fprintf(stderr, "%s: %s [%s]\n", what, err->message,
                miaopi_strerror(err->code));
}

static void print_decision(const miaopi_decision *d, const char *lang)
{
    const miaopi_ruleset *rs = miaopi_decision_ruleset(d);
    printf("%s\n", miaopi_outcome_name(miaopi_decision_outcome(d)));
    printf("ruleset %s %s, decided on %s\n", miaopi_ruleset_id(rs),
           miaopi_ruleset_version(rs), miaopi_decision_date(d));
    for (size_t i = 0; i < miaopi_decision_reason_count(d); i++) {
        miaopi_reason r = MIAOPI_REASON_INIT;
        if (miaopi_decision_reason(&r, d, i, lang) != MIAOPI_OK)
            continue;
        printf("- [%s] %s\n  %s\n", r.code, r.title, r.message);
        if (r.basis && r.basis[0])
            printf("  (%s)\n", r.basis);
    }
}

int main(int argc, char **argv)
{
    miaopi_ruleset *rs = NULL;
    miaopi_case *c = NULL;
    miaopi_decision *d = NULL;
    miaopi_error err;
    int status = 2;

    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: %s RULES.xml CASE.json [zh-CN|en]\n", argv[0]);
        return 2;
    }
    const char *lang = argc == 4 ? argv[3] : NULL;

    /* A ruleset is immutable and shared: a server loads it once and lets
     * every thread use it. */
    if (miaopi_ruleset_load_file(&rs, argv[1], NULL, &err) != MIAOPI_OK) {
        print_error("cannot load rules", &err);
        goto out;
    }
    if (miaopi_case_load_file(&c, argv[2], &err) != MIAOPI_OK) {
        print_error("cannot read case", &err);
        goto out;
    }
    /* A decision is one thread's working state; a server keeps one per
     * thread and reuses it. */
    if (miaopi_decision_new(&d) != MIAOPI_OK) {
        fprintf(stderr, "out of memory\n");
        goto out;
    }
    if (miaopi_evaluate(d, rs, c, NULL, &err) != MIAOPI_OK) {
        print_error("cannot decide", &err);
        goto out;
    }
    print_decision(d, lang);
    switch (miaopi_decision_outcome(d)) {
    case MIAOPI_APPROVE: status = 0; break;
    case MIAOPI_REJECT: status = 1; break;
    default: status = 3; break;
    }

out:
    miaopi_decision_free(d);
    miaopi_case_free(c);
    miaopi_ruleset_unref(rs);
    return status;
}
