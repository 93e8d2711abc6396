/*
 * Exact decimal arithmetic for rule evaluation.
 *
 * Money, percentages and scores in government rules must compare exactly:
 * 0.1 + 0.2 has to equal 0.3, and "12.50" has to print back as "12.50".
 * Binary floating point cannot give either guarantee, so decimals are kept
 * as a scaled 64-bit integer.  Every operation is exact or reports failure;
 * the only rounding is the documented half-even rounding of mul (beyond 18
 * places) and div (to 8 places).
 *
 * The module allocates nothing and has no global state; all functions are
 * reentrant.  Internal to miaopi (hence the miaopi__ prefix).
 */
#ifndef MIAOPI_DECIMAL_H
#define MIAOPI_DECIMAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest scale (number of fractional digits) a decimal can carry. */
#define MIAOPI__DEC_MAX_SCALE 18

/* Fractional digits of every quotient produced by miaopi__dec_div. */
#define MIAOPI__DEC_DIV_SCALE 8

/* Buffer size that always suffices for miaopi__dec_format. */
#define MIAOPI__DEC_FORMAT_SIZE 48

/*
 * value = coef / 10^scale, with 0 <= scale <= MIAOPI__DEC_MAX_SCALE.
 * The scale is part of the value's identity for printing ("12.50" keeps two
 * places) but not for comparison (12.50 == 12.5).
 */
typedef struct {
    int64_t coef;
    int32_t scale;
} miaopi__dec;

/*
 * Parses [+-]DIGITS[.DIGITS]: at least one digit on each side of a '.',
 * so "12." and ".5" are rejected, as are exponents, whitespace and empty
 * input.  Leading zeros are allowed ("007" == 7).  Trailing zeros are kept
 * ("12.50" -> coef 1250, scale 2).  Fails on more than 18 fractional digits
 * or a coefficient outside int64_t ("-9223372036854775808" is accepted).
 * `s` need not be NUL-terminated.  *out is written only on success.
 */
bool miaopi__dec_parse(const char *s, size_t len, miaopi__dec *out);

/*
 * Converts via the "%.15g" text, i.e. rounds to 15 significant
 * digits as JSON numbers in case data are specified to have at most 15.
 * The printed form carries no trailing zeros, so 12.5 -> coef 125 scale 1.
 * Exponent forms ("1e-05", "1.5e+20") are folded into coef/scale.
 * Fails on NaN, infinities, values whose coefficient overflows int64_t and
 * values needing more than 18 fractional digits (e.g. 1e-20); those would
 * otherwise have to be silently rounded.  The locale's decimal separator is
 * tolerated, so the result does not depend on setlocale().
 */
bool miaopi__dec_from_double(double d, miaopi__dec *out);

/* Exact; scale 0. */
miaopi__dec miaopi__dec_from_int(int64_t i);

/* Exact numeric comparison: -1, 0 or 1.  Cannot overflow. */
int miaopi__dec_cmp(miaopi__dec a, miaopi__dec b);

/*
 * add/sub: the result scale is max(a.scale, b.scale).
 * mul: the result scale is a.scale + b.scale; above 18 the product is
 * rounded half-even to 18 places.
 * For all three: if the coefficient at that scale overflows int64_t but the
 * exact value ends in zeros, trailing zeros are dropped (scale reduced,
 * never below 0) until it fits, e.g. 100000.00000000 * 100000.00000000 ->
 * 10000000000.00000000.  Only values that cannot be represented exactly fail.
 * *out is written only on success.
 */
bool miaopi__dec_add(miaopi__dec a, miaopi__dec b, miaopi__dec *out);
bool miaopi__dec_sub(miaopi__dec a, miaopi__dec b, miaopi__dec *out);
bool miaopi__dec_mul(miaopi__dec a, miaopi__dec b, miaopi__dec *out);

/*
 * a / b rounded half-even to exactly MIAOPI__DEC_DIV_SCALE (8) places; the
 * result always has scale 8 (1 / 4 -> "0.25000000").  Fails on division by
 * zero or when the quotient does not fit.  *out is written only on success.
 */
bool miaopi__dec_div(miaopi__dec a, miaopi__dec b, miaopi__dec *out);

/* Fails only for coef == INT64_MIN.  The scale is preserved. */
bool miaopi__dec_neg(miaopi__dec a, miaopi__dec *out);

/*
 * Canonical text keeping the scale: coef 1250 scale 2 -> "12.50",
 * coef -5 scale 1 -> "-0.5", coef 0 scale 2 -> "0.00".  Never prints "-0".
 * Returns the length (at most 21); buf is NUL-terminated.  A scale outside
 * 0..18 (an invalid value) formats as "NaN" so that misuse is visible.
 */
size_t miaopi__dec_format(miaopi__dec a, char buf[MIAOPI__DEC_FORMAT_SIZE]);

/* Succeeds only if the value is an exact integer (12.00 -> 12, 12.5 no). */
bool miaopi__dec_to_int(miaopi__dec a, int64_t *out);

#endif /* MIAOPI_DECIMAL_H */
