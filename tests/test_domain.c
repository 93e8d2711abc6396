/* Unit tests for lib/domain.c. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "domain.h"

/* ---- helpers ----------------------------------------------------------- */

/* Parses a date literal the test author knows to be valid. */
static int32_t DT(const char *s)
{
    int32_t d = 0;

    ck_assert_msg(miaopi__date_parse(s, strlen(s), &d), "parse %s", s);
    return d;
}

#define ck_date_eq(days, want)                                               \
    do {                                                                     \
        char buf_[11];                                                       \
        ck_assert_uint_eq(miaopi__date_format((days), buf_), 10);            \
        ck_assert_str_eq(buf_, (want));                                      \
    } while (0)

static bool parse_date(const char *s, int32_t *out)
{
    return miaopi__date_parse(s, strlen(s), out);
}

/*
 * Copies s into a heap block of exactly len bytes, so that AddressSanitizer
 * reports any read past the end (string literals have a trailing NUL and
 * neighbours that hide overreads).  Caller frees.
 */
static char *exact(const char *s, size_t len)
{
    char *p = malloc(len > 0 ? len : 1);

    ck_assert_ptr_nonnull(p);
    memcpy(p, s, len);
    return p;
}

/* Independent UTF-8 encoder for building test strings. */
static size_t enc(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Normalises a NUL-terminated string into a NUL-terminated buffer. */
static const char *norm(const char *in, char *buf)
{
    size_t n = miaopi__name_normalize(in, strlen(in), buf);

    ck_assert_uint_le(n, strlen(in));
    buf[n] = '\0';
    return buf;
}

/*
 * Computes the GB 11643 check character independently of the library:
 * weights derived as 2^(17-i) mod 11, check = (12 - sum mod 11) mod 11.
 */
static char id_check(const char *first17)
{
    int i, sum = 0, w = 1, c;

    for (i = 16; i >= 0; i--) {
        w = w * 2 % 11;
        sum += (first17[i] - '0') * w;
    }
    c = (12 - sum % 11) % 11;
    return c == 10 ? 'X' : (char)('0' + c);
}

/* Builds a full 18-character ID (NUL-terminated) with a correct check. */
static const char *make_id(const char *first17, char buf[19])
{
    memcpy(buf, first17, 17);
    buf[17] = id_check(first17);
    buf[18] = '\0';
    return buf;
}

static miaopi__cnid_status cnid(const char *s, miaopi__cnid *out)
{
    return miaopi__cnid_parse(s, strlen(s), out);
}

static const char USCC_SET[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";

/* Independent USCC check character: weights 3^i mod 31. */
static char uscc_check(const char *first17)
{
    int i, sum = 0, w = 1, c;

    for (i = 0; i < 17; i++) {
        sum += (int)(strchr(USCC_SET, first17[i]) - USCC_SET) * w;
        w = w * 3 % 31;
    }
    c = (31 - sum % 31) % 31;
    return USCC_SET[c];
}

static const char *make_uscc(const char *first17, char buf[19])
{
    memcpy(buf, first17, 17);
    buf[17] = uscc_check(first17);
    buf[18] = '\0';
    return buf;
}

static bool uscc(const char *s)
{
    return miaopi__uscc_valid(s, strlen(s));
}

/* Masks a NUL-terminated string with plenty of room. */
static const char *mask(miaopi__pii cls, const char *in, char *buf)
{
    size_t n = miaopi__mask(cls, in, strlen(in), buf, 256);

    ck_assert_uint_eq(n, strlen(buf));
    return buf;
}

/* ---- dates: calendar basics -------------------------------------------- */

START_TEST(test_domain_date__valid_calendar)
{
    ck_assert(miaopi__date_valid(2024, 2, 29));
    ck_assert(!miaopi__date_valid(2023, 2, 29));
    ck_assert(miaopi__date_valid(2000, 2, 29));   /* divisible by 400 */
    ck_assert(!miaopi__date_valid(1900, 2, 29));  /* divisible by 100 */
    ck_assert(miaopi__date_valid(1999, 12, 31));
    ck_assert(!miaopi__date_valid(1999, 2, 30));
    ck_assert(!miaopi__date_valid(2024, 4, 31));
    ck_assert(miaopi__date_valid(2024, 5, 31));
    ck_assert(!miaopi__date_valid(2024, 13, 1));
    ck_assert(!miaopi__date_valid(2024, 0, 1));
    ck_assert(!miaopi__date_valid(2024, 1, 0));
    ck_assert(!miaopi__date_valid(2024, 1, 32));
    ck_assert(miaopi__date_valid(1, 1, 1));
    ck_assert(miaopi__date_valid(9999, 12, 31));
    ck_assert(!miaopi__date_valid(0, 1, 1));
    ck_assert(!miaopi__date_valid(10000, 1, 1));
    ck_assert(!miaopi__date_valid(INT64_MIN, INT64_MIN, INT64_MIN));
    ck_assert(!miaopi__date_valid(INT64_MAX, 2, 29));
    ck_assert(!miaopi__date_valid(2024, INT64_MAX, 1));
    ck_assert(!miaopi__date_valid(2024, 1, INT64_MAX));
}
END_TEST

START_TEST(test_domain_date__known_day_numbers)
{
    ck_assert_int_eq(miaopi__days_from_civil(1970, 1, 1), 0);
    ck_assert_int_eq(miaopi__days_from_civil(1969, 12, 31), -1);
    ck_assert_int_eq(miaopi__days_from_civil(2000, 3, 1), 11017);
    ck_assert_int_eq(miaopi__days_from_civil(2024, 5, 1), 19844);
    ck_assert_int_eq(miaopi__days_from_civil(1, 1, 1), MIAOPI__DATE_MIN);
    ck_assert_int_eq(miaopi__days_from_civil(9999, 12, 31),
                     MIAOPI__DATE_MAX);
}
END_TEST

START_TEST(test_domain_date__civil_round_trip_whole_range)
{
    /*
     * Exhaustive: every valid day maps back to itself and follows its
     * predecessor.  Plain ifs because each ck_assert costs a syscall.
     */
    int32_t z;
    int py = 0, pm = 12, pd = 31;

    for (z = MIAOPI__DATE_MIN; z <= MIAOPI__DATE_MAX; z++) {
        int y, m, d;
        bool next;

        miaopi__civil_from_days(z, &y, &m, &d);
        next = (y == py && m == pm && d == pd + 1) ||
               (y == py && m == pm + 1 && d == 1) ||
               (y == py + 1 && m == 1 && pm == 12 && d == 1);
        if (!miaopi__date_valid(y, m, d) ||
            miaopi__days_from_civil(y, m, d) != z || !next) {
            ck_abort_msg("day %d -> %04d-%02d-%02d", (int)z, y, m, d);
        }
        py = y;
        pm = m;
        pd = d;
    }
    ck_assert_int_eq(py, 9999);
    ck_assert_int_eq(pm, 12);
    ck_assert_int_eq(pd, 31);
}
END_TEST

START_TEST(test_domain_date__civil_from_days_extremes)
{
    int y, m, d;

    /* Outside the valid range the proleptic calendar still applies. */
    miaopi__civil_from_days(INT32_MAX, &y, &m, &d);
    ck_assert_int_eq(miaopi__days_from_civil(y, m, d), INT32_MAX);
    miaopi__civil_from_days(INT32_MIN, &y, &m, &d);
    ck_assert_int_eq(miaopi__days_from_civil(y, m, d), INT32_MIN);
    miaopi__civil_from_days(MIAOPI__DATE_MIN - 1, &y, &m, &d);
    ck_assert_int_eq(y, 0);
    ck_assert_int_eq(m, 12);
    ck_assert_int_eq(d, 31);
}
END_TEST

START_TEST(test_domain_date__range_predicate)
{
    ck_assert(miaopi__date_in_range(MIAOPI__DATE_MIN));
    ck_assert(miaopi__date_in_range(MIAOPI__DATE_MAX));
    ck_assert(miaopi__date_in_range(0));
    ck_assert(!miaopi__date_in_range(MIAOPI__DATE_MIN - 1));
    ck_assert(!miaopi__date_in_range(MIAOPI__DATE_MAX + 1));
    ck_assert(!miaopi__date_in_range(INT32_MIN));
    ck_assert(!miaopi__date_in_range(INT32_MAX));
}
END_TEST

/* ---- dates: parse / format --------------------------------------------- */

START_TEST(test_domain_date__parse_valid)
{
    int32_t d;

    ck_assert(parse_date("1970-01-01", &d));
    ck_assert_int_eq(d, 0);
    ck_assert(parse_date("2024-02-29", &d));
    ck_assert_int_eq(d, miaopi__days_from_civil(2024, 2, 29));
    ck_assert(parse_date("0001-01-01", &d));
    ck_assert_int_eq(d, MIAOPI__DATE_MIN);
    ck_assert(parse_date("9999-12-31", &d));
    ck_assert_int_eq(d, MIAOPI__DATE_MAX);
    /* Only the given length is read. */
    ck_assert(miaopi__date_parse("2024-05-01T00:00", 10, &d));
    ck_date_eq(d, "2024-05-01");
}
END_TEST

START_TEST(test_domain_date__parse_rejects)
{
    static const char *const bad[] = {
        "2023-02-29", "1999-02-30", "19990230", "1999-2-3", "0000-01-01",
        "2024-13-01", "2024-00-10", "2024-01-00", "2024-04-31",
        " 2024-01-01", "2024-01-01 ", "2024/01/01", "+024-01-01",
        "-024-01-01", "2024-01-1a", "2024-01-010", "2024-1-01", "",
        "2024_01_01", "２０２４-01-01", "2024-01-32", "10000-01-01",
    };
    size_t i;
    int32_t d = 12345;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(!parse_date(bad[i], &d), "accepted '%s'", bad[i]);
    }
    ck_assert(!miaopi__date_parse("2024-01-0\0", 10, &d));
    ck_assert(!miaopi__date_parse(NULL, 10, &d));
    ck_assert(!miaopi__date_parse("2024-01-01", 9, &d));
    ck_assert_int_eq(d, 12345);
}
END_TEST

START_TEST(test_domain_date__parse_reads_only_len)
{
    char *p = exact("2024-05-01", 10);
    int32_t d;

    ck_assert(miaopi__date_parse(p, 10, &d));
    ck_date_eq(d, "2024-05-01");
    free(p);
}
END_TEST

START_TEST(test_domain_date__format)
{
    char buf[11];

    ck_date_eq(0, "1970-01-01");
    ck_date_eq(MIAOPI__DATE_MIN, "0001-01-01");
    ck_date_eq(MIAOPI__DATE_MAX, "9999-12-31");
    ck_date_eq(DT("2024-05-01"), "2024-05-01");
    memset(buf, 'z', sizeof buf);
    ck_assert_uint_eq(miaopi__date_format(MIAOPI__DATE_MAX + 1, buf), 0);
    ck_assert_str_eq(buf, "");
    ck_assert_uint_eq(miaopi__date_format(INT32_MIN, buf), 0);
    ck_assert_str_eq(buf, "");
}
END_TEST

/* ---- dates: arithmetic ------------------------------------------------- */

static int32_t add_days(const char *d, int64_t n)
{
    int32_t r = 0;

    ck_assert_msg(miaopi__date_add_days(DT(d), n, &r), "%s + %lldd", d,
                  (long long)n);
    return r;
}

static int32_t add_months(const char *d, int64_t n)
{
    int32_t r = 0;

    ck_assert_msg(miaopi__date_add_months(DT(d), n, &r), "%s + %lldm", d,
                  (long long)n);
    return r;
}

static int32_t add_years(const char *d, int64_t n)
{
    int32_t r = 0;

    ck_assert_msg(miaopi__date_add_years(DT(d), n, &r), "%s + %lldy", d,
                  (long long)n);
    return r;
}

START_TEST(test_domain_add_days__year_and_month_boundaries)
{
    ck_date_eq(add_days("2023-12-31", 1), "2024-01-01");
    ck_date_eq(add_days("2024-01-01", -1), "2023-12-31");
    ck_date_eq(add_days("2024-02-28", 1), "2024-02-29");
    ck_date_eq(add_days("2023-02-28", 1), "2023-03-01");
    ck_date_eq(add_days("2024-05-01", 0), "2024-05-01");
    ck_date_eq(add_days("2024-01-01", 366), "2025-01-01");
    ck_date_eq(add_days("1970-01-01", -1), "1969-12-31");
}
END_TEST

START_TEST(test_domain_add_days__range_limits)
{
    int32_t r = 777;

    ck_assert(!miaopi__date_add_days(DT("9999-12-31"), 1, &r));
    ck_assert(!miaopi__date_add_days(DT("0001-01-01"), -1, &r));
    ck_assert(!miaopi__date_add_days(0, INT64_MAX, &r));
    ck_assert(!miaopi__date_add_days(0, INT64_MIN, &r));
    ck_assert(!miaopi__date_add_days(0, (int64_t)1 << 40, &r));
    ck_assert(!miaopi__date_add_days(MIAOPI__DATE_MAX + 1, -1, &r));
    ck_assert(!miaopi__date_add_days(INT32_MIN, 0, &r));
    ck_assert_int_eq(r, 777);
    ck_assert(miaopi__date_add_days(MIAOPI__DATE_MIN,
                                    (int64_t)MIAOPI__DATE_MAX -
                                        MIAOPI__DATE_MIN,
                                    &r));
    ck_assert_int_eq(r, MIAOPI__DATE_MAX);
    ck_assert(miaopi__date_add_days(MIAOPI__DATE_MAX,
                                    (int64_t)MIAOPI__DATE_MIN -
                                        MIAOPI__DATE_MAX,
                                    &r));
    ck_assert_int_eq(r, MIAOPI__DATE_MIN);
    ck_date_eq(add_days("9999-12-30", 1), "9999-12-31");
}
END_TEST

START_TEST(test_domain_add_months__clamps_to_month_end)
{
    ck_date_eq(add_months("2024-01-31", 1), "2024-02-29");
    ck_date_eq(add_months("2023-01-31", 1), "2023-02-28");
    ck_date_eq(add_months("2024-03-31", -1), "2024-02-29");
    ck_date_eq(add_months("2024-03-31", 1), "2024-04-30");
    ck_date_eq(add_months("2024-05-31", -1), "2024-04-30");
    ck_date_eq(add_months("2024-01-30", 1), "2024-02-29");
    ck_date_eq(add_months("2024-01-29", 1), "2024-02-29");
    ck_date_eq(add_months("2024-01-28", 1), "2024-02-28");
    ck_date_eq(add_months("2024-01-31", 2), "2024-03-31");
    /* Clamping is per call: two single steps can lose days. */
    ck_date_eq(add_months("2024-02-29", 1), "2024-03-29");
}
END_TEST

START_TEST(test_domain_add_months__year_boundaries)
{
    ck_date_eq(add_months("2023-12-15", 1), "2024-01-15");
    ck_date_eq(add_months("2024-01-15", -1), "2023-12-15");
    ck_date_eq(add_months("2024-05-01", 12), "2025-05-01");
    ck_date_eq(add_months("2024-05-01", -12), "2023-05-01");
    ck_date_eq(add_months("2024-05-01", -17), "2022-12-01");
    ck_date_eq(add_months("2024-05-01", 0), "2024-05-01");
    ck_date_eq(add_months("2024-05-31", 24 + 9), "2027-02-28");
    ck_date_eq(add_months("0001-01-31", 119987), "9999-12-31");
    ck_date_eq(add_months("9999-12-31", -119987), "0001-01-31");
}
END_TEST

START_TEST(test_domain_add_months__range_limits)
{
    int32_t r = 777;

    ck_assert(!miaopi__date_add_months(DT("9999-12-01"), 1, &r));
    ck_assert(!miaopi__date_add_months(DT("0001-01-15"), -1, &r));
    ck_assert(!miaopi__date_add_months(DT("0001-01-01"), 120000, &r));
    ck_assert(!miaopi__date_add_months(0, INT64_MAX, &r));
    ck_assert(!miaopi__date_add_months(0, INT64_MIN, &r));
    ck_assert(!miaopi__date_add_months(0, INT64_MAX / 12 + 1, &r));
    ck_assert(!miaopi__date_add_months(MIAOPI__DATE_MIN - 1, 1, &r));
    ck_assert_int_eq(r, 777);
}
END_TEST

START_TEST(test_domain_add_years__leap_day)
{
    ck_date_eq(add_years("2024-02-29", 1), "2025-02-28");
    ck_date_eq(add_years("2024-02-29", 4), "2028-02-29");
    ck_date_eq(add_years("2024-02-29", -4), "2020-02-29");
    ck_date_eq(add_years("2024-02-29", -1), "2023-02-28");
    ck_date_eq(add_years("2000-02-29", 100), "2100-02-28");
    ck_date_eq(add_years("2000-02-29", 400), "2400-02-29");
    ck_date_eq(add_years("2023-12-31", 1), "2024-12-31");
    ck_date_eq(add_years("2024-05-01", 0), "2024-05-01");
}
END_TEST

START_TEST(test_domain_add_years__range_limits)
{
    int32_t r = 777;

    ck_date_eq(add_years("0001-01-01", 9998), "9999-01-01");
    ck_date_eq(add_years("9999-12-31", -9998), "0001-12-31");
    ck_assert(!miaopi__date_add_years(DT("9999-01-01"), 1, &r));
    ck_assert(!miaopi__date_add_years(DT("0001-12-31"), -1, &r));
    ck_assert(!miaopi__date_add_years(0, 9999, &r));
    ck_assert(!miaopi__date_add_years(0, INT64_MAX, &r));
    ck_assert(!miaopi__date_add_years(0, INT64_MIN, &r));
    ck_assert(!miaopi__date_add_years(0, INT64_MAX / 12, &r));
    ck_assert(!miaopi__date_add_years(INT32_MAX, -1, &r));
    ck_assert_int_eq(r, 777);
}
END_TEST

START_TEST(test_domain_between__days)
{
    ck_assert_int_eq(miaopi__days_between(DT("2024-01-01"),
                                          DT("2024-12-31")), 365);
    ck_assert_int_eq(miaopi__days_between(DT("2024-12-31"),
                                          DT("2024-01-01")), -365);
    ck_assert_int_eq(miaopi__days_between(DT("2024-05-01"),
                                          DT("2024-05-01")), 0);
    ck_assert_int_eq(miaopi__days_between(INT32_MIN, INT32_MAX),
                     (int64_t)UINT32_MAX);
    ck_assert_int_eq(miaopi__days_between(INT32_MAX, INT32_MIN),
                     -(int64_t)UINT32_MAX);
}
END_TEST

static int64_t months(const char *a, const char *b)
{
    return miaopi__months_between(DT(a), DT(b));
}

START_TEST(test_domain_between__months_documented_rule)
{
    ck_assert_int_eq(months("2024-01-15", "2024-02-15"), 1);
    ck_assert_int_eq(months("2024-01-15", "2024-02-14"), 0);
    ck_assert_int_eq(months("2024-01-15", "2024-01-15"), 0);
    /* 31 Jan: February never reaches day 31, 1 Mar completes it. */
    ck_assert_int_eq(months("2024-01-31", "2024-02-29"), 0);
    ck_assert_int_eq(months("2024-01-31", "2024-03-01"), 1);
    ck_assert_int_eq(months("2024-01-31", "2024-03-30"), 1);
    ck_assert_int_eq(months("2024-01-31", "2024-03-31"), 2);
    /* Year boundary. */
    ck_assert_int_eq(months("2023-12-31", "2024-01-01"), 0);
    ck_assert_int_eq(months("2023-12-31", "2024-01-31"), 1);
    ck_assert_int_eq(months("2023-12-01", "2024-12-01"), 12);
    ck_assert_int_eq(months("2023-12-02", "2024-12-01"), 11);
    ck_assert_int_eq(months("0001-01-01", "9999-12-31"), 9999 * 12 - 1);
}
END_TEST

START_TEST(test_domain_between__months_antisymmetric)
{
    ck_assert_int_eq(months("2024-02-15", "2024-01-15"), -1);
    ck_assert_int_eq(months("2024-02-14", "2024-01-15"), 0);
    ck_assert_int_eq(months("2024-03-01", "2024-01-31"), -1);
    ck_assert_int_eq(months("2024-02-29", "2024-01-31"), 0);
    ck_assert_int_eq(months("2024-01-01", "2023-12-31"), 0);
    ck_assert_int_eq(months("9999-12-31", "0001-01-01"), -(9999 * 12 - 1));
    /* No overflow for any int32_t pair. */
    ck_assert_int_eq(miaopi__months_between(INT32_MIN, INT32_MAX),
                     -miaopi__months_between(INT32_MAX, INT32_MIN));
}
END_TEST

START_TEST(test_domain_between__years_consistent_with_months)
{
    /* Sample pairs ~13 days apart across 8 years against a fixed start,
     * in both directions. */
    static const char *const starts[] = {
        "2004-02-29", "2023-01-31", "2000-12-31", "2001-03-01",
        "2024-06-15",
    };
    size_t i;

    for (i = 0; i < sizeof starts / sizeof starts[0]; i++) {
        int32_t a = DT(starts[i]);
        int32_t b;

        for (b = a - 8 * 366; b <= a + 8 * 366; b += 13) {
            int64_t y = 0, mo = miaopi__months_between(a, b);

            ck_assert(miaopi__years_between(a, b, &y));
            ck_assert_int_eq(y, mo / 12);
            ck_assert_int_eq(mo, -miaopi__months_between(b, a));
        }
    }
}
END_TEST

START_TEST(test_domain_between__years)
{
    int64_t y = 99;

    ck_assert(miaopi__years_between(DT("2000-05-01"), DT("2018-05-01"), &y));
    ck_assert_int_eq(y, 18);
    ck_assert(miaopi__years_between(DT("2018-05-01"), DT("2000-05-01"), &y));
    ck_assert_int_eq(y, -18);
    ck_assert(miaopi__years_between(DT("2018-04-30"), DT("2000-05-01"), &y));
    ck_assert_int_eq(y, -17);
    ck_assert(miaopi__years_between(DT("2004-02-29"), DT("2022-02-28"), &y));
    ck_assert_int_eq(y, 17);
    ck_assert(miaopi__years_between(DT("2024-05-01"), DT("2024-05-01"), &y));
    ck_assert_int_eq(y, 0);
    y = 99;
    ck_assert(!miaopi__years_between(MIAOPI__DATE_MAX + 1, 0, &y));
    ck_assert(!miaopi__years_between(0, MIAOPI__DATE_MIN - 1, &y));
    ck_assert_int_eq(y, 99);
}
END_TEST

/* ---- age ----------------------------------------------------------------- */

static int64_t age(const char *birth, const char *on)
{
    int64_t a = -1;

    ck_assert_msg(miaopi__age_on(DT(birth), DT(on), &a), "age %s %s", birth,
                  on);
    return a;
}

START_TEST(test_domain_age__birthday_on_decision_date)
{
    ck_assert_int_eq(age("2000-05-01", "2018-05-01"), 18);
    ck_assert_int_eq(age("2000-05-01", "2018-04-30"), 17);
    ck_assert_int_eq(age("2000-05-01", "2018-05-02"), 18);
}
END_TEST

START_TEST(test_domain_age__born_29_feb)
{
    /* Common year: the birthday is 1 March. */
    ck_assert_int_eq(age("2004-02-29", "2022-02-28"), 17);
    ck_assert_int_eq(age("2004-02-29", "2022-03-01"), 18);
    /* Leap year: the birthday is 29 February itself. */
    ck_assert_int_eq(age("2004-02-29", "2024-02-28"), 19);
    ck_assert_int_eq(age("2004-02-29", "2024-02-29"), 20);
    /* 2100 is not a leap year. */
    ck_assert_int_eq(age("2000-02-29", "2100-02-28"), 99);
    ck_assert_int_eq(age("2000-02-29", "2100-03-01"), 100);
    ck_assert_int_eq(age("2004-02-29", "2005-02-28"), 0);
    ck_assert_int_eq(age("2004-02-29", "2005-03-01"), 1);
}
END_TEST

START_TEST(test_domain_age__born_28_feb_and_1_mar)
{
    ck_assert_int_eq(age("2003-02-28", "2004-02-28"), 1);
    ck_assert_int_eq(age("2003-03-01", "2004-02-29"), 0);
    ck_assert_int_eq(age("2003-03-01", "2004-03-01"), 1);
}
END_TEST

START_TEST(test_domain_age__year_boundary)
{
    ck_assert_int_eq(age("2000-12-31", "2001-01-01"), 0);
    ck_assert_int_eq(age("2000-12-31", "2001-12-30"), 0);
    ck_assert_int_eq(age("2000-12-31", "2001-12-31"), 1);
    ck_assert_int_eq(age("2001-01-01", "2001-12-31"), 0);
    ck_assert_int_eq(age("2001-01-01", "2002-01-01"), 1);
}
END_TEST

START_TEST(test_domain_age__same_day_and_extremes)
{
    ck_assert_int_eq(age("2024-05-01", "2024-05-01"), 0);
    ck_assert_int_eq(age("0001-01-01", "9999-12-31"), 9998);
    ck_assert_int_eq(age("0001-01-02", "9999-01-01"), 9997);
}
END_TEST

START_TEST(test_domain_age__fails_before_birth_or_out_of_range)
{
    int64_t a = 42;

    ck_assert(!miaopi__age_on(DT("2000-05-01"), DT("2000-04-30"), &a));
    ck_assert(!miaopi__age_on(MIAOPI__DATE_MIN - 1, 0, &a));
    ck_assert(!miaopi__age_on(0, MIAOPI__DATE_MAX + 1, &a));
    ck_assert(!miaopi__age_on(INT32_MIN, INT32_MAX, &a));
    ck_assert_int_eq(a, 42);
}
END_TEST

/* ---- resident identity number ------------------------------------------ */

START_TEST(test_domain_cnid__known_sample)
{
    miaopi__cnid id;

    ck_assert_int_eq(cnid("11010519491231002X", &id), MIAOPI__CNID_OK);
    ck_date_eq(id.birth, "1949-12-31");
    ck_assert_int_eq(id.sex, 'F');
    ck_assert_str_eq(id.region, "110105");
}
END_TEST

START_TEST(test_domain_cnid__lower_case_x)
{
    miaopi__cnid id;

    ck_assert_int_eq(cnid("11010519491231002x", &id), MIAOPI__CNID_OK);
    ck_date_eq(id.birth, "1949-12-31");
    /* 'x' is only accepted where 'X' would be the right check. */
    ck_assert_int_eq(cnid("11010519491231003x", &id),
                     MIAOPI__CNID_CHECKSUM);
}
END_TEST

START_TEST(test_domain_cnid__computed_samples)
{
    char buf[19];
    miaopi__cnid id;

    /* 440305199001011234 is NOT valid: the check for ...123 is 'X'. */
    ck_assert_int_eq(id_check("44030519900101123"), 'X');
    ck_assert_int_eq(cnid("440305199001011234", &id),
                     MIAOPI__CNID_CHECKSUM);
    ck_assert_int_eq(cnid(make_id("44030519900101123", buf), &id),
                     MIAOPI__CNID_OK);
    ck_assert_int_eq(id.sex, 'M');
    ck_assert_str_eq(id.region, "440305");
    ck_date_eq(id.birth, "1990-01-01");

    ck_assert_int_eq(cnid(make_id("11010520000229001", buf), &id),
                     MIAOPI__CNID_OK);
    ck_assert_int_eq(id.sex, 'M');
    ck_date_eq(id.birth, "2000-02-29");

    ck_assert_int_eq(cnid(make_id("32010619880808456", buf), &id),
                     MIAOPI__CNID_OK);
    ck_assert_int_eq(id.sex, 'F');
    ck_date_eq(id.birth, "1988-08-08");

    /* Digit 17 = 0 is even. */
    ck_assert_int_eq(cnid(make_id("81000019991231000", buf), &id),
                     MIAOPI__CNID_OK);
    ck_assert_int_eq(id.sex, 'F');
    ck_assert_str_eq(id.region, "810000");
}
END_TEST

START_TEST(test_domain_cnid__every_check_value_occurs)
{
    /* Vary the sequence number until all 11 check values have been seen,
     * verifying library and independent computation agree each time. */
    char first[18] = "44030519900101000";
    char buf[19];
    bool seen[11] = {false};
    int i, k, count = 0;

    for (i = 0; i < 1000 && count < 11; i++) {
        char c;

        first[14] = (char)('0' + i / 100);
        first[15] = (char)('0' + i / 10 % 10);
        first[16] = (char)('0' + i % 10);
        make_id(first, buf);
        ck_assert_int_eq(cnid(buf, NULL), MIAOPI__CNID_OK);
        c = buf[17];
        k = c == 'X' ? 10 : c - '0';
        if (!seen[k]) {
            seen[k] = true;
            count++;
        }
    }
    ck_assert_int_eq(count, 11);
}
END_TEST

START_TEST(test_domain_cnid__wrong_check_character)
{
    static const char alphabet[] = "0123456789X";
    char buf[19];
    size_t i;

    make_id("44030519900101123", buf);
    for (i = 0; alphabet[i] != '\0'; i++) {
        if (alphabet[i] == buf[17]) {
            continue;
        }
        buf[17] = alphabet[i];
        ck_assert_int_eq(cnid(buf, NULL), MIAOPI__CNID_CHECKSUM);
        make_id("44030519900101123", buf);
    }
    /* A single changed digit is always detected. */
    buf[3] = buf[3] == '9' ? '0' : (char)(buf[3] + 1);
    ck_assert_int_eq(cnid(buf, NULL), MIAOPI__CNID_CHECKSUM);
    /* So is a transposition of adjacent digits (…1231… -> …1213…),
     * which still leaves a valid birth date. */
    ck_assert_int_ne(id_check("11010519491213002"), 'X');
    ck_assert_int_eq(cnid("11010519491213002X", NULL),
                     MIAOPI__CNID_CHECKSUM);
}
END_TEST

START_TEST(test_domain_cnid__length)
{
    char buf[20];

    ck_assert_int_eq(cnid("110105491231002", NULL), MIAOPI__CNID_LENGTH);
    ck_assert_int_eq(cnid("11010519491231002", NULL), MIAOPI__CNID_LENGTH);
    ck_assert_int_eq(cnid("11010519491231002X0", NULL),
                     MIAOPI__CNID_LENGTH);
    ck_assert_int_eq(cnid("", NULL), MIAOPI__CNID_LENGTH);
    ck_assert_int_eq(miaopi__cnid_parse(NULL, 18, NULL), MIAOPI__CNID_LENGTH);
    /* Length wins over every other problem. */
    ck_assert_int_eq(cnid("ABC", NULL), MIAOPI__CNID_LENGTH);
    /* A trailing space makes it 19. */
    strcpy(buf, "11010519491231002X ");
    ck_assert_int_eq(cnid(buf, NULL), MIAOPI__CNID_LENGTH);
}
END_TEST

START_TEST(test_domain_cnid__chars)
{
    ck_assert_int_eq(cnid("1101051949123100XX", NULL), MIAOPI__CNID_CHARS);
    ck_assert_int_eq(cnid("11010519491231002Y", NULL), MIAOPI__CNID_CHARS);
    ck_assert_int_eq(cnid("11010519491231002 ", NULL), MIAOPI__CNID_CHARS);
    ck_assert_int_eq(cnid(" 1010519491231002X", NULL), MIAOPI__CNID_CHARS);
    ck_assert_int_eq(cnid("1101051949123100-X", NULL), MIAOPI__CNID_CHARS);
    ck_assert_int_eq(miaopi__cnid_parse("11010519491231002\0", 18, NULL),
                     MIAOPI__CNID_CHARS);
    /* Characters are checked before the region. */
    ck_assert_int_eq(cnid("99010519491231002Y", NULL), MIAOPI__CNID_CHARS);
}
END_TEST

START_TEST(test_domain_cnid__region)
{
    static const int valid[] = {
        11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37,
        41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65,
        71, 81, 82, 83,
    };
    char first[18] = "00010519491231002";
    char buf[19];
    int p;

    for (p = 0; p < 100; p++) {
        bool ok = false;
        size_t i;

        for (i = 0; i < sizeof valid / sizeof valid[0]; i++) {
            ok = ok || valid[i] == p;
        }
        first[0] = (char)('0' + p / 10);
        first[1] = (char)('0' + p % 10);
        ck_assert_msg(cnid(make_id(first, buf), NULL) ==
                          (ok ? MIAOPI__CNID_OK : MIAOPI__CNID_REGION),
                      "province %02d", p);
    }
    ck_assert_int_eq(cnid(make_id("00000019491231002", buf), NULL),
                     MIAOPI__CNID_REGION);
    ck_assert_int_eq(cnid(make_id("99010519491231002", buf), NULL),
                     MIAOPI__CNID_REGION);
    /* Region is checked before the birth date. */
    ck_assert_int_eq(cnid(make_id("99010519990230002", buf), NULL),
                     MIAOPI__CNID_REGION);
}
END_TEST

START_TEST(test_domain_cnid__birth_date)
{
    char buf[19];
    miaopi__cnid id;

    ck_assert_int_eq(cnid(make_id("11010519990230002", buf), NULL),
                     MIAOPI__CNID_BIRTH_DATE);
    ck_assert_int_eq(cnid(make_id("11010520230229002", buf), NULL),
                     MIAOPI__CNID_BIRTH_DATE);
    ck_assert_int_eq(cnid(make_id("11010520240229002", buf), NULL),
                     MIAOPI__CNID_OK);
    ck_assert_int_eq(cnid(make_id("11010517991231002", buf), NULL),
                     MIAOPI__CNID_BIRTH_DATE);
    ck_assert_int_eq(cnid(make_id("11010518000101002", buf), &id),
                     MIAOPI__CNID_OK);
    ck_date_eq(id.birth, "1800-01-01");
    ck_assert_int_eq(cnid(make_id("11010519991301002", buf), NULL),
                     MIAOPI__CNID_BIRTH_DATE);
    ck_assert_int_eq(cnid(make_id("11010519990001002", buf), NULL),
                     MIAOPI__CNID_BIRTH_DATE);
    ck_assert_int_eq(cnid(make_id("11010519990100002", buf), NULL),
                     MIAOPI__CNID_BIRTH_DATE);
    ck_assert_int_eq(cnid(make_id("11010519990431002", buf), NULL),
                     MIAOPI__CNID_BIRTH_DATE);
    ck_assert_int_eq(cnid(make_id("11010500000101002", buf), NULL),
                     MIAOPI__CNID_BIRTH_DATE);
    /* No clock: a future date is structurally fine. */
    ck_assert_int_eq(cnid(make_id("11010599991231002", buf), NULL),
                     MIAOPI__CNID_OK);
    /* Birth date is checked before the check character. */
    ck_assert_int_eq(cnid("110105199902300020", NULL),
                     MIAOPI__CNID_BIRTH_DATE);
    ck_assert_int_eq(cnid("110105199902300021", NULL),
                     MIAOPI__CNID_BIRTH_DATE);
}
END_TEST

START_TEST(test_domain_cnid__out_untouched_on_failure)
{
    miaopi__cnid id;

    memset(&id, 0x5A, sizeof id);
    ck_assert_int_eq(cnid("11010519491231003X", &id),
                     MIAOPI__CNID_CHECKSUM);
    ck_assert_int_eq(id.sex, 0x5A);
    ck_assert_int_eq(id.region[0], 0x5A);
}
END_TEST

START_TEST(test_domain_cnid__reads_only_len)
{
    char *p = exact("11010519491231002X", 18);
    miaopi__cnid id;

    ck_assert_int_eq(miaopi__cnid_parse(p, 18, &id), MIAOPI__CNID_OK);
    free(p);
}
END_TEST

/* ---- unified social credit code ---------------------------------------- */

START_TEST(test_domain_uscc__known_valid)
{
    ck_assert(uscc("91350100M000100Y43"));
    ck_assert(uscc("91110000600037341L"));
    ck_assert(uscc("91440300708461136T"));
    ck_assert(uscc("91310000775785552L"));
}
END_TEST

START_TEST(test_domain_uscc__computed_valid)
{
    char buf[19];

    /* Letters in the authority, type and organisation positions. */
    ck_assert(uscc(make_uscc("Y1110000ABCDEFGHJ", buf)));
    ck_assert(uscc(make_uscc("12100000KLMNPQRTU", buf)));
    ck_assert(uscc(make_uscc("5N440300WXY000000", buf)));
    ck_assert(uscc(make_uscc("00000000000000000", buf)));
    ck_assert_int_eq(buf[17], '0');
}
END_TEST

START_TEST(test_domain_uscc__every_check_value_occurs)
{
    char first[18] = "91350100M00010000";
    char buf[19];
    bool seen[31] = {false};
    int i, count = 0;

    for (i = 0; i < 31 * 31 && count < 31; i++) {
        int k;

        first[15] = USCC_SET[i / 31];
        first[16] = USCC_SET[i % 31];
        make_uscc(first, buf);
        ck_assert_msg(uscc(buf), "%s", buf);
        k = (int)(strchr(USCC_SET, buf[17]) - USCC_SET);
        if (!seen[k]) {
            seen[k] = true;
            count++;
        }
    }
    ck_assert_int_eq(count, 31);
}
END_TEST

START_TEST(test_domain_uscc__wrong_check_character)
{
    char buf[19] = "91350100M000100Y43";
    size_t i;

    for (i = 0; USCC_SET[i] != '\0'; i++) {
        if (USCC_SET[i] == '3') {
            continue;
        }
        buf[17] = USCC_SET[i];
        ck_assert_msg(!uscc(buf), "%s", buf);
    }
    ck_assert(!uscc("91350100M000100Y44"));
    ck_assert(!uscc("91110000600037341M"));
    /* A changed body character is detected. */
    ck_assert(!uscc("91350100M000101Y43"));
}
END_TEST

START_TEST(test_domain_uscc__forbidden_letters)
{
    static const char forbidden[] = "IOZSV";
    char first[18];
    char buf[19];
    size_t i;

    for (i = 0; forbidden[i] != '\0'; i++) {
        /* Put the letter in the organisation code and fix up the check
         * as if the letter were allowed with value 0, so only the
         * character set can reject it. */
        memcpy(first, "91350100M00010000", 17);
        first[8] = '0';
        make_uscc(first, buf);
        buf[8] = forbidden[i];
        ck_assert_msg(!uscc(buf), "%s", buf);
        memcpy(buf, "91350100M000100Y43", 18);
        buf[0] = forbidden[i];
        ck_assert_msg(!uscc(buf), "%s", buf);
        memcpy(buf, "91350100M000100Y43", 18);
        buf[17] = forbidden[i];
        ck_assert_msg(!uscc(buf), "%s", buf);
    }
}
END_TEST

START_TEST(test_domain_uscc__lower_case_rejected)
{
    ck_assert(!uscc("91350100m000100y43"));
    ck_assert(!uscc("91350100M000100y43"));
    ck_assert(!uscc("91110000600037341l"));
}
END_TEST

START_TEST(test_domain_uscc__region_must_be_digits)
{
    char buf[19];

    /* Checksums are right; only the region position is wrong. */
    ck_assert(!uscc(make_uscc("91A50100M00010000", buf)));
    ck_assert(!uscc(make_uscc("9135010AM00010000", buf)));
    ck_assert(uscc(make_uscc("91350100M00010000", buf)));
}
END_TEST

START_TEST(test_domain_uscc__length_and_chars)
{
    char *p;

    ck_assert(!uscc(""));
    ck_assert(!uscc("91350100M000100Y4"));
    ck_assert(!uscc("91350100M000100Y433"));
    ck_assert(!miaopi__uscc_valid(NULL, 18));
    ck_assert(!uscc("91350100M000100Y4 "));
    ck_assert(!uscc("91350100M-00100Y43"));
    ck_assert(!miaopi__uscc_valid("91350100M000100Y4\0", 18));
    p = exact("91350100M000100Y43", 18);
    ck_assert(miaopi__uscc_valid(p, 18));
    free(p);
}
END_TEST

/* ---- UTF-8 --------------------------------------------------------------- */

START_TEST(test_domain_utf8__length_valid)
{
    ck_assert_uint_eq(miaopi__utf8_length("", 0), 0);
    ck_assert_uint_eq(miaopi__utf8_length(NULL, 0), 0);
    ck_assert_uint_eq(miaopi__utf8_length("abc", 3), 3);
    ck_assert_uint_eq(miaopi__utf8_length("张三", strlen("张三")), 2);
    ck_assert_uint_eq(miaopi__utf8_length("欧阳娜娜", strlen("欧阳娜娜")),
                      4);
    ck_assert_uint_eq(miaopi__utf8_length("买买提·艾力",
                                          strlen("买买提·艾力")), 6);
    ck_assert_uint_eq(miaopi__utf8_length("a\xF0\x9F\x98\x80z", 6), 3);
    ck_assert_uint_eq(miaopi__utf8_length("\xF4\x8F\xBF\xBF", 4), 1);
    ck_assert_uint_eq(miaopi__utf8_length("a\0b", 3), 3);
}
END_TEST

START_TEST(test_domain_utf8__length_invalid_counts_bytes)
{
    static const struct {
        const char *s;
        size_t len, want;
    } cases[] = {
        {"\x80", 1, 1},                 /* stray continuation */
        {"\xE5\xBC", 2, 2},             /* truncated 3-byte */
        {"\xE5\xBC" "a", 3, 3},         /* interrupted */
        {"\xC0\xAF", 2, 2},             /* overlong '/' */
        {"\xE0\x80\xAF", 3, 3},         /* overlong */
        {"\xED\xA0\x80", 3, 3},         /* surrogate */
        {"\xF4\x90\x80\x80", 4, 4},     /* > U+10FFFF */
        {"\xF5\x80\x80\x80", 4, 4},
        {"\xFF\xFE", 2, 2},
        {"\xF0\x9F\x98", 3, 3},         /* truncated 4-byte */
        {"\xC2", 1, 1},
    };
    size_t i;

    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *p = exact(cases[i].s, cases[i].len);

        ck_assert_msg(miaopi__utf8_length(p, cases[i].len) == cases[i].want,
                      "case %zu", i);
        free(p);
    }
}
END_TEST

START_TEST(test_domain_utf8__decode)
{
    uint32_t cp;
    char b[4];
    uint32_t probe[] = {0x0, 0x7F, 0x80, 0x7FF, 0x800, 0xD7FF, 0xE000,
                        0xFFFD, 0xFFFF, 0x10000, 0x10FFFF, 0x5F20};
    size_t i;

    for (i = 0; i < sizeof probe / sizeof probe[0]; i++) {
        size_t n = enc(probe[i], b);
        char *p = exact(b, n);

        ck_assert_uint_eq(miaopi__utf8_decode(p, n, &cp), n);
        ck_assert_uint_eq(cp, probe[i]);
        free(p);
    }
    ck_assert_uint_eq(miaopi__utf8_decode("\xED\xA0\x80", 3, &cp), 1);
    ck_assert_uint_eq(cp, 0xFFFD);
    /* len limits the read even if the next bytes would complete it. */
    ck_assert_uint_eq(miaopi__utf8_decode("\xE5\xBC\xA0", 2, &cp), 1);
    ck_assert_uint_eq(cp, 0xFFFD);
    ck_assert_uint_eq(miaopi__utf8_decode(NULL, 0, &cp), 0);
}
END_TEST

/* ---- name normalisation ------------------------------------------------ */

START_TEST(test_domain_name__full_width_ascii)
{
    char buf[64];

    ck_assert_str_eq(norm("ＡＢＣ１２３", buf), "ABC123");
    ck_assert_str_eq(norm("ａｂｃ", buf), "abc");
    ck_assert_str_eq(norm("\xEF\xBC\x81", buf), "!");   /* U+FF01 */
    ck_assert_str_eq(norm("\xEF\xBD\x9E", buf), "~");   /* U+FF5E */
    /* Just outside the block: left alone. */
    ck_assert_str_eq(norm("\xEF\xBC\x80", buf), "\xEF\xBC\x80"); /* FF00 */
    ck_assert_str_eq(norm("\xEF\xBD\x9F", buf), "\xEF\xBD\x9F"); /* FF5F */
}
END_TEST

START_TEST(test_domain_name__full_width_whole_block)
{
    uint32_t c;

    for (c = 0xFF01; c <= 0xFF5E; c++) {
        char in[4], out[4];
        size_t n = enc(c, in);

        ck_assert_uint_eq(miaopi__name_normalize(in, n, out), 1);
        ck_assert_int_eq((unsigned char)out[0], c - 0xFEE0);
    }
}
END_TEST

START_TEST(test_domain_name__removes_every_whitespace)
{
    static const uint32_t spaces[] = {
        0x20, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x00A0, 0x1680, 0x2000, 0x2001,
        0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009,
        0x200A, 0x200B, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0xFEFF,
    };
    size_t i;

    for (i = 0; i < sizeof spaces / sizeof spaces[0]; i++) {
        char in[16], out[16];
        size_t n = 0;

        memcpy(in, "张", 3);
        n = 3 + enc(spaces[i], in + 3);
        memcpy(in + n, "三", 3);
        n += 3;
        n = miaopi__name_normalize(in, n, out);
        ck_assert_msg(n == 6 && memcmp(out, "张三", 6) == 0, "U+%04X",
                      (unsigned)spaces[i]);
    }
}
END_TEST

START_TEST(test_domain_name__keeps_non_whitespace_neighbours)
{
    static const uint32_t kept[] = {0x1F, 0x21, 0x9F, 0x1FFF, 0x200C,
                                    0x2030, 0x2FFF, 0x3001, 0xFEFE};
    size_t i;

    for (i = 0; i < sizeof kept / sizeof kept[0]; i++) {
        char in[8], out[8];
        size_t n = enc(kept[i], in);

        ck_assert_uint_eq(miaopi__name_normalize(in, n, out), n);
        ck_assert(memcmp(in, out, n) == 0);
    }
}
END_TEST

START_TEST(test_domain_name__unifies_middle_dots)
{
    static const uint32_t dots[] = {0x00B7, 0x30FB, 0x2022, 0x2027,
                                    0xFF65, 0x22C5, 0x2219, 0x0387};
    size_t i;

    for (i = 0; i < sizeof dots / sizeof dots[0]; i++) {
        char in[32], out[32];
        size_t n;

        memcpy(in, "买买提", 9);
        n = 9 + enc(dots[i], in + 9);
        memcpy(in + n, "艾力", 6);
        n += 6;
        n = miaopi__name_normalize(in, n, out);
        ck_assert_msg(n == strlen("买买提·艾力") &&
                          memcmp(out, "买买提·艾力", n) == 0,
                      "U+%04X", (unsigned)dots[i]);
    }
}
END_TEST

START_TEST(test_domain_name__combined_and_unchanged)
{
    char buf[64];

    ck_assert_str_eq(norm(" 张　三 ", buf), "张三");
    ck_assert_str_eq(norm("Ｌｉ　Ｌｅｉ", buf), "LiLei");
    ck_assert_str_eq(norm("阿卜杜・热合曼 ", buf), "阿卜杜·热合曼");
    ck_assert_str_eq(norm("欧阳娜娜", buf), "欧阳娜娜");
    ck_assert_str_eq(norm("", buf), "");
    /* No case folding. */
    ck_assert_str_eq(norm("ＡbＣ", buf), "AbC");
    ck_assert_uint_eq(miaopi__name_normalize(NULL, 0, buf), 0);
}
END_TEST

START_TEST(test_domain_name__invalid_bytes_copied)
{
    char *p = exact("\xE5\xBC \x80\xFF\xED\xA0\x80", 8);
    char out[8];
    size_t n = miaopi__name_normalize(p, 8, out);

    ck_assert_uint_eq(n, 7);
    ck_assert(memcmp(out, "\xE5\xBC\x80\xFF\xED\xA0\x80", 7) == 0);
    free(p);
    /* A truncated full-width char at the end is not converted. */
    p = exact("A\xEF\xBC", 3);
    ck_assert_uint_eq(miaopi__name_normalize(p, 3, out), 3);
    ck_assert(memcmp(out, "A\xEF\xBC", 3) == 0);
    free(p);
}
END_TEST

START_TEST(test_domain_name__in_place)
{
    char buf[64];
    size_t n;

    strcpy(buf, " ＡＢ　张・三\xEF\xBB\xBF x");
    n = miaopi__name_normalize(buf, strlen(buf), buf);
    buf[n] = '\0';
    ck_assert_str_eq(buf, "AB张·三x");
}
END_TEST

/* ---- ASCII case and trim ----------------------------------------------- */

START_TEST(test_domain_ascii__lower_upper)
{
    char buf[64];
    const char *in = "AbZ@[`{az 张Ｚ";
    size_t n = strlen(in);

    ck_assert_uint_eq(miaopi__ascii_lower(in, n, buf), n);
    buf[n] = '\0';
    ck_assert_str_eq(buf, "abz@[`{az 张Ｚ");
    ck_assert_uint_eq(miaopi__ascii_upper(in, n, buf), n);
    buf[n] = '\0';
    ck_assert_str_eq(buf, "ABZ@[`{AZ 张Ｚ");
    /* In place. */
    strcpy(buf, "MiXeD");
    miaopi__ascii_lower(buf, 5, buf);
    ck_assert_str_eq(buf, "mixed");
    miaopi__ascii_upper(buf, 5, buf);
    ck_assert_str_eq(buf, "MIXED");
    ck_assert_uint_eq(miaopi__ascii_lower(NULL, 0, buf), 0);
    /* High bytes (including ones that are letters in Latin-1) stay. */
    ck_assert_uint_eq(miaopi__ascii_upper("\xE9\xC9", 2, buf), 2);
    ck_assert(memcmp(buf, "\xE9\xC9", 2) == 0);
}
END_TEST

static void trim_str(const char *s, size_t want_start, size_t want_len)
{
    size_t st = 999, nl = 999;
    char *p = exact(s, strlen(s));

    miaopi__trim(p, strlen(s), &st, &nl);
    ck_assert_msg(st == want_start && nl == want_len,
                  "trim '%s': got %zu+%zu", s, st, nl);
    free(p);
}

START_TEST(test_domain_trim__both_ends)
{
    trim_str("abc", 0, 3);
    trim_str("  abc  ", 2, 3);
    trim_str("\t\r\n\v\fabc\f", 5, 3);
    trim_str("　张 三　", 3, 7);              /* U+3000, inner space kept */
    trim_str("\xEF\xBB\xBF" "abc", 3, 3);     /* BOM */
    trim_str("\xC2\xA0" "a\xE2\x80\x8B", 2, 1); /* NBSP, ZWSP */
    trim_str("a", 0, 1);
}
END_TEST

START_TEST(test_domain_trim__empty_and_all_space)
{
    size_t st = 999, nl = 999;

    trim_str("", 0, 0);
    trim_str("   ", 3, 0);
    trim_str("　\xE2\x80\xA8", 6, 0);
    miaopi__trim(NULL, 0, &st, &nl);
    ck_assert_uint_eq(st, 0);
    ck_assert_uint_eq(nl, 0);
}
END_TEST

START_TEST(test_domain_trim__invalid_bytes_not_space)
{
    trim_str(" \x80 ", 1, 1);
    trim_str("\xE3\x80 ", 0, 2);  /* truncated U+3000 is not a space */
}
END_TEST

/* ---- masking ------------------------------------------------------------- */

START_TEST(test_domain_mask__id_number)
{
    char buf[256];

    ck_assert_str_eq(mask(MIAOPI__PII_ID_NUMBER, "440305199001011234", buf),
                     "4403**********1234");
    ck_assert_str_eq(mask(MIAOPI__PII_ID_NUMBER, "11010519491231002X", buf),
                     "1101**********002X");
    ck_assert_str_eq(mask(MIAOPI__PII_ID_NUMBER, "123456789", buf),
                     "1234*6789");
    ck_assert_str_eq(mask(MIAOPI__PII_ID_NUMBER, "12345678", buf),
                     "*******8");
    ck_assert_str_eq(mask(MIAOPI__PII_ID_NUMBER, "12", buf), "*2");
    ck_assert_str_eq(mask(MIAOPI__PII_ID_NUMBER, "1", buf), "*");
    ck_assert_str_eq(mask(MIAOPI__PII_ID_NUMBER, "", buf), "");
    /* Code points, not bytes. */
    ck_assert_str_eq(mask(MIAOPI__PII_ID_NUMBER, "港澳台居民证件号码", buf),
                     "港澳台居*证件号码");
}
END_TEST

START_TEST(test_domain_mask__name)
{
    char buf[256];

    ck_assert_str_eq(mask(MIAOPI__PII_NAME, "张三", buf), "张*");
    ck_assert_str_eq(mask(MIAOPI__PII_NAME, "欧阳娜娜", buf), "欧***");
    ck_assert_str_eq(mask(MIAOPI__PII_NAME, "买买提·艾力", buf), "买*****");
    ck_assert_str_eq(mask(MIAOPI__PII_NAME, "张", buf), "*");
    ck_assert_str_eq(mask(MIAOPI__PII_NAME, "Li Lei", buf), "L*****");
    ck_assert_str_eq(mask(MIAOPI__PII_NAME, "", buf), "");
}
END_TEST

START_TEST(test_domain_mask__phone)
{
    char buf[256];

    ck_assert_str_eq(mask(MIAOPI__PII_PHONE, "13812345678", buf),
                     "138****5678");
    ck_assert_str_eq(mask(MIAOPI__PII_PHONE, "+8613812345678", buf),
                     "+86*******5678");
    ck_assert_str_eq(mask(MIAOPI__PII_PHONE, "12345678", buf), "123*5678");
    ck_assert_str_eq(mask(MIAOPI__PII_PHONE, "1234567", buf), "*****67");
    ck_assert_str_eq(mask(MIAOPI__PII_PHONE, "123", buf), "*23");
    ck_assert_str_eq(mask(MIAOPI__PII_PHONE, "12", buf), "**");
    ck_assert_str_eq(mask(MIAOPI__PII_PHONE, "1", buf), "*");
    ck_assert_str_eq(mask(MIAOPI__PII_PHONE, "", buf), "");
}
END_TEST

START_TEST(test_domain_mask__address)
{
    char buf[256];

    ck_assert_str_eq(mask(MIAOPI__PII_ADDRESS, "广东省深圳市南山区科技园", buf),
                     "广东省深圳市****");
    ck_assert_str_eq(mask(MIAOPI__PII_ADDRESS, "广东省深圳市南", buf),
                     "广东省深圳市****");
    ck_assert_str_eq(mask(MIAOPI__PII_ADDRESS, "广东省深圳市", buf),
                     "广东省深圳市");
    ck_assert_str_eq(mask(MIAOPI__PII_ADDRESS, "深圳", buf), "深圳");
    ck_assert_str_eq(mask(MIAOPI__PII_ADDRESS, "", buf), "");
}
END_TEST

START_TEST(test_domain_mask__email)
{
    char buf[256];

    ck_assert_str_eq(mask(MIAOPI__PII_EMAIL, "zhangsan@example.com", buf),
                     "z***@example.com");
    ck_assert_str_eq(mask(MIAOPI__PII_EMAIL, "张三@例子.中国", buf),
                     "张***@例子.中国");
    ck_assert_str_eq(mask(MIAOPI__PII_EMAIL, "a@b", buf), "a***@b");
    ck_assert_str_eq(mask(MIAOPI__PII_EMAIL, "@x.cn", buf), "***@x.cn");
    ck_assert_str_eq(mask(MIAOPI__PII_EMAIL, "\"a@b\"@c.cn", buf),
                     "\"***@c.cn");
    ck_assert_str_eq(mask(MIAOPI__PII_EMAIL, "user@", buf), "u***@");
    ck_assert_str_eq(mask(MIAOPI__PII_EMAIL, "no-at-sign", buf), "***");
    ck_assert_str_eq(mask(MIAOPI__PII_EMAIL, "", buf), "***");
}
END_TEST

START_TEST(test_domain_mask__secret_none_unknown)
{
    char buf[256];

    ck_assert_str_eq(mask(MIAOPI__PII_SECRET, "hunter2", buf), "***");
    ck_assert_str_eq(mask(MIAOPI__PII_SECRET, "", buf), "***");
    ck_assert_str_eq(mask(MIAOPI__PII_NONE, "张三 13812345678", buf),
                     "张三 13812345678");
    ck_assert_str_eq(mask(MIAOPI__PII_NONE, "", buf), "");
    ck_assert_str_eq(mask((miaopi__pii)99, "张三", buf), "***");
    ck_assert_str_eq(mask((miaopi__pii)-1, "张三", buf), "***");
}
END_TEST

START_TEST(test_domain_mask__snprintf_semantics)
{
    char buf[8];

    /* Size query. */
    ck_assert_uint_eq(miaopi__mask(MIAOPI__PII_NAME, "张三", 6, NULL, 0), 4);
    ck_assert_uint_eq(miaopi__mask(MIAOPI__PII_ID_NUMBER,
                                   "440305199001011234", 18, NULL, 0), 18);
    /* Exact fit needs room for the NUL. */
    memset(buf, 'z', sizeof buf);
    ck_assert_uint_eq(miaopi__mask(MIAOPI__PII_NAME, "张三", 6, buf, 5), 4);
    ck_assert_str_eq(buf, "张*");
    /* One short: the '*' is dropped, the NUL is written. */
    memset(buf, 'z', sizeof buf);
    ck_assert_uint_eq(miaopi__mask(MIAOPI__PII_NAME, "张三", 6, buf, 4), 4);
    ck_assert_str_eq(buf, "张");
    /* Never a partial code point. */
    memset(buf, 'z', sizeof buf);
    ck_assert_uint_eq(miaopi__mask(MIAOPI__PII_NAME, "张三", 6, buf, 3), 4);
    ck_assert_str_eq(buf, "");
    memset(buf, 'z', sizeof buf);
    ck_assert_uint_eq(miaopi__mask(MIAOPI__PII_NAME, "张三", 6, buf, 1), 4);
    ck_assert_str_eq(buf, "");
    /* The output is a prefix of the full result, cut between pieces... */
    memset(buf, 'z', sizeof buf);
    ck_assert_uint_eq(miaopi__mask(MIAOPI__PII_EMAIL, "张三@x", 8, buf, 6),
                      8);
    ck_assert_str_eq(buf, "张**");
    /* ...or inside one, but only between code points. */
    memset(buf, 'z', sizeof buf);
    ck_assert_uint_eq(miaopi__mask(MIAOPI__PII_NONE, "张三李四", 12, buf, 8),
                      12);
    ck_assert_str_eq(buf, "张三");
    memset(buf, 'z', sizeof buf);
    ck_assert_uint_eq(miaopi__mask(MIAOPI__PII_ADDRESS, "广东省深圳市南山区",
                                   27, buf, 8), 22);
    ck_assert_str_eq(buf, "广东");
    /* Nothing past outsize is touched. */
    memset(buf, 'z', sizeof buf);
    miaopi__mask(MIAOPI__PII_NONE, "abcdefghij", 10, buf, 4);
    ck_assert_str_eq(buf, "abc");
    ck_assert_int_eq(buf[4], 'z');
}
END_TEST

START_TEST(test_domain_mask__invalid_utf8_and_null)
{
    char out[64];
    char *p = exact("\xE5\xBC\xA0\x80\xFF", 5);

    /* Each malformed byte is one unit: 张 + 2 stars. */
    ck_assert_uint_eq(miaopi__mask(MIAOPI__PII_NAME, p, 5, out, sizeof out),
                      5);
    ck_assert_str_eq(out, "张**");
    ck_assert_uint_eq(miaopi__mask(MIAOPI__PII_ADDRESS, p, 5, out,
                                   sizeof out), 5);
    ck_assert(memcmp(out, p, 5) == 0);
    free(p);
    ck_assert_uint_eq(miaopi__mask(MIAOPI__PII_NAME, NULL, 0, out,
                                   sizeof out), 0);
    ck_assert_str_eq(out, "");
    ck_assert_uint_eq(miaopi__mask(MIAOPI__PII_EMAIL, NULL, 0, out,
                                   sizeof out), 3);
}
END_TEST

START_TEST(test_domain_mask__reads_only_len)
{
    char out[64];
    char *p = exact("zhangsan@example.com", 20);

    ck_assert_uint_eq(miaopi__mask(MIAOPI__PII_EMAIL, p, 20, out,
                                   sizeof out), 16);
    ck_assert_str_eq(out, "z***@example.com");
    free(p);
    p = exact("广东省深圳市南山区", strlen("广东省深圳市南山区"));
    miaopi__mask(MIAOPI__PII_ADDRESS, p, strlen("广东省深圳市南山区"), out,
                 sizeof out);
    ck_assert_str_eq(out, "广东省深圳市****");
    free(p);
}
END_TEST

static Suite *domain_suite(void)
{
    Suite *s = suite_create("domain");
    TCase *tc;

    tc = tcase_create("date");
    tcase_add_test(tc, test_domain_date__valid_calendar);
    tcase_add_test(tc, test_domain_date__known_day_numbers);
    tcase_add_test(tc, test_domain_date__civil_round_trip_whole_range);
    tcase_add_test(tc, test_domain_date__civil_from_days_extremes);
    tcase_add_test(tc, test_domain_date__range_predicate);
    tcase_add_test(tc, test_domain_date__parse_valid);
    tcase_add_test(tc, test_domain_date__parse_rejects);
    tcase_add_test(tc, test_domain_date__parse_reads_only_len);
    tcase_add_test(tc, test_domain_date__format);
    /* The exhaustive round trip is slow under sanitizers. */
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);

    tc = tcase_create("date_arith");
    tcase_add_test(tc, test_domain_add_days__year_and_month_boundaries);
    tcase_add_test(tc, test_domain_add_days__range_limits);
    tcase_add_test(tc, test_domain_add_months__clamps_to_month_end);
    tcase_add_test(tc, test_domain_add_months__year_boundaries);
    tcase_add_test(tc, test_domain_add_months__range_limits);
    tcase_add_test(tc, test_domain_add_years__leap_day);
    tcase_add_test(tc, test_domain_add_years__range_limits);
    suite_add_tcase(s, tc);

    tc = tcase_create("between");
    tcase_add_test(tc, test_domain_between__days);
    tcase_add_test(tc, test_domain_between__months_documented_rule);
    tcase_add_test(tc, test_domain_between__months_antisymmetric);
    tcase_add_test(tc, test_domain_between__years_consistent_with_months);
    tcase_add_test(tc, test_domain_between__years);
    suite_add_tcase(s, tc);

    tc = tcase_create("age");
    tcase_add_test(tc, test_domain_age__birthday_on_decision_date);
    tcase_add_test(tc, test_domain_age__born_29_feb);
    tcase_add_test(tc, test_domain_age__born_28_feb_and_1_mar);
    tcase_add_test(tc, test_domain_age__year_boundary);
    tcase_add_test(tc, test_domain_age__same_day_and_extremes);
    tcase_add_test(tc, test_domain_age__fails_before_birth_or_out_of_range);
    suite_add_tcase(s, tc);

    tc = tcase_create("cnid");
    tcase_add_test(tc, test_domain_cnid__known_sample);
    tcase_add_test(tc, test_domain_cnid__lower_case_x);
    tcase_add_test(tc, test_domain_cnid__computed_samples);
    tcase_add_test(tc, test_domain_cnid__every_check_value_occurs);
    tcase_add_test(tc, test_domain_cnid__wrong_check_character);
    tcase_add_test(tc, test_domain_cnid__length);
    tcase_add_test(tc, test_domain_cnid__chars);
    tcase_add_test(tc, test_domain_cnid__region);
    tcase_add_test(tc, test_domain_cnid__birth_date);
    tcase_add_test(tc, test_domain_cnid__out_untouched_on_failure);
    tcase_add_test(tc, test_domain_cnid__reads_only_len);
    suite_add_tcase(s, tc);

    tc = tcase_create("uscc");
    tcase_add_test(tc, test_domain_uscc__known_valid);
    tcase_add_test(tc, test_domain_uscc__computed_valid);
    tcase_add_test(tc, test_domain_uscc__every_check_value_occurs);
    tcase_add_test(tc, test_domain_uscc__wrong_check_character);
    tcase_add_test(tc, test_domain_uscc__forbidden_letters);
    tcase_add_test(tc, test_domain_uscc__lower_case_rejected);
    tcase_add_test(tc, test_domain_uscc__region_must_be_digits);
    tcase_add_test(tc, test_domain_uscc__length_and_chars);
    suite_add_tcase(s, tc);

    tc = tcase_create("utf8");
    tcase_add_test(tc, test_domain_utf8__length_valid);
    tcase_add_test(tc, test_domain_utf8__length_invalid_counts_bytes);
    tcase_add_test(tc, test_domain_utf8__decode);
    suite_add_tcase(s, tc);

    tc = tcase_create("name");
    tcase_add_test(tc, test_domain_name__full_width_ascii);
    tcase_add_test(tc, test_domain_name__full_width_whole_block);
    tcase_add_test(tc, test_domain_name__removes_every_whitespace);
    tcase_add_test(tc, test_domain_name__keeps_non_whitespace_neighbours);
    tcase_add_test(tc, test_domain_name__unifies_middle_dots);
    tcase_add_test(tc, test_domain_name__combined_and_unchanged);
    tcase_add_test(tc, test_domain_name__invalid_bytes_copied);
    tcase_add_test(tc, test_domain_name__in_place);
    suite_add_tcase(s, tc);

    tc = tcase_create("ascii_trim");
    tcase_add_test(tc, test_domain_ascii__lower_upper);
    tcase_add_test(tc, test_domain_trim__both_ends);
    tcase_add_test(tc, test_domain_trim__empty_and_all_space);
    tcase_add_test(tc, test_domain_trim__invalid_bytes_not_space);
    suite_add_tcase(s, tc);

    tc = tcase_create("mask");
    tcase_add_test(tc, test_domain_mask__id_number);
    tcase_add_test(tc, test_domain_mask__name);
    tcase_add_test(tc, test_domain_mask__phone);
    tcase_add_test(tc, test_domain_mask__address);
    tcase_add_test(tc, test_domain_mask__email);
    tcase_add_test(tc, test_domain_mask__secret_none_unknown);
    tcase_add_test(tc, test_domain_mask__snprintf_semantics);
    tcase_add_test(tc, test_domain_mask__invalid_utf8_and_null);
    tcase_add_test(tc, test_domain_mask__reads_only_len);
    suite_add_tcase(s, tc);

    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(domain_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
