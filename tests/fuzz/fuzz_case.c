/*
 * libFuzzer target: a case document, parsed and evaluated against the
 * bundled example ruleset (rules/sz-talent/ruleset.xml, compiled in).
 * The ruleset and the decision are kept across inputs, as a service
 * keeps them, so reuse of the decision's buffers is fuzzed as well.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_common.h"

extern const char miaopi_fuzz_ruleset[];
extern const size_t miaopi_fuzz_ruleset_len;

static miaopi_ruleset *rs;
static miaopi_decision *d;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!rs) {
        if (miaopi_ruleset_load_buffer(&rs, miaopi_fuzz_ruleset,
                                       miaopi_fuzz_ruleset_len, "sz-talent",
                                       NULL, NULL) != MIAOPI_OK ||
            miaopi_decision_new(&d) != MIAOPI_OK)
            abort();
    }
    miaopi_case *c = NULL;
    if (miaopi_case_from_json(&c, (const char *)data, size, NULL) !=
        MIAOPI_OK)
        return 0;
    fz_evaluate(d, rs, c);
    char *json = NULL;
    if (miaopi_case_to_json(&json, c) == MIAOPI_OK)
        miaopi_free(json);
    miaopi_case_free(c);
    return 0;
}
