/*
 * Exact decimal arithmetic; see decimal.h for the contract.
 *
 * Intermediate results are computed in 128-bit integers.  Two int64_t
 * coefficients aligned to a common scale need at most 63 + 60 bits
 * (10^18 < 2^60), and a product of two coefficients at most 126 bits, so
 * nothing below can overflow before the explicit range checks.
 */
#include "decimal.h"

#include <math.h>
#include <stdio.h>

/* __extension__ keeps -Wpedantic quiet about the GCC/Clang 128-bit type. */
__extension__ typedef __int128 i128;
__extension__ typedef unsigned __int128 u128;

/* 2^63, the magnitude of INT64_MIN. */
#define MAG_INT64_MIN ((uint64_t)INT64_MAX + 1u)

static const int64_t pow10_tab[MIAOPI__DEC_MAX_SCALE + 1] = {
    1LL,
    10LL,
    100LL,
    1000LL,
    10000LL,
    100000LL,
    1000000LL,
    10000000LL,
    100000000LL,
    1000000000LL,
    10000000000LL,
    100000000000LL,
    1000000000000LL,
    10000000000000LL,
    100000000000000LL,
    1000000000000000LL,
    10000000000000000LL,
    100000000000000000LL,
    1000000000000000000LL,
};

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool scale_ok(int32_t scale)
{
    return scale >= 0 && scale <= MIAOPI__DEC_MAX_SCALE;
}

/*
 * Magnitude of a signed value.  -(v + 1) cannot overflow even for the
 * minimum value, and avoiding unsigned wrap-around keeps clang's
 * -fsanitize=integer quiet too.
 */
static uint64_t mag64(int64_t v)
{
    return v < 0 ? (uint64_t)(-(v + 1)) + 1u : (uint64_t)v;
}

static u128 mag128(i128 v)
{
    return v < 0 ? (u128)(-(v + 1)) + 1u : (u128)v;
}

/*
 * Builds an int64_t from sign and magnitude; fails when out of range.
 * INT64_MIN is special-cased because -(int64_t)2^63 is not expressible.
 */
static bool from_mag(bool neg, u128 mag, int64_t *out)
{
    if (neg) {
        if (mag > MAG_INT64_MIN) {
            return false;
        }
        *out = mag == MAG_INT64_MIN ? INT64_MIN : -(int64_t)mag;
    } else {
        if (mag > (u128)INT64_MAX) {
            return false;
        }
        *out = (int64_t)mag;
    }
    return true;
}

/*
 * Stores v / 10^scale into *out.  If v does not fit int64_t, trailing zeros
 * are shed (exactly, lowering the scale) in the hope that it then fits;
 * this rescues values like 1e10 carried at a needlessly high scale.
 */
static bool store(i128 v, int32_t scale, miaopi__dec *out)
{
    while (v > (i128)INT64_MAX || v < (i128)INT64_MIN) {
        if (scale == 0 || v % 10 != 0) {
            return false;
        }
        v /= 10;
        scale--;
    }
    out->coef = (int64_t)v;
    out->scale = scale;
    return true;
}

/* Appends decimal digit d to *mag unless the result would exceed limit. */
static bool push_digit(uint64_t *mag, unsigned d, uint64_t limit)
{
    if (*mag > (limit - d) / 10u) {
        return false;
    }
    *mag = *mag * 10u + d;
    return true;
}

bool miaopi__dec_parse(const char *s, size_t len, miaopi__dec *out)
{
    size_t i = 0;
    bool neg = false;
    uint64_t mag = 0;
    uint64_t limit;
    size_t int_digits = 0;
    int32_t frac_digits = 0;
    int64_t coef;

    if (s == NULL || len == 0) {
        return false;
    }
    if (s[0] == '-' || s[0] == '+') {
        neg = s[0] == '-';
        i++;
    }
    /* A negative number may reach INT64_MIN, one beyond INT64_MAX. */
    limit = neg ? MAG_INT64_MIN : (uint64_t)INT64_MAX;
    for (; i < len && is_digit(s[i]); i++, int_digits++) {
        if (!push_digit(&mag, (unsigned)(s[i] - '0'), limit)) {
            return false;
        }
    }
    if (int_digits == 0) {
        return false;
    }
    if (i < len && s[i] == '.') {
        for (i++; i < len && is_digit(s[i]); i++) {
            if (++frac_digits > MIAOPI__DEC_MAX_SCALE) {
                return false;
            }
            if (!push_digit(&mag, (unsigned)(s[i] - '0'), limit)) {
                return false;
            }
        }
        if (frac_digits == 0) {
            return false;
        }
    }
    if (i != len) {
        return false;
    }
    if (!from_mag(neg, mag, &coef)) {
        return false;
    }
    out->coef = coef;
    out->scale = frac_digits;
    return true;
}

bool miaopi__dec_from_double(double d, miaopi__dec *out)
{
    /* "-1.23456789012345e-308" is 22 bytes; 64 leaves ample slack. */
    char buf[64];
    int n;
    size_t len, i = 0;
    bool neg = false;
    uint64_t mant = 0;
    int64_t frac_digits = 0;
    int64_t exp10 = 0;
    int64_t scale;
    i128 v;

    if (!isfinite(d)) {
        return false;
    }
    n = snprintf(buf, sizeof buf, "%.15g", d);
    if (n <= 0 || (size_t)n >= sizeof buf) {
        return false;
    }
    len = (size_t)n;
    if (buf[i] == '-') {
        neg = true;
        i++;
    }
    /* %.15g prints at most 15 digits, so mant stays below 10^15. */
    for (; i < len && is_digit(buf[i]); i++) {
        mant = mant * 10u + (unsigned)(buf[i] - '0');
    }
    /*
     * Whatever sits between the integer and fraction digits is the
     * locale's decimal separator (possibly multi-byte); skip it so the
     * result cannot change with setlocale().
     */
    if (i < len && buf[i] != 'e' && buf[i] != 'E') {
        while (i < len && !is_digit(buf[i])) {
            i++;
        }
        for (; i < len && is_digit(buf[i]); i++) {
            mant = mant * 10u + (unsigned)(buf[i] - '0');
            frac_digits++;
        }
    }
    if (i < len && (buf[i] == 'e' || buf[i] == 'E')) {
        bool eneg = false;

        i++;
        if (i < len && (buf[i] == '-' || buf[i] == '+')) {
            eneg = buf[i] == '-';
            i++;
        }
        /* Exponents of finite doubles have at most 3 digits. */
        for (; i < len && is_digit(buf[i]); i++) {
            exp10 = exp10 * 10 + (buf[i] - '0');
        }
        if (eneg) {
            exp10 = -exp10;
        }
    }
    if (i != len) {
        return false;
    }
    if (mant == 0) {
        out->coef = 0;
        out->scale = 0;
        return true;
    }
    scale = frac_digits - exp10;
    /* Zeros of the mantissa may absorb an excess of fractional digits. */
    while (scale > MIAOPI__DEC_MAX_SCALE && mant % 10u == 0) {
        mant /= 10u;
        scale--;
    }
    if (scale > MIAOPI__DEC_MAX_SCALE) {
        return false;
    }
    v = (i128)mant;
    for (; scale < 0; scale++) {
        v *= 10;
        if (v > (i128)INT64_MAX) {
            return false;
        }
    }
    out->coef = neg ? -(int64_t)v : (int64_t)v;
    out->scale = (int32_t)scale;
    return true;
}

miaopi__dec miaopi__dec_from_int(int64_t i)
{
    miaopi__dec r;

    r.coef = i;
    r.scale = 0;
    return r;
}

int miaopi__dec_cmp(miaopi__dec a, miaopi__dec b)
{
    int32_t sa = a.scale, sb = b.scale, s;
    i128 x, y;

    /*
     * cmp cannot report errors; clamp malformed scales so that indexing
     * the power table stays in bounds.
     */
    sa = sa < 0 ? 0 : sa > MIAOPI__DEC_MAX_SCALE ? MIAOPI__DEC_MAX_SCALE : sa;
    sb = sb < 0 ? 0 : sb > MIAOPI__DEC_MAX_SCALE ? MIAOPI__DEC_MAX_SCALE : sb;
    s = sa > sb ? sa : sb;
    x = (i128)a.coef * pow10_tab[s - sa];
    y = (i128)b.coef * pow10_tab[s - sb];
    return x < y ? -1 : x > y ? 1 : 0;
}

/* Shared body of add and sub: b is added with sign bsign (+1 or -1). */
static bool add_signed(miaopi__dec a, miaopi__dec b, int bsign,
                       miaopi__dec *out)
{
    int32_t s;
    i128 x, y;

    if (!scale_ok(a.scale) || !scale_ok(b.scale)) {
        return false;
    }
    s = a.scale > b.scale ? a.scale : b.scale;
    x = (i128)a.coef * pow10_tab[s - a.scale];
    y = (i128)b.coef * pow10_tab[s - b.scale];
    return store(bsign > 0 ? x + y : x - y, s, out);
}

bool miaopi__dec_add(miaopi__dec a, miaopi__dec b, miaopi__dec *out)
{
    return add_signed(a, b, 1, out);
}

bool miaopi__dec_sub(miaopi__dec a, miaopi__dec b, miaopi__dec *out)
{
    return add_signed(a, b, -1, out);
}

/*
 * Given the truncated quotient q and remainder r of a division by d,
 * returns the quotient rounded half to even (banker's rounding, so that
 * repeated rounding of ties does not drift upwards).
 */
static u128 round_half_even(u128 q, u128 r, u128 d)
{
    /* r < d, and d < 2^127 at every call site, so 2r cannot wrap. */
    u128 twice = r * 2u;

    if (twice > d || (twice == d && (q & 1u) != 0)) {
        q++;
    }
    return q;
}

bool miaopi__dec_mul(miaopi__dec a, miaopi__dec b, miaopi__dec *out)
{
    int32_t s;
    i128 p;

    if (!scale_ok(a.scale) || !scale_ok(b.scale)) {
        return false;
    }
    /* |p| <= 2^126, so the 128-bit product is exact. */
    p = (i128)a.coef * b.coef;
    s = a.scale + b.scale;
    if (s > MIAOPI__DEC_MAX_SCALE) {
        u128 d = (u128)pow10_tab[s - MIAOPI__DEC_MAX_SCALE];
        u128 m = mag128(p);
        u128 q = round_half_even(m / d, m % d, d);

        /* q <= 2^126, so converting back to signed is exact. */
        p = p < 0 ? -(i128)q : (i128)q;
        s = MIAOPI__DEC_MAX_SCALE;
    }
    return store(p, s, out);
}

bool miaopi__dec_div(miaopi__dec a, miaopi__dec b, miaopi__dec *out)
{
    /*
     * The result coefficient at scale 8 is
     *     a.coef * 10^e / b.coef,   e = 8 + b.scale - a.scale  (-10..26).
     * 10^26 * 2^63 would overflow even 128 bits, so positive e is handled
     * by long division, one decimal digit at a time; negative e instead
     * scales the divisor (2^63 * 10^10 < 2^97).
     */
    int32_t e;
    u128 num, den, q, r;
    bool neg;
    int64_t coef;

    if (!scale_ok(a.scale) || !scale_ok(b.scale) || b.coef == 0) {
        return false;
    }
    e = MIAOPI__DEC_DIV_SCALE + b.scale - a.scale;
    neg = (a.coef < 0) != (b.coef < 0);
    num = mag64(a.coef);
    den = mag64(b.coef);
    if (e < 0) {
        den *= (u128)pow10_tab[-e];
    }
    q = num / den;
    r = num % den;
    for (; e > 0; e--) {
        /* Once past 2^63 the quotient can only grow: give up early. */
        if (q > MAG_INT64_MIN) {
            return false;
        }
        r *= 10u;
        q = q * 10u + r / den;
        r %= den;
    }
    q = round_half_even(q, r, den);
    if (!from_mag(neg && q != 0, q, &coef)) {
        return false;
    }
    out->coef = coef;
    out->scale = MIAOPI__DEC_DIV_SCALE;
    return true;
}

bool miaopi__dec_neg(miaopi__dec a, miaopi__dec *out)
{
    if (a.coef == INT64_MIN || !scale_ok(a.scale)) {
        return false;
    }
    out->coef = -a.coef;
    out->scale = a.scale;
    return true;
}

size_t miaopi__dec_format(miaopi__dec a, char buf[MIAOPI__DEC_FORMAT_SIZE])
{
    /* 20 digits suffice for 2^64; digits are produced least significant
     * first into tmp and then copied out in reverse. */
    char tmp[24];
    size_t nd = 0, n = 0;
    uint64_t m;

    if (!scale_ok(a.scale)) {
        buf[0] = 'N';
        buf[1] = 'a';
        buf[2] = 'N';
        buf[3] = '\0';
        return 3;
    }
    m = mag64(a.coef);
    do {
        tmp[nd++] = (char)('0' + (int)(m % 10u));
        m /= 10u;
    } while (m != 0);
    /* Pad so there is at least one digit before the point: 5e-2 -> 0.05. */
    while (nd < (size_t)a.scale + 1u) {
        tmp[nd++] = '0';
    }
    if (a.coef < 0) {
        buf[n++] = '-';
    }
    while (nd > 0) {
        if (nd == (size_t)a.scale && a.scale > 0) {
            buf[n++] = '.';
        }
        buf[n++] = tmp[--nd];
    }
    buf[n] = '\0';
    return n;
}

bool miaopi__dec_to_int(miaopi__dec a, int64_t *out)
{
    int64_t p;

    if (!scale_ok(a.scale)) {
        return false;
    }
    /* p > 0 and never -1, so neither % nor / can overflow on INT64_MIN. */
    p = pow10_tab[a.scale];
    if (a.coef % p != 0) {
        return false;
    }
    *out = a.coef / p;
    return true;
}
