/*
 * libFuzzer target: a whole rule file, loaded from memory. When it loads,
 * a fixed small case is evaluated against it so that the compiled form is
 * exercised too.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"

static const char case_json[] =
    "{\"application\": {\"id_number\": \"440305199807151231\", "
    "\"name\": \"李明轩\", \"degree\": \"本科\", \"i\": 3, \"s\": \"abc\"}, "
    "\"sources\": {\"hukou\": {\"name\": \"李明轩\"}, \"xuexin\": null}, "
    "\"context\": {\"decision_date\": \"2024-05-01\"}}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    miaopi_ruleset *rs = NULL;
    miaopi_load_options o = MIAOPI_LOAD_OPTIONS_INIT;
    o.max_file_bytes = 1u << 20;
    if (miaopi_ruleset_load_buffer(&rs, (const char *)data, size, "fuzz.xml",
                                   &o, NULL) != MIAOPI_OK)
        return 0;
    miaopi_case *c = NULL;
    miaopi_decision *d = NULL;
    if (miaopi_case_from_json(&c, case_json, strlen(case_json), NULL) ==
            MIAOPI_OK &&
        miaopi_decision_new(&d) == MIAOPI_OK)
        fz_evaluate(d, rs, c);
    miaopi_decision_free(d);
    miaopi_case_free(c);
    miaopi_ruleset_unref(rs);
    return 0;
}
