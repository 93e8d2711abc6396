/*
 * The builtin functions of the expression language. Each has a type check
 * (run at load) and an evaluator (run with every argument known). Domain
 * logic lives in domain.c; this file only adapts it to values.
 */
#include "model.h"

#include <string.h>

static const mp_type T_STRING = {MP_T_STRING, NULL, NULL};
static const mp_type T_INT = {MP_T_INT, NULL, NULL};
static const mp_type T_BOOL = {MP_T_BOOL, NULL, NULL};
static const mp_type T_DATE = {MP_T_DATE, NULL, NULL};

/* ---- type checks ---- */

static bool want(const mp_type *args, int n, const mp_kind *kinds,
                 miaopi__buf *msg, int *bad)
{
    for (int i = 0; i < n; i++) {
        if (args[i].kind == kinds[i])
            continue;
        *bad = i;
        mp_type t = {kinds[i], NULL, NULL};
        miaopi__buf_printf(msg, "argument %d must be ", i + 1);
        mp_type_name(&t, msg);
        miaopi__buf_adds(msg, ", not ");
        mp_type_name(&args[i], msg);
        return false;
    }
    return true;
}

#define CHECK_FN(name, result, ...)                                          \
    static bool name(const mp_type *args, int n, mp_type *out,               \
                     miaopi__buf *msg, int *bad)                             \
    {                                                                        \
        static const mp_kind kinds[] = {__VA_ARGS__};                        \
        *out = result;                                                       \
        return want(args, n, kinds, msg, bad);                               \
    }

CHECK_FN(check_s_date, T_DATE, MP_T_STRING)
CHECK_FN(check_date_int, T_INT, MP_T_DATE)
CHECK_FN(check_date_int_date, T_DATE, MP_T_DATE, MP_T_INT)
CHECK_FN(check_date_date_int, T_INT, MP_T_DATE, MP_T_DATE)
CHECK_FN(check_s_bool, T_BOOL, MP_T_STRING)
CHECK_FN(check_s_s, T_STRING, MP_T_STRING)
CHECK_FN(check_ss_bool, T_BOOL, MP_T_STRING, MP_T_STRING)

static bool check_length(const mp_type *args, int n, mp_type *out,
                         miaopi__buf *msg, int *bad)
{
    MP_UNUSED(n);
    *out = T_INT;
    if (args[0].kind == MP_T_STRING || args[0].kind == MP_T_LIST)
        return true;
    *bad = 0;
    miaopi__buf_adds(msg, "needs a string or a list, not ");
    mp_type_name(&args[0], msg);
    return false;
}

static bool check_contains(const mp_type *args, int n, mp_type *out,
                           miaopi__buf *msg, int *bad)
{
    MP_UNUSED(n);
    *out = T_BOOL;
    if (args[0].kind == MP_T_STRING && args[1].kind == MP_T_STRING)
        return true;
    if (args[0].kind == MP_T_LIST && args[0].elem &&
        (mp_type_eq(args[0].elem, &args[1]) ||
         (mp_type_numeric(args[0].elem) && mp_type_numeric(&args[1]))) &&
        args[1].kind != MP_T_RECORD && args[1].kind != MP_T_LIST)
        return true;
    *bad = args[0].kind == MP_T_STRING || args[0].kind == MP_T_LIST ? 1 : 0;
    miaopi__buf_adds(msg, "needs (string, string) or (list, element), not ");
    mp_type_name(&args[0], msg);
    miaopi__buf_adds(msg, " and ");
    mp_type_name(&args[1], msg);
    return false;
}

static bool check_abs(const mp_type *args, int n, mp_type *out,
                      miaopi__buf *msg, int *bad)
{
    MP_UNUSED(n);
    *out = args[0];
    if (mp_type_numeric(&args[0]))
        return true;
    *bad = 0;
    miaopi__buf_adds(msg, "needs a number");
    return false;
}

static bool check_minmax(const mp_type *args, int n, mp_type *out,
                         miaopi__buf *msg, int *bad)
{
    MP_UNUSED(n);
    if (mp_type_numeric(&args[0]) && mp_type_numeric(&args[1])) {
        *out = (args[0].kind == MP_T_INT && args[1].kind == MP_T_INT)
                   ? T_INT
                   : (mp_type){MP_T_DEC, NULL, NULL};
        return true;
    }
    if (args[0].kind == MP_T_DATE && args[1].kind == MP_T_DATE) {
        *out = T_DATE;
        return true;
    }
    *bad = mp_type_numeric(&args[0]) || args[0].kind == MP_T_DATE ? 1 : 0;
    miaopi__buf_adds(msg, "needs two numbers or two dates");
    return false;
}

/* ---- evaluators ---- */

static void set_int(mp_value *out, int64_t i)
{
    out->kind = MP_T_INT;
    out->u.i = i;
}

static void set_bool(mp_value *out, bool b)
{
    out->kind = MP_T_BOOL;
    out->u.b = b;
}

static void set_date(mp_value *out, int32_t d)
{
    out->kind = MP_T_DATE;
    out->u.date = d;
}

static void set_str(mp_value *out, const char *p, size_t len)
{
    out->kind = MP_T_STRING;
    out->u.s.p = p;
    out->u.s.len = len;
}

static void fail(mp_value *out, mp_why why, const mp_node *n)
{
    mp_value_unknown(out, why, n);
}

/* Out of memory is not a property of the case: the whole evaluation
 * fails with MIAOPI_ENOMEM, even where Kleene logic would hide this
 * UNKNOWN. */
static void oom(mp_eval *ev, mp_value *out, const mp_node *n)
{
    ev->nomem = true;
    mp_value_unknown(out, MP_WHY_NOMEM, n);
}

static void ev_date(mp_eval *ev, const mp_node *n, const mp_value *a,
                    mp_value *out)
{
    MP_UNUSED(ev);
    int32_t d;
    if (miaopi__date_parse(a[0].u.s.p, a[0].u.s.len, &d))
        set_date(out, d);
    else
        fail(out, MP_WHY_INVALID, n);
}

static void ev_ymd(mp_eval *ev, const mp_node *n, const mp_value *a,
                   mp_value *out)
{
    MP_UNUSED(ev);
    int y, m, d;
    miaopi__civil_from_days(a[0].u.date, &y, &m, &d);
    const char *name = n->fn->name;
    set_int(out, name[0] == 'y' ? y : name[0] == 'm' ? m : d);
}

static void ev_add(mp_eval *ev, const mp_node *n, const mp_value *a,
                   mp_value *out)
{
    MP_UNUSED(ev);
    int32_t r;
    bool ok;
    const char *name = n->fn->name;
    if (strcmp(name, "add_years") == 0)
        ok = miaopi__date_add_years(a[0].u.date, a[1].u.i, &r);
    else if (strcmp(name, "add_months") == 0)
        ok = miaopi__date_add_months(a[0].u.date, a[1].u.i, &r);
    else
        ok = miaopi__date_add_days(a[0].u.date, a[1].u.i, &r);
    if (ok)
        set_date(out, r);
    else
        fail(out, MP_WHY_OVERFLOW, n);
}

static void ev_between(mp_eval *ev, const mp_node *n, const mp_value *a,
                       mp_value *out)
{
    MP_UNUSED(ev);
    const char *name = n->fn->name;
    if (name[0] == 'd') {
        set_int(out, miaopi__days_between(a[0].u.date, a[1].u.date));
    } else if (name[0] == 'm') {
        set_int(out, miaopi__months_between(a[0].u.date, a[1].u.date));
    } else {
        int64_t y;
        if (miaopi__years_between(a[0].u.date, a[1].u.date, &y))
            set_int(out, y);
        else
            fail(out, MP_WHY_INVALID, n);
    }
}

static void ev_age(mp_eval *ev, const mp_node *n, const mp_value *a,
                   mp_value *out)
{
    MP_UNUSED(ev);
    int64_t y;
    if (miaopi__age_on(a[0].u.date, a[1].u.date, &y))
        set_int(out, y);
    else
        fail(out, MP_WHY_INVALID, n); /* born after the date */
}

/* miaopi__cnid_parse of a string value, remembered for the rest of the
 * evaluation (id_valid and id_birth_date of the same field are common,
 * and a failing age rule's message takes the birth date again). */
static miaopi__cnid_status parse_cnid(mp_eval *ev, const mp_value *v,
                                      miaopi__cnid *id)
{
    if (ev->cnid_gen == ev->gen && ev->cnid_p && ev->cnid_p == v->u.s.p &&
        ev->cnid_len == v->u.s.len) {
        *id = ev->cnid;
        return (miaopi__cnid_status)ev->cnid_rc;
    }
    miaopi__cnid_status rc = miaopi__cnid_parse(v->u.s.p, v->u.s.len, id);
    ev->cnid_gen = ev->gen;
    ev->cnid_p = v->u.s.p;
    ev->cnid_len = v->u.s.len;
    ev->cnid_rc = (int)rc;
    if (rc == MIAOPI__CNID_OK)
        ev->cnid = *id;
    return rc;
}

static void ev_id_valid(mp_eval *ev, const mp_node *n, const mp_value *a,
                        mp_value *out)
{
    MP_UNUSED(n);
    miaopi__cnid id;
    set_bool(out, parse_cnid(ev, &a[0], &id) == MIAOPI__CNID_OK);
}

static void ev_id_birth_date(mp_eval *ev, const mp_node *n,
                             const mp_value *a, mp_value *out)
{
    miaopi__cnid id;
    if (parse_cnid(ev, &a[0], &id) == MIAOPI__CNID_OK)
        set_date(out, id.birth);
    else
        fail(out, MP_WHY_INVALID, n);
}

static void ev_id_sex(mp_eval *ev, const mp_node *n, const mp_value *a,
                      mp_value *out)
{
    miaopi__cnid id;
    if (parse_cnid(ev, &a[0], &id) != MIAOPI__CNID_OK)
        fail(out, MP_WHY_INVALID, n);
    else if (id.sex == 'M')
        set_str(out, "男", strlen("男"));
    else
        set_str(out, "女", strlen("女"));
}

static void ev_id_region(mp_eval *ev, const mp_node *n, const mp_value *a,
                         mp_value *out)
{
    miaopi__cnid id;
    if (parse_cnid(ev, &a[0], &id) != MIAOPI__CNID_OK) {
        fail(out, MP_WHY_INVALID, n);
        return;
    }
    char *s = miaopi__arena_strndup(ev->arena, id.region, 6);
    if (!s)
        oom(ev, out, n);
    else
        set_str(out, s, 6);
}

static void ev_uscc_valid(mp_eval *ev, const mp_node *n, const mp_value *a,
                          mp_value *out)
{
    MP_UNUSED(ev);
    MP_UNUSED(n);
    set_bool(out, miaopi__uscc_valid(a[0].u.s.p, a[0].u.s.len));
}

/* Normalise into the arena; NULL when out of memory. */
static const char *normalized(mp_eval *ev, const mp_value *v, size_t *len)
{
    char *buf = miaopi__arena_alloc(ev->arena, v->u.s.len + 1);
    if (!buf)
        return NULL;
    *len = miaopi__name_normalize(v->u.s.p, v->u.s.len, buf);
    buf[*len] = '\0';
    return buf;
}

static void ev_normalize_name(mp_eval *ev, const mp_node *n,
                              const mp_value *a, mp_value *out)
{
    size_t len;
    const char *s = normalized(ev, &a[0], &len);
    if (!s)
        oom(ev, out, n);
    else
        set_str(out, s, len);
}

static void ev_name_eq(mp_eval *ev, const mp_node *n, const mp_value *a,
                       mp_value *out)
{
    /* Identical bytes normalise identically: the common case (the name
     * as the registry holds it) needs no normalisation at all. */
    if (a[0].u.s.len == a[1].u.s.len &&
        mp_name_eq(a[0].u.s.p, a[1].u.s.p, a[0].u.s.len)) {
        set_bool(out, true);
        return;
    }
    size_t la, lb;
    const char *x = normalized(ev, &a[0], &la);
    const char *y = normalized(ev, &a[1], &lb);
    if (!x || !y)
        oom(ev, out, n);
    else
        set_bool(out, la == lb && memcmp(x, y, la) == 0);
}

static void ev_trim(mp_eval *ev, const mp_node *n, const mp_value *a,
                    mp_value *out)
{
    MP_UNUSED(ev);
    MP_UNUSED(n);
    size_t start, len;
    miaopi__trim(a[0].u.s.p, a[0].u.s.len, &start, &len);
    set_str(out, a[0].u.s.p + start, len);
}

static void ev_case(mp_eval *ev, const mp_node *n, const mp_value *a,
                    mp_value *out)
{
    /* Nothing to change (an ID number in upper case already, the usual
     * case): the value itself, without a copy. */
    unsigned char lo = n->fn->name[0] == 'l' ? 'A' : 'a';
    const unsigned char *p = (const unsigned char *)a[0].u.s.p;
    size_t n_in = a[0].u.s.len;
    unsigned hit = 0;
    for (size_t i = 0; i < n_in; i++) /* no early exit: vectorised */
        hit |= (unsigned char)(p[i] - lo) < 26u;
    if (!hit) {
        set_str(out, a[0].u.s.p, a[0].u.s.len);
        return;
    }
    char *buf = miaopi__arena_alloc(ev->arena, a[0].u.s.len + 1);
    if (!buf) {
        oom(ev, out, n);
        return;
    }
    size_t len = n->fn->name[0] == 'l'
                     ? miaopi__ascii_lower(a[0].u.s.p, a[0].u.s.len, buf)
                     : miaopi__ascii_upper(a[0].u.s.p, a[0].u.s.len, buf);
    buf[len] = '\0';
    set_str(out, buf, len);
}

static void ev_length(mp_eval *ev, const mp_node *n, const mp_value *a,
                      mp_value *out)
{
    MP_UNUSED(ev);
    MP_UNUSED(n);
    if (a[0].kind == MP_T_LIST)
        set_int(out, (int64_t)a[0].u.list.n);
    else
        set_int(out, (int64_t)miaopi__utf8_length(a[0].u.s.p, a[0].u.s.len));
}

static void ev_affix(mp_eval *ev, const mp_node *n, const mp_value *a,
                     mp_value *out)
{
    MP_UNUSED(ev);
    size_t sl = a[0].u.s.len, pl = a[1].u.s.len;
    if (pl > sl) {
        set_bool(out, false);
        return;
    }
    const char *at = n->fn->name[0] == 's' ? a[0].u.s.p
                                           : a[0].u.s.p + (sl - pl);
    set_bool(out, memcmp(at, a[1].u.s.p, pl) == 0);
}

static bool bytes_contain(const char *h, size_t hl, const char *nd, size_t nl)
{
    if (nl == 0)
        return true;
    for (size_t i = 0; i + nl <= hl; i++)
        if (h[i] == nd[0] && memcmp(h + i, nd, nl) == 0)
            return true;
    return false;
}

static void ev_contains(mp_eval *ev, const mp_node *n, const mp_value *a,
                        mp_value *out)
{
    MP_UNUSED(ev);
    if (a[0].kind == MP_T_STRING) {
        set_bool(out, bytes_contain(a[0].u.s.p, a[0].u.s.len, a[1].u.s.p,
                                    a[1].u.s.len));
        return;
    }
    bool seen_unknown = false;
    mp_value unknown;
    for (size_t i = 0; i < a[0].u.list.n; i++) {
        mp_value e;
        mp_list_get(&a[0], n->args[0]->type.elem, i, n->args[0], &e);
        if (MP_IS_UNKNOWN(&e)) {
            if (!seen_unknown)
                unknown = e;
            seen_unknown = true;
        } else if (mp_value_eq(&e, &a[1])) {
            set_bool(out, true);
            return;
        }
    }
    if (seen_unknown)
        *out = unknown;
    else
        set_bool(out, false);
}

static void ev_matches(mp_eval *ev, const mp_node *n, const mp_value *a,
                       mp_value *out)
{
    int rc = mp_regex_match(ev, n->re, a[0].u.s.p, a[0].u.s.len);
    if (rc < 0)
        fail(out, ev->nomem ? MP_WHY_NOMEM : MP_WHY_REGEX_LIMIT, n);
    else
        set_bool(out, rc == 1);
}

static void ev_abs(mp_eval *ev, const mp_node *n, const mp_value *a,
                   mp_value *out)
{
    MP_UNUSED(ev);
    *out = a[0];
    if (a[0].kind == MP_T_INT) {
        if (a[0].u.i == INT64_MIN)
            fail(out, MP_WHY_OVERFLOW, n);
        else if (a[0].u.i < 0)
            out->u.i = -a[0].u.i;
    } else if (a[0].u.d.coef < 0 && !miaopi__dec_neg(a[0].u.d, &out->u.d)) {
        fail(out, MP_WHY_OVERFLOW, n);
    }
}

static void ev_minmax(mp_eval *ev, const mp_node *n, const mp_value *a,
                      mp_value *out)
{
    MP_UNUSED(ev);
    int c = mp_value_cmp(&a[0], &a[1]);
    bool want_min = n->fn->name[1] == 'i';
    *out = (want_min ? c <= 0 : c >= 0) ? a[0] : a[1];
    if (n->type.kind == MP_T_DEC && out->kind == MP_T_INT) {
        out->u.d = miaopi__dec_from_int(out->u.i);
        out->kind = MP_T_DEC;
    }
}

/* ---- the table ---- */

/* ---- government data: ID numbers and electronic licences ---- */

/* ID numbers compare after trimming and upper-casing ASCII letters: an
 * applicant may type the check character as x where registries store X. */
static bool id_same(const char *a, size_t an, const char *b, size_t bn)
{
    size_t as, al, bs, bl;
    miaopi__trim(a, an, &as, &al);
    miaopi__trim(b, bn, &bs, &bl);
    if (al != bl)
        return false;
    for (size_t i = 0; i < al; i++) {
        char x = a[as + i], y = b[bs + i];
        if (x >= 'a' && x <= 'z')
            x = (char)(x - 'a' + 'A');
        if (y >= 'a' && y <= 'z')
            y = (char)(y - 'a' + 'A');
        if (x != y)
            return false;
    }
    return true;
}

static void ev_id_eq(mp_eval *ev, const mp_node *n, const mp_value *a,
                     mp_value *out)
{
    MP_UNUSED(ev);
    MP_UNUSED(n);
    set_bool(out, id_same(a[0].u.s.p, a[0].u.s.len, a[1].u.s.p,
                          a[1].u.s.len));
}

static bool is_licence(const mp_type *t)
{
    return t->kind == MP_T_RECORD && t->record && t->record->licence;
}

static bool check_licence_valid(const mp_type *args, int n, mp_type *out,
                                miaopi__buf *msg, int *bad)
{
    MP_UNUSED(n);
    *out = T_BOOL;
    if (is_licence(&args[0]) && args[1].kind == MP_T_DATE)
        return true;
    *bad = is_licence(&args[0]) ? 1 : 0;
    miaopi__buf_adds(msg, "needs (licence, date): a record of a field "
                          "declared of=\"licence\" and a date");
    return false;
}

static bool check_licence_holder(const mp_type *args, int n, mp_type *out,
                                 miaopi__buf *msg, int *bad)
{
    MP_UNUSED(n);
    *out = T_BOOL;
    if (is_licence(&args[0]) && args[1].kind == MP_T_STRING)
        return true;
    *bad = is_licence(&args[0]) ? 1 : 0;
    miaopi__buf_adds(msg, "needs (licence, string): a record of a field "
                          "declared of=\"licence\" and the holder's ID or "
                          "credit code");
    return false;
}

/* A licence member as a value: UNKNOWN (missing or wrong type) unless
 * the record really holds it. */
static bool licence_get(const mp_value *lic, const char *name, mp_kind kind,
                        const mp_node *n, mp_value *v, mp_value *out)
{
    mp_type t = {kind, NULL, NULL};
    mp_value_from_json(json_object_get(lic->u.rec, name), &t, n, v);
    if (MP_IS_UNKNOWN(v)) {
        *out = *v;
        return false;
    }
    return true;
}

/* Status words of 电子证照 catalogues: only "valid" (有效/正常) counts;
 * revoked, cancelled, suspended or expired is invalid; anything else is
 * not understood and so UNKNOWN, never a pass. */
static int licence_status(const mp_value *s)
{
    static const char *const good[] = {"valid", "有效", "正常"};
    static const char *const bad[] = {"revoked", "cancelled", "suspended",
                                      "expired", "吊销", "撤销", "注销",
                                      "暂扣", "过期", "失效", "作废"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (strlen(good[i]) == s->u.s.len &&
            memcmp(good[i], s->u.s.p, s->u.s.len) == 0)
            return 1;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (strlen(bad[i]) == s->u.s.len &&
            memcmp(bad[i], s->u.s.p, s->u.s.len) == 0)
            return 0;
    return -1;
}

/* Valid on day d: status valid, and valid_from <= d <= valid_until
 * (valid_until is the last day of validity, inclusive). */
static void ev_licence_valid(mp_eval *ev, const mp_node *n,
                             const mp_value *a, mp_value *out)
{
    MP_UNUSED(ev);
    mp_value st, from, until;
    if (!licence_get(&a[0], "status", MP_T_STRING, n, &st, out))
        return;
    int good = licence_status(&st);
    if (good < 0) {
        fail(out, MP_WHY_INVALID, n);
        return;
    }
    if (!good) {
        set_bool(out, false);
        return;
    }
    if (!licence_get(&a[0], "valid_from", MP_T_DATE, n, &from, out) ||
        !licence_get(&a[0], "valid_until", MP_T_DATE, n, &until, out))
        return;
    set_bool(out, from.u.date <= a[1].u.date && a[1].u.date <= until.u.date);
}

static void ev_licence_holder(mp_eval *ev, const mp_node *n,
                              const mp_value *a, mp_value *out)
{
    MP_UNUSED(ev);
    mp_value h;
    if (!licence_get(&a[0], "holder_id", MP_T_STRING, n, &h, out))
        return;
    set_bool(out, id_same(h.u.s.p, h.u.s.len, a[1].u.s.p, a[1].u.s.len));
}

static const mp_builtin builtins[] = {
    {"date", 1, 1, check_s_date, ev_date},
    {"year", 1, 1, check_date_int, ev_ymd},
    {"month", 1, 1, check_date_int, ev_ymd},
    {"day", 1, 1, check_date_int, ev_ymd},
    {"add_years", 2, 2, check_date_int_date, ev_add},
    {"add_months", 2, 2, check_date_int_date, ev_add},
    {"add_days", 2, 2, check_date_int_date, ev_add},
    {"days_between", 2, 2, check_date_date_int, ev_between},
    {"months_between", 2, 2, check_date_date_int, ev_between},
    {"years_between", 2, 2, check_date_date_int, ev_between},
    {"age", 2, 2, check_date_date_int, ev_age},
    {"id_valid", 1, 1, check_s_bool, ev_id_valid},
    {"id_birth_date", 1, 1, check_s_date, ev_id_birth_date},
    {"id_sex", 1, 1, check_s_s, ev_id_sex},
    {"id_region", 1, 1, check_s_s, ev_id_region},
    {"uscc_valid", 1, 1, check_s_bool, ev_uscc_valid},
    {"normalize_name", 1, 1, check_s_s, ev_normalize_name},
    {"name_eq", 2, 2, check_ss_bool, ev_name_eq},
    {"trim", 1, 1, check_s_s, ev_trim},
    {"lower", 1, 1, check_s_s, ev_case},
    {"upper", 1, 1, check_s_s, ev_case},
    {"length", 1, 1, check_length, ev_length},
    {"starts_with", 2, 2, check_ss_bool, ev_affix},
    {"ends_with", 2, 2, check_ss_bool, ev_affix},
    {"contains", 2, 2, check_contains, ev_contains},
    {"matches", 2, 2, check_ss_bool, ev_matches},
    {"abs", 1, 1, check_abs, ev_abs},
    {"min", 2, 2, check_minmax, ev_minmax},
    {"max", 2, 2, check_minmax, ev_minmax},
    {"id_eq", 2, 2, check_ss_bool, ev_id_eq},
    {"licence_valid", 2, 2, check_licence_valid, ev_licence_valid},
    {"licence_holder", 2, 2, check_licence_holder, ev_licence_holder},
};

#define NBUILTINS (sizeof(builtins) / sizeof(builtins[0]))

const mp_builtin *mp_builtin_find(const char *name, size_t len)
{
    for (size_t i = 0; i < NBUILTINS; i++)
        if (strlen(builtins[i].name) == len &&
            memcmp(builtins[i].name, name, len) == 0)
            return &builtins[i];
    return NULL;
}

const char *mp_builtin_suggest(const char *name, size_t len)
{
    static const char *const special[] = {"any", "all", "count", "present"};
    const char *best = NULL;
    size_t bestd = len < 5 ? 2 : 3;
    for (size_t i = 0; i < NBUILTINS + 4; i++) {
        const char *cand = i < NBUILTINS ? builtins[i].name
                                         : special[i - NBUILTINS];
        size_t d = miaopi__edit_distance(name, len, cand, strlen(cand));
        if (d < bestd) {
            bestd = d;
            best = cand;
        }
    }
    return best;
}
