/*
 * Domain functions for Chinese government data; see domain.h.
 *
 * Character classification is written out by hand over ASCII/code points
 * because <ctype.h> depends on the process locale, and the result of a
 * rule must not change with the environment it happens to run in.
 */
#include "domain.h"

#include <string.h>

/* ---- small ASCII helpers ----------------------------------------------- */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int digit_val(char c)
{
    return c - '0';
}

/* ---- dates ------------------------------------------------------------- */

static bool is_leap(int64_t y)
{
    return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

static int days_in_month(int64_t y, int64_t m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30,
                                31, 31, 30, 31, 30, 31};

    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

bool miaopi__date_valid(int64_t y, int64_t m, int64_t d)
{
    return y >= 1 && y <= 9999 && m >= 1 && m <= 12 && d >= 1 &&
           d <= days_in_month(y, m);
}

bool miaopi__date_in_range(int32_t days)
{
    return days >= MIAOPI__DATE_MIN && days <= MIAOPI__DATE_MAX;
}

int32_t miaopi__days_from_civil(int y, int m, int d)
{
    /*
     * http://howardhinnant.github.io/date_algorithms.html#days_from_civil
     * The year is shifted to start in March so the leap day falls at the
     * end of the year; 64-bit intermediates rule out overflow even for
     * garbage input.
     */
    int64_t yy = (int64_t)y - (m <= 2 ? 1 : 0);
    int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
    int64_t yoe = yy - era * 400;
    int64_t mp = m > 2 ? (int64_t)m - 3 : (int64_t)m + 9;
    int64_t doy = (153 * mp + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return (int32_t)(era * 146097 + doe - 719468);
}

void miaopi__civil_from_days(int32_t z, int *y, int *m, int *d)
{
    /* http://howardhinnant.github.io/date_algorithms.html#civil_from_days */
    int64_t zz = (int64_t)z + 719468;
    int64_t era = (zz >= 0 ? zz : zz - 146096) / 146097;
    int64_t doe = zz - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t mm = mp < 10 ? mp + 3 : mp - 9;

    /* |year| < 6 million for any int32_t, so the narrowing is exact. */
    *y = (int)(yoe + era * 400 + (mm <= 2 ? 1 : 0));
    *m = (int)mm;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
}

/* Reads n ASCII digits; false if any byte is not a digit. */
static bool read_digits(const char *s, size_t n, int *out)
{
    int v = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        if (!is_digit(s[i])) {
            return false;
        }
        v = v * 10 + digit_val(s[i]);
    }
    *out = v;
    return true;
}

bool miaopi__date_parse(const char *s, size_t len, int32_t *out)
{
    int y, m, d;

    if (s == NULL || len != 10 || s[4] != '-' || s[7] != '-') {
        return false;
    }
    if (!read_digits(s, 4, &y) || !read_digits(s + 5, 2, &m) ||
        !read_digits(s + 8, 2, &d) || !miaopi__date_valid(y, m, d)) {
        return false;
    }
    *out = miaopi__days_from_civil(y, m, d);
    return true;
}

static void put_digits(char *buf, int v, int n)
{
    while (n-- > 0) {
        buf[n] = (char)('0' + v % 10);
        v /= 10;
    }
}

size_t miaopi__date_format(int32_t days, char buf[11])
{
    int y, m, d;

    if (!miaopi__date_in_range(days)) {
        buf[0] = '\0';
        return 0;
    }
    miaopi__civil_from_days(days, &y, &m, &d);
    put_digits(buf, y, 4);
    buf[4] = '-';
    put_digits(buf + 5, m, 2);
    buf[7] = '-';
    put_digits(buf + 8, d, 2);
    buf[10] = '\0';
    return 10;
}

/* Builds a date from a month index (y*12 + m-1) and a day, clamping. */
static bool from_month_index(int64_t mi, int day, int32_t *out)
{
    int64_t y, m;
    int dim;

    /* Years 1..9999 are month indexes 12 .. 9999*12+11. */
    if (mi < 12 || mi > 9999 * 12 + 11) {
        return false;
    }
    y = mi / 12;
    m = mi % 12 + 1;
    dim = days_in_month(y, m);
    *out = miaopi__days_from_civil((int)y, (int)m, day < dim ? day : dim);
    return true;
}

bool miaopi__date_add_years(int32_t d, int64_t n, int32_t *out)
{
    int y, m, day;

    /* Bounding n first keeps the multiplication below from overflowing. */
    if (!miaopi__date_in_range(d) || n < -9999 || n > 9999) {
        return false;
    }
    miaopi__civil_from_days(d, &y, &m, &day);
    return from_month_index(((int64_t)y + n) * 12 + (m - 1), day, out);
}

bool miaopi__date_add_months(int32_t d, int64_t n, int32_t *out)
{
    int y, m, day;

    if (!miaopi__date_in_range(d) || n < -9999 * 12 || n > 9999 * 12) {
        return false;
    }
    miaopi__civil_from_days(d, &y, &m, &day);
    return from_month_index((int64_t)y * 12 + (m - 1) + n, day, out);
}

bool miaopi__date_add_days(int32_t d, int64_t n, int32_t *out)
{
    const int64_t span = (int64_t)MIAOPI__DATE_MAX - MIAOPI__DATE_MIN;
    int64_t r;

    if (!miaopi__date_in_range(d) || n < -span || n > span) {
        return false;
    }
    r = (int64_t)d + n;
    if (r < MIAOPI__DATE_MIN || r > MIAOPI__DATE_MAX) {
        return false;
    }
    *out = (int32_t)r;
    return true;
}

int64_t miaopi__days_between(int32_t a, int32_t b)
{
    return (int64_t)b - a;
}

int64_t miaopi__months_between(int32_t a, int32_t b)
{
    int y1, m1, d1, y2, m2, d2;

    /* Counting backwards mirrors counting forwards (antisymmetry). */
    if (b < a) {
        return -miaopi__months_between(b, a);
    }
    miaopi__civil_from_days(a, &y1, &m1, &d1);
    miaopi__civil_from_days(b, &y2, &m2, &d2);
    return ((int64_t)y2 - y1) * 12 + (m2 - m1) - (d2 < d1 ? 1 : 0);
}

/* Completed years from a to b, requiring a <= b. */
static int64_t full_years(int32_t a, int32_t b)
{
    int y1, m1, d1, y2, m2, d2;

    miaopi__civil_from_days(a, &y1, &m1, &d1);
    miaopi__civil_from_days(b, &y2, &m2, &d2);
    /*
     * The anniversary is reached when (month, day) catches up.  For a
     * 29 Feb start in a common year, (2, 28) is still before (2, 29) and
     * (3, 1) is after it, which yields the 1 March rule for free.
     */
    return ((int64_t)y2 - y1) -
           (m2 < m1 || (m2 == m1 && d2 < d1) ? 1 : 0);
}

bool miaopi__age_on(int32_t birth, int32_t on, int64_t *out)
{
    if (!miaopi__date_in_range(birth) || !miaopi__date_in_range(on) ||
        on < birth) {
        return false;
    }
    *out = full_years(birth, on);
    return true;
}

bool miaopi__years_between(int32_t a, int32_t b, int64_t *out)
{
    if (!miaopi__date_in_range(a) || !miaopi__date_in_range(b)) {
        return false;
    }
    *out = b < a ? -full_years(b, a) : full_years(a, b);
    return true;
}

/* ---- resident identity number ------------------------------------------ */

/* Province-level codes of GB/T 2260 (first two digits of the region). */
static bool is_province(int p)
{
    return (p >= 11 && p <= 15) || (p >= 21 && p <= 23) ||
           (p >= 31 && p <= 37) || (p >= 41 && p <= 46) ||
           (p >= 50 && p <= 54) || (p >= 61 && p <= 65) || p == 71 ||
           p == 81 || p == 82 || p == 83;
}

miaopi__cnid_status miaopi__cnid_parse(const char *s, size_t len,
                                       miaopi__cnid *out)
{
    /* ISO 7064 MOD 11-2: weight i is 2^(17-i) mod 11. */
    static const int weights[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6,
                                    3, 7, 9, 10, 5, 8, 4, 2};
    static const char check_chars[12] = "10X98765432";
    int i, sum = 0, y = 0, m = 0, d = 0;
    char last;

    if (s == NULL || len != 18) {
        return MIAOPI__CNID_LENGTH;
    }
    /* The digits and the check sum in one pass. */
    for (i = 0; i < 17; i++) {
        if (!is_digit(s[i])) {
            return MIAOPI__CNID_CHARS;
        }
        sum += digit_val(s[i]) * weights[i];
    }
    /* Accept the lower-case 'x' that people commonly type. */
    last = s[17] == 'x' ? 'X' : s[17];
    if (!is_digit(last) && last != 'X') {
        return MIAOPI__CNID_CHARS;
    }
    if (!is_province(digit_val(s[0]) * 10 + digit_val(s[1]))) {
        return MIAOPI__CNID_REGION;
    }
    (void)read_digits(s + 6, 4, &y);
    (void)read_digits(s + 10, 2, &m);
    (void)read_digits(s + 12, 2, &d);
    if (y < 1800 || !miaopi__date_valid(y, m, d)) {
        return MIAOPI__CNID_BIRTH_DATE;
    }
    if (check_chars[sum % 11] != last) {
        return MIAOPI__CNID_CHECKSUM;
    }
    if (out != NULL) {
        out->birth = miaopi__days_from_civil(y, m, d);
        out->sex = digit_val(s[16]) % 2 != 0 ? 'M' : 'F';
        memcpy(out->region, s, 6);
        out->region[6] = '\0';
    }
    return MIAOPI__CNID_OK;
}

/* ---- unified social credit code ---------------------------------------- */

/*
 * Value of c in "0123456789ABCDEFGHJKLMNPQRTUWXY", or -1.  I, O, Z, S and
 * V are excluded by the standard to avoid confusion with 1, 0, 2, 5, U.
 */
static int uscc_value(char c)
{
    /* Value + 1 of each character; 0: not in the code's alphabet. */
    static const signed char value1[256] = {
        ['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6,
        ['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10, ['A'] = 11, ['B'] = 12,
        ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16, ['G'] = 17, ['H'] = 18,
        ['J'] = 19, ['K'] = 20, ['L'] = 21, ['M'] = 22, ['N'] = 23, ['P'] = 24,
        ['Q'] = 25, ['R'] = 26, ['T'] = 27, ['U'] = 28, ['W'] = 29, ['X'] = 30,
        ['Y'] = 31,
    };

    return value1[(unsigned char)c] - 1;
}

bool miaopi__uscc_valid(const char *s, size_t len)
{
    /* Weight i is 3^i mod 31. */
    static const int weights[17] = {1, 3, 9, 27, 19, 26, 16, 17, 20,
                                    29, 25, 13, 8, 24, 10, 30, 28};
    int i, sum = 0, check, v = 0;

    if (s == NULL || len != 18) {
        return false;
    }
    /* One pass: the value of each character, the numeric division code
     * at positions 3-8 (only digits have values below 10), the sum. */
    for (i = 0; i < 18; i++) {
        v = uscc_value(s[i]);
        if (v < 0 || (i >= 2 && i < 8 && v >= 10)) {
            return false;
        }
        if (i < 17) {
            sum += v * weights[i];
        }
    }
    check = 31 - sum % 31;
    return v == (check == 31 ? 0 : check);
}

/* ---- UTF-8 ------------------------------------------------------------- */

static bool is_cont(unsigned char b)
{
    return (b & 0xC0u) == 0x80u;
}

size_t miaopi__utf8_decode(const char *s, size_t len, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)s;
    unsigned char b0;
    size_t need, i;
    uint32_t c;
    unsigned char lo = 0x80u, hi = 0xBFu;

    if (len == 0) {
        *cp = 0;
        return 0;
    }
    b0 = u[0];
    if (b0 < 0x80u) {
        *cp = b0;
        return 1;
    }
    /*
     * The second-byte bounds follow RFC 3629 table 3-7 and exclude
     * overlong forms, UTF-16 surrogates and code points above U+10FFFF.
     */
    if (b0 >= 0xC2u && b0 <= 0xDFu) {
        need = 1;
        c = b0 & 0x1Fu;
    } else if (b0 >= 0xE0u && b0 <= 0xEFu) {
        need = 2;
        c = b0 & 0x0Fu;
        lo = b0 == 0xE0u ? 0xA0u : 0x80u;
        hi = b0 == 0xEDu ? 0x9Fu : 0xBFu;
    } else if (b0 >= 0xF0u && b0 <= 0xF4u) {
        need = 3;
        c = b0 & 0x07u;
        lo = b0 == 0xF0u ? 0x90u : 0x80u;
        hi = b0 == 0xF4u ? 0x8Fu : 0xBFu;
    } else {
        *cp = 0xFFFDu;
        return 1;
    }
    if (len < need + 1 || u[1] < lo || u[1] > hi) {
        *cp = 0xFFFDu;
        return 1;
    }
    for (i = 1; i <= need; i++) {
        if (!is_cont(u[i])) {
            *cp = 0xFFFDu;
            return 1;
        }
        c = (c << 6) | (u[i] & 0x3Fu);
    }
    *cp = c;
    return need + 1;
}

size_t miaopi__utf8_length(const char *s, size_t len)
{
    size_t i = 0, n = 0;
    uint32_t cp;

    while (i < len) {
        if ((unsigned char)s[i] < 0x80u) {
            i++; /* what decoding an ASCII byte gives */
            n++;
            continue;
        }
        i += miaopi__utf8_decode(s + i, len - i, &cp);
        n++;
    }
    return n;
}

/*
 * The whitespace set shared by name_normalize and trim.  It deliberately
 * includes the invisible U+200B and U+FEFF, which creep into names copied
 * from web forms and word processors.
 */
static bool is_space_cp(uint32_t c)
{
    switch (c) {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x20:
    case 0x00A0: case 0x1680: case 0x2028: case 0x2029: case 0x202F:
    case 0x205F: case 0x3000: case 0xFEFF:
        return true;
    default:
        return c >= 0x2000 && c <= 0x200B;
    }
}

static bool is_middle_dot(uint32_t c)
{
    switch (c) {
    case 0x00B7: case 0x0387: case 0x2022: case 0x2027: case 0x2219:
    case 0x22C5: case 0x30FB: case 0xFF65:
        return true;
    default:
        return false;
    }
}

size_t miaopi__name_normalize(const char *in, size_t len, char *out)
{
    size_t r = 0, w = 0;

    /*
     * Each step writes no more than it consumed, so w <= r always holds
     * and in-place operation is safe: a unit is decoded before anything
     * of it can be overwritten.
     */
    while (r < len) {
        uint32_t c;
        size_t n = miaopi__utf8_decode(in + r, len - r, &c);

        if (is_space_cp(c)) {
            /* dropped */
        } else if (c >= 0xFF01 && c <= 0xFF5E) {
            out[w++] = (char)(c - 0xFEE0);
        } else if (is_middle_dot(c)) {
            out[w++] = (char)0xC2;
            out[w++] = (char)0xB7;
        } else {
            memmove(out + w, in + r, n);
            w += n;
        }
        r += n;
    }
    return w;
}

size_t miaopi__ascii_lower(const char *in, size_t len, char *out)
{
    size_t i;

    for (i = 0; i < len; i++) {
        char c = in[i];

        out[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    return len;
}

size_t miaopi__ascii_upper(const char *in, size_t len, char *out)
{
    size_t i;

    for (i = 0; i < len; i++) {
        char c = in[i];

        out[i] = c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
    }
    return len;
}

void miaopi__trim(const char *s, size_t len, size_t *start, size_t *newlen)
{
    size_t i = 0, first = len, end = len;
    bool seen = false;

    /*
     * One forward pass: decoding backwards from the end would have to
     * guess where a malformed sequence starts.
     */
    while (i < len) {
        uint32_t c;
        size_t n = miaopi__utf8_decode(s + i, len - i, &c);

        if (!is_space_cp(c)) {
            if (!seen) {
                first = i;
                seen = true;
            }
            end = i + n;
        }
        i += n;
    }
    *start = first;
    *newlen = seen ? end - first : 0;
}

/* ---- masking ----------------------------------------------------------- */

/*
 * snprintf-like sink.  When a piece does not fit, as many whole code
 * points of it as fit are stored and the sink is closed, so truncation
 * yields a prefix of the full output that never ends in a partial UTF-8
 * sequence.
 */
typedef struct {
    char *buf;
    size_t size;
    size_t need;   /* total length of the full output */
    size_t used;   /* bytes actually stored */
    bool full;
} sink;

static void sink_put(sink *k, const char *p, size_t n)
{
    if (n == 0) {
        return; /* also keeps a NULL p away from memcpy */
    }
    k->need += n;
    if (k->full) {
        return;
    }
    /* Strictly less: one byte is always kept for the NUL. */
    if (k->size > 0 && k->used + n < k->size) {
        memcpy(k->buf + k->used, p, n);
        k->used += n;
        return;
    }
    while (n > 0 && k->size > 0) {
        uint32_t c;
        size_t u = miaopi__utf8_decode(p, n, &c);

        if (k->used + u >= k->size) {
            break;
        }
        memcpy(k->buf + k->used, p, u);
        k->used += u;
        p += u;
        n -= u;
    }
    k->full = true;
}

static void sink_stars(sink *k, size_t n)
{
    static const char stars[] = "****************************************"
                                "************************";
    while (n > 0) {
        size_t m = n < sizeof(stars) - 1 ? n : sizeof(stars) - 1;
        sink_put(k, stars, m);
        n -= m;
    }
}

/*
 * Emits in[0..len) keeping the first `head` and last `tail` code points
 * (of n in total) and replacing every other one with '*'.
 *
 * In three pieces (kept head, stars, kept tail) rather than one code
 * point at a time: sink_put of a piece stores exactly what the code
 * points one by one would have (it falls back to them when the piece
 * does not fit), and the piece boundaries are found with the same
 * decoding steps.
 */
static void emit_masked(sink *k, const char *in, size_t len, size_t n,
                        size_t head, size_t tail)
{
    /* Code points idx < head or idx >= from are kept. */
    size_t from = n > tail ? n - tail : 0;
    size_t a = 0, b, idx;
    uint32_t c;

    if (from <= head) {
        sink_put(k, in, len);
        return;
    }
    if (n == len) {
        /* Every code point is one byte. */
        a = head;
        b = from;
    } else {
        for (idx = 0; idx < head && a < len; idx++) {
            a += miaopi__utf8_decode(in + a, len - a, &c);
        }
        b = a;
        for (; idx < from && b < len; idx++) {
            b += miaopi__utf8_decode(in + b, len - b, &c);
        }
    }
    sink_put(k, in, a);
    sink_stars(k, from - head);
    sink_put(k, in + b, len - b);
}

size_t miaopi__mask(miaopi__pii cls, const char *in, size_t len, char *out,
                    size_t outsize)
{
    sink k = {out, outsize, 0, 0, false};
    size_t n = in == NULL ? 0 : miaopi__utf8_length(in, len);
    uint32_t c;

    if (in == NULL) {
        len = 0;
    }
    switch (cls) {
    case MIAOPI__PII_NONE:
        sink_put(&k, in, len);
        break;
    case MIAOPI__PII_ID_NUMBER:
        if (n > 8) {
            emit_masked(&k, in, len, n, 4, 4);
        } else {
            emit_masked(&k, in, len, n, 0, n > 1 ? 1 : 0);
        }
        break;
    case MIAOPI__PII_NAME:
        emit_masked(&k, in, len, n, n > 1 ? 1 : 0, 0);
        break;
    case MIAOPI__PII_PHONE:
        if (n > 7) {
            emit_masked(&k, in, len, n, 3, 4);
        } else {
            emit_masked(&k, in, len, n, 0, n > 2 ? 2 : 0);
        }
        break;
    case MIAOPI__PII_ADDRESS: {
        size_t i = 0, idx;

        for (idx = 0; idx < 6 && i < len; idx++) {
            i += miaopi__utf8_decode(in + i, len - i, &c);
        }
        sink_put(&k, in, i);
        if (i < len) {
            sink_put(&k, "****", 4);
        }
        break;
    }
    case MIAOPI__PII_EMAIL: {
        /* '@' never occurs inside a multi-byte sequence, so a byte scan
         * is safe; the last '@' starts the domain. */
        size_t at = len;

        while (at > 0 && in[at - 1] != '@') {
            at--;
        }
        if (at == 0) {
            sink_put(&k, "***", 3);
            break;
        }
        at--;
        if (at > 0) {
            sink_put(&k, in, miaopi__utf8_decode(in, at, &c));
        }
        sink_put(&k, "***", 3);
        sink_put(&k, in + at, len - at);
        break;
    }
    case MIAOPI__PII_SECRET:
    default:
        sink_put(&k, "***", 3);
        break;
    }
    if (outsize > 0) {
        out[k.used] = '\0';
    }
    return k.need;
}
