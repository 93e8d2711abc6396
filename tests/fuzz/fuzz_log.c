/*
 * libFuzzer target: a decision log (attacker-controlled: an auditor
 * verifies and replays logs that may have been tampered with). The input
 * is a log file's bytes, exposed as a path through a memfd; it is
 * verified, then read entry by entry and every logged case is replayed
 * against the bundled example ruleset.
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

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
    int fd = memfd_create("fuzz-log", 0);
    if (fd < 0)
        return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    miaopi_log_report rep = MIAOPI_LOG_REPORT_INIT;
    (void)miaopi_log_verify(&rep, path, NULL, 0, NULL);
    static const unsigned char key[] = "fuzz-key";
    (void)miaopi_log_verify(&rep, path, key, sizeof(key) - 1, NULL);
    miaopi_log_reader *r = NULL;
    if (miaopi_log_reader_open(&r, path, NULL) == MIAOPI_OK) {
        const miaopi_log_entry *e;
        for (int n = 0; n < 64 && miaopi_log_reader_next(r, &e, NULL) == 1;
             n++) {
            (void)miaopi_log_entry_type(e);
            (void)miaopi_log_entry_id(e);
            (void)miaopi_log_entry_ruleset_id(e);
            (void)miaopi_log_entry_outcome(e);
            double rate;
            (void)miaopi_log_entry_spot_check(e, &rate);
            for (size_t i = 0; i < miaopi_log_entry_rule_count(e); i++) {
                const char *id;
                miaopi_rule_status st;
                (void)miaopi_log_entry_rule(e, i, &id, &st);
            }
            const miaopi_case *c = miaopi_log_entry_case(e);
            if (c)
                fz_evaluate(d, rs, c);
        }
        miaopi_log_reader_free(r);
    }
    /* Again as `miaopi replay` reads: once miaopi_log_entry_replay has
     * been called, entries are split at their case and the rest is
     * parsed only on demand; the accessors must then cope with a head
     * that does not parse. */
    if (miaopi_log_reader_open(&r, path, NULL) == MIAOPI_OK) {
        const miaopi_log_entry *e;
        for (int n = 0; n < 64 && miaopi_log_reader_next(r, &e, NULL) == 1;
             n++) {
            (void)miaopi_log_entry_replay(e, d, &rs, 1, NULL);
            (void)miaopi_log_entry_type(e);
            (void)miaopi_log_entry_id(e);
            (void)miaopi_log_entry_outcome(e);
            for (size_t i = 0; i < miaopi_log_entry_rule_count(e); i++) {
                const char *id;
                miaopi_rule_status st;
                (void)miaopi_log_entry_rule(e, i, &id, &st);
            }
        }
        miaopi_log_reader_free(r);
    }
    close(fd);
    return 0;
}
