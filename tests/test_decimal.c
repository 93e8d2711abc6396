/* Unit tests for lib/decimal.c. */
#include <check.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "decimal.h"

/* Parses a literal that the test author knows to be valid. */
static miaopi__dec D(const char *s)
{
    miaopi__dec d = {0, 0};

    ck_assert_msg(miaopi__dec_parse(s, strlen(s), &d), "parse %s", s);
    return d;
}

static miaopi__dec mk(int64_t coef, int32_t scale)
{
    miaopi__dec d;

    d.coef = coef;
    d.scale = scale;
    return d;
}

/* Asserts that the formatted value of d is exactly `want`. */
#define ck_dec_str(d, want)                                                  \
    do {                                                                     \
        char buf_[MIAOPI__DEC_FORMAT_SIZE];                                  \
        size_t n_ = miaopi__dec_format((d), buf_);                           \
        ck_assert_str_eq(buf_, (want));                                      \
        ck_assert_uint_eq(n_, strlen(want));                                 \
    } while (0)

#define ck_dec_eq(d, c, s)                                                   \
    do {                                                                     \
        miaopi__dec d_ = (d);                                                \
        ck_assert_int_eq(d_.coef, (c));                                      \
        ck_assert_int_eq(d_.scale, (s));                                     \
    } while (0)

static bool parse_str(const char *s, miaopi__dec *out)
{
    return miaopi__dec_parse(s, strlen(s), out);
}

/* ---- parse ------------------------------------------------------------ */

START_TEST(test_decimal_parse__keeps_trailing_zeros)
{
    ck_dec_eq(D("12.50"), 1250, 2);
    ck_dec_eq(D("12.5"), 125, 1);
    ck_dec_eq(D("0.00"), 0, 2);
}
END_TEST

START_TEST(test_decimal_parse__signs)
{
    ck_dec_eq(D("-12.50"), -1250, 2);
    ck_dec_eq(D("+7"), 7, 0);
    ck_dec_eq(D("-0"), 0, 0);
    ck_dec_eq(D("-0.5"), -5, 1);
}
END_TEST

START_TEST(test_decimal_parse__integers_and_leading_zeros)
{
    ck_dec_eq(D("7"), 7, 0);
    ck_dec_eq(D("0"), 0, 0);
    ck_dec_eq(D("007"), 7, 0);
    ck_dec_eq(D("0.1"), 1, 1);
    ck_dec_eq(D("000000000000000000000000000001"), 1, 0);
}
END_TEST

START_TEST(test_decimal_parse__rejects_malformed)
{
    static const char *const bad[] = {
        "", "-", "+", ".", "12.", ".5", "-.5", "1e5", "1E5", " 1", "1 ",
        "1.2.3", "--1", "+-1", "1,5", "0x10", "abc", "1_000", "١",
        "12.5a", "NaN", "inf",
    };
    size_t i;
    miaopi__dec d = mk(42, 0);

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(!parse_str(bad[i], &d), "accepted '%s'", bad[i]);
    }
    /* Failure must leave the output untouched. */
    ck_dec_eq(d, 42, 0);
    ck_assert(!miaopi__dec_parse(NULL, 0, &d));
}
END_TEST

START_TEST(test_decimal_parse__respects_length_not_nul)
{
    miaopi__dec d;

    /* Only the first 4 bytes are the number. */
    ck_assert(miaopi__dec_parse("12.5xyz", 4, &d));
    ck_dec_eq(d, 125, 1);
    /* An embedded NUL inside the span is not a digit. */
    ck_assert(!miaopi__dec_parse("1\0002", 3, &d));
}
END_TEST

START_TEST(test_decimal_parse__scale_limit)
{
    miaopi__dec d;

    ck_assert(parse_str("0.123456789012345678", &d));
    ck_dec_eq(d, 123456789012345678LL, 18);
    ck_assert(!parse_str("0.1234567890123456789", &d));
    /* Trailing zeros still count as fractional digits. */
    ck_assert(!parse_str("1.0000000000000000000", &d));
}
END_TEST

START_TEST(test_decimal_parse__coefficient_limits)
{
    miaopi__dec d;

    ck_assert(parse_str("9223372036854775807", &d));
    ck_dec_eq(d, INT64_MAX, 0);
    ck_assert(!parse_str("9223372036854775808", &d));
    ck_assert(parse_str("-9223372036854775808", &d));
    ck_dec_eq(d, INT64_MIN, 0);
    ck_assert(!parse_str("-9223372036854775809", &d));
    ck_assert(parse_str("9.223372036854775807", &d));
    ck_dec_eq(d, INT64_MAX, 18);
    ck_assert(!parse_str("9.223372036854775808", &d));
    ck_assert(!parse_str("99999999999999999999", &d));
    ck_assert(!parse_str("184467440737095516160", &d));
}
END_TEST

/* ---- format ----------------------------------------------------------- */

START_TEST(test_decimal_format__keeps_scale)
{
    ck_dec_str(mk(1250, 2), "12.50");
    ck_dec_str(mk(-5, 1), "-0.5");
    ck_dec_str(mk(7, 0), "7");
    ck_dec_str(mk(0, 0), "0");
    ck_dec_str(mk(0, 3), "0.000");
    ck_dec_str(mk(5, 2), "0.05");
    ck_dec_str(mk(-1, 18), "-0.000000000000000001");
    ck_dec_str(mk(100, 2), "1.00");
    ck_dec_str(mk(-100, 0), "-100");
}
END_TEST

START_TEST(test_decimal_format__extremes)
{
    ck_dec_str(mk(INT64_MIN, 0), "-9223372036854775808");
    ck_dec_str(mk(INT64_MAX, 0), "9223372036854775807");
    ck_dec_str(mk(INT64_MIN, 18), "-9.223372036854775808");
    ck_dec_str(mk(INT64_MAX, 18), "9.223372036854775807");
    ck_dec_str(mk(INT64_MIN, 19), "NaN");
    ck_dec_str(mk(1, -1), "NaN");
}
END_TEST

START_TEST(test_decimal_format__round_trips_parse)
{
    static const char *const texts[] = {
        "0", "-1", "12.50", "0.000000000000000001", "-0.5", "1.0",
        "-9223372036854775808", "9.223372036854775807", "100", "3.14159",
    };
    size_t i;

    for (i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        ck_dec_str(D(texts[i]), texts[i]);
    }
    /* "-0" and "+1" are not canonical: they print without the sign. */
    ck_dec_str(D("-0.00"), "0.00");
    ck_dec_str(D("+1"), "1");
}
END_TEST

/* ---- from_double ------------------------------------------------------ */

static miaopi__dec FD(double v)
{
    miaopi__dec d = {0, 0};

    ck_assert_msg(miaopi__dec_from_double(v, &d), "from_double %.17g", v);
    return d;
}

START_TEST(test_decimal_from_double__plain)
{
    ck_dec_eq(FD(0.1), 1, 1);
    ck_dec_eq(FD(12.5), 125, 1);
    ck_dec_eq(FD(12.50), 125, 1);
    ck_dec_eq(FD(-7.0), -7, 0);
    ck_dec_eq(FD(0.0), 0, 0);
    ck_dec_eq(FD(-0.0), 0, 0);
    ck_dec_eq(FD(1234567.89), 123456789, 2);
    /* 0.1 + 0.2 is 0.30000000000000004 in binary; 15 digits hide that. */
    ck_dec_eq(FD(0.1 + 0.2), 3, 1);
    ck_dec_eq(FD(123456789012345.0), 123456789012345LL, 0);
}
END_TEST

START_TEST(test_decimal_from_double__exponent_forms)
{
    /* %.15g prints these with an exponent. */
    ck_dec_eq(FD(1e-05), 1, 5);
    ck_dec_eq(FD(-2.5e-07), -25, 8);
    ck_dec_eq(FD(1e15), 1000000000000000LL, 0);
    ck_dec_eq(FD(1.5e17), 150000000000000000LL, 0);
    ck_dec_eq(FD(1e18), 1000000000000000000LL, 0);
    ck_dec_eq(FD(1e-18), 1, 18);
    ck_dec_eq(FD(1.23456789012345e-4), 123456789012345LL, 18);
}
END_TEST

START_TEST(test_decimal_from_double__rounds_to_15_digits)
{
    /* 16+ significant digits are rounded by %.15g. */
    ck_dec_eq(FD(1234567890123456.0), 1234567890123460LL, 0);
    ck_dec_eq(FD(0.12345678901234567), 123456789012346LL, 15);
    ck_dec_eq(FD(2.0 / 3.0), 666666666666667LL, 15);
}
END_TEST

START_TEST(test_decimal_from_double__unrepresentable)
{
    miaopi__dec d = mk(42, 0);

    ck_assert(!miaopi__dec_from_double(NAN, &d));
    ck_assert(!miaopi__dec_from_double(INFINITY, &d));
    ck_assert(!miaopi__dec_from_double(-INFINITY, &d));
    ck_assert(!miaopi__dec_from_double(1.5e20, &d));
    ck_assert(!miaopi__dec_from_double(-1e19, &d));
    ck_assert(!miaopi__dec_from_double(9.3e18, &d));
    ck_assert(!miaopi__dec_from_double(1e-20, &d));
    ck_assert(!miaopi__dec_from_double(1.5e-18, &d));
    ck_assert(!miaopi__dec_from_double(1e300, &d));
    ck_assert(!miaopi__dec_from_double(5e-324, &d));
    ck_dec_eq(d, 42, 0);
}
END_TEST

START_TEST(test_decimal_from_double__independent_of_locale)
{
    miaopi__dec d;

    /* A comma-decimal locale may be absent; the test is then vacuous. */
    if (setlocale(LC_NUMERIC, "de_DE.UTF-8") == NULL &&
        setlocale(LC_NUMERIC, "fr_FR.UTF-8") == NULL) {
        return;
    }
    ck_assert(miaopi__dec_from_double(12.5, &d));
    ck_dec_eq(d, 125, 1);
    ck_assert(miaopi__dec_from_double(-2.5e-07, &d));
    ck_dec_eq(d, -25, 8);
    setlocale(LC_NUMERIC, "C");
}
END_TEST

/* ---- int conversion --------------------------------------------------- */

START_TEST(test_decimal_int__from_int)
{
    ck_dec_eq(miaopi__dec_from_int(0), 0, 0);
    ck_dec_eq(miaopi__dec_from_int(-42), -42, 0);
    ck_dec_eq(miaopi__dec_from_int(INT64_MIN), INT64_MIN, 0);
    ck_dec_eq(miaopi__dec_from_int(INT64_MAX), INT64_MAX, 0);
}
END_TEST

START_TEST(test_decimal_int__to_int_exact_only)
{
    int64_t i = 99;

    ck_assert(miaopi__dec_to_int(D("12.00"), &i));
    ck_assert_int_eq(i, 12);
    ck_assert(miaopi__dec_to_int(D("-3"), &i));
    ck_assert_int_eq(i, -3);
    ck_assert(miaopi__dec_to_int(D("0.000"), &i));
    ck_assert_int_eq(i, 0);
    ck_assert(miaopi__dec_to_int(mk(INT64_MIN, 0), &i));
    ck_assert_int_eq(i, INT64_MIN);
    ck_assert(miaopi__dec_to_int(D("-9.000000000000000000"), &i));
    ck_assert_int_eq(i, -9);
    i = 99;
    ck_assert(!miaopi__dec_to_int(D("12.5"), &i));
    ck_assert(!miaopi__dec_to_int(D("-0.000000000000000001"), &i));
    ck_assert(!miaopi__dec_to_int(mk(1, 19), &i));
    ck_assert_int_eq(i, 99);
}
END_TEST

/* ---- cmp -------------------------------------------------------------- */

START_TEST(test_decimal_cmp__equal_across_scales)
{
    ck_assert_int_eq(miaopi__dec_cmp(D("1.50"), D("1.5")), 0);
    ck_assert_int_eq(miaopi__dec_cmp(D("0"), D("-0.000")), 0);
    ck_assert_int_eq(miaopi__dec_cmp(D("7"), D("7.000000000000000000")), 0);
}
END_TEST

START_TEST(test_decimal_cmp__ordering)
{
    ck_assert_int_eq(miaopi__dec_cmp(D("1.49"), D("1.5")), -1);
    ck_assert_int_eq(miaopi__dec_cmp(D("1.5"), D("1.49")), 1);
    ck_assert_int_eq(miaopi__dec_cmp(D("-1.5"), D("-1.49")), -1);
    ck_assert_int_eq(miaopi__dec_cmp(D("-0.1"), D("0")), -1);
    ck_assert_int_eq(miaopi__dec_cmp(D("0.000000000000000001"), D("0")), 1);
}
END_TEST

START_TEST(test_decimal_cmp__no_overflow_at_extremes)
{
    miaopi__dec big = mk(INT64_MAX, 0);
    miaopi__dec small = mk(INT64_MIN, 0);
    miaopi__dec tiny = mk(INT64_MAX, 18);
    miaopi__dec ntiny = mk(INT64_MIN, 18);

    /* Aligning INT64_MAX to scale 18 would overflow int64_t. */
    ck_assert_int_eq(miaopi__dec_cmp(big, tiny), 1);
    ck_assert_int_eq(miaopi__dec_cmp(tiny, big), -1);
    ck_assert_int_eq(miaopi__dec_cmp(small, ntiny), -1);
    ck_assert_int_eq(miaopi__dec_cmp(ntiny, small), 1);
    ck_assert_int_eq(miaopi__dec_cmp(small, big), -1);
    ck_assert_int_eq(miaopi__dec_cmp(mk(9, 0), tiny), -1);
    ck_assert_int_eq(miaopi__dec_cmp(mk(10, 0), tiny), 1);
    ck_assert_int_eq(miaopi__dec_cmp(mk(9223372036854775807LL, 18),
                                     mk(922337203685477580LL, 17)), 1);
}
END_TEST

START_TEST(test_decimal_cmp__malformed_scale_is_memory_safe)
{
    /* Clamped; the exact answer is unspecified, only the range. */
    int c = miaopi__dec_cmp(mk(1, 500), mk(1, -500));

    ck_assert(c >= -1 && c <= 1);
}
END_TEST

/* ---- add / sub -------------------------------------------------------- */

static miaopi__dec add(const char *a, const char *b)
{
    miaopi__dec r = {0, 0};

    ck_assert_msg(miaopi__dec_add(D(a), D(b), &r), "%s + %s", a, b);
    return r;
}

static miaopi__dec sub(const char *a, const char *b)
{
    miaopi__dec r = {0, 0};

    ck_assert_msg(miaopi__dec_sub(D(a), D(b), &r), "%s - %s", a, b);
    return r;
}

START_TEST(test_decimal_add__exact)
{
    ck_dec_str(add("0.1", "0.2"), "0.3");
    ck_dec_str(add("12.50", "0.5"), "13.00");
    ck_dec_str(add("1", "0.001"), "1.001");
    ck_dec_str(add("-1.5", "1.5"), "0.0");
    ck_dec_str(add("-2", "-3.25"), "-5.25");
    ck_dec_str(add("0.000000000000000001", "9"), "9.000000000000000001");
}
END_TEST

START_TEST(test_decimal_add__sub)
{
    ck_dec_str(sub("0.3", "0.1"), "0.2");
    ck_dec_str(sub("1", "1.50"), "-0.50");
    ck_dec_str(sub("-1", "-1"), "0");
    ck_dec_str(sub("100", "0.01"), "99.99");
}
END_TEST

START_TEST(test_decimal_add__overflow)
{
    miaopi__dec r = mk(42, 0);

    ck_assert(!miaopi__dec_add(mk(INT64_MAX, 0), D("1"), &r));
    ck_assert(!miaopi__dec_add(mk(INT64_MIN, 0), D("-1"), &r));
    ck_assert(!miaopi__dec_sub(mk(INT64_MIN, 0), D("1"), &r));
    ck_assert(!miaopi__dec_sub(mk(0, 0), mk(INT64_MIN, 0), &r));
    /* Aligning to scale 1 overflows and the value is not exact at 0. */
    ck_assert(!miaopi__dec_add(mk(INT64_MAX, 0), D("0.5"), &r));
    ck_assert(!miaopi__dec_add(mk(1, 19), D("0.5"), &r));
    ck_dec_eq(r, 42, 0);
}
END_TEST

START_TEST(test_decimal_add__limits_exact)
{
    miaopi__dec r;

    ck_assert(miaopi__dec_add(mk(INT64_MAX - 1, 0), D("1"), &r));
    ck_dec_eq(r, INT64_MAX, 0);
    ck_assert(miaopi__dec_sub(mk(INT64_MIN + 1, 0), D("1"), &r));
    ck_dec_eq(r, INT64_MIN, 0);
    ck_assert(miaopi__dec_sub(mk(INT64_MIN, 0), mk(INT64_MIN, 0), &r));
    ck_dec_eq(r, 0, 0);
}
END_TEST

START_TEST(test_decimal_add__sheds_trailing_zeros_on_overflow)
{
    miaopi__dec r;

    /* 9e18 + 1.0 is exact at scale 0 but not at scale 1. */
    ck_assert(miaopi__dec_add(D("9000000000000000000"), D("1.0"), &r));
    ck_dec_str(r, "9000000000000000001");
    ck_assert(miaopi__dec_add(D("9000000000000000000"), D("0.00"), &r));
    ck_dec_str(r, "9000000000000000000");
}
END_TEST

/* ---- mul -------------------------------------------------------------- */

static miaopi__dec mul(const char *a, const char *b)
{
    miaopi__dec r = {0, 0};

    ck_assert_msg(miaopi__dec_mul(D(a), D(b), &r), "%s * %s", a, b);
    return r;
}

START_TEST(test_decimal_mul__scale_adds)
{
    ck_dec_str(mul("1.5", "2.00"), "3.000");
    ck_dec_str(mul("-0.1", "0.1"), "-0.01");
    ck_dec_str(mul("12", "3"), "36");
    ck_dec_str(mul("0", "-5.5"), "0.0");
    ck_dec_str(mul("-2.5", "-4"), "10.0");
}
END_TEST

START_TEST(test_decimal_mul__rounds_half_even_beyond_18)
{
    /* 10 + 10 places = 20: round the last two digits away, half-even. */
    ck_dec_str(mul("0.0000000001", "0.0000000005"),
               "0.000000000000000000");
    ck_dec_str(mul("0.0000000001", "0.0000000050"),
               "0.000000000000000000");  /* 0.5e-18 -> 0 (even) */
    ck_dec_str(mul("0.0000000001", "0.0000000150"),
               "0.000000000000000002");  /* 1.5e-18 -> 2 (even) */
    ck_dec_str(mul("0.0000000001", "0.0000000250"),
               "0.000000000000000002");  /* 2.5e-18 -> 2 (even) */
    ck_dec_str(mul("0.0000000001", "0.0000000251"),
               "0.000000000000000003");
    ck_dec_str(mul("0.0000000001", "0.0000000249"),
               "0.000000000000000002");
    ck_dec_str(mul("-0.0000000001", "0.0000000250"),
               "-0.000000000000000002");
    ck_dec_str(mul("-0.0000000001", "0.0000000350"),
               "-0.000000000000000004");
    ck_dec_str(mul("0.0000000001", "-0.0000000050"),
               "0.000000000000000000");  /* no "-0" */
}
END_TEST

START_TEST(test_decimal_mul__max_scale_operands)
{
    /* 18 + 18 places; the exact product needs 36. */
    ck_dec_str(mul("0.333333333333333333", "3.000000000000000000"),
               "0.999999999999999999");
    ck_dec_str(mul("0.999999999999999999", "0.999999999999999999"),
               "0.999999999999999998");
    ck_dec_str(mul("9.223372036854775807", "1.000000000000000000"),
               "9.223372036854775807");
}
END_TEST

START_TEST(test_decimal_mul__overflow)
{
    miaopi__dec r = mk(42, 0);

    ck_assert(!miaopi__dec_mul(mk(INT64_MAX, 0), D("2"), &r));
    ck_assert(!miaopi__dec_mul(mk(INT64_MIN, 0), D("-1"), &r));
    ck_assert(!miaopi__dec_mul(mk(INT64_MIN, 0), mk(INT64_MIN, 0), &r));
    ck_assert(!miaopi__dec_mul(D("3037000500"), D("3037000500"), &r));
    /* Not exact at any scale: 7 integer + 16 fraction digits. */
    ck_assert(!miaopi__dec_mul(D("1234.56789012"), D("2345.67890123"), &r));
    ck_assert(!miaopi__dec_mul(mk(1, 19), D("1"), &r));
    ck_dec_eq(r, 42, 0);
}
END_TEST

START_TEST(test_decimal_mul__limits_exact)
{
    miaopi__dec r;

    ck_assert(miaopi__dec_mul(mk(INT64_MIN, 0), D("1"), &r));
    ck_dec_eq(r, INT64_MIN, 0);
    ck_assert(miaopi__dec_mul(mk(INT64_MAX, 0), D("-1"), &r));
    ck_dec_eq(r, -INT64_MAX, 0);
    ck_assert(miaopi__dec_mul(D("3037000499"), D("3037000499"), &r));
    ck_dec_str(r, "9223372030926249001");
}
END_TEST

START_TEST(test_decimal_mul__sheds_trailing_zeros_on_overflow)
{
    /* Two scale-8 quotients multiplied: coef 10^26 at scale 16. */
    ck_dec_str(mul("100000.00000000", "100000.00000000"),
               "10000000000.00000000");
    ck_dec_str(mul("1500.00000000", "2000.00000000"),
               "3000000.000000000000");
}
END_TEST

/* ---- div -------------------------------------------------------------- */

static miaopi__dec dv(const char *a, const char *b)
{
    miaopi__dec r = {0, 0};

    ck_assert_msg(miaopi__dec_div(D(a), D(b), &r), "%s / %s", a, b);
    return r;
}

START_TEST(test_decimal_div__always_8_places)
{
    ck_dec_str(dv("1", "4"), "0.25000000");
    ck_dec_str(dv("10", "2"), "5.00000000");
    ck_dec_str(dv("0", "3"), "0.00000000");
    ck_dec_str(dv("1", "3"), "0.33333333");
    ck_dec_str(dv("2", "3"), "0.66666667");
    ck_dec_str(dv("-2", "3"), "-0.66666667");
    ck_dec_str(dv("2", "-3"), "-0.66666667");
    ck_dec_str(dv("-2", "-3"), "0.66666667");
    ck_dec_str(dv("12.50", "0.5"), "25.00000000");
}
END_TEST

START_TEST(test_decimal_div__rounds_half_even)
{
    /* Exact ties at the 9th place. */
    ck_dec_str(dv("0.000000005", "1"), "0.00000000");
    ck_dec_str(dv("0.000000015", "1"), "0.00000002");
    ck_dec_str(dv("0.000000025", "1"), "0.00000002");
    ck_dec_str(dv("0.000000035", "1"), "0.00000004");
    ck_dec_str(dv("-0.000000025", "1"), "-0.00000002");
    ck_dec_str(dv("-0.000000005", "1"), "0.00000000");
    ck_dec_str(dv("1", "200000000"), "0.00000000");  /* 0.000000005 */
    ck_dec_str(dv("3", "200000000"), "0.00000002");  /* 0.000000015 */
    ck_dec_str(dv("1.000000005", "1"), "1.00000000");
    ck_dec_str(dv("1.000000015", "1"), "1.00000002");
    /* Just above / below a tie. */
    ck_dec_str(dv("0.00000000500000001", "1"), "0.00000001");
    ck_dec_str(dv("0.00000000499999999", "1"), "0.00000000");
}
END_TEST

START_TEST(test_decimal_div__scale_extremes)
{
    /* e = 8 + 18 - 0 = 26: long division path. */
    ck_dec_str(dv("1", "1.000000000000000000"), "1.00000000");
    ck_dec_str(dv("2", "3.000000000000000000"), "0.66666667");
    ck_dec_str(dv("0.000000001", "0.000000000000000001"),
               "1000000000.00000000");
    /* e = 8 + 0 - 18 = -10: divisor scaled up. */
    ck_dec_str(dv("0.000000000000000001", "1"), "0.00000000");
    ck_dec_str(dv("9.223372036854775807", "1"), "9.22337204");
    ck_dec_str(dv("0.000000004999999999", "1"), "0.00000000");
    ck_dec_str(dv("0.000000005000000001", "1"), "0.00000001");
    ck_dec_str(dv("-9223372036854775808", "9223372036854775807"),
               "-1.00000000");
}
END_TEST

START_TEST(test_decimal_div__by_zero)
{
    miaopi__dec r = mk(42, 0);

    ck_assert(!miaopi__dec_div(D("1"), D("0"), &r));
    ck_assert(!miaopi__dec_div(D("0"), D("0.000"), &r));
    ck_assert(!miaopi__dec_div(D("-5"), D("-0"), &r));
    ck_dec_eq(r, 42, 0);
}
END_TEST

START_TEST(test_decimal_div__overflow)
{
    miaopi__dec r = mk(42, 0);

    /* Quotient must fit coef at scale 8: at most ~9.2e10. */
    ck_assert(!miaopi__dec_div(D("100000000000"), D("1"), &r));
    ck_assert(!miaopi__dec_div(mk(INT64_MAX, 0), D("0.000000000000000001"),
                               &r));
    ck_assert(!miaopi__dec_div(mk(INT64_MIN, 0), D("-1"), &r));
    ck_assert(!miaopi__dec_div(mk(1, 0), mk(1, 19), &r));
    /*
     * The exact coefficient here is 2^128 + 5260078915095257178 (found
     * offline): arithmetic that silently wrapped at 128 bits would see a
     * value that fits int64_t.
     */
    ck_assert(!miaopi__dec_div(D("9221652143557432360"),
                               D("0.000000000002710000"), &r));
    ck_dec_eq(r, 42, 0);
}
END_TEST

START_TEST(test_decimal_div__limits_exact)
{
    miaopi__dec r;

    /* 92233720368.54775807 is the largest quotient at scale 8. */
    ck_assert(miaopi__dec_div(D("92233720368.54775807"), D("1"), &r));
    ck_dec_eq(r, INT64_MAX, 8);
    ck_assert(miaopi__dec_div(D("-92233720368.54775808"), D("1"), &r));
    ck_dec_eq(r, INT64_MIN, 8);
    /*
     * Quotients just above INT64_MAX / 10^8 (computed offline):
     * 9223372036854775798 / 99999999.9999999999 = INT64_MAX + 0.22 units
     * of the last place, which rounds down and fits;
     * 9223372036854775780 / 99999999.9999999997 = INT64_MAX + 0.67 units,
     * which rounds up across the limit and must fail, except when negative
     * where 2^63 units is exactly INT64_MIN.
     */
    ck_assert(miaopi__dec_div(D("9223372036854775798"),
                              D("99999999.9999999999"), &r));
    ck_dec_eq(r, INT64_MAX, 8);
    ck_assert(!miaopi__dec_div(D("9223372036854775780"),
                               D("99999999.9999999997"), &r));
    ck_assert(miaopi__dec_div(D("-9223372036854775780"),
                              D("99999999.9999999997"), &r));
    ck_dec_eq(r, INT64_MIN, 8);
}
END_TEST

/* ---- neg -------------------------------------------------------------- */

START_TEST(test_decimal_neg__basic_and_limits)
{
    miaopi__dec r = mk(42, 0);

    ck_assert(miaopi__dec_neg(D("12.50"), &r));
    ck_dec_eq(r, -1250, 2);
    ck_assert(miaopi__dec_neg(D("-0.5"), &r));
    ck_dec_eq(r, 5, 1);
    ck_assert(miaopi__dec_neg(D("0.00"), &r));
    ck_dec_eq(r, 0, 2);
    ck_assert(miaopi__dec_neg(mk(INT64_MAX, 3), &r));
    ck_dec_eq(r, -INT64_MAX, 3);
    r = mk(42, 0);
    ck_assert(!miaopi__dec_neg(mk(INT64_MIN, 0), &r));
    ck_assert(!miaopi__dec_neg(mk(1, 19), &r));
    ck_dec_eq(r, 42, 0);
}
END_TEST

static Suite *decimal_suite(void)
{
    Suite *s = suite_create("decimal");
    TCase *tc;

    tc = tcase_create("parse");
    tcase_add_test(tc, test_decimal_parse__keeps_trailing_zeros);
    tcase_add_test(tc, test_decimal_parse__signs);
    tcase_add_test(tc, test_decimal_parse__integers_and_leading_zeros);
    tcase_add_test(tc, test_decimal_parse__rejects_malformed);
    tcase_add_test(tc, test_decimal_parse__respects_length_not_nul);
    tcase_add_test(tc, test_decimal_parse__scale_limit);
    tcase_add_test(tc, test_decimal_parse__coefficient_limits);
    suite_add_tcase(s, tc);

    tc = tcase_create("format");
    tcase_add_test(tc, test_decimal_format__keeps_scale);
    tcase_add_test(tc, test_decimal_format__extremes);
    tcase_add_test(tc, test_decimal_format__round_trips_parse);
    suite_add_tcase(s, tc);

    tc = tcase_create("from_double");
    tcase_add_test(tc, test_decimal_from_double__plain);
    tcase_add_test(tc, test_decimal_from_double__exponent_forms);
    tcase_add_test(tc, test_decimal_from_double__rounds_to_15_digits);
    tcase_add_test(tc, test_decimal_from_double__unrepresentable);
    tcase_add_test(tc, test_decimal_from_double__independent_of_locale);
    suite_add_tcase(s, tc);

    tc = tcase_create("int");
    tcase_add_test(tc, test_decimal_int__from_int);
    tcase_add_test(tc, test_decimal_int__to_int_exact_only);
    suite_add_tcase(s, tc);

    tc = tcase_create("cmp");
    tcase_add_test(tc, test_decimal_cmp__equal_across_scales);
    tcase_add_test(tc, test_decimal_cmp__ordering);
    tcase_add_test(tc, test_decimal_cmp__no_overflow_at_extremes);
    tcase_add_test(tc, test_decimal_cmp__malformed_scale_is_memory_safe);
    suite_add_tcase(s, tc);

    tc = tcase_create("add");
    tcase_add_test(tc, test_decimal_add__exact);
    tcase_add_test(tc, test_decimal_add__sub);
    tcase_add_test(tc, test_decimal_add__overflow);
    tcase_add_test(tc, test_decimal_add__limits_exact);
    tcase_add_test(tc, test_decimal_add__sheds_trailing_zeros_on_overflow);
    suite_add_tcase(s, tc);

    tc = tcase_create("mul");
    tcase_add_test(tc, test_decimal_mul__scale_adds);
    tcase_add_test(tc, test_decimal_mul__rounds_half_even_beyond_18);
    tcase_add_test(tc, test_decimal_mul__max_scale_operands);
    tcase_add_test(tc, test_decimal_mul__overflow);
    tcase_add_test(tc, test_decimal_mul__limits_exact);
    tcase_add_test(tc, test_decimal_mul__sheds_trailing_zeros_on_overflow);
    suite_add_tcase(s, tc);

    tc = tcase_create("div");
    tcase_add_test(tc, test_decimal_div__always_8_places);
    tcase_add_test(tc, test_decimal_div__rounds_half_even);
    tcase_add_test(tc, test_decimal_div__scale_extremes);
    tcase_add_test(tc, test_decimal_div__by_zero);
    tcase_add_test(tc, test_decimal_div__overflow);
    tcase_add_test(tc, test_decimal_div__limits_exact);
    suite_add_tcase(s, tc);

    tc = tcase_create("neg");
    tcase_add_test(tc, test_decimal_neg__basic_and_limits);
    suite_add_tcase(s, tc);

    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(decimal_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
