/*
 * The public header must stand alone and stay C99-clean: this file is
 * compiled with -std=c99 -pedantic -Werror, and the same source is compiled
 * as C++ (test_header.cc includes it), so an embedder in either language
 * can include miaopi.h with nothing before it.
 */
#include <miaopi.h>

#include <stdio.h>
#include <string.h>

int main(void)
{
    miaopi_load_options lo = MIAOPI_LOAD_OPTIONS_INIT;
    miaopi_eval_options eo = MIAOPI_EVAL_OPTIONS_INIT;
    miaopi_rule_info ri = MIAOPI_RULE_INFO_INIT;
    miaopi_rule_result rr = MIAOPI_RULE_RESULT_INIT;
    miaopi_reason re = MIAOPI_REASON_INIT;
    if (lo.size != sizeof(lo) || eo.size != sizeof(eo) ||
        ri.size != sizeof(ri) || rr.size != sizeof(rr) ||
        re.size != sizeof(re)) {
        fprintf(stderr, "an _INIT macro does not set size\n");
        return 1;
    }
    if (strcmp(miaopi_version(), MIAOPI_VERSION_STRING) != 0) {
        fprintf(stderr, "run-time version %s != header version %s\n",
                miaopi_version(), MIAOPI_VERSION_STRING);
        return 1;
    }
    return 0;
}
