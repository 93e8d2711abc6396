/*
 * Shared by the libFuzzer targets. A target must never see APPROVE after
 * an error, so the check is done here once and aborts (which libFuzzer
 * reports as a crash with the input that caused it).
 */
#ifndef MIAOPI_FUZZ_COMMON_H
#define MIAOPI_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>

#include "miaopi.h"

/* Evaluate c under rs and exercise every accessor, the way an embedder
 * would after a decision. */
static void fz_evaluate(miaopi_decision *d, const miaopi_ruleset *rs,
                        const miaopi_case *c)
{
    miaopi_error err;
    miaopi_eval_options o = MIAOPI_EVAL_OPTIONS_INIT;
    o.ignore_effective_dates = 1;
    int rc = miaopi_evaluate(d, rs, c, &o, &err);
    if (rc != MIAOPI_OK) {
        if (miaopi_decision_outcome(d) == MIAOPI_APPROVE) {
            fprintf(stderr, "APPROVE after error %d\n", rc);
            abort();
        }
        return;
    }
    size_t n = miaopi_decision_rule_count(d);
    size_t passed = 0;
    for (size_t i = 0; i < n; i++) {
        miaopi_rule_result r = MIAOPI_RULE_RESULT_INIT;
        if (miaopi_decision_rule(&r, d, i) != MIAOPI_OK)
            abort();
        if (r.status == MIAOPI_RULE_UNKNOWN &&
            miaopi_decision_outcome(d) == MIAOPI_APPROVE) {
            fprintf(stderr, "APPROVE with an UNKNOWN rule\n");
            abort();
        }
        passed += r.status == MIAOPI_RULE_PASS;
    }
    if (miaopi_decision_outcome(d) == MIAOPI_APPROVE && passed == 0) {
        fprintf(stderr, "APPROVE without a passing rule\n");
        abort();
    }
    for (size_t i = 0; i < miaopi_decision_reason_count(d); i++) {
        miaopi_reason r = MIAOPI_REASON_INIT;
        if (miaopi_decision_reason(&r, d, i, "en") != MIAOPI_OK ||
            miaopi_decision_reason(&r, d, i, "zh-CN") != MIAOPI_OK)
            abort();
    }
    char *json = NULL;
    if (miaopi_decision_to_json(&json, d, NULL, MIAOPI_JSON_REASONS) ==
        MIAOPI_OK)
        miaopi_free(json);
}

#endif
