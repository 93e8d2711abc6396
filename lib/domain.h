/*
 * Domain functions for Chinese government data: calendar arithmetic,
 * resident identity numbers, unified social credit codes, UTF-8 name
 * normalisation and personal-data masking.
 *
 * Everything here is pure: no allocation (callers pass buffers), no global
 * state, no clock and no locale-dependent library calls, so results are
 * reproducible for audit.  Internal to miaopi (hence the miaopi__ prefix).
 */
#ifndef MIAOPI_DOMAIN_H
#define MIAOPI_DOMAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Dates ------------------------------------------------------------ */

/*
 * A date is an int32_t count of days since 1970-01-01 in the proleptic
 * Gregorian calendar.  Only 0001-01-01 .. 9999-12-31 are valid; every
 * operation that would leave that range fails.
 */
#define MIAOPI__DATE_MIN ((int32_t)-719162)  /* 0001-01-01 */
#define MIAOPI__DATE_MAX ((int32_t)2932896)  /* 9999-12-31 */

/* True iff y-m-d is a real calendar day with 1 <= y <= 9999. */
bool miaopi__date_valid(int64_t y, int64_t m, int64_t d);

/* True iff days lies in MIAOPI__DATE_MIN .. MIAOPI__DATE_MAX. */
bool miaopi__date_in_range(int32_t days);

/*
 * Howard Hinnant's days_from_civil.  Precondition: miaopi__date_valid
 * (it never invokes undefined behaviour, but other inputs give
 * meaningless results).
 */
int32_t miaopi__days_from_civil(int y, int m, int d);

/* Inverse of days_from_civil; defined for every int32_t. */
void miaopi__civil_from_days(int32_t z, int *y, int *m, int *d);

/*
 * Strict "YYYY-MM-DD": exactly 10 bytes, ASCII digits, '-' separators,
 * a real calendar day in years 0001..9999 ("2023-02-29" fails).
 */
bool miaopi__date_parse(const char *s, size_t len, int32_t *out);

/*
 * Writes "YYYY-MM-DD" plus NUL and returns 10.  A date outside the valid
 * range writes "" and returns 0.
 */
size_t miaopi__date_format(int32_t days, char buf[11]);

/*
 * Calendar addition; n may be negative.  When the target month is shorter
 * the day is clamped to its last day: 2024-02-29 + 1 year = 2025-02-28,
 * 2024-01-31 + 1 month = 2024-02-29.  Fails if d is out of range or the
 * result would be (any n, however large, is safe to pass).
 */
bool miaopi__date_add_years(int32_t d, int64_t n, int32_t *out);
bool miaopi__date_add_months(int32_t d, int64_t n, int32_t *out);
bool miaopi__date_add_days(int32_t d, int64_t n, int32_t *out);

/* b - a in days (may be negative). */
int64_t miaopi__days_between(int32_t a, int32_t b);

/*
 * Whole months completed from a to b, counted like an age:
 *     (y2*12 + m2) - (y1*12 + m1), minus 1 if d2 < d1,
 * and for b < a the negation of months_between(b, a), so the function is
 * antisymmetric.  A "month-day" that does not exist in the later month
 * is reached only on the 1st of the following month, exactly as a 29 Feb
 * birthday is reached on 1 Mar in common years (see age_on).  Hence
 * 2024-01-31 -> 2024-02-29 is 0 months and -> 2024-03-01 is 1 month, even
 * though add_months(2024-01-31, 1) = 2024-02-29: the two are deliberately
 * not inverses, because clamping is the right rule for computing deadlines
 * and "has the day-of-month been reached" is the right rule for durations.
 * Consistent with years_between: years == months / 12 (truncated).
 * Defined for any int32_t inputs (no overflow).
 */
int64_t miaopi__months_between(int32_t a, int32_t b);

/*
 * Age in completed years on date `on`.  The birthday itself counts (born
 * 2000-05-01 is 18 on 2018-05-01).  Someone born on 29 Feb becomes a year
 * older on 1 Mar in common years and on 29 Feb in leap years.
 * Fails if on < birth or either date is out of range.
 */
bool miaopi__age_on(int32_t birth, int32_t on, int64_t *out);

/*
 * Completed years from a to b with age_on semantics; b < a gives the
 * negation of years_between(b, a).  Fails only if a date is out of range.
 */
bool miaopi__years_between(int32_t a, int32_t b, int64_t *out);

/* ---- GB 11643-1999 resident identity number ---------------------------- */

typedef enum {
    MIAOPI__CNID_OK = 0,
    MIAOPI__CNID_LENGTH,     /* not 18 bytes (15-digit pre-1999 numbers too) */
    MIAOPI__CNID_CHARS,      /* not 17 digits + digit/'X'/'x' */
    MIAOPI__CNID_REGION,     /* first two digits not a GB/T 2260 province */
    MIAOPI__CNID_BIRTH_DATE, /* digits 7-14 not a real date >= 1800-01-01 */
    MIAOPI__CNID_CHECKSUM    /* ISO 7064 MOD 11-2 check character wrong */
} miaopi__cnid_status;

typedef struct {
    int32_t birth;  /* days since 1970-01-01 */
    char sex;       /* 'M' (17th digit odd) or 'F' (even) */
    char region[7]; /* the 6-digit administrative division code, NUL'd */
} miaopi__cnid;

/*
 * Validates an 18-character identity number, checking in the order of the
 * status enum and reporting the first failure.  15-digit numbers (issued
 * before 1999) carry no check digit and a 2-digit year, so they are
 * rejected as MIAOPI__CNID_LENGTH rather than guessed at.  Province codes
 * accepted: 11-15, 21-23, 31-37, 41-46, 50-54, 61-65, 71, 81, 82, 83
 * (83 is used by residence permits for Taiwan residents).  No future-date
 * check is possible (no clock); callers compare with the decision date.
 * out may be NULL; it is written only on MIAOPI__CNID_OK.
 */
miaopi__cnid_status miaopi__cnid_parse(const char *s, size_t len,
                                       miaopi__cnid *out);

/* ---- GB 32100-2015 unified social credit code --------------------------- */

/*
 * 18 characters from "0123456789ABCDEFGHJKLMNPQRTUWXY" (I O Z S V never
 * occur): registration authority, organisation type, a 6-digit region
 * code, 9-character organisation code and the MOD 31 check character.
 * Positions 1 and 2 are only checked against the character set, not the
 * (extensible) authority/type tables.  Upper case only: the standard
 * defines no lower-case form, and callers wanting leniency can apply
 * miaopi__ascii_upper first.
 */
bool miaopi__uscc_valid(const char *s, size_t len);

/* ---- UTF-8 helpers ------------------------------------------------------ */

/*
 * Input is normally valid UTF-8 (validated upstream), but these functions
 * never read outside [s, s+len) whatever the bytes are.  Each malformed
 * byte (stray continuation, overlong form, surrogate, > U+10FFFF,
 * truncated sequence) is treated as one code point of its own and is never
 * whitespace or a middle dot.
 */

/*
 * Decodes the code point at s[0..len).  Returns the number of bytes it
 * occupies (1-4) and stores it in *cp; a malformed byte returns 1 and
 * U+FFFD.  len == 0 returns 0 without reading s.
 */
size_t miaopi__utf8_decode(const char *s, size_t len, uint32_t *cp);

/* Number of code points in s[0..len). */
size_t miaopi__utf8_length(const char *s, size_t len);

/*
 * Normalises a personal name for comparison:
 *  - full-width ASCII U+FF01..U+FF5E -> U+0021..U+007E (no case folding);
 *  - all whitespace is removed: ASCII space, \t \n \v \f \r, U+00A0,
 *    U+1680, U+2000..U+200B, U+2028, U+2029, U+202F, U+205F, U+3000,
 *    U+FEFF;
 *  - middle-dot look-alikes U+30FB U+2022 U+2027 U+FF65 U+22C5 U+2219
 *    U+0387 become U+00B7 (as in 买买提·艾力);
 *  - everything else, malformed bytes included, is copied unchanged.
 * Every rule shortens or keeps the encoding, so out needs room for len
 * bytes only.  out may equal in (in-place); other overlap is not allowed.
 * Not NUL-terminated.  Returns the output length.
 */
size_t miaopi__name_normalize(const char *in, size_t len, char *out);

/*
 * ASCII-only case mapping of in[0..len) into out (room for len bytes,
 * may equal in); other bytes are copied.  Returns len.  Not NUL-terminated.
 */
size_t miaopi__ascii_lower(const char *in, size_t len, char *out);
size_t miaopi__ascii_upper(const char *in, size_t len, char *out);

/*
 * Finds s[*start .. *start + *newlen) with the whitespace set of
 * name_normalize stripped from both ends.  All-whitespace or empty input
 * gives *start = len, *newlen = 0.
 */
void miaopi__trim(const char *s, size_t len, size_t *start, size_t *newlen);

/* ---- Personal-data masking ---------------------------------------------- */

typedef enum {
    MIAOPI__PII_NONE,
    MIAOPI__PII_ID_NUMBER,
    MIAOPI__PII_NAME,
    MIAOPI__PII_PHONE,
    MIAOPI__PII_ADDRESS,
    MIAOPI__PII_EMAIL,
    MIAOPI__PII_SECRET
} miaopi__pii;

/*
 * Masks a value for display in explanations, counting in code points and
 * replacing each hidden code point by one '*':
 *   ID_NUMBER  keep first 4 and last 4 ("4403**********1234"); with 8 or
 *              fewer code points keep only the last one; a single code
 *              point becomes "*".
 *   NAME       keep the first: 张三 -> 张*, 欧阳娜娜 -> 欧***; one -> "*".
 *   PHONE      keep first 3 and last 4 (138****5678); with 7 or fewer keep
 *              only the last 2; 2 or fewer become all '*'.
 *   ADDRESS    keep the first 6, then "****" if anything was cut.
 *   EMAIL      first code point of the local part (before the last '@'),
 *              "***", then "@domain"; without '@' like SECRET.
 *   SECRET     always "***" (not even the length leaks).
 *   NONE       copied unchanged.
 * Unknown classes are treated as SECRET, failing safe.  Empty input gives
 * "" except for SECRET and EMAIL (no '@'), which give "***".
 * Works like snprintf: returns the full output length excluding the NUL;
 * if outsize > 0 the output is NUL-terminated, truncated if needed to a
 * prefix that never ends in the middle of a UTF-8 sequence.  out may be
 * NULL if outsize is 0.  in and out must not overlap.
 */
size_t miaopi__mask(miaopi__pii cls, const char *in, size_t len, char *out,
                    size_t outsize);

#endif /* MIAOPI_DOMAIN_H */
