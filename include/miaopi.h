/*
 * miaopi — rule-based instant approval (秒批) of government applications.
 *
 * Copyright 2026 The miaopi authors.
 * SPDX-License-Identifier: Apache-2.0
 *
 * This is the one public header. Every function returns an int status
 * (0 on success, a negative MIAOPI_E* code on failure) unless it is a plain
 * accessor. Details of a failure go into a caller-owned miaopi_error.
 *
 * Ownership words used below:
 *  - "new reference": the caller owns it and must release it with the
 *    function named;
 *  - "borrowed": owned by another object; valid as long as that object is
 *    alive (and, for a decision, until its next evaluation);
 *  - "takes ownership": the library frees it.
 *
 * Threading: no function touches global mutable state. A miaopi_ruleset is
 * immutable once loaded and may be used from any number of threads at once.
 * A miaopi_case is read-only during evaluation and may be shared by threads
 * that evaluate it; building it is not thread-safe. A miaopi_decision is
 * per-thread working state: use one per thread and reuse it.
 */
#ifndef MIAOPI_H
#define MIAOPI_H

#include <stddef.h>
#include <stdint.h>

#include "miaopi-version.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && defined(MIAOPI_BUILDING)
#define MIAOPI_EXTERN __declspec(dllexport)
#elif defined(__GNUC__) && defined(MIAOPI_BUILDING)
#define MIAOPI_EXTERN __attribute__((visibility("default")))
#else
#define MIAOPI_EXTERN
#endif

/** @name Status codes (always negative; 0 is success)
 * @{ */
#define MIAOPI_OK 0
#define MIAOPI_EINVAL (-1)    /**< invalid argument (NULL where not allowed) */
#define MIAOPI_ENOMEM (-2)    /**< out of memory */
#define MIAOPI_EIO (-3)       /**< file could not be read or written */
#define MIAOPI_ERULES (-4)    /**< the rule file is invalid */
#define MIAOPI_ECASE (-5)     /**< the case document is invalid */
#define MIAOPI_ELIMIT (-6)    /**< a configured size/depth limit was hit */
#define MIAOPI_ENOTINFORCE (-7) /**< ruleset not in force on the case date */
#define MIAOPI_EEXPR (-8)     /**< a stand-alone expression is invalid */
#define MIAOPI_ENOTFOUND (-9) /**< no such rule, field or entry */
#define MIAOPI_EINTERNAL (-10) /**< a bug in miaopi; please report it */
/** No ruleset id was named and the registry holds several: name one.
 * @since 0.2 */
#define MIAOPI_EAMBIGUOUS (-11)
/** @} */

/**
 * Error details, filled by any function that takes a miaopi_error *.
 * Caller-owned (usually on the stack); every function accepts NULL.
 * Strings are NUL-terminated and truncated to fit.
 * @since 0.1
 */
typedef struct miaopi_error {
    int code;            /**< the MIAOPI_E* status that was returned */
    char id[16];         /**< stable diagnostic id, "MIAOPI-E012", or "" */
    char message[512];   /**< one line, English, for people */
    char file[256];      /**< file the error is in, or "" */
    int line;            /**< 1-based line, 0 if unknown */
    int column;          /**< 1-based column in characters, 0 if unknown */
    long offset;         /**< 0-based byte offset in the file, -1 if unknown */
} miaopi_error;

/** Severity of a diagnostic. @since 0.1 */
typedef enum miaopi_severity {
    MIAOPI_SEVERITY_ERROR = 0,
    MIAOPI_SEVERITY_WARNING = 1
} miaopi_severity;

/**
 * One diagnostic reported while loading a rule file. Borrowed: valid only
 * during the callback it is passed to.
 * @since 0.1
 */
typedef struct miaopi_diagnostic {
    miaopi_severity severity;
    const char *id;        /**< "MIAOPI-E012" */
    const char *message;   /**< one line, English */
    const char *file;      /**< the file name given to the loader */
    int line;              /**< 1-based, 0 if unknown */
    int column;            /**< 1-based in characters, 0 if unknown */
    long offset;           /**< byte offset in the file, -1 if unknown */
} miaopi_diagnostic;

/** Called once per diagnostic. @since 0.1 */
typedef void (*miaopi_diagnostic_cb)(const miaopi_diagnostic *diag,
                                     void *payload);

/* ------------------------------------------------------------------ */
/** @name Library
 * @{ */

/** The run-time version string, e.g. "0.1.0". Static storage. @since 0.1 */
MIAOPI_EXTERN const char *miaopi_version(void);

/** A static English name for a status code ("MIAOPI_ERULES"). @since 0.1 */
MIAOPI_EXTERN const char *miaopi_strerror(int code);

/** Free memory the library returned to the caller (strings). NULL-safe.
 * @since 0.1 */
MIAOPI_EXTERN void miaopi_free(void *ptr);

/** @} */

/* ------------------------------------------------------------------ */
/** @name Rulesets
 * @{ */

struct miaopi_allocator; /* see "Allocators and limits" below */

/** A compiled, immutable ruleset. Reference-counted; thread-safe. */
typedef struct miaopi_ruleset miaopi_ruleset;

/**
 * Options for loading a ruleset. Initialise with MIAOPI_LOAD_OPTIONS_INIT;
 * fields are only ever appended.
 * @since 0.1
 */
typedef struct miaopi_load_options {
    size_t size;               /**< sizeof(miaopi_load_options) */
    miaopi_diagnostic_cb on_diagnostic; /**< every error and warning, or NULL */
    void *payload;             /**< passed to on_diagnostic */
    size_t max_file_bytes;     /**< 0: default 16 MiB */
    unsigned max_depth;        /**< XML and expression nesting; 0: 256 */
    unsigned max_errors;       /**< stop after this many errors; 0: 50 */
    /** Allocator for everything the ruleset owns (copied; its payload must
     * outlive the ruleset), or NULL for malloc. @since 0.2 */
    const struct miaopi_allocator *allocator;
    /** PCRE2 match limit per matches() call (backtracking steps); a rule
     * whose regex hits it is UNKNOWN. 0: 1000000. @since 0.2 */
    uint32_t regex_match_limit;
    /** PCRE2 depth limit (nested backtracking); 0: 10000. @since 0.2 */
    uint32_t regex_depth_limit;
    /** PCRE2 heap limit per match, in KiB; 0: 20000. @since 0.2 */
    uint32_t regex_heap_limit_kib;
} miaopi_load_options;

#define MIAOPI_LOAD_OPTIONS_INIT                                             \
    { sizeof(miaopi_load_options), 0, 0, 0, 0, 0, 0, 0, 0, 0 }

/**
 * Load and compile a rule file.
 *
 * The file is checked against the bundled RelaxNG schema, then every
 * expression is parsed and type-checked. DTDs, entities and network access
 * are refused. All diagnostics go to opts->on_diagnostic; the first error
 * also goes to err.
 *
 * @param[out] out   the ruleset, a new reference (free with
 *                   miaopi_ruleset_unref); set to NULL on failure
 * @param[in]  path  the rule file
 * @param[in]  opts  options, or NULL for defaults
 * @param[out] err   error details, or NULL
 * @return 0; MIAOPI_ERULES if the file is invalid; MIAOPI_EIO if it cannot
 *         be read; MIAOPI_ELIMIT if it is too large; MIAOPI_ENOMEM.
 * @since 0.1
 */
MIAOPI_EXTERN int miaopi_ruleset_load_file(miaopi_ruleset **out,
                                           const char *path,
                                           const miaopi_load_options *opts,
                                           miaopi_error *err);

/**
 * Load and compile a rule file held in memory. As miaopi_ruleset_load_file;
 * @p name is used in diagnostics (NULL: "<memory>"). The bytes are copied
 * as needed; the caller keeps ownership of @p data.
 * @since 0.1
 */
MIAOPI_EXTERN int miaopi_ruleset_load_buffer(miaopi_ruleset **out,
                                             const char *data, size_t len,
                                             const char *name,
                                             const miaopi_load_options *opts,
                                             miaopi_error *err);

/** Take another reference. Thread-safe. Returns @p rs. @since 0.1 */
MIAOPI_EXTERN miaopi_ruleset *miaopi_ruleset_ref(miaopi_ruleset *rs);

/** Release a reference; the last one frees. NULL-safe, thread-safe.
 * @since 0.1 */
MIAOPI_EXTERN void miaopi_ruleset_unref(miaopi_ruleset *rs);

/** Ruleset id, e.g. "sz-talent". Borrowed from @p rs. @since 0.1 */
MIAOPI_EXTERN const char *miaopi_ruleset_id(const miaopi_ruleset *rs);
/** Ruleset version, e.g. "2024.1". Borrowed. @since 0.1 */
MIAOPI_EXTERN const char *miaopi_ruleset_version(const miaopi_ruleset *rs);
/** Title in @p lang ("zh-CN", "en"; NULL: the default language), falling
 * back to the other language. Borrowed. @since 0.1 */
MIAOPI_EXTERN const char *miaopi_ruleset_title(const miaopi_ruleset *rs,
                                               const char *lang);
/** Issuing authority, or "" when not given. Borrowed. @since 0.1 */
MIAOPI_EXTERN const char *miaopi_ruleset_authority(const miaopi_ruleset *rs);
/** Effective-from date "YYYY-MM-DD". Borrowed. @since 0.1 */
MIAOPI_EXTERN const char *
miaopi_ruleset_effective_from(const miaopi_ruleset *rs);
/** Effective-until date (exclusive) or "" when open-ended. Borrowed.
 * @since 0.1 */
MIAOPI_EXTERN const char *
miaopi_ruleset_effective_until(const miaopi_ruleset *rs);
/** Lower-case hex SHA-256 of the rule file's bytes (64 characters).
 * Borrowed. @since 0.1 */
MIAOPI_EXTERN const char *miaopi_ruleset_sha256(const miaopi_ruleset *rs);
/** Number of rules. @since 0.1 */
MIAOPI_EXTERN size_t miaopi_ruleset_rule_count(const miaopi_ruleset *rs);

/**
 * Static description of one rule. Strings are borrowed from the ruleset.
 * @since 0.1
 */
typedef struct miaopi_rule_info {
    size_t size;            /**< sizeof(miaopi_rule_info), set by caller */
    const char *id;
    const char *code;       /**< reason code */
    const char *title;      /**< in the requested language */
    const char *basis;      /**< legal basis, in the requested language */
    int on_fail;            /**< MIAOPI_REJECT or MIAOPI_ESCALATE */
    int on_unknown;         /**< MIAOPI_REJECT or MIAOPI_ESCALATE */
    int line;               /**< line of the <rule> element */
} miaopi_rule_info;

#define MIAOPI_RULE_INFO_INIT { sizeof(miaopi_rule_info), 0, 0, 0, 0, 0, 0, 0 }

/**
 * Describe rule @p index (0-based, file order) in @p lang (NULL: default).
 * @return 0; MIAOPI_ENOTFOUND if index is out of range; MIAOPI_EINVAL.
 * @since 0.1
 */
MIAOPI_EXTERN int miaopi_ruleset_rule(miaopi_rule_info *out,
                                      const miaopi_ruleset *rs, size_t index,
                                      const char *lang);

/** @} */

/* ------------------------------------------------------------------ */
/** @name Cases
 * @{ */

/** A case: the application, the source records and the context. */
typedef struct miaopi_case miaopi_case;

/**
 * Parse a case document:
 * {"application": {...}, "sources": {"hukou": {...}, "xuexin": null},
 *  "context": {"decision_date": "2024-05-01"}}.
 * Duplicate keys, invalid UTF-8, nesting deeper than 64 and documents
 * over 8 MiB are refused (miaopi_case_from_json_with changes the
 * limits).
 * @param[out] out a new case (free with miaopi_case_free)
 * @return 0; MIAOPI_ECASE with line/column in err; MIAOPI_ELIMIT;
 *         MIAOPI_ENOMEM.
 * @since 0.1
 */
MIAOPI_EXTERN int miaopi_case_from_json(miaopi_case **out, const char *json,
                                        size_t len, miaopi_error *err);

/** Read and parse a case file. As miaopi_case_from_json, plus
 * MIAOPI_EIO. @since 0.1 */
MIAOPI_EXTERN int miaopi_case_load_file(miaopi_case **out, const char *path,
                                        miaopi_error *err);

/** A new empty case, to be built field by field. @since 0.1 */
MIAOPI_EXTERN int miaopi_case_new(miaopi_case **out);

/** Free a case. NULL-safe. @since 0.1 */
MIAOPI_EXTERN void miaopi_case_free(miaopi_case *c);

/**
 * Set a value in the case by dotted path, creating objects on the way:
 * "application.degree", "sources.hukou.name", "context.decision_date".
 * Dates and exact decimals are strings ("2024-05-01", "1234.50");
 * miaopi_case_set_json sets any JSON value (lists, records, null).
 * @return 0; MIAOPI_EINVAL for a bad path or value; MIAOPI_ENOMEM.
 * @since 0.1
 */
MIAOPI_EXTERN int miaopi_case_set_string(miaopi_case *c, const char *path,
                                         const char *value);
/** @copydoc miaopi_case_set_string */
MIAOPI_EXTERN int miaopi_case_set_int(miaopi_case *c, const char *path,
                                      int64_t value);
/** @copydoc miaopi_case_set_string */
MIAOPI_EXTERN int miaopi_case_set_bool(miaopi_case *c, const char *path,
                                       int value);
/** @copydoc miaopi_case_set_string */
MIAOPI_EXTERN int miaopi_case_set_json(miaopi_case *c, const char *path,
                                       const char *json, miaopi_error *err);

/**
 * Mark a source unavailable (the same as "sources": {"NAME": null}).
 * Rules that need it become UNKNOWN.
 * @since 0.1
 */
MIAOPI_EXTERN int miaopi_case_set_source_unavailable(miaopi_case *c,
                                                     const char *source);

/** Serialise the case as compact JSON with sorted keys. @p out is a new
 * string, free with miaopi_free. @since 0.1 */
MIAOPI_EXTERN int miaopi_case_to_json(char **out, const miaopi_case *c);

/** @} */

/* ------------------------------------------------------------------ */
/** @name Evaluation and decisions
 * @{ */

/** Decision outcomes. @since 0.1 */
typedef enum miaopi_outcome {
    MIAOPI_APPROVE = 1,
    MIAOPI_REJECT = 2,
    MIAOPI_ESCALATE = 3
} miaopi_outcome;

/** Status of one rule in a decision. @since 0.1 */
typedef enum miaopi_rule_status {
    MIAOPI_RULE_PASS = 1,
    MIAOPI_RULE_FAIL = 2,
    MIAOPI_RULE_UNKNOWN = 3,
    MIAOPI_RULE_NOT_APPLICABLE = 4
} miaopi_rule_status;

/** A decision and its working state; reuse it across evaluations. */
typedef struct miaopi_decision miaopi_decision;

/**
 * Evaluation options. Initialise with MIAOPI_EVAL_OPTIONS_INIT.
 * @since 0.1
 */
typedef struct miaopi_eval_options {
    size_t size;               /**< sizeof(miaopi_eval_options) */
    /** Evaluate even when the case's decision date is outside the
     * ruleset's effective range (what-if analysis); 0: refuse. */
    int ignore_effective_dates;
    /** Shadow mode: a candidate ruleset decided beside @p rs. The outcome
     * served is always the live one; the candidate's decision is kept in
     * the decision (miaopi_decision_shadow) and written to the log. NULL:
     * none. @since 0.2 */
    const miaopi_ruleset *shadow;
    /** The decision's id (at most 63 bytes); NULL: a random UUID is made
     * when an id is needed (spot checks, logging). Replay passes the
     * logged id. @since 0.2 */
    const char *decision_id;
    /** Spot checks (抽查): the fraction (0 to 1) of APPROVE decisions
     * marked for a human spot check, chosen deterministically from the
     * SHA-256 of the decision id, so a replay selects the same ones.
     * @since 0.2 */
    double spot_check_rate;
    /** Resolvers that fetch source records the case does not hold
     * (borrowed; must outlive the call), or NULL. @since 0.2 */
    const struct miaopi_resolvers *resolvers;
    /** Work budget: expression steps one evaluation may take before every
     * rule not yet decided is UNKNOWN ("an evaluation limit was hit"),
     * so a hostile rule file (nested quantifiers over a long list in the
     * case) cannot hold a thread. 0: 10,000,000. @since 0.2 */
    uint64_t max_steps;
} miaopi_eval_options;

#define MIAOPI_EVAL_OPTIONS_INIT                                             \
    { sizeof(miaopi_eval_options), 0, 0, 0, 0.0, 0, 0 }

/** A new, empty decision object. Free with miaopi_decision_free.
 * @since 0.1 */
MIAOPI_EXTERN int miaopi_decision_new(miaopi_decision **out);

/** Free a decision (and its reference to the ruleset). NULL-safe.
 * @since 0.1 */
MIAOPI_EXTERN void miaopi_decision_free(miaopi_decision *d);

/**
 * Evaluate @p c under @p rs into @p out, replacing what it held.
 *
 * The decision date is the case's context.decision_date; no clock is read.
 * Deterministic: the same ruleset bytes and case give the same decision.
 * @p out keeps a reference to @p rs; it does not keep @p c. Once its
 * buffers have grown, evaluating into the same object does not allocate.
 *
 * On any error the decision's outcome is MIAOPI_ESCALATE, never APPROVE.
 * Sources the case does not hold are fetched through opts->resolvers
 * (since 0.2), from this thread, while the call runs.
 *
 * @return 0 when a decision was made (APPROVE, REJECT or ESCALATE);
 *         MIAOPI_ECASE if the case lacks a valid context.decision_date or
 *         a required application field, or (since 0.2) has a
 *         context.decision_time that is not RFC 3339 with an offset; MIAOPI_ENOTINFORCE if the date is
 *         outside the ruleset's effective range; MIAOPI_ENOMEM.
 * @since 0.1
 */
MIAOPI_EXTERN int miaopi_evaluate(miaopi_decision *out,
                                  const miaopi_ruleset *rs,
                                  const miaopi_case *c,
                                  const miaopi_eval_options *opts,
                                  miaopi_error *err);

/** The outcome. @since 0.1 */
MIAOPI_EXTERN miaopi_outcome
miaopi_decision_outcome(const miaopi_decision *d);

/** "APPROVE", "REJECT" or "ESCALATE". Static storage. @since 0.1 */
MIAOPI_EXTERN const char *miaopi_outcome_name(miaopi_outcome o);

/** "pass", "fail", "unknown" or "not-applicable". Static. @since 0.1 */
MIAOPI_EXTERN const char *miaopi_rule_status_name(miaopi_rule_status s);

/** The ruleset the decision was made under (borrowed), or NULL.
 * @since 0.1 */
MIAOPI_EXTERN const miaopi_ruleset *
miaopi_decision_ruleset(const miaopi_decision *d);

/** The decision date used, "YYYY-MM-DD" (borrowed). @since 0.1 */
MIAOPI_EXTERN const char *miaopi_decision_date(const miaopi_decision *d);

/** Number of rule results (equals the ruleset's rule count). @since 0.1 */
MIAOPI_EXTERN size_t miaopi_decision_rule_count(const miaopi_decision *d);

/**
 * The result of one rule. Strings are borrowed from the decision and valid
 * until its next evaluation or free.
 * @since 0.1
 */
typedef struct miaopi_rule_result {
    size_t size;               /**< sizeof(miaopi_rule_result), by caller */
    const char *id;
    const char *code;          /**< reason code */
    miaopi_rule_status status;
    /** What the rule does to the decision: 0 (nothing), MIAOPI_REJECT or
     * MIAOPI_ESCALATE. */
    int effect;
    /** For UNKNOWN: why, e.g. "source xuexin is unavailable"; else "". */
    const char *unknown_reason;
    /** For UNKNOWN: the path that was missing, e.g. "xuexin.degree"; or "". */
    const char *unknown_path;
} miaopi_rule_result;

#define MIAOPI_RULE_RESULT_INIT                                              \
    { sizeof(miaopi_rule_result), 0, 0, (miaopi_rule_status)0, 0, 0, 0 }

/** Result of rule @p index (ruleset order). @return 0; MIAOPI_ENOTFOUND.
 * @since 0.1 */
MIAOPI_EXTERN int miaopi_decision_rule(miaopi_rule_result *out,
                                       const miaopi_decision *d,
                                       size_t index);

/** Number of reasons: rules whose effect is REJECT or ESCALATE, in rule
 * order; or, when no rule passed and none rejected or escalated (every
 * rule was not applicable), the one reason with code "NO_EVIDENCE".
 * @since 0.1 */
MIAOPI_EXTERN size_t miaopi_decision_reason_count(const miaopi_decision *d);

/**
 * One reason for a REJECT or ESCALATE, for the citizen and the reviewer.
 * Strings borrowed from the decision; personal data in the message is
 * masked by its declared class.
 * @since 0.1
 */
typedef struct miaopi_reason {
    size_t size;               /**< sizeof(miaopi_reason), by caller */
    const char *rule_id;
    const char *code;
    /** FAIL or UNKNOWN; NOT_APPLICABLE for the NO_EVIDENCE reason. */
    miaopi_rule_status status;
    int effect;                /**< MIAOPI_REJECT or MIAOPI_ESCALATE */
    const char *title;
    const char *message;       /**< rendered template */
    const char *basis;         /**< legal basis */
} miaopi_reason;

#define MIAOPI_REASON_INIT                                                   \
    { sizeof(miaopi_reason), 0, 0, (miaopi_rule_status)0, 0, 0, 0, 0 }

/**
 * Reason @p index in language @p lang ("en…" is English, anything else
 * zh-CN; NULL: the ruleset's default), falling back to the other language
 * when a rule lacks it. @return 0; MIAOPI_ENOTFOUND; MIAOPI_EINVAL.
 * @since 0.1
 */
MIAOPI_EXTERN int miaopi_decision_reason(miaopi_reason *out,
                                         const miaopi_decision *d,
                                         size_t index, const char *lang);

/** Flags for miaopi_decision_to_json. @since 0.1 */
#define MIAOPI_JSON_REASONS 0x1u   /**< include reasons with messages */
#define MIAOPI_JSON_PRETTY 0x2u    /**< indent */

/**
 * Serialise the decision: {"decision", "decision_date", "ruleset": {id,
 * version, sha256}, "rules": [{id, status, code}], "reasons": [...]}.
 * @param[out] out a new NUL-terminated string; free with miaopi_free
 * @return 0; MIAOPI_EINVAL if nothing was evaluated; MIAOPI_ENOMEM.
 * @since 0.1
 */
MIAOPI_EXTERN int miaopi_decision_to_json(char **out,
                                          const miaopi_decision *d,
                                          const char *lang, unsigned flags);

/** @} */

/* ------------------------------------------------------------------ */
/** @name Decision log (audit trail)
 *
 * A decision log is a JSON Lines file; each line is
 *
 *     {"hash":"HEX","entry":{"seq":N,"prev":"HEX","type":"decision",...}}
 *
 * where "hash" is the SHA-256 (or SM3; or with a key, the HMAC) of the
 * exact bytes of the "entry" value and "prev" is the previous line's hash,
 * so a changed, dropped, duplicated or reordered line breaks the chain.
 * Line 1 is a header entry (seq 0) naming the algorithm. The format is
 * described in docs/audit-log.md.
 * @{ */

/** An open decision log: a writer. Thread-safe: any number of threads may
 * append to one log; entries get one total order. */
typedef struct miaopi_log miaopi_log;

/** Hash algorithm of a log's chain. @since 0.2 */
typedef enum miaopi_hash_alg {
    MIAOPI_HASH_SHA256 = 0,
    MIAOPI_HASH_SM3 = 1 /**< GB/T 32905, for 国密 deployments */
} miaopi_hash_alg;

/** When appends reach the disk. @since 0.2 */
typedef enum miaopi_sync {
    MIAOPI_SYNC_NEVER = 0,   /**< leave it to the OS */
    MIAOPI_SYNC_EVERY = 1,   /**< fdatasync after every entry */
    MIAOPI_SYNC_EVERY_N = 2  /**< fdatasync after every sync_every entries */
} miaopi_sync;

/** Options for miaopi_log_open. Initialise with MIAOPI_LOG_OPTIONS_INIT.
 * @since 0.2 */
typedef struct miaopi_log_options {
    size_t size;            /**< sizeof(miaopi_log_options) */
    miaopi_hash_alg hash;   /**< for a new log; an existing one keeps its own */
    /** HMAC key (copied), or NULL. With a key the chain is an HMAC chain:
     * whoever can edit the file cannot forge a consistent chain. */
    const unsigned char *key;
    size_t key_len;
    miaopi_sync sync;
    unsigned sync_every;    /**< for MIAOPI_SYNC_EVERY_N; 0: 1000 */
} miaopi_log_options;

#define MIAOPI_LOG_OPTIONS_INIT                                              \
    { sizeof(miaopi_log_options), MIAOPI_HASH_SHA256, 0, 0,                 \
      MIAOPI_SYNC_EVERY_N, 1000 }

/**
 * Open a log for appending, creating it (with its header) if needed.
 *
 * Reopening continues the chain from the last complete entry. A torn last
 * line (a crash in the middle of a write) is cut off and a "recovery"
 * entry recording its length and SHA-256 is appended; nothing before it is
 * lost. The file is locked: a second writer gets MIAOPI_EIO.
 *
 * @param[out] out  the log; close with miaopi_log_close
 * @return 0; MIAOPI_EIO (cannot open, locked, not a miaopi log);
 *         MIAOPI_EINVAL (a key for an unkeyed log or the reverse, or the
 *         wrong key); MIAOPI_ENOMEM.
 * @since 0.2
 */
MIAOPI_EXTERN int miaopi_log_open(miaopi_log **out, const char *path,
                                  const miaopi_log_options *opts,
                                  miaopi_error *err);

/**
 * Append one decision: sequence number, decision id, wall-clock time of
 * logging, ruleset id/version/SHA-256, engine version, the full case as
 * evaluated, every rule's status and code, the outcome, the spot-check
 * mark, and the shadow decision when there is one. The entry reaches the
 * file as one complete line in one write.
 *
 * @param[out] seq  the entry's sequence number, or NULL
 * @return 0; MIAOPI_EINVAL (nothing evaluated into @p d); MIAOPI_EIO;
 *         MIAOPI_ENOMEM.
 * @since 0.2
 */
MIAOPI_EXTERN int miaopi_log_append(miaopi_log *log, const miaopi_decision *d,
                                    const miaopi_case *c, uint64_t *seq,
                                    miaopi_error *err);

/** Flush appended entries to the disk now. @since 0.2 */
MIAOPI_EXTERN int miaopi_log_sync(miaopi_log *log, miaopi_error *err);

/** 1 if opening found (and cut off) a torn last line. @since 0.2 */
MIAOPI_EXTERN int miaopi_log_recovered(const miaopi_log *log);

/** The sequence number the next entry will get. @since 0.2 */
MIAOPI_EXTERN uint64_t miaopi_log_next_seq(const miaopi_log *log);

/** Sync, unlock and close; frees @p log. NULL-safe. @return 0 or
 * MIAOPI_EIO if the final sync failed. @since 0.2 */
MIAOPI_EXTERN int miaopi_log_close(miaopi_log *log, miaopi_error *err);

/** What verification found. @since 0.2 */
typedef enum miaopi_log_problem {
    MIAOPI_LOG_INTACT = 0,
    MIAOPI_LOG_CHANGED,      /**< an entry's bytes do not match its hash */
    MIAOPI_LOG_MISSING,      /**< an entry is missing */
    MIAOPI_LOG_REORDERED,    /**< entries are out of order */
    MIAOPI_LOG_DUPLICATED,   /**< an entry appears twice */
    MIAOPI_LOG_TORN,         /**< the last line is incomplete */
    MIAOPI_LOG_WRONG_KEY,    /**< the key is not the log's key */
    MIAOPI_LOG_KEY_REQUIRED, /**< the log is keyed and no key was given */
    MIAOPI_LOG_MALFORMED     /**< a line is not a log entry */
} miaopi_log_problem;

/** The result of miaopi_log_verify. @since 0.2 */
typedef struct miaopi_log_report {
    size_t size;            /**< sizeof(miaopi_log_report), by caller */
    uint64_t entries;       /**< entries verified, header included */
    uint64_t first_seq;
    uint64_t last_seq;
    miaopi_hash_alg hash;
    int keyed;              /**< an HMAC chain */
    char final_hash[65];    /**< hash of the last intact entry */
    miaopi_log_problem problem;
    uint64_t bad_seq;       /**< the sequence number where it went wrong */
    uint64_t bad_line;      /**< 1-based line number */
    char message[256];      /**< one line, English */
} miaopi_log_report;

#define MIAOPI_LOG_REPORT_INIT                                               \
    { sizeof(miaopi_log_report), 0, 0, 0, MIAOPI_HASH_SHA256, 0, {0},        \
      MIAOPI_LOG_INTACT, 0, 0, {0} }

/** "intact", "changed", "missing", … Static storage. @since 0.2 */
MIAOPI_EXTERN const char *miaopi_log_problem_name(miaopi_log_problem p);

/**
 * Verify a log's chain from the first line to the last and stop at the
 * first bad entry.
 * @return 0 when verification ran (look at out->problem); MIAOPI_EIO;
 *         MIAOPI_ENOMEM.
 * @since 0.2
 */
MIAOPI_EXTERN int miaopi_log_verify(miaopi_log_report *out, const char *path,
                                    const unsigned char *key, size_t key_len,
                                    miaopi_error *err);

/** Reads a log's entries in order, for replay and analysis. Not
 * thread-safe; one per thread, and its entries are used by that thread. */
typedef struct miaopi_log_reader miaopi_log_reader;
/** One entry: borrowed from the reader until its next call, or made by
 * miaopi_log_entry_parse and owned by the caller. Used by one thread at a
 * time (even its accessors may fill in fields on first use); distinct
 * entries may be used on distinct threads at once. */
typedef struct miaopi_log_entry miaopi_log_entry;

/** Open a log for reading. @since 0.2 */
MIAOPI_EXTERN int miaopi_log_reader_open(miaopi_log_reader **out,
                                         const char *path, miaopi_error *err);

/**
 * Read the next entry (the header and recovery entries included).
 * @param[out] entry borrowed until the next call
 * @return 1 with an entry; 0 at the end; MIAOPI_ECASE for a line that is
 *         not an entry (err names the line; the reader can go on);
 *         MIAOPI_EIO; MIAOPI_ENOMEM.
 * @since 0.2
 */
MIAOPI_EXTERN int miaopi_log_reader_next(miaopi_log_reader *r,
                                         const miaopi_log_entry **entry,
                                         miaopi_error *err);

/**
 * Read the next line as it is, without making an entry of it: the lines
 * and line numbers miaopi_log_reader_next would see, for a caller that
 * hands lines to miaopi_log_entry_parse (on other threads, say). The
 * entry of an earlier miaopi_log_reader_next call is let go.
 * @param[out] line    borrowed until the reader's next call; without its
 *                     newline, NUL-terminated
 * @param[out] len     its length
 * @param[out] line_no its 1-based line number, or NULL
 * @return 1 with a line; 0 at the end; MIAOPI_EIO (also for a line over
 *         160 MiB); MIAOPI_ENOMEM; MIAOPI_EINVAL.
 * @since 0.2
 */
MIAOPI_EXTERN int miaopi_log_reader_next_line(miaopi_log_reader *r,
                                              const char **line, size_t *len,
                                              uint64_t *line_no,
                                              miaopi_error *err);

/** Free a reader. NULL-safe. @since 0.2 */
MIAOPI_EXTERN void miaopi_log_reader_free(miaopi_log_reader *r);

/** For miaopi_log_entry_parse: parse only the case now and the rest of
 * the entry when an accessor or miaopi_log_entry_replay needs it, as a
 * reader does once miaopi_log_entry_replay has been used on it. @since 0.2 */
#define MIAOPI_LOG_ENTRY_LAZY 1u

/**
 * Make an entry of one log line, outside a reader: what
 * miaopi_log_reader_next does with a line (the same code), for an entry
 * a thread of its own can own. The line is copied.
 *
 * Without MIAOPI_LOG_ENTRY_LAZY the entry is parsed whole and its
 * accessors read every field. With it only the case is parsed; use the
 * entry as miaopi_log_entry_replay says of a reader's entries after a
 * replay (call the accessors after it returned 0 or 1).
 *
 * Thread safety: the function may run on many threads at once. The entry
 * is used by one thread at a time; entries made here share nothing, so
 * distinct ones may be replayed on distinct threads at once (each with its
 * own miaopi_decision; the rulesets may be shared).
 *
 * @param[out] out  the entry; new, free with miaopi_log_entry_free
 * @param line      one line, with or without its final newline
 * @param line_no   the line number that the entry reports and that err
 *                  names (e.g. from miaopi_log_reader_next_line)
 * @param flags     0 or MIAOPI_LOG_ENTRY_LAZY
 * @return 0; MIAOPI_ECASE for a line that is not an entry (err names
 *         @p line_no); MIAOPI_ENOMEM; MIAOPI_EINVAL (unknown flags).
 * @since 0.2
 */
MIAOPI_EXTERN int miaopi_log_entry_parse(miaopi_log_entry **out,
                                         const char *line, size_t len,
                                         uint64_t line_no, unsigned flags,
                                         miaopi_error *err);

/** Free an entry of miaopi_log_entry_parse. NULL-safe; an entry
 * borrowed from a reader is left to its reader. @since 0.2 */
MIAOPI_EXTERN void miaopi_log_entry_free(miaopi_log_entry *e);

/** Entry accessors. Strings are borrowed from the entry; absent fields
 * read as "" (or 0). @since 0.2 */
MIAOPI_EXTERN uint64_t miaopi_log_entry_seq(const miaopi_log_entry *e);
/** "header", "decision" or "recovery". @since 0.2 */
MIAOPI_EXTERN const char *miaopi_log_entry_type(const miaopi_log_entry *e);
/** The decision id. @since 0.2 */
MIAOPI_EXTERN const char *miaopi_log_entry_id(const miaopi_log_entry *e);
/** 1-based line number in the file. @since 0.2 */
MIAOPI_EXTERN uint64_t miaopi_log_entry_line(const miaopi_log_entry *e);
/** The logged ruleset's SHA-256 (hex). @since 0.2 */
MIAOPI_EXTERN const char *
miaopi_log_entry_ruleset_sha256(const miaopi_log_entry *e);
/** The logged ruleset's id. @since 0.2 */
MIAOPI_EXTERN const char *miaopi_log_entry_ruleset_id(const miaopi_log_entry *e);
/** The logged ruleset's version. @since 0.2 */
MIAOPI_EXTERN const char *
miaopi_log_entry_ruleset_version(const miaopi_log_entry *e);
/** The logged outcome (ESCALATE if absent). @since 0.2 */
MIAOPI_EXTERN miaopi_outcome
miaopi_log_entry_outcome(const miaopi_log_entry *e);
/** Whether the entry was marked for a spot check, and at what rate.
 * @since 0.2 */
MIAOPI_EXTERN int miaopi_log_entry_spot_check(const miaopi_log_entry *e,
                                              double *rate);
/** Number of logged rule results. @since 0.2 */
MIAOPI_EXTERN size_t miaopi_log_entry_rule_count(const miaopi_log_entry *e);
/** Logged rule @p index: id and status. @return 0; MIAOPI_ENOTFOUND.
 * @since 0.2 */
MIAOPI_EXTERN int miaopi_log_entry_rule(const miaopi_log_entry *e,
                                        size_t index, const char **id,
                                        miaopi_rule_status *status);
/** The logged case, ready to evaluate (borrowed), or NULL for entries
 * without one. @since 0.2 */
MIAOPI_EXTERN const miaopi_case *
miaopi_log_entry_case(const miaopi_log_entry *e);
/** The entry's JSON text exactly as logged (borrowed). @since 0.2 */
MIAOPI_EXTERN const char *miaopi_log_entry_json(const miaopi_log_entry *e);

/**
 * Replay a decision entry: evaluate its case again with its decision id
 * and spot-check rate, under the ruleset among @p rulesets whose SHA-256
 * the entry names, and compare the outcome, every rule's status and the
 * spot-check mark with the entry. What `miaopi replay` does per entry,
 * but usually without parsing anything but the case: when the entry's
 * bytes are what this engine writes for the new decision, they are
 * compared as bytes.
 * Once this has been called, the reader parses only the case of the
 * entries it reads next; their other fields are parsed when an accessor
 * asks for them. This function reports a failure to do so (MIAOPI_ECASE,
 * MIAOPI_ENOMEM); the accessors, which cannot, then read fields as
 * absent. Call the accessors of such an entry after this function
 * returned 0 (it has parsed the entry then), or use a reader of their
 * own. Entries of miaopi_log_entry_parse follow their flags instead.
 * Thread safety: it uses only @p e, @p d and the rulesets (read-only);
 * distinct entries and decisions may be replayed on distinct threads.
 * @param d receives the replayed decision
 * @return 1 reproduced; 0 differs; MIAOPI_ENOTFOUND if the entry's
 *         ruleset is not among @p rulesets; MIAOPI_EINVAL for an entry that
 *         is not a decision (the header, a recovery entry); MIAOPI_ECASE
 *         for an entry that does not parse or holds no case; the errors of
 *         miaopi_evaluate.
 * @since 0.2
 */
MIAOPI_EXTERN int miaopi_log_entry_replay(const miaopi_log_entry *e,
                                          miaopi_decision *d,
                                          miaopi_ruleset *const *rulesets,
                                          size_t nrulesets,
                                          miaopi_error *err);

/**
 * Write a redacted copy of log @p in to the file descriptor @p out_fd:
 * every personal-data field of each logged case is masked by the class
 * declared in the ruleset the entry names (found among @p rulesets by
 * SHA-256). The copy is a log of its own (own chain, @p opts' algorithm
 * and key) whose header records the original's final hash and entry
 * count, so it can be verified and tied to the original. The original is
 * verified first; a broken original is refused.
 * @return 0; MIAOPI_ENOTFOUND (an entry's ruleset was not given: err
 *         names its SHA-256); MIAOPI_ECASE (the original does not verify);
 *         MIAOPI_EIO; MIAOPI_ENOMEM.
 * @since 0.2
 */
MIAOPI_EXTERN int miaopi_log_redact(const char *in, int out_fd,
                                    miaopi_ruleset *const *rulesets,
                                    size_t nrulesets,
                                    const miaopi_log_options *opts,
                                    miaopi_error *err);

/** The decision's id (made on first use when none was given). Borrowed.
 * @since 0.2 */
MIAOPI_EXTERN const char *miaopi_decision_id(const miaopi_decision *d);

/** 1 if this APPROVE was selected for a human spot check. @since 0.2 */
MIAOPI_EXTERN int miaopi_decision_spot_check(const miaopi_decision *d);

/** The shadow (candidate) decision, borrowed, or NULL when no shadow
 * ruleset was given or it could not decide (see miaopi_decision_shadow_error).
 * @since 0.2 */
MIAOPI_EXTERN const miaopi_decision *
miaopi_decision_shadow(const miaopi_decision *d);

/** 1 if the shadow decision's outcome or any rule status differs from the
 * live one (an evaluation error of the candidate counts). @since 0.2 */
MIAOPI_EXTERN int miaopi_decision_diverged(const miaopi_decision *d);

/** The hash of @p data with @p alg as lower-case hex (65 bytes with NUL);
 * exposed so tools and tests can check the algorithms against known
 * vectors. @return 0; MIAOPI_EINVAL; MIAOPI_EINTERNAL. @since 0.2 */
MIAOPI_EXTERN int miaopi_hash_hex(char out[65], miaopi_hash_alg alg,
                                  const void *data, size_t len);

/** @} */

/* ------------------------------------------------------------------ */
/** @name Government data: source resolvers and provenance
 *
 * A source the case does not hold (no "sources.NAME" member at all) is
 * fetched through the resolver registered for it, lazily: only when an
 * applicable rule (or a verify declaration) reads it, and at most once per
 * evaluation. A source given as null in the case is unavailable and its
 * resolver is not called. The record a resolver returns is a JSON object
 * of the source's declared fields; it may carry provenance in a member
 * "_provenance": {"origin": "...", "retrieved_at": RFC 3339, "version":
 * "..."}, which inline records may carry too.
 *
 * Not found, unavailable (the callback failed, timed out, or returned
 * something that is not a JSON object) and stale (older than the source's
 * max-age) all make the dependent rules UNKNOWN, never a pass.
 * @{ */

/** What a resolver callback returns. @since 0.2 */
typedef enum miaopi_fetch_status {
    MIAOPI_FETCH_FOUND = 0,       /**< a record was set with _set_json */
    MIAOPI_FETCH_NOT_FOUND = 1,   /**< the source holds no record for the key */
    MIAOPI_FETCH_UNAVAILABLE = 2  /**< error or timeout: no answer */
} miaopi_fetch_status;

/**
 * What a resolver is asked for. Strings are borrowed and valid during the
 * callback only.
 * @since 0.2
 */
typedef struct miaopi_fetch_request {
    size_t size;               /**< sizeof(miaopi_fetch_request) */
    const char *source;        /**< source name, e.g. "hukou" */
    const char *key_path;      /**< declared key, "application.id_number",
                                    or "" when the source declares none */
    const char *key;           /**< the key's value as text, or "" */
    const char *decision_date; /**< "YYYY-MM-DD" */
    /** context.deadline verbatim (RFC 3339, e.g.
     * "2024-05-01T09:30:00.250+08:00"), or "" when the case sets none.
     * miaopi never reads the clock; the callback compares it with its
     * own and returns MIAOPI_FETCH_UNAVAILABLE once it has passed. */
    const char *deadline;
    /** The deadline as milliseconds since the Unix epoch; 0 when none. */
    int64_t deadline_unix_ms;
} miaopi_fetch_request;

/** The reply a resolver fills; valid during the callback only.
 * @since 0.2 */
typedef struct miaopi_fetch_reply miaopi_fetch_reply;

/**
 * A resolver: fetch the record for @p req. Set it with
 * miaopi_fetch_reply_set_json and return MIAOPI_FETCH_FOUND, or return
 * MIAOPI_FETCH_NOT_FOUND or MIAOPI_FETCH_UNAVAILABLE. Any other return
 * value, or FOUND without a valid record, counts as unavailable. Called
 * from the evaluating thread; it may be called from several threads at
 * once when decisions are evaluated in parallel.
 * @since 0.2
 */
typedef int (*miaopi_resolver_cb)(miaopi_fetch_reply *out,
                                  const miaopi_fetch_request *req,
                                  void *payload);

/**
 * Set the record: a JSON object (copied before this returns).
 * @return 0; MIAOPI_ECASE if it is not a JSON object; MIAOPI_EINVAL;
 *         MIAOPI_ENOMEM.
 * @since 0.2
 */
MIAOPI_EXTERN int miaopi_fetch_reply_set_json(miaopi_fetch_reply *out,
                                              const char *json, size_t len);

/**
 * Set the record's provenance (stored as its "_provenance" member): where
 * it came from, when it was retrieved (RFC 3339 with offset; needed when
 * the source declares max-age) and its version. Any may be NULL. Call
 * after miaopi_fetch_reply_set_json.
 * @return 0; MIAOPI_EINVAL if no record was set; MIAOPI_ENOMEM.
 * @since 0.2
 */
MIAOPI_EXTERN int miaopi_fetch_reply_set_provenance(miaopi_fetch_reply *out,
                                                    const char *origin,
                                                    const char *retrieved_at,
                                                    const char *version);

/** A set of resolvers, one per source name. Immutable once built; may be
 * shared by threads that evaluate. @since 0.2 */
typedef struct miaopi_resolvers miaopi_resolvers;

/** A new, empty set. Free with miaopi_resolvers_free. @return 0;
 * MIAOPI_EINVAL; MIAOPI_ENOMEM. @since 0.2 */
MIAOPI_EXTERN int miaopi_resolvers_new(miaopi_resolvers **out);

/** Free a set. NULL-safe. @since 0.2 */
MIAOPI_EXTERN void miaopi_resolvers_free(miaopi_resolvers *r);

/**
 * Register @p cb for source @p source (replacing an earlier one); the
 * name is copied, @p payload is passed to every call. Not thread-safe.
 * @return 0; MIAOPI_EINVAL; MIAOPI_ENOMEM.
 * @since 0.2
 */
MIAOPI_EXTERN int miaopi_resolvers_add(miaopi_resolvers *r,
                                       const char *source,
                                       miaopi_resolver_cb cb, void *payload);

/**
 * What one declared source contributed to a decision. Strings borrowed
 * from the decision, valid until its next evaluation or free.
 * @since 0.2
 */
typedef struct miaopi_source_info {
    size_t size;          /**< sizeof(miaopi_source_info), by caller */
    const char *name;
    /** "unused" (no applicable rule read it), "inline" (in the case),
     * "fetched" (from a resolver), "not-found", "unavailable", "stale". */
    const char *status;
    const char *origin;       /**< provenance, or "" */
    const char *retrieved_at; /**< provenance, or "" */
    const char *version;      /**< provenance, or "" */
    const char *detail;       /**< why unavailable or stale, or "" */
} miaopi_source_info;

#define MIAOPI_SOURCE_INFO_INIT                                              \
    { sizeof(miaopi_source_info), 0, 0, 0, 0, 0, 0 }

/** Number of declared sources (the ruleset's), 0 before an evaluation.
 * @since 0.2 */
MIAOPI_EXTERN size_t miaopi_decision_source_count(const miaopi_decision *d);

/** Source @p index (declaration order). @return 0; MIAOPI_ENOTFOUND;
 * MIAOPI_EINVAL. @since 0.2 */
MIAOPI_EXTERN int miaopi_decision_source(miaopi_source_info *out,
                                         const miaopi_decision *d,
                                         size_t index);

/** Number of resolver calls the last evaluation made. @since 0.2 */
MIAOPI_EXTERN size_t miaopi_decision_fetch_count(const miaopi_decision *d);

/**
 * The inputs the decision was made on, for the audit log and replay: @p c
 * (the case that was evaluated) with every record fetched through a
 * resolver added under "sources", and null for every source a resolver
 * reported not found or unavailable. Evaluating the result without
 * resolvers gives the same decision. Compact JSON, sorted keys.
 * @param[out] out a new string; free with miaopi_free
 * @return 0; MIAOPI_EINVAL if nothing was evaluated; MIAOPI_ENOMEM.
 * @since 0.2
 */
MIAOPI_EXTERN int miaopi_decision_inputs_json(char **out,
                                              const miaopi_decision *d,
                                              const miaopi_case *c);

/**
 * Only the records fetched through resolvers in the last evaluation, as
 * one JSON object by source name (null for a source a resolver reported
 * not found or unavailable); "{}" when nothing was fetched. For an audit
 * entry that stores the case separately. Compact JSON, sorted keys.
 * @param[out] out a new string; free with miaopi_free
 * @return 0; MIAOPI_EINVAL if nothing was evaluated; MIAOPI_ENOMEM.
 * @since 0.2
 */
MIAOPI_EXTERN int miaopi_decision_fetched_json(char **out,
                                               const miaopi_decision *d);

/** @} */

/* ------------------------------------------------------------------ */
/** @name Pre-fill (秒报)
 * @{ */

/**
 * Pre-fill an application from the sources: every application field
 * declared with prefill="SOURCE.FIELD" takes the source's value. Sources
 * come from the case or through opts->resolvers, as in evaluation.
 * Required fields may be missing (that is what pre-filling is for);
 * context.decision_date is still required (it dates the freshness check).
 * Output: {"application": {...}, "fields": [{"field", "from", "status":
 * "filled" | "missing" | "not-found" | "unavailable" | "stale"}],
 * "sources": [...]} with sorted keys inside "application".
 * @param[out] out a new string; free with miaopi_free
 * @return 0; MIAOPI_ECASE; MIAOPI_EINVAL; MIAOPI_ENOMEM.
 * @since 0.2
 */
MIAOPI_EXTERN int miaopi_prefill(char **out, const miaopi_ruleset *rs,
                                 const miaopi_case *c,
                                 const miaopi_eval_options *opts,
                                 miaopi_error *err);

/** @} */

/* ------------------------------------------------------------------ */
/** @name Ruleset registry: effective dating and hot reload
 *
 * A registry holds every *.xml rule file of a directory: several ruleset
 * ids, each in several versions with consecutive effective ranges. For a
 * case it selects the version in force on context.decision_date
 * (effective-from inclusive, effective-until exclusive). When that version
 * declares select-by="filing-date" (a transitional provision), the version
 * in force on context.filing_date is used instead, so applications filed
 * before a change keep the old criteria.
 *
 * Thread-safety: selection, evaluation, miaopi_registry_generation and
 * taking a snapshot take no lock and may run on any number of threads
 * while another thread reloads; each evaluation keeps the ruleset it
 * selected (by reference) until it is done. Reloads are serialised by the
 * registry. Each call sees one whole set, never a mix of two; to see the
 * same set across several calls, take a miaopi_registry_snapshot.
 * @{ */

/** A registry of rulesets. @since 0.2 */
typedef struct miaopi_registry miaopi_registry;

/**
 * Load every *.xml file in @p dir. Overlapping effective ranges of one id
 * are errors (MIAOPI-E060), gaps are warnings (MIAOPI-E061); each file's own
 * diagnostics are reported too, all through opts->on_diagnostic, which
 * the registry keeps for reloads (with its payload).
 * @param[out] out a new registry; free with miaopi_registry_free
 * @return 0; MIAOPI_ERULES if a file is invalid or ranges overlap;
 *         MIAOPI_EIO if the directory cannot be read; MIAOPI_ENOTFOUND if
 *         it holds no *.xml file (a reload then keeps the old set);
 *         MIAOPI_ENOMEM.
 * @since 0.2
 */
MIAOPI_EXTERN int miaopi_registry_load(miaopi_registry **out,
                                       const char *dir,
                                       const miaopi_load_options *opts,
                                       miaopi_error *err);

/**
 * Reload the directory and swap the new set in atomically. On failure the
 * registry keeps serving the old set and the error is returned.
 * @return as miaopi_registry_load.
 * @since 0.2
 */
MIAOPI_EXTERN int miaopi_registry_reload(miaopi_registry *reg,
                                         miaopi_error *err);

/** Free a registry. Rulesets still referenced elsewhere stay alive.
 * NULL-safe; no other thread may use @p reg. @since 0.2 */
MIAOPI_EXTERN void miaopi_registry_free(miaopi_registry *reg);

/** Number of rulesets currently held. Another thread's reload may swap
 * the set between this call and miaopi_registry_get: to list one set,
 * use a snapshot (miaopi_registry_snapshot_take). @since 0.2 */
MIAOPI_EXTERN size_t miaopi_registry_count(miaopi_registry *reg);

/** Ruleset @p index (sorted by id, then effective-from) of the set
 * currently held, a new reference (free with miaopi_ruleset_unref), or
 * NULL. @since 0.2 */
MIAOPI_EXTERN miaopi_ruleset *miaopi_registry_get(miaopi_registry *reg,
                                                  size_t index);

/**
 * The generation of the set currently held: 1 after miaopi_registry_load,
 * one more after each successful miaopi_registry_reload; a refused reload
 * leaves it unchanged. Two equal generations of one registry mean the same
 * set. Lock-free. @return the generation; 0 if @p reg is NULL.
 * @since 0.2
 */
MIAOPI_EXTERN uint64_t miaopi_registry_generation(miaopi_registry *reg);

/**
 * Select the version of @p id (NULL: the registry must hold one id) that
 * applies to @p c.
 * @param[out] out a new reference; free with miaopi_ruleset_unref
 * @return 0; MIAOPI_ENOTFOUND if no such id; MIAOPI_EAMBIGUOUS if @p id
 *         is NULL and the registry holds several ids; MIAOPI_ENOTINFORCE
 *         if no version is in force on the date; MIAOPI_ECASE if the case
 *         has no valid decision date (or filing date, where one is
 *         needed); MIAOPI_EINVAL.
 * @since 0.2
 */
MIAOPI_EXTERN int miaopi_registry_select(miaopi_ruleset **out,
                                         miaopi_registry *reg,
                                         const char *id,
                                         const miaopi_case *c,
                                         miaopi_error *err);

/**
 * Select as miaopi_registry_select and evaluate with miaopi_evaluate
 * (the selected version's own effective range is not checked again:
 * under a transitional provision it may have ended).
 * @return as the two functions.
 * @since 0.2
 */
MIAOPI_EXTERN int miaopi_registry_evaluate(miaopi_decision *out,
                                           miaopi_registry *reg,
                                           const char *id,
                                           const miaopi_case *c,
                                           const miaopi_eval_options *opts,
                                           miaopi_error *err);

/**
 * One set of a registry, as it was when taken: immutable, unaffected by
 * later reloads, so listing it (count, then get) or selecting in it twice
 * always sees the same rulesets. Reference-counted; taking one is
 * lock-free and allocates nothing (it is a reference to the set the
 * registry serves). A snapshot, and the rulesets got from it, stay valid
 * after reloads and after miaopi_registry_free, until released. It may be
 * read, passed and released on any thread; while held it keeps its whole
 * set's memory alive, so hold it for a request, not for ever.
 * @since 0.2
 */
typedef struct miaopi_registry_snapshot miaopi_registry_snapshot;

/** The set @p reg serves now, a new reference (free with
 * miaopi_registry_snapshot_unref); NULL only when @p reg is NULL.
 * @since 0.2 */
MIAOPI_EXTERN miaopi_registry_snapshot *
miaopi_registry_snapshot_take(miaopi_registry *reg);

/** Take another reference. Thread-safe. Returns @p snap. @since 0.2 */
MIAOPI_EXTERN miaopi_registry_snapshot *
miaopi_registry_snapshot_ref(miaopi_registry_snapshot *snap);

/** Release a reference; the set is freed with the last one (rulesets
 * still referenced elsewhere stay alive). NULL-safe, thread-safe.
 * @since 0.2 */
MIAOPI_EXTERN void
miaopi_registry_snapshot_unref(miaopi_registry_snapshot *snap);

/** The generation of the set (see miaopi_registry_generation); 0 if
 * @p snap is NULL. @since 0.2 */
MIAOPI_EXTERN uint64_t
miaopi_registry_snapshot_generation(const miaopi_registry_snapshot *snap);

/** Number of rulesets in the set. @since 0.2 */
MIAOPI_EXTERN size_t
miaopi_registry_snapshot_count(const miaopi_registry_snapshot *snap);

/** Ruleset @p index of the set (sorted by id, then effective-from), a new
 * reference (free with miaopi_ruleset_unref), or NULL when @p index is
 * out of range. @since 0.2 */
MIAOPI_EXTERN miaopi_ruleset *
miaopi_registry_snapshot_get(const miaopi_registry_snapshot *snap,
                             size_t index);

/**
 * Select in the set as miaopi_registry_select does in the current one.
 * To evaluate under the result as miaopi_registry_evaluate would, set
 * miaopi_eval_options.ignore_effective_dates: under a transitional
 * provision the version selected by filing date may have ended.
 * @param[out] out a new reference; free with miaopi_ruleset_unref
 * @return as miaopi_registry_select.
 * @since 0.2
 */
MIAOPI_EXTERN int
miaopi_registry_snapshot_select(miaopi_ruleset **out,
                                const miaopi_registry_snapshot *snap,
                                const char *id, const miaopi_case *c,
                                miaopi_error *err);

/** @} */

/* ------------------------------------------------------------------ */
/** @name Authoring: stand-alone expressions and evaluation traces
 *
 * What a rule author's tools need: evaluate one expression in a ruleset's
 * scope ("what does this regex say about this case?"), and see, for each
 * rule, the sub-expressions and the values they had. Values are shown as
 * text, masked by the personal-data class of the fields they come from,
 * exactly as in explanations.
 * @{ */

/** A compiled stand-alone expression. Immutable once compiled; may be
 * shared by threads (each evaluates with its own decision object). */
typedef struct miaopi_expr miaopi_expr;

/**
 * Compile @p text as an expression in the scope of @p rs: its application,
 * context and source fields, constants and tables; with @p rs NULL, an
 * empty scope (literals, builtins and context.decision_date). A constant
 * sub-expression without a value (`1/0`, `date("2023-02-29")`) is not an
 * error here: it evaluates to UNKNOWN with its reason.
 *
 * @param[out] out  the expression, a new object (free with
 *                  miaopi_expr_free); NULL on failure
 * @param[in]  rs   the scope, or NULL; the expression keeps a reference
 * @param[in]  text the expression, UTF-8; @p len bytes (need not be
 *                  NUL-terminated)
 * @param[out] err  on failure: the diagnostic id, message, and the 1-based
 *                  line and column (in characters) and 0-based byte offset
 *                  of the error within @p text; file is ""
 * @return 0; MIAOPI_EEXPR if the expression is invalid; MIAOPI_EINVAL;
 *         MIAOPI_ENOMEM.
 * @since 0.2
 */
MIAOPI_EXTERN int miaopi_expr_compile(miaopi_expr **out,
                                      const miaopi_ruleset *rs,
                                      const char *text, size_t len,
                                      miaopi_error *err);

/** Free an expression (and its reference to the ruleset). NULL-safe.
 * @since 0.2 */
MIAOPI_EXTERN void miaopi_expr_free(miaopi_expr *e);

/** The expression's type, e.g. "integer", "list of string". Borrowed from
 * @p e. @since 0.2 */
MIAOPI_EXTERN const char *miaopi_expr_type(const miaopi_expr *e);

/**
 * Warning @p index (0-based) found while compiling @p e, e.g. a format
 * regex without ^...$ (MIAOPI-E031), in @p out: id, message, and line,
 * column and byte offset within the expression text; out->code is 0.
 * At most 8 are kept.
 * @return 0; MIAOPI_ENOTFOUND when there is no such warning; MIAOPI_EINVAL.
 * @since 0.2
 */
MIAOPI_EXTERN int miaopi_expr_warning(miaopi_error *out,
                                      const miaopi_expr *e, size_t index);

/**
 * A value as a rule author sees it. Strings are borrowed from the
 * decision object that produced them, valid until its next use.
 * @since 0.2
 */
typedef struct miaopi_value_info {
    size_t size;               /**< sizeof(miaopi_value_info), by caller */
    int known;                 /**< 1 known, 0 UNKNOWN */
    /** The value: strings in double quotes with JSON escapes, numbers,
     * true/false, dates as YYYY-MM-DD, lists as [a, b]; personal data
     * masked by its class. "UNKNOWN" when unknown. */
    const char *value;
    const char *type;          /**< "integer", "list of string", ... */
    /** For UNKNOWN: why, e.g. "application.degree is missing"; else "". */
    const char *unknown_reason;
    /** For UNKNOWN: the path that was missing or unavailable, or "". */
    const char *unknown_path;
} miaopi_value_info;

#define MIAOPI_VALUE_INFO_INIT { sizeof(miaopi_value_info), 0, 0, 0, 0, 0 }

/**
 * Evaluate @p e against case @p c (NULL: an empty case, where every path
 * is missing). The decision date is the case's context.decision_date when
 * it has a valid one; otherwise context.decision_date is UNKNOWN. The
 * ruleset's effective dates and required fields are not checked.
 *
 * @param[out] out  the value; strings borrowed from @p work
 * @param[in]  work a decision object used as working memory; afterwards it
 *                  holds no decision (its outcome reads ESCALATE)
 * @return 0 (an UNKNOWN value is a result, not an error); MIAOPI_EINVAL;
 *         MIAOPI_ENOMEM.
 * @since 0.2
 */
MIAOPI_EXTERN int miaopi_expr_eval(miaopi_value_info *out,
                                   miaopi_decision *work,
                                   const miaopi_expr *e,
                                   const miaopi_case *c, miaopi_error *err);

/**
 * Turn evaluation tracing on (@p enable 1) or off (0) for @p d. While on,
 * each miaopi_evaluate into @p d also records, for every rule, the
 * sub-expressions of its when and require that were evaluated and the
 * values they had (short-circuited operands are left out; the bodies of
 * any/all/count are shown as their result; at most 24 levels and 256
 * steps per expression are shown). Tracing costs nothing per rule when
 * off; when on, it re-walks each rule's expressions after the decision is
 * made, so the decision itself is unchanged.
 * @return 0; MIAOPI_EINVAL; MIAOPI_ENOMEM.
 * @since 0.2
 */
MIAOPI_EXTERN int miaopi_decision_set_trace(miaopi_decision *d, int enable);

/** Which expression of a rule a trace step belongs to. @since 0.2 */
typedef enum miaopi_trace_part {
    MIAOPI_TRACE_WHEN = 1,
    MIAOPI_TRACE_REQUIRE = 2
} miaopi_trace_part;

/**
 * One step of a trace: a sub-expression and the value it had. Strings are
 * borrowed from the decision, valid until its next evaluation or free.
 * @since 0.2
 */
typedef struct miaopi_trace_step {
    size_t size;               /**< sizeof(miaopi_trace_step), by caller */
    size_t rule;               /**< rule index (ruleset order) */
    const char *rule_id;
    miaopi_trace_part part;
    int depth;                 /**< 0 for the whole when/require */
    size_t start;              /**< byte offset of the sub-expression in
                                    the when/require text */
    size_t length;             /**< its length in bytes */
    const char *expr;          /**< its source text */
    int known;                 /**< 1 known, 0 UNKNOWN */
    const char *value;         /**< as in miaopi_value_info, masked */
    const char *type;
    const char *unknown_reason; /**< for UNKNOWN, else "" */
} miaopi_trace_step;

#define MIAOPI_TRACE_STEP_INIT                                               \
    { sizeof(miaopi_trace_step), 0, 0, (miaopi_trace_part)0, 0, 0, 0, 0, 0,  \
      0, 0, 0 }

/** Number of trace steps of the last evaluation (0 when tracing is off or
 * the evaluation failed). Steps come rule by rule, each expression in
 * pre-order (an expression before its operands). @since 0.2 */
MIAOPI_EXTERN size_t miaopi_decision_trace_count(const miaopi_decision *d);

/** Trace step @p index. @return 0; MIAOPI_ENOTFOUND; MIAOPI_EINVAL.
 * @since 0.2 */
MIAOPI_EXTERN int miaopi_decision_trace(miaopi_trace_step *out,
                                        const miaopi_decision *d,
                                        size_t index);

/** Flag for miaopi_decision_to_json: include "trace", an array of
 * {rule, part, depth, start, length, expr, value, type, known[, unknown]}
 * when the decision was traced. @since 0.2 */
#define MIAOPI_JSON_TRACE 0x4u

/** @} */

/* ------------------------------------------------------------------ */
/** @name Allocators and limits
 *
 * An embedder may give each ruleset, case and decision its own allocator
 * (an arena, a memory-accounting wrapper, a failure injector). It is
 * passed in, never set process-wide, and is used for everything miaopi
 * itself allocates for that object, including PCRE2's memory (through a
 * PCRE2 general context). Two exceptions, because those libraries only
 * offer process-global allocator setters that a library must not call:
 * libxml2 (used while a rule file loads; see xmlMemSetup) and jansson
 * (the JSON tree of a case; see json_set_alloc_funcs). An embedder that
 * needs those routed too sets them itself, once, before any other call.
 * Strings returned to the caller (freed with miaopi_free) always come
 * from the C library's malloc.
 *
 * The functions must be thread-safe if the objects they serve are used
 * or freed from several threads (a ruleset is freed by whichever thread
 * drops the last reference).
 * @{ */

/**
 * Allocation hooks. Initialise with MIAOPI_ALLOCATOR_INIT and set all
 * three functions; miaopi copies the struct, so it may be a temporary, but
 * @p payload must stay valid as long as any object made with it.
 * miaopi never calls them with a size of 0 and never frees NULL.
 * @since 0.2
 */
typedef struct miaopi_allocator {
    size_t size; /**< sizeof(miaopi_allocator) */
    void *(*malloc_fn)(size_t size, void *payload);
    void *(*realloc_fn)(void *ptr, size_t size, void *payload);
    void (*free_fn)(void *ptr, void *payload);
    void *payload; /**< passed to each function */
} miaopi_allocator;

#define MIAOPI_ALLOCATOR_INIT { sizeof(miaopi_allocator), 0, 0, 0, 0 }

/**
 * As miaopi_decision_new, with an allocator for the decision's working
 * state (NULL: malloc).
 * @return 0; MIAOPI_EINVAL if @p allocator lacks a function;
 *         MIAOPI_ENOMEM.
 * @since 0.2
 */
MIAOPI_EXTERN int miaopi_decision_new_with(miaopi_decision **out,
                                           const miaopi_allocator *allocator);

/**
 * Options for making a case. Initialise with MIAOPI_CASE_OPTIONS_INIT;
 * fields are only ever appended.
 * @since 0.2
 */
typedef struct miaopi_case_options {
    size_t size;                         /**< sizeof(miaopi_case_options) */
    const miaopi_allocator *allocator;   /**< NULL: malloc */
    size_t max_bytes;   /**< largest document; 0: 8 MiB */
    /** Deepest nesting of objects/arrays; 0: 64; at most 2048. */
    unsigned max_depth;
} miaopi_case_options;

#define MIAOPI_CASE_OPTIONS_INIT { sizeof(miaopi_case_options), 0, 0, 0 }

/** As miaopi_case_from_json, with options (NULL: defaults).
 * @return as miaopi_case_from_json, plus MIAOPI_EINVAL for a bad
 *         allocator. @since 0.2 */
MIAOPI_EXTERN int miaopi_case_from_json_with(miaopi_case **out,
                                             const char *json, size_t len,
                                             const miaopi_case_options *opts,
                                             miaopi_error *err);

/** As miaopi_case_load_file, with options (NULL: defaults). @since 0.2 */
MIAOPI_EXTERN int miaopi_case_load_file_with(miaopi_case **out,
                                             const char *path,
                                             const miaopi_case_options *opts,
                                             miaopi_error *err);

/** As miaopi_case_new, with options (NULL: defaults); the limits apply to
 * miaopi_case_set_json. @since 0.2 */
MIAOPI_EXTERN int miaopi_case_new_with(miaopi_case **out,
                                       const miaopi_case_options *opts);

/** @} */

#ifdef __cplusplus
}
#endif

#endif /* MIAOPI_H */
