/*
 * Loading a rule file: libxml2 parses it (no DTD, no entities, no network),
 * the bundled RelaxNG schema validates it, and a walk over the tree builds
 * the compiled ruleset, compiling every expression on the way.
 *
 * Positions: libxml2 records lines but not columns, and expression errors
 * need a column inside element text. A SAX hook records the byte offset of
 * every start tag, and map_offset() walks the raw bytes of an element's
 * content (character references, CDATA, comments, CRLF) to turn an offset
 * in the decoded text back into an offset in the file.
 */
#include "model.h"
#include "authoring.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <libxml/globals.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/relaxng.h>
#include <libxml/SAX2.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlschemastypes.h>

#define MIAOPI_NS "urn:miaopi:rules:1"

extern const char miaopi__schema_rng[];
extern const size_t miaopi__schema_rng_len;

typedef struct loader {
    miaopi_ruleset *rs;
    const char *file;
    const char *data;
    size_t len;
    size_t fed; /* bytes handed to libxml2 so far */
    miaopi_diagnostic_cb cb;
    void *payload;
    unsigned max_errors;
    miaopi_error *err;
    int nerrors;
    size_t *lines; /* byte offset of each line start */
    size_t nlines;
    bool dtd_seen;
    bool oom; /* an allocation failed: the result is MIAOPI_ENOMEM */
    long dtd_offset;
    xmlParserCtxtPtr ctxt;
    startElementNsSAX2Func sax_start;
    /* The element whose text is being compiled. */
    xmlNodePtr expr_node;
    mp_compiler comp;
} loader;

/* ---- positions ---- */

static bool build_lines(loader *L)
{
    size_t n = 1;
    for (size_t i = 0; i < L->len; i++)
        if (L->data[i] == '\n')
            n++;
    L->lines = miaopi__malloc(L->rs->al, n * sizeof(size_t));
    if (!L->lines)
        return false;
    L->lines[0] = 0;
    L->nlines = 1;
    for (size_t i = 0; i < L->len; i++)
        if (L->data[i] == '\n')
            L->lines[L->nlines++] = i + 1;
    return true;
}

static void offset_to_pos(const loader *L, long off, int *line, int *col)
{
    *line = 0;
    *col = 0;
    if (off < 0 || !L->lines || (size_t)off > L->len)
        return;
    size_t lo = 0, hi = L->nlines;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (L->lines[mid] <= (size_t)off)
            lo = mid;
        else
            hi = mid;
    }
    *line = (int)lo + 1;
    int c = 1;
    for (size_t i = L->lines[lo]; i < (size_t)off; i++)
        if (((unsigned char)L->data[i] & 0xC0) != 0x80)
            c++;
    *col = c;
}

/* Start and end ('>' or '/') offsets of a start tag, as recorded by the
 * SAX hook; -1 when unknown. */
static long node_start(const xmlNode *n)
{
    uintptr_t p = n ? (uintptr_t)n->_private : 0;
    return p ? (long)(p >> 32) - 1 : -1;
}

static long node_tag_end(const xmlNode *n)
{
    uintptr_t p = n ? (uintptr_t)n->_private : 0;
    return p ? (long)(p & 0xFFFFFFFFu) : -1;
}

/* Byte offset of the parser in the file. Not xmlByteConsumed(): with the
 * UTF-8 decoder that the loader forces, libxml2 2.9 answers from how much
 * raw input the decoder has read ahead, which is wrong by tens of
 * kilobytes in files larger than its first chunk. UTF-8 to UTF-8 keeps
 * every byte where it was, so the decoded position is the file offset. */
static long input_offset(xmlParserCtxtPtr ctxt)
{
    xmlParserInputPtr in = ctxt->input;
    if (!in || !in->cur || !in->base)
        return -1;
    return (long)(in->consumed + (unsigned long)(in->cur - in->base));
}

static void sax_start_element(void *ctx, const xmlChar *localname,
                              const xmlChar *prefix, const xmlChar *URI,
                              int nb_namespaces, const xmlChar **namespaces,
                              int nb_attributes, int nb_defaulted,
                              const xmlChar **attributes)
{
    xmlParserCtxtPtr ctxt = ctx;
    loader *L = ctxt->_private;
    L->sax_start(ctx, localname, prefix, URI, nb_namespaces, namespaces,
                 nb_attributes, nb_defaulted, attributes);
    long end = input_offset(ctxt);
    if (!ctxt->node || end < 0 || (size_t)end >= L->len ||
        L->len >= 0xFFFFFFFFu)
        return;
    long start = end;
    while (start > 0 && L->data[start] != '<')
        start--;
    ctxt->node->_private =
        (void *)((((uintptr_t)start + 1) << 32) | (uintptr_t)end);
}

/* Any DTD, internal or external, stops the parse: rule files have no use
 * for one, and entity expansion is the classic attack through it. */
static void sax_internal_subset(void *ctx, const xmlChar *name,
                                const xmlChar *ext, const xmlChar *sys)
{
    MP_UNUSED(name);
    MP_UNUSED(ext);
    MP_UNUSED(sys);
    xmlParserCtxtPtr ctxt = ctx;
    loader *L = ctxt->_private;
    if (!L->dtd_seen) {
        L->dtd_seen = true;
        L->dtd_offset = input_offset(ctxt);
    }
    xmlStopParser(ctxt);
}

static void sax_entity_decl(void *ctx, const xmlChar *name, int type,
                            const xmlChar *publicId, const xmlChar *systemId,
                            xmlChar *content)
{
    MP_UNUSED(name);
    MP_UNUSED(type);
    MP_UNUSED(publicId);
    MP_UNUSED(systemId);
    MP_UNUSED(content);
    sax_internal_subset(ctx, NULL, NULL, NULL);
}

/* Map an offset in the decoded text content of element n to a file
 * offset. */
static long map_offset(const loader *L, const xmlNode *n, size_t dec)
{
    long end = node_tag_end(n);
    if (end < 0)
        return -1;
    size_t raw = (size_t)end;
    while (raw < L->len && L->data[raw] != '>')
        raw++;
    raw++;
    bool cdata = false;
    size_t d = 0;
    const char *s = L->data;
    while (raw < L->len) {
        if (cdata) {
            if (L->len - raw >= 3 && memcmp(s + raw, "]]>", 3) == 0) {
                raw += 3;
                cdata = false;
                continue;
            }
        } else if (L->len - raw >= 4 && memcmp(s + raw, "<!--", 4) == 0) {
            const char *e = strstr(s + raw + 4, "-->");
            raw = e ? (size_t)(e - s) + 3 : L->len;
            continue;
        } else if (L->len - raw >= 9 &&
                   memcmp(s + raw, "<![CDATA[", 9) == 0) {
            raw += 9;
            cdata = true;
            continue;
        }
        if (d >= dec)
            break;
        if (!cdata && s[raw] == '&') {
            size_t k = raw;
            while (k < L->len && s[k] != ';')
                k++;
            size_t width = 1;
            if (raw + 1 < L->len && s[raw + 1] == '#') {
                unsigned long cp = s[raw + 2] == 'x'
                                       ? strtoul(s + raw + 3, NULL, 16)
                                       : strtoul(s + raw + 2, NULL, 10);
                width = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
            }
            d += width;
            raw = k + 1;
        } else if (s[raw] == '\r' && raw + 1 < L->len && s[raw + 1] == '\n') {
            raw += 2;
            d++;
        } else {
            raw++;
            d++;
        }
    }
    return (long)raw;
}

/* ---- diagnostics ---- */

static void diag_at(loader *L, miaopi__diag_id id, long offset, int line,
                    int col, const char *msg)
{
    miaopi_severity sev = miaopi__diag_severity(id);
    if (offset >= 0)
        offset_to_pos(L, offset, &line, &col);
    if (sev == MIAOPI_SEVERITY_ERROR) {
        L->nerrors++;
        if (L->nerrors == 1 && L->err) {
            miaopi__error_set(L->err, MIAOPI_ERULES, "%s", msg);
            snprintf(L->err->id, sizeof(L->err->id), "%s",
                     miaopi__diag_id_string(id));
            snprintf(L->err->file, sizeof(L->err->file), "%s", L->file);
            L->err->line = line;
            L->err->column = col;
            L->err->offset = offset;
        }
        if ((unsigned)L->nerrors > L->max_errors)
            return;
    }
    if (L->cb) {
        miaopi_diagnostic d = {sev,    miaopi__diag_id_string(id),
                               msg,    L->file,
                               line,   col,
                               offset};
        L->cb(&d, L->payload);
    }
}

static void diag(loader *L, miaopi__diag_id id, long offset, const char *fmt,
                 ...) MP_PRINTF(4, 5);

static void diag(loader *L, miaopi__diag_id id, long offset, const char *fmt,
                 ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    diag_at(L, id, offset, 0, 0, msg);
}

/* Offset of attribute `name` inside n's start tag, or the tag itself. */
static long attr_offset(const loader *L, const xmlNode *n, const char *name)
{
    long start = node_start(n), end = node_tag_end(n);
    if (start < 0 || end < 0)
        return start;
    size_t nl = strlen(name);
    for (long i = start + 1; i + (long)nl < end; i++) {
        if (memcmp(L->data + i, name, nl) == 0 &&
            (L->data[i - 1] == ' ' || L->data[i - 1] == '\t' ||
             L->data[i - 1] == '\n' || L->data[i - 1] == '\r')) {
            long j = i + (long)nl;
            while (j < end && (L->data[j] == ' ' || L->data[j] == '\t'))
                j++;
            if (L->data[j] == '=')
                return i;
        }
    }
    return start;
}

/* Offset of the value of attribute `name` (after its opening quote). */
static long attr_value_offset(const loader *L, const xmlNode *n,
                              const char *name)
{
    long a = attr_offset(L, n, name), end = node_tag_end(n);
    if (a < 0 || end < 0 || a == node_start(n))
        return a;
    for (long i = a; i < end; i++)
        if (L->data[i] == '"' || L->data[i] == '\'')
            return i + 1;
    return a;
}

/* Strip libxml2's trailing newline from its messages, and join the lines
 * of multi-line ones ("...encoding !\nBytes: 0xFF..."): a diagnostic is
 * one line. */
static void clean_message(const char *in, char *out, size_t size)
{
    snprintf(out, size, "%s", in ? in : "error");
    size_t n = strlen(out);
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
        out[--n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (out[i] == '\n' || out[i] == '\r')
            out[i] = ' ';
}

static void xml_error(void *payload, xmlErrorPtr e)
{
    loader *L = payload;
    if (!e || e->level < XML_ERR_ERROR)
        return;
    if (e->code == XML_ERR_NO_MEMORY) {
        L->oom = true;
        return;
    }
    char msg[400];
    clean_message(e->message, msg, sizeof(msg));
    if (L->dtd_seen)
        return; /* the DTD diagnostic says it better */
    if (e->domain == XML_FROM_RELAXNGV) {
        const xmlNode *n = e->node;
        diag(L, MIAOPI__D_SCHEMA, node_start(n), "%s", msg);
    } else if (e->domain == XML_FROM_RELAXNGP) {
        diag(L, MIAOPI__D_SCHEMA, -1, "internal schema error: %s", msg);
    } else if (L->nerrors == 0) {
        /* libxml2 stops at the first fatal error; later ones repeat it. */
        bool encoding = e->code == XML_ERR_INVALID_ENCODING ||
                        (e->code == XML_ERR_INVALID_CHAR && e->message &&
                         strstr(e->message, "UTF-8"));
        diag_at(L, encoding ? MIAOPI__D_ENCODING : MIAOPI__D_XML_MALFORMED,
                -1, e->line, e->int2, msg);
    }
}

/* The parser calls its structured handler with ctxt->userData, which the
 * SAX2 handlers need to be the parser context itself; the loader is in
 * ctxt->_private. */
static void xml_parse_error(void *ctx, xmlErrorPtr e)
{
    xmlParserCtxtPtr ctxt = ctx;
    if (ctxt && ctxt->_private)
        xml_error(ctxt->_private, e);
}

/* ---- tree helpers ---- */

static bool is_el(const xmlNode *n, const char *name)
{
    /* libxml2 can leave a namespace without its URI when an allocation
     * fails while building the tree. */
    return n && n->type == XML_ELEMENT_NODE && n->ns && n->ns->href &&
           n->name && strcmp((const char *)n->ns->href, MIAOPI_NS) == 0 &&
           strcmp((const char *)n->name, name) == 0;
}

static xmlNodePtr first_el(xmlNodePtr parent, const char *name)
{
    for (xmlNodePtr c = parent ? parent->children : NULL; c; c = c->next)
        if (is_el(c, name))
            return c;
    return NULL;
}

static xmlNodePtr next_el(xmlNodePtr n, const char *name)
{
    for (xmlNodePtr c = n->next; c; c = c->next)
        if (is_el(c, name))
            return c;
    return NULL;
}

#define FOR_EACH(var, parent, name)                                          \
    for (xmlNodePtr var = first_el(parent, name); var;                       \
         var = next_el(var, name))

/* Attribute value, borrowed from libxml2's tree via the pool copy. */
static char *attr(loader *L, xmlNodePtr n, const char *name)
{
    xmlChar *v = xmlGetNoNsProp(n, (const xmlChar *)name);
    if (!v)
        return NULL;
    char *r = miaopi__arena_strndup(&L->rs->pool, (const char *)v,
                                    strlen((const char *)v));
    xmlFree(v);
    /* NULL now means "out of memory", not "absent": say so, since
     * callers read NULL as an absent attribute. */
    if (!r)
        L->oom = true;
    return r;
}

static bool is_space_byte(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Human text (titles, messages): leading and trailing space trimmed, and a
 * line break with its indentation becomes one space between ASCII words
 * and nothing between CJK characters, as a reader would expect. */
static char *tidy_text(loader *L, const char *s, size_t len)
{
    while (len && is_space_byte(*s)) {
        s++;
        len--;
    }
    while (len && is_space_byte(s[len - 1]))
        len--;
    char *out = miaopi__arena_alloc(&L->rs->pool, len + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        if (s[i] == '\n' || s[i] == '\r') {
            size_t j = i;
            while (j < len && is_space_byte(s[j]))
                j++;
            while (o && (out[o - 1] == ' ' || out[o - 1] == '\t'))
                o--;
            bool ascii_before = o && (unsigned char)out[o - 1] < 0x80;
            bool ascii_after = j < len && (unsigned char)s[j] < 0x80;
            if (ascii_before && ascii_after)
                out[o++] = ' ';
            i = j;
        } else {
            out[o++] = s[i++];
        }
    }
    out[o] = '\0';
    return out;
}

static char *content(loader *L, xmlNodePtr n)
{
    xmlChar *v = xmlNodeGetContent(n);
    if (!v)
        return miaopi__arena_strndup(&L->rs->pool, "", 0);
    char *r = miaopi__arena_strndup(&L->rs->pool, (const char *)v,
                                    strlen((const char *)v));
    xmlFree(v);
    return r;
}

static mp_lang node_lang(loader *L, xmlNodePtr n)
{
    xmlChar *v = xmlGetNsProp(n, (const xmlChar *)"lang", XML_XML_NAMESPACE);
    mp_lang l = L->rs->default_lang;
    if (v) {
        l = strcmp((const char *)v, "en") == 0 ? MP_LANG_EN : MP_LANG_ZH;
        xmlFree(v);
    }
    return l;
}

/* Running out of memory is not a fault of the file: it is reported as
 * MIAOPI_ENOMEM, not as a diagnostic. */
static bool nomem(loader *L)
{
    L->oom = true;
    return false;
}

/* Collect <NAME xml:lang> texts into out[lang]. */
static bool texts(loader *L, xmlNodePtr parent, const char *name,
                  char *out[MP_LANG_COUNT])
{
    FOR_EACH(t, parent, name) {
        mp_lang l = node_lang(L, t);
        char *raw = content(L, t);
        if (!raw)
            return nomem(L);
        out[l] = tidy_text(L, raw, strlen(raw));
        if (!out[l])
            return nomem(L);
    }
    return true;
}

static void warn_missing_lang(loader *L, xmlNodePtr at, char *t[MP_LANG_COUNT],
                              const char *what)
{
    if ((t[MP_LANG_ZH] == NULL) != (t[MP_LANG_EN] == NULL))
        diag(L, MIAOPI__D_MISSING_LANG, node_start(at),
             "%s has no %s text; readers of that language will see the "
             "other one",
             what, t[MP_LANG_ZH] ? "en" : "zh-CN");
}

/* ---- expressions ---- */

static void compile_error(void *payload, miaopi__diag_id id, int offset,
                          const char *msg)
{
    loader *L = payload;
    if (id == MIAOPI__D_NONE) {
        nomem(L);
        return;
    }
    diag(L, id, map_offset(L, L->expr_node, (size_t)offset), "%s", msg);
}

static mp_node *compile_text(loader *L, xmlNodePtr n, const char *text)
{
    L->expr_node = n;
    return mp_compile(&L->comp, text, strlen(text));
}

static mp_node *compile_condition(loader *L, xmlNodePtr n, const char *what,
                                  const char **text_out)
{
    char *text = content(L, n);
    if (!text)
        return (void)nomem(L), NULL;
    *text_out = text;
    mp_node *e = compile_text(L, n, text);
    if (e && e->type.kind != MP_T_BOOL) {
        miaopi__buf t;
        miaopi__buf_init_al(&t, L->rs->al);
        mp_type_name(&e->type, &t);
        diag(L, MIAOPI__D_NOT_BOOLEAN, map_offset(L, n, (size_t)e->pos),
             "<%s> must be a condition (true or false), but this is a %s",
             what, miaopi__buf_cstr(&t));
        miaopi__buf_free(&t);
        return NULL;
    }
    return e;
}

/* ---- types and fields ---- */

static bool scalar_kind(const char *s, mp_kind *k)
{
    static const struct {
        const char *name;
        mp_kind kind;
    } kinds[] = {{"string", MP_T_STRING}, {"integer", MP_T_INT},
                 {"decimal", MP_T_DEC},   {"boolean", MP_T_BOOL},
                 {"date", MP_T_DATE}};
    for (size_t i = 0; s && i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strcmp(s, kinds[i].name) == 0) {
            *k = kinds[i].kind;
            return true;
        }
    return false;
}

static miaopi__pii pii_class(const char *s)
{
    if (!s) return MIAOPI__PII_NONE;
    if (strcmp(s, "id-number") == 0) return MIAOPI__PII_ID_NUMBER;
    if (strcmp(s, "name") == 0) return MIAOPI__PII_NAME;
    if (strcmp(s, "phone") == 0) return MIAOPI__PII_PHONE;
    if (strcmp(s, "address") == 0) return MIAOPI__PII_ADDRESS;
    if (strcmp(s, "email") == 0) return MIAOPI__PII_EMAIL;
    if (strcmp(s, "secret") == 0) return MIAOPI__PII_SECRET;
    return MIAOPI__PII_NONE;
}

static bool load_schema(loader *L, xmlNodePtr parent, mp_schema *out,
                        bool top, int first_index);

/* The electronic-licence record (电子证照), shared by every field
 * declared with of="licence". valid_until is the last day of validity
 * (inclusive), as printed on Chinese licences (有效期至). */
static mp_schema *licence_schema(loader *L)
{
    static const struct {
        const char *name;
        mp_kind kind;
        miaopi__pii pii;
        const char *title;
    } f[] = {
        {"type", MP_T_STRING, MIAOPI__PII_NONE, "证照类型"},
        {"number", MP_T_STRING, MIAOPI__PII_NONE, "证照编号"},
        {"holder_id", MP_T_STRING, MIAOPI__PII_ID_NUMBER, "持证主体代码"},
        {"holder_name", MP_T_STRING, MIAOPI__PII_NAME, "持证主体名称"},
        {"issuer", MP_T_STRING, MIAOPI__PII_NONE, "发证机关"},
        {"valid_from", MP_T_DATE, MIAOPI__PII_NONE, "有效期起始"},
        {"valid_until", MP_T_DATE, MIAOPI__PII_NONE, "有效期至"},
        {"status", MP_T_STRING, MIAOPI__PII_NONE, "证照状态"},
    };
    miaopi_ruleset *rs = L->rs;
    if (rs->licence_schema)
        return rs->licence_schema;
    size_t n = sizeof(f) / sizeof(f[0]);
    mp_schema *s = miaopi__arena_alloc(&rs->pool, sizeof(*s));
    mp_field *fields = miaopi__arena_alloc(&rs->pool, n * sizeof(*fields));
    if (!s || !fields)
        return (void)nomem(L), NULL;
    memset(fields, 0, n * sizeof(*fields));
    for (size_t i = 0; i < n; i++) {
        fields[i].name = (char *)f[i].name;
        fields[i].name_len = strlen(f[i].name);
        fields[i].title = (char *)f[i].title;
        fields[i].type.kind = f[i].kind;
        fields[i].pii = f[i].pii;
        fields[i].slot = -1;
    }
    s->fields = fields;
    s->nfields = n;
    s->licence = true;
    rs->licence_schema = s;
    return s;
}

/* type="..." of="..." or nested fields -> mp_type */
static bool load_type(loader *L, xmlNodePtr n, mp_type *t)
{
    char *type = attr(L, n, "type");
    memset(t, 0, sizeof(*t));
    if (scalar_kind(type, &t->kind))
        return true;
    if (!type || strcmp(type, "list") != 0) {
        diag(L, MIAOPI__D_BAD_ATTRIBUTE, attr_offset(L, n, "type"),
             "unknown type '%s'", type ? type : "");
        return false;
    }
    t->kind = MP_T_LIST;
    mp_type *elem = miaopi__arena_alloc(&L->rs->pool, sizeof(*elem));
    if (!elem)
        return nomem(L);
    memset(elem, 0, sizeof(*elem));
    char *of = attr(L, n, "of");
    if (of && strcmp(of, "licence") == 0) {
        elem->kind = MP_T_RECORD;
        elem->record = licence_schema(L);
        if (!elem->record)
            return false;
    } else if (of) {
        if (!scalar_kind(of, &elem->kind)) {
            diag(L, MIAOPI__D_BAD_ATTRIBUTE, attr_offset(L, n, "of"),
                 "unknown element type '%s'", of);
            return false;
        }
    } else {
        mp_schema *rec = miaopi__arena_alloc(&L->rs->pool, sizeof(*rec));
        if (!rec)
            return nomem(L);
        memset(rec, 0, sizeof(*rec));
        if (!load_schema(L, n, rec, false, 0))
            return false;
        elem->kind = MP_T_RECORD;
        elem->record = rec;
    }
    t->elem = elem;
    return true;
}

static bool load_schema(loader *L, xmlNodePtr parent, mp_schema *out,
                        bool top, int first_index)
{
    size_t n = (size_t)first_index;
    FOR_EACH(f, parent, "field")
        n++;
    out->fields = miaopi__arena_alloc(&L->rs->pool,
                                      (n ? n : 1) * sizeof(mp_field));
    if (!out->fields)
        return nomem(L);
    memset(out->fields, 0, (n ? n : 1) * sizeof(mp_field));
    out->nfields = (size_t)first_index;
    bool ok = true;
    FOR_EACH(f, parent, "field") {
        mp_field *field = &out->fields[out->nfields];
        field->name = attr(L, f, "name");
        field->title = attr(L, f, "title");
        field->line = f->line;
        field->offset = attr_value_offset(L, f, "name");
        char *req = attr(L, f, "required");
        field->required = req && strcmp(req, "true") == 0;
        field->pii = pii_class(attr(L, f, "pii"));
        field->slot = top ? L->rs->nslots++ : -1;
        if (!field->name)
            return nomem(L);
        field->name_len = strlen(field->name);
        if (mp_schema_find(out, field->name, strlen(field->name))) {
            diag(L, MIAOPI__D_DUPLICATE_NAME, attr_offset(L, f, "name"),
                 "field '%s' is declared twice", field->name);
            ok = false;
        }
        if (!load_type(L, f, &field->type))
            ok = false;
        out->nfields++;
    }
    return ok;
}

/* ---- constants and tables ---- */

static bool reserved(const char *name)
{
    static const char *const words[] = {
        "application", "context", "sources", "and", "or", "not", "in", "if",
        "then", "else", "true", "false", "eq", "ne", "lt", "le", "gt", "ge",
        "any", "all", "count", "present", NULL};
    for (int i = 0; words[i]; i++)
        if (strcmp(words[i], name) == 0)
            return true;
    return false;
}

static bool name_taken(loader *L, const char *name)
{
    miaopi_ruleset *rs = L->rs;
    for (size_t i = 0; i < rs->nsources; i++)
        if (strcmp(rs->sources[i].name, name) == 0)
            return true;
    for (size_t i = 0; i < rs->nconstants; i++)
        if (strcmp(rs->constants[i].name, name) == 0)
            return true;
    for (size_t i = 0; i < rs->ntables; i++)
        if (strcmp(rs->tables[i].name, name) == 0)
            return true;
    return false;
}

static bool check_name(loader *L, xmlNodePtr n, const char *name,
                       const char *what)
{
    if (reserved(name)) {
        diag(L, MIAOPI__D_RESERVED_NAME, attr_offset(L, n, "name"),
             "'%s' is a reserved word and cannot name a %s", name, what);
        return false;
    }
    if (name_taken(L, name)) {
        diag(L, MIAOPI__D_DUPLICATE_NAME, attr_offset(L, n, "name"),
             "'%s' already names a source, constant or table", name);
        return false;
    }
    return true;
}

/* A constant expression of the declared type (integers widen to decimal). */
static bool constant_value(loader *L, xmlNodePtr n, const mp_type *want,
                           mp_value *out)
{
    char *text = content(L, n);
    if (!text)
        return nomem(L);
    mp_node *e = compile_text(L, n, text);
    if (!e)
        return false;
    if (!mp_node_is_constant(e)) {
        diag(L, MIAOPI__D_NOT_CONSTANT, map_offset(L, n, (size_t)e->pos),
             "a constant value is required here, not an expression that "
             "reads the case");
        return false;
    }
    *out = e->lit;
    if (want->kind == MP_T_DEC && e->type.kind == MP_T_INT) {
        out->u.d = miaopi__dec_from_int(out->u.i);
        out->kind = MP_T_DEC;
        return true;
    }
    bool ok = mp_type_eq(want, &e->type) ||
              (want->kind == MP_T_LIST && e->type.kind == MP_T_LIST &&
               mp_type_numeric(want->elem) &&
               e->type.elem->kind == MP_T_INT && want->elem->kind == MP_T_DEC);
    if (!ok) {
        miaopi__buf a, b;
        miaopi__buf_init_al(&a, L->rs->al);
        miaopi__buf_init_al(&b, L->rs->al);
        mp_type_name(want, &a);
        mp_type_name(&e->type, &b);
        diag(L, MIAOPI__D_TYPE, map_offset(L, n, (size_t)e->pos),
             "the value should be %s but is %s", miaopi__buf_cstr(&a),
             miaopi__buf_cstr(&b));
        miaopi__buf_free(&a);
        miaopi__buf_free(&b);
        return false;
    }
    if (want->kind == MP_T_LIST && want->elem->kind == MP_T_DEC &&
        e->type.elem->kind == MP_T_INT) {
        mp_value *items = (mp_value *)out->u.list.items;
        for (size_t i = 0; i < out->u.list.n; i++) {
            items[i].u.d = miaopi__dec_from_int(items[i].u.i);
            items[i].kind = MP_T_DEC;
        }
    }
    return true;
}

static bool load_constants(loader *L, xmlNodePtr root)
{
    xmlNodePtr sec = first_el(root, "constants");
    size_t n = 0;
    FOR_EACH(k, sec, "constant")
        n++;
    L->rs->constants = miaopi__arena_alloc(&L->rs->pool,
                                           (n ? n : 1) * sizeof(mp_constant));
    if (!L->rs->constants)
        return nomem(L);
    bool ok = true;
    FOR_EACH(k, sec, "constant") {
        mp_constant c;
        memset(&c, 0, sizeof(c));
        c.name = attr(L, k, "name");
        c.line = k->line;
        if (!c.name)
            return nomem(L);
        if (!check_name(L, k, c.name, "constant") || !load_type(L, k, &c.type) ||
            !constant_value(L, k, &c.type, &c.value)) {
            ok = false;
            continue;
        }
        /* Constants become visible in declaration order, so a later one
         * can use an earlier one. */
        L->rs->constants[L->rs->nconstants++] = c;
    }
    return ok;
}

static bool parse_key(loader *L, xmlNodePtr row, const mp_type *t,
                      const char *text, mp_value *out)
{
    memset(out, 0, sizeof(*out));
    out->kind = t->kind;
    switch (t->kind) {
    case MP_T_STRING:
        out->u.s.p = text;
        out->u.s.len = strlen(text);
        return true;
    case MP_T_INT: {
        miaopi__dec d;
        if (miaopi__dec_parse(text, strlen(text), &d) &&
            miaopi__dec_to_int(d, &out->u.i))
            return true;
        break;
    }
    case MP_T_DATE:
        if (miaopi__date_parse(text, strlen(text), &out->u.date))
            return true;
        break;
    default:
        diag(L, MIAOPI__D_BAD_ATTRIBUTE, attr_offset(L, row->parent, "key"),
             "table keys must be string, integer or date");
        return false;
    }
    diag(L, MIAOPI__D_BAD_CONSTANT, attr_offset(L, row, "key"),
         "key '%s' is not a valid value of the table's key type", text);
    return false;
}

static bool index_table(loader *L, mp_table *t)
{
    size_t cap = 8;
    while (cap < t->nrows * 2)
        cap *= 2;
    t->index = miaopi__arena_alloc(&L->rs->pool, cap * sizeof(uint32_t));
    if (!t->index)
        return nomem(L);
    memset(t->index, 0, cap * sizeof(uint32_t));
    t->index_cap = cap;
    for (size_t r = 0; r < t->nrows; r++) {
        size_t i = t->rows[r].hash & (cap - 1);
        while (t->index[i])
            i = (i + 1) & (cap - 1);
        t->index[i] = (uint32_t)(r + 1);
    }
    return true;
}

static bool load_table(loader *L, xmlNodePtr tn, mp_table *t)
{
    memset(t, 0, sizeof(*t));
    t->name = attr(L, tn, "name");
    t->line = tn->line;
    char *kt = attr(L, tn, "key"), *vt = attr(L, tn, "value");
    if (!t->name || !kt || !vt)
        return nomem(L);
    if (!check_name(L, tn, t->name, "table"))
        return false;
    if (!scalar_kind(kt, &t->key_type.kind) ||
        !scalar_kind(vt, &t->value_type.kind)) {
        diag(L, MIAOPI__D_BAD_ATTRIBUTE, node_start(tn),
             "table key and value types must be scalar types");
        return false;
    }
    size_t n = 0;
    FOR_EACH(r, tn, "row")
        n++;
    t->rows = miaopi__arena_alloc(&L->rs->pool, (n ? n : 1) * sizeof(*t->rows));
    if (!t->rows)
        return nomem(L);
    bool ok = true;
    FOR_EACH(r, tn, "row") {
        mp_table_row *row = &t->rows[t->nrows];
        char *key = attr(L, r, "key");
        if (!key)
            return nomem(L);
        if (!parse_key(L, r, &t->key_type, key, &row->key) ||
            !constant_value(L, r, &t->value_type, &row->value)) {
            ok = false;
            continue;
        }
        row->hash = mp_value_hash(&row->key);
        for (size_t i = 0; i < t->nrows; i++)
            if (t->rows[i].hash == row->hash &&
                mp_value_eq(&t->rows[i].key, &row->key)) {
                diag(L, MIAOPI__D_DUPLICATE_KEY, attr_offset(L, r, "key"),
                     "table '%s' has two rows with key '%s'", t->name, key);
                ok = false;
            }
        t->nrows++;
    }
    return ok && index_table(L, t);
}

static bool load_tables(loader *L, xmlNodePtr root)
{
    xmlNodePtr sec = first_el(root, "tables");
    size_t n = 0;
    FOR_EACH(t, sec, "table")
        n++;
    L->rs->tables = miaopi__arena_alloc(&L->rs->pool,
                                        (n ? n : 1) * sizeof(mp_table));
    if (!L->rs->tables)
        return nomem(L);
    bool ok = true;
    FOR_EACH(t, sec, "table") {
        mp_table tab;
        if (!load_table(L, t, &tab)) {
            ok = false;
            continue;
        }
        L->rs->tables[L->rs->ntables++] = tab;
    }
    return ok;
}

/* ---- message templates ---- */

static miaopi__pii template_pii(const mp_node *n)
{
    if (n->op == MP_OP_PATH || n->op == MP_OP_FIELD)
        return n->field->pii;
    if (n->type.kind != MP_T_STRING)
        return MIAOPI__PII_NONE; /* ages, dates, counts: derived facts */
    for (int i = 0; i < n->nargs; i++) {
        miaopi__pii p = template_pii(n->args[i]);
        if (p != MIAOPI__PII_NONE)
            return p;
    }
    return MIAOPI__PII_NONE;
}

typedef struct template_builder {
    mp_template_part parts[128];
    size_t n;
} template_builder;

static bool add_part(loader *L, xmlNodePtr m, template_builder *b,
                     const char *text, size_t len, mp_node *e)
{
    if (b->n == sizeof(b->parts) / sizeof(b->parts[0])) {
        diag(L, MIAOPI__D_TEMPLATE, node_start(m),
             "a message may have at most 128 parts; split it");
        return false;
    }
    b->parts[b->n].text = NULL;
    if (text) {
        b->parts[b->n].text = miaopi__arena_strndup(&L->rs->pool, text, len);
        if (!b->parts[b->n].text)
            return nomem(L);
        b->parts[b->n].len = len;
    }
    b->parts[b->n].expr = e;
    b->parts[b->n].pii = e ? template_pii(e) : MIAOPI__PII_NONE;
    b->n++;
    return true;
}

/* Literal pieces keep their spacing, except that a line break and its
 * indentation are folded as in tidy_text. */
static bool load_template(loader *L, xmlNodePtr m, mp_template *out)
{
    char *raw = content(L, m);
    if (!raw)
        return nomem(L);
    template_builder b;
    b.n = 0;
    size_t len = strlen(raw);
    miaopi__buf lit;
    miaopi__buf_init_al(&lit, L->rs->al);
    bool ok = true;
    L->expr_node = m;
    for (size_t i = 0; i < len && ok;) {
        if (raw[i] == '{' && i + 1 < len && raw[i + 1] == '{') {
            miaopi__buf_addc(&lit, '{');
            i += 2;
        } else if (raw[i] == '}' && i + 1 < len && raw[i + 1] == '}') {
            miaopi__buf_addc(&lit, '}');
            i += 2;
        } else if (raw[i] == '}') {
            diag(L, MIAOPI__D_TEMPLATE, map_offset(L, m, i),
                 "a lone '}' in a message; write '}}' for a brace");
            ok = false;
        } else if (raw[i] == '{') {
            if (lit.len)
                ok = add_part(L, m, &b, lit.data, lit.len, NULL);
            lit.len = 0;
            size_t pos = i + 1;
            mp_node *e = mp_compile_placeholder(&L->comp, raw, len, &pos);
            if (!e || !ok) {
                ok = false;
                break;
            }
            ok = add_part(L, m, &b, NULL, 0, e);
            i = pos;
        } else {
            miaopi__buf_addc(&lit, raw[i++]);
        }
    }
    if (ok && lit.len)
        ok = add_part(L, m, &b, lit.data, lit.len, NULL);
    if (lit.failed)
        ok = nomem(L);
    miaopi__buf_free(&lit);
    if (!ok)
        return false;
    /* Fold line breaks in the literal pieces; trim the message's ends. */
    for (size_t k = 0; k < b.n; k++) {
        mp_template_part *p = &b.parts[k];
        if (!p->text)
            continue;
        const char *s = p->text;
        size_t n = p->len;
        bool first = k == 0, last = k == b.n - 1;
        char *t = tidy_text(L, s, n);
        if (!t)
            return nomem(L);
        /* tidy_text trimmed both ends; restore inner edge spaces that
         * separate ASCII words from placeholders. */
        miaopi__buf e;
        miaopi__buf_init_al(&e, L->rs->al);
        if (!first && n && (s[0] == ' ' || s[0] == '\t'))
            miaopi__buf_addc(&e, ' ');
        miaopi__buf_adds(&e, t);
        if (!last && n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
            miaopi__buf_addc(&e, ' ');
        p->text = e.failed ? NULL
                           : miaopi__arena_strndup(&L->rs->pool,
                                                   miaopi__buf_cstr(&e),
                                                   e.len);
        p->len = e.len;
        miaopi__buf_free(&e);
        if (!p->text)
            return nomem(L);
    }
    out->parts = miaopi__arena_alloc(&L->rs->pool,
                                     (b.n ? b.n : 1) * sizeof(*out->parts));
    if (!out->parts)
        return nomem(L);
    memcpy(out->parts, b.parts, b.n * sizeof(*out->parts));
    out->nparts = b.n;
    out->present = true;
    return true;
}

/* ---- rules ---- */

static int outcome_attr(const char *v, int dflt)
{
    if (!v)
        return dflt;
    return strcmp(v, "reject") == 0 ? MIAOPI_REJECT : MIAOPI_ESCALATE;
}

/* A constant <when> or <require> is almost always a mistake: a rule
 * that can never fail proves nothing, one that never applies is dead. */
static void warn_constant(loader *L, const mp_rule *r, xmlNodePtr w,
                          xmlNodePtr q)
{
    if (r->when && mp_node_is_constant(r->when)) {
        bool v = r->when->lit.u.b;
        diag(L, MIAOPI__D_CONSTANT_CONDITION,
             map_offset(L, w, (size_t)r->when->start),
             v ? "rule '%s': <when> is always true; leave it out"
               : "rule '%s' never applies: its <when> is always false",
             r->id);
        if (!v)
            return;
    }
    if (r->require && mp_node_is_constant(r->require))
        diag(L, MIAOPI__D_CONSTANT_CONDITION,
             map_offset(L, q, (size_t)r->require->start),
             r->require->lit.u.b
                 ? "rule '%s' can never fail: its <require> is always true"
                 : "rule '%s' always fails: its <require> is always false",
             r->id);
}

static bool load_rule(loader *L, xmlNodePtr rn, mp_rule *r)
{
    memset(r, 0, sizeof(*r));
    r->id = attr(L, rn, "id");
    r->code = attr(L, rn, "code");
    /* libxml2 gives the line where the start tag ends; an author looks
     * for the line where it begins. */
    int col;
    offset_to_pos(L, node_start(rn), &r->line, &col);
    if (r->line == 0)
        r->line = rn->line;
    if (!r->id || !r->code)
        return nomem(L);
    r->on_fail = outcome_attr(attr(L, rn, "on-fail"), MIAOPI_ESCALATE);
    r->on_unknown = outcome_attr(attr(L, rn, "on-unknown"), MIAOPI_ESCALATE);
    if (!texts(L, rn, "title", r->title) || !texts(L, rn, "basis", r->basis))
        return false;
    warn_missing_lang(L, rn, r->title, "the rule's title");
    bool ok = true;
    xmlNodePtr w = first_el(rn, "when");
    if (w && !(r->when = compile_condition(L, w, "when", &r->when_text)))
        ok = false;
    xmlNodePtr q = first_el(rn, "require");
    if (q && !(r->require = compile_condition(L, q, "require",
                                              &r->require_text)))
        ok = false;
    if (ok)
        warn_constant(L, r, w, q);
    FOR_EACH(m, rn, "message") {
        mp_lang l = node_lang(L, m);
        if (!load_template(L, m, &r->message[l]))
            ok = false;
    }
    if (ok && r->message[MP_LANG_ZH].present != r->message[MP_LANG_EN].present)
        diag(L, MIAOPI__D_MISSING_LANG, node_start(rn),
             "rule '%s' has no %s message; readers of that language will "
             "see the other one",
             r->id, r->message[MP_LANG_ZH].present ? "en" : "zh-CN");
    return ok && r->require;
}

/* ---- government data: source keys, prefill= and verify= ---- */

/* "application.F" or "context.F" naming a declared scalar field. */
static const mp_field *resolve_app_path(loader *L, const char *path)
{
    const char *dot = strchr(path, '.');
    if (!dot)
        return NULL;
    size_t rl = (size_t)(dot - path);
    const mp_schema *s = rl == 11 && memcmp(path, "application", 11) == 0
                             ? &L->rs->application
                         : rl == 7 && memcmp(path, "context", 7) == 0
                             ? &L->rs->context
                             : NULL;
    const mp_field *f = s ? mp_schema_find(s, dot + 1, strlen(dot + 1))
                          : NULL;
    return f && f->type.kind != MP_T_LIST ? f : NULL;
}

/* key="application.id_number": compiled to a path expression. */
static bool load_source_keys(loader *L, xmlNodePtr root)
{
    bool ok = true;
    size_t i = 0;
    FOR_EACH(s, first_el(root, "sources"), "source") {
        mp_source *src = &L->rs->sources[i++];
        if (!src->key_text)
            continue;
        if (!resolve_app_path(L, src->key_text)) {
            diag(L, MIAOPI__D_UNKNOWN_PATH, attr_offset(L, s, "key"),
                 "key=\"%s\" must name a declared scalar application or "
                 "context field, e.g. application.id_number",
                 src->key_text);
            ok = false;
            continue;
        }
        src->key = compile_text(L, s, src->key_text);
        ok = src->key != NULL && ok;
    }
    return ok;
}

/* "SOURCE.FIELD" naming a declared scalar source field. */
static bool resolve_source_path(loader *L, const char *path,
                                const mp_source **src, const mp_field **f)
{
    const char *dot = strchr(path, '.');
    if (!dot)
        return false;
    for (size_t i = 0; i < L->rs->nsources; i++) {
        const mp_source *s = &L->rs->sources[i];
        if (strlen(s->name) == (size_t)(dot - path) &&
            memcmp(s->name, path, (size_t)(dot - path)) == 0) {
            *src = s;
            *f = mp_schema_find(&s->schema, dot + 1, strlen(dot + 1));
            return *f && (*f)->type.kind != MP_T_LIST;
        }
    }
    return false;
}

static mp_verify_kind verify_kind(const mp_field *f, const char *as)
{
    if (as)
        return strcmp(as, "name") == 0        ? MP_VERIFY_NAME
               : strcmp(as, "id-number") == 0 ? MP_VERIFY_ID
               : strcmp(as, "date") == 0      ? MP_VERIFY_DATE
                                              : MP_VERIFY_EXACT;
    if (f->pii == MIAOPI__PII_NAME)
        return MP_VERIFY_NAME;
    if (f->pii == MIAOPI__PII_ID_NUMBER)
        return MP_VERIFY_ID;
    return f->type.kind == MP_T_DATE ? MP_VERIFY_DATE : MP_VERIFY_EXACT;
}

static bool add_binding(loader *L, xmlNodePtr fn, const mp_field *field,
                        const char *what, mp_binding *b)
{
    char *path = attr(L, fn, what);
    if (!path)
        return true;
    memset(b, 0, sizeof(*b));
    b->field = field;
    b->prefill = strcmp(what, "prefill") == 0;
    if (!resolve_source_path(L, path, &b->src, &b->src_field)) {
        diag(L, MIAOPI__D_UNKNOWN_PATH, attr_offset(L, fn, what),
             "%s=\"%s\" must name a declared scalar source field, e.g. "
             "hukou.name",
             what, path);
        return false;
    }
    if (!mp_type_eq(&field->type, &b->src_field->type)) {
        diag(L, MIAOPI__D_TYPE, attr_offset(L, fn, what),
             "%s=\"%s\": application.%s and the source field must have the "
             "same type",
             what, path, field->name);
        return false;
    }
    b->kind = verify_kind(field, b->prefill ? NULL
                                            : attr(L, fn, "verify-as"));
    if (b->kind == MP_VERIFY_DATE && field->type.kind != MP_T_DATE) {
        diag(L, MIAOPI__D_TYPE, attr_offset(L, fn, "verify-as"),
             "verify-as=\"date\" needs fields of type date");
        return false;
    }
    if ((b->kind == MP_VERIFY_NAME || b->kind == MP_VERIFY_ID) &&
        field->type.kind != MP_T_STRING) {
        diag(L, MIAOPI__D_TYPE, attr_offset(L, fn, "verify-as"),
             "verify-as=\"name\" and \"id-number\" need string fields");
        return false;
    }
    L->rs->nbindings++;
    return true;
}

static bool load_bindings(loader *L, xmlNodePtr app)
{
    size_t n = 0;
    FOR_EACH(f, app, "field")
        n += 2;
    L->rs->bindings = miaopi__arena_alloc(&L->rs->pool,
                                          (n ? n : 1) * sizeof(mp_binding));
    if (!L->rs->bindings)
        return nomem(L);
    bool ok = true;
    size_t i = 0;
    FOR_EACH(f, app, "field") {
        const mp_field *field = &L->rs->application.fields[i++];
        ok = add_binding(L, f, field, "prefill",
                         &L->rs->bindings[L->rs->nbindings]) && ok;
        ok = add_binding(L, f, field, "verify",
                         &L->rs->bindings[L->rs->nbindings]) && ok;
    }
    return ok;
}

static xmlNodePtr field_node(xmlNodePtr app, const char *name)
{
    FOR_EACH(f, app, "field") {
        xmlChar *v = xmlGetNoNsProp(f, (const xmlChar *)"name");
        bool eq = v && strcmp((const char *)v, name) == 0;
        xmlFree(v);
        if (eq)
            return f;
    }
    return NULL;
}

static char *pool_printf(loader *L, const char *fmt, ...) MP_PRINTF(2, 3);

static char *pool_printf(loader *L, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    return miaopi__arena_strndup(&L->rs->pool, buf, strlen(buf));
}

/* A generated message: LEAD {application.F} MID {S.G} TAIL. */
static bool verify_message(loader *L, mp_template *t, const char *lead,
                           mp_node *app, const char *mid, mp_node *src,
                           const char *tail)
{
    t->parts = miaopi__arena_alloc(&L->rs->pool, 5 * sizeof(*t->parts));
    if (!t->parts)
        return nomem(L);
    const char *texts[3] = {lead, mid, tail};
    mp_node *exprs[2] = {app, src};
    for (size_t i = 0; i < 5; i++) {
        mp_template_part *p = &t->parts[i];
        memset(p, 0, sizeof(*p));
        if (i % 2 == 0) {
            p->text = texts[i / 2];
            p->len = strlen(p->text);
        } else {
            p->expr = exprs[i / 2];
            p->pii = template_pii(p->expr);
        }
    }
    t->nparts = 5;
    t->present = true;
    return true;
}

/* One generated rule per verify= declaration: the submitted value must
 * equal the authoritative one after normalisation for its kind. A
 * mismatch fails with a message naming the field and the source; an
 * unavailable source makes the rule UNKNOWN like any other. */
static bool verify_rule(loader *L, xmlNodePtr fn, const mp_binding *b,
                        mp_rule *r)
{
    const char *f = b->field->name, *sn = b->src->name;
    const char *sf = b->src_field->name;
    const char *label = b->field->title ? b->field->title : f;
    const char *slabel = b->src->title ? b->src->title : sn;
    memset(r, 0, sizeof(*r));
    r->id = pool_printf(L, "verify.%s", f);
    r->code = pool_printf(L, "VERIFY_%s", f);
    for (char *c = r->code; c && *c; c++)
        if (*c >= 'a' && *c <= 'z')
            *c = (char)(*c - 'a' + 'A');
    r->line = fn->line;
    char *on = attr(L, fn, "on-mismatch");
    r->on_fail = on && strcmp(on, "reject") == 0 ? MIAOPI_REJECT
                                                 : MIAOPI_ESCALATE;
    r->on_unknown = MIAOPI_ESCALATE;
    r->title[MP_LANG_ZH] = pool_printf(L, "“%s”与%s核验一致", label, slabel);
    r->title[MP_LANG_EN] = pool_printf(L, "%s matches %s.%s", f, sn, sf);
    char *basis = attr(L, fn, "verify-basis");
    r->basis[MP_LANG_EN] =
        basis ? NULL
              : pool_printf(L, "Declared values must match the shared "
                               "government record (verify declaration "
                               "application.%s = %s.%s)",
                            f, sn, sf);
    r->basis[MP_LANG_ZH] =
        basis ? basis
              : pool_printf(L, "申报信息应与部门共享信息核验一致"
                               "（规则集核验声明 application.%s = %s.%s）",
                            f, sn, sf);
    L->expr_node = fn;
    char *text = b->kind == MP_VERIFY_NAME
                     ? pool_printf(L, "name_eq(application.%s, %s.%s)", f,
                                   sn, sf)
                 : b->kind == MP_VERIFY_ID
                     ? pool_printf(L, "id_eq(application.%s, %s.%s)", f, sn,
                                   sf)
                     : pool_printf(L, "application.%s == %s.%s", f, sn, sf);
    char *when = pool_printf(L, "present(application.%s)", f);
    char *ap = pool_printf(L, "application.%s", f);
    char *sp = pool_printf(L, "%s.%s", sn, sf);
    if (!r->id || !r->code || !r->title[0] || !r->title[1] ||
        !r->basis[0] || !text || !when || !ap || !sp)
        return nomem(L);
    r->require = mp_compile(&L->comp, text, strlen(text));
    r->when = mp_compile(&L->comp, when, strlen(when));
    /* The generated texts, for traces (which read sub-expressions out of
     * them; without them tracing a verify rule dereferenced NULL). */
    r->require_text = text;
    r->when_text = when;
    mp_node *an = mp_compile(&L->comp, ap, strlen(ap));
    mp_node *sn2 = mp_compile(&L->comp, sp, strlen(sp));
    if (!r->require || !r->when || !an || !sn2)
        return false;
    const char *act = r->on_fail == MIAOPI_REJECT ? "不予批准" : "转人工核验";
    const char *act_en = r->on_fail == MIAOPI_REJECT
                             ? "the application is not approved"
                             : "referred for manual review";
    char *zh1 = pool_printf(L, "申报的“%s”（", label);
    char *zh2 = pool_printf(L, "）与%s登记的信息（", slabel);
    char *zh3 = pool_printf(L, "）不一致，%s。", act);
    char *en1 = pool_printf(L, "The declared %s (", f);
    char *en2 = pool_printf(L, ") does not match %s.%s (", sn, sf);
    char *en3 = pool_printf(L, "); %s.", act_en);
    if (!zh1 || !zh2 || !zh3 || !en1 || !en2 || !en3)
        return nomem(L);
    return verify_message(L, &r->message[MP_LANG_ZH], zh1, an, zh2, sn2,
                          zh3) &&
           verify_message(L, &r->message[MP_LANG_EN], en1, an, en2, sn2, en3);
}

static bool verify_rules(loader *L, xmlNodePtr app)
{
    bool ok = true;
    for (size_t i = 0; i < L->rs->nbindings; i++) {
        const mp_binding *b = &L->rs->bindings[i];
        if (b->prefill)
            continue;
        xmlNodePtr fn = field_node(app, b->field->name);
        mp_rule *r = &L->rs->rules[L->rs->nrules];
        if (!fn || !verify_rule(L, fn, b, r)) {
            ok = false;
            continue;
        }
        for (size_t k = 0; k < L->rs->nrules; k++)
            if (strcmp(L->rs->rules[k].id, r->id) == 0) {
                diag(L, MIAOPI__D_DUPLICATE_RULE, attr_offset(L, fn, "verify"),
                     "the verify declaration generates rule id '%s', which "
                     "the rule on line %d already uses",
                     r->id, L->rs->rules[k].line);
                ok = false;
            }
        L->rs->nrules++;
    }
    return ok;
}

static bool load_rules(loader *L, xmlNodePtr root)
{
    xmlNodePtr sec = first_el(root, "rules");
    size_t n = 0;
    FOR_EACH(r, sec, "rule")
        n++;
    for (size_t i = 0; i < L->rs->nbindings; i++)
        n += !L->rs->bindings[i].prefill;
    L->rs->rules = miaopi__arena_alloc(&L->rs->pool,
                                       (n ? n : 1) * sizeof(mp_rule));
    if (!L->rs->rules)
        return nomem(L);
    bool ok = true;
    FOR_EACH(rn, sec, "rule") {
        mp_rule *r = &L->rs->rules[L->rs->nrules];
        if (!load_rule(L, rn, r)) {
            ok = false;
            continue;
        }
        for (size_t i = 0; i < L->rs->nrules; i++)
            if (strcmp(L->rs->rules[i].id, r->id) == 0) {
                diag(L, MIAOPI__D_DUPLICATE_RULE, attr_offset(L, rn, "id"),
                     "rule id '%s' is already used on line %d", r->id,
                     L->rs->rules[i].line);
                ok = false;
            }
        for (size_t i = 0; i < L->rs->nrules; i++)
            if (strcmp(L->rs->rules[i].code, r->code) == 0) {
                diag(L, MIAOPI__D_DUPLICATE_CODE,
                     attr_value_offset(L, rn, "code"),
                     "reason code '%s' is also reported by rule '%s' "
                     "(line %d); a reader cannot tell the two apart",
                     r->code, L->rs->rules[i].id, L->rs->rules[i].line);
                break;
            }
        L->rs->nrules++;
    }
    L->rs->nuser_rules = L->rs->nrules;
    return ok && verify_rules(L, first_el(root, "application"));
}

/* ---- the ruleset element ---- */

static bool load_date_attr(loader *L, xmlNodePtr n, const char *name,
                           char out[11], int32_t *day)
{
    char *v = attr(L, n, name);
    if (!v)
        return true;
    if (!miaopi__date_parse(v, strlen(v), day)) {
        diag(L, MIAOPI__D_BAD_DATE, attr_offset(L, n, name),
             "%s=\"%s\" is not a valid calendar date (YYYY-MM-DD)", name, v);
        return false;
    }
    memcpy(out, v, 10);
    out[10] = '\0';
    return true;
}

/* max-age="24h": digits and one unit, s, m, h or d. */
static bool source_attrs(loader *L, xmlNodePtr s, mp_source *src)
{
    src->key_text = attr(L, s, "key");
    char *ma = attr(L, s, "max-age");
    if (!ma)
        return true;
    size_t n = strlen(ma);
    int64_t v = 0, unit = 0;
    for (size_t i = 0; i + 1 < n && v < 100000000; i++)
        v = (ma[i] >= '0' && ma[i] <= '9') ? v * 10 + (ma[i] - '0') : -1;
    switch (n > 1 ? ma[n - 1] : 0) {
    case 's': unit = 1; break;
    case 'm': unit = 60; break;
    case 'h': unit = 3600; break;
    case 'd': unit = 86400; break;
    default: break;
    }
    if (v <= 0 || v >= 100000000 || !unit) {
        diag(L, MIAOPI__D_BAD_ATTRIBUTE, attr_offset(L, s, "max-age"),
             "max-age=\"%s\" must be a positive number followed by s, m, h "
             "or d (e.g. 24h)",
             ma);
        return false;
    }
    src->max_age_s = v * unit;
    L->rs->any_max_age = true;
    return true;
}

static bool load_sources(loader *L, xmlNodePtr root)
{
    xmlNodePtr sec = first_el(root, "sources");
    size_t n = 0;
    FOR_EACH(s, sec, "source")
        n++;
    L->rs->sources = miaopi__arena_alloc(&L->rs->pool,
                                         (n ? n : 1) * sizeof(mp_source));
    if (!L->rs->sources)
        return nomem(L);
    bool ok = true;
    FOR_EACH(s, sec, "source") {
        mp_source src;
        memset(&src, 0, sizeof(src));
        src.name = attr(L, s, "name");
        src.name_len = src.name ? strlen(src.name) : 0;
        src.line = s->line;
        if (!src.name)
            return nomem(L);
        xmlNodePtr t = first_el(s, "title");
        src.title = t ? content(L, t) : NULL;
        if (!check_name(L, s, src.name, "source") ||
            !load_schema(L, s, &src.schema, true, 0)) {
            ok = false;
            continue;
        }
        if (!source_attrs(L, s, &src)) {
            ok = false;
            continue;
        }
        src.index = (int)L->rs->nsources;
        L->rs->sources[L->rs->nsources++] = src;
    }
    return ok;
}

static bool load_context(loader *L, xmlNodePtr root)
{
    xmlNodePtr sec = first_el(root, "context");
    miaopi_ruleset *rs = L->rs;
    bool ok = load_schema(L, sec, &rs->context, true, 1);
    mp_field *dd = &rs->context.fields[0];
    dd->name = miaopi__arena_strndup(&rs->pool, "decision_date", 13);
    if (!dd->name)
        return nomem(L);
    dd->name_len = 13;
    dd->type.kind = MP_T_DATE;
    dd->required = true;
    dd->slot = rs->nslots++;
    for (size_t i = 1; i < rs->context.nfields; i++)
        if (strcmp(rs->context.fields[i].name, "decision_date") == 0) {
            diag(L, MIAOPI__D_RESERVED_NAME, -1,
                 "context.decision_date is built in; do not declare it");
            ok = false;
        }
    return ok;
}

static void warn_unused_in(loader *L, const mp_schema *s, size_t first,
                           const char *where)
{
    for (size_t i = first; i < s->nfields; i++) {
        const mp_field *f = &s->fields[i];
        if (f->slot >= 0 && !L->comp.used_slots[f->slot])
            diag(L, MIAOPI__D_UNUSED_FIELD, f->offset,
                 "%s field '%s' is declared but no rule or message uses it",
                 where, f->name);
    }
}

/* Declared fields no expression reads: usually a typo on one side, or a
 * rule that was meant to check the field and does not. */
static void warn_unused(loader *L)
{
    const miaopi_ruleset *rs = L->rs;
    char where[300];
    warn_unused_in(L, &rs->application, 0, "application");
    warn_unused_in(L, &rs->context, 1, "context");
    for (size_t i = 0; i < rs->nsources; i++) {
        snprintf(where, sizeof(where), "source '%s'", rs->sources[i].name);
        warn_unused_in(L, &rs->sources[i].schema, 0, where);
    }
}

static bool load_root(loader *L, xmlNodePtr root)
{
    miaopi_ruleset *rs = L->rs;
    rs->id = attr(L, root, "id");
    rs->version = attr(L, root, "version");
    if (!rs->id || !rs->version)
        return nomem(L);
    char *sel = attr(L, root, "select-by");
    rs->select_by_filing = sel && strcmp(sel, "filing-date") == 0;
    char *lang = attr(L, root, "default-lang");
    rs->default_lang = lang && strcmp(lang, "en") == 0 ? MP_LANG_EN
                                                        : MP_LANG_ZH;
    bool ok = load_date_attr(L, root, "effective-from", rs->effective_from,
                             &rs->from_day);
    rs->until_day = INT32_MAX;
    ok = load_date_attr(L, root, "effective-until", rs->effective_until,
                        &rs->until_day) && ok;
    if (ok && rs->until_day <= rs->from_day) {
        diag(L, MIAOPI__D_DATE_RANGE, attr_offset(L, root, "effective-until"),
             "effective-until (%s) must be after effective-from (%s)",
             rs->effective_until, rs->effective_from);
        ok = false;
    }
    if (!texts(L, root, "title", rs->title))
        return false;
    char *auth[MP_LANG_COUNT] = {NULL, NULL};
    if (!texts(L, root, "authority", auth))
        return false;
    rs->authority = auth[rs->default_lang] ? auth[rs->default_lang]
                    : auth[MP_LANG_ZH]     ? auth[MP_LANG_ZH]
                                           : auth[MP_LANG_EN];
    /* Declarations first: expressions resolve against them. */
    ok = load_schema(L, first_el(root, "application"), &rs->application, true,
                     0) && ok;
    ok = load_sources(L, root) && ok;
    ok = load_context(L, root) && ok;
    if (!ok)
        return false;
    /* Name indexes of the top-level schemas, for binding case objects. */
    /* Not the context's built-in decision_date, which the evaluation
     * reads once when it starts. */
    if (!mp_schema_index(&rs->pool, &rs->application, 0) ||
        !mp_schema_index(&rs->pool, &rs->context, 1))
        return nomem(L);
    for (size_t i = 0; i < rs->nsources; i++)
        if (!mp_schema_index(&rs->pool, &rs->sources[i].schema, 0))
            return nomem(L);
    L->comp.used_slots = miaopi__calloc(rs->al, (size_t)rs->nslots + 1, 1);
    if (!L->comp.used_slots)
        return nomem(L);
    ok = load_source_keys(L, root);
    ok = load_bindings(L, first_el(root, "application")) && ok;
    ok = load_constants(L, root) && ok;
    ok = load_tables(L, root) && ok;
    if (!ok)
        return false;
    if (!load_rules(L, root))
        return false;
    warn_unused(L);
    return true;
}

/* ---- parsing and validation ---- */

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_init(void)
{
    xmlInitParser();
    /* The XSD and RelaxNG datatype libraries set themselves up lazily,
     * without a lock, inside the first xmlRelaxNGParse: two threads
     * loading at once would both build (and one leak) the global type
     * tables. Build them here, once. */
    xmlSchemaInitTypes();
    xmlRelaxNGInitTypes();
}

/* libxml2's read callback: the next piece of the file. */
static int feed(void *ctx, char *buf, int len)
{
    loader *L = ctx;
    size_t n = L->len - L->fed;
    if (len < 0)
        return -1;
    if (n > (size_t)len)
        n = (size_t)len;
    memcpy(buf, L->data + L->fed, n);
    L->fed += n;
    return (int)n;
}

static xmlDocPtr parse(loader *L)
{
    xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
    if (!ctxt)
        return (void)nomem(L), NULL;
    L->ctxt = ctxt;
    ctxt->_private = L;
    L->sax_start = ctxt->sax->startElementNs;
    ctxt->sax->startElementNs = sax_start_element;
    ctxt->sax->internalSubset = sax_internal_subset;
    ctxt->sax->externalSubset = sax_internal_subset;
    ctxt->sax->entityDecl = sax_entity_decl;
    ctxt->sax->serror = xml_parse_error;
    ctxt->sax->error = NULL;
    ctxt->sax->warning = NULL;
    /* No XML_PARSE_NOENT (no entity substitution), no DTD loading, no
     * network; CDATA merged into text so expressions may use it. */
    int options = XML_PARSE_NONET | XML_PARSE_NOCDATA | XML_PARSE_BIG_LINES |
                  XML_PARSE_NOWARNING;
    xmlCtxtUseOptions(ctxt, options);
    /* xmlCtxtReadIO resets the context; our hooks live in ctxt->sax and
     * ctxt->_private, which it keeps. The bytes are fed through a read
     * callback rather than xmlCtxtReadMemory, whose up-front copy leaks
     * when an allocation fails in it (libxml2 2.9.14). */
    L->fed = 0;
    xmlDocPtr doc = xmlCtxtReadIO(ctxt, feed, NULL, L, L->file, "UTF-8",
                                  options);
    ctxt->_private = L;
    if (L->dtd_seen) {
        const char *p = strstr(L->data, "<!DOCTYPE");
        diag(L, MIAOPI__D_XML_DTD, p ? (long)(p - L->data) : L->dtd_offset,
             "rule files may not contain a DTD (<!DOCTYPE>) or entity "
             "declarations");
        xmlFreeDoc(doc);
        return NULL;
    }
    if (ctxt->errNo == XML_ERR_NO_MEMORY)
        L->oom = true;
    if (!doc || !ctxt->wellFormed) {
        if (L->nerrors == 0 && !L->oom)
            diag(L, MIAOPI__D_XML_MALFORMED, -1, "the file is not well-formed "
                                                 "XML");
        xmlFreeDoc(doc);
        return NULL;
    }
    return doc;
}

/* The values rule authors most often mistype. libxml2's RelaxNG messages
 * say only "failed to validate attributes"; checking these first lets the
 * error name the attribute, point at it and list what is allowed. */
typedef struct attr_rule {
    const char *element; /* NULL: any element */
    const char *attr;
    const char *allowed; /* space-separated, surrounded by spaces */
} attr_rule;

static const attr_rule attr_rules[] = {
    {"rule", "on-fail", " reject escalate "},
    {"rule", "on-unknown", " escalate reject "},
    {"field", "required", " true false "},
    {"field", "pii", " none id-number name phone address email secret "},
    {"field", "type", " string integer decimal boolean date list "},
    {"constant", "type", " string integer decimal boolean date list "},
    {"ruleset", "default-lang", " zh-CN en "},
};

/* Is v one of the space-separated words of allowed (which starts and
 * ends with a space)? An empty value is never allowed: strstr would find
 * it at the very start. */
static bool allowed_value(const char *allowed, const char *v)
{
    size_t n = strlen(v);
    if (n == 0)
        return false;
    for (const char *p = strstr(allowed, v); p; p = strstr(p + 1, v))
        if (p > allowed && p[-1] == ' ' && p[n] == ' ')
            return true;
    return false;
}

static void check_attribute_values(loader *L, xmlNodePtr n)
{
    for (; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        for (size_t i = 0; i < sizeof(attr_rules) / sizeof(attr_rules[0]);
             i++) {
            const attr_rule *r = &attr_rules[i];
            if (!is_el(n, r->element))
                continue;
            xmlChar *v = xmlGetNoNsProp(n, (const xmlChar *)r->attr);
            if (v && !allowed_value(r->allowed, (const char *)v)) {
                char list[128];
                snprintf(list, sizeof(list), "%s", r->allowed + 1);
                list[strlen(list) - 1] = '\0';
                for (char *c = strchr(list, ' '); c; c = strchr(c, ' '))
                    *c = '|';
                diag(L, MIAOPI__D_BAD_ATTRIBUTE, attr_offset(L, n, r->attr),
                     "%s=\"%s\" is not allowed on <%s>; use one of: %s",
                     r->attr, (const char *)v, r->element, list);
            }
            xmlFree(v);
        }
        check_attribute_values(L, n->children);
    }
}

typedef struct mem_reader {
    const char *data;
    size_t len, pos;
} mem_reader;

static int mem_read(void *ctx, char *buf, int len)
{
    mem_reader *r = ctx;
    size_t n = r->len - r->pos;
    if (len < 0)
        return -1;
    if (n > (size_t)len)
        n = (size_t)len;
    memcpy(buf, r->data + r->pos, n);
    r->pos += n;
    return (int)n;
}

/*
 * The compiled schema is built once per process, on the first load that
 * gets that far, and kept: compiling it took some 2,800 allocations per
 * load, and libxml2 2.9 leaks in xmlCopyDoc and in its memory input
 * buffer when one of them fails. It is never written after it is built,
 * but whether libxml2 tolerates concurrent validations against one
 * xmlRelaxNG is not documented, so validations are serialised: loading a
 * ruleset is rare (start-up, hot reload), evaluating never validates. A
 * failed build leaves it NULL to be tried again by the next load.
 */
static pthread_mutex_t schema_lock = PTHREAD_MUTEX_INITIALIZER;
static xmlRelaxNGPtr schema;

static xmlRelaxNGPtr build_schema(loader *L)
{
    mem_reader r = {miaopi__schema_rng, miaopi__schema_rng_len, 0};
    xmlDocPtr sdoc = xmlReadIO(mem_read, NULL, &r, "miaopi-rules-1.rng",
                               "UTF-8", XML_PARSE_NONET);
    if (!sdoc)
        return NULL;
    xmlRelaxNGParserCtxtPtr pc = xmlRelaxNGNewDocParserCtxt(sdoc);
    xmlFreeDoc(sdoc); /* the parser context works on a copy */
    if (!pc)
        return NULL;
    xmlRelaxNGSetParserStructuredErrors(pc, xml_error, L);
    xmlRelaxNGPtr s = xmlRelaxNGParse(pc);
    xmlRelaxNGFreeParserCtxt(pc);
    return s;
}

static bool validate_locked(loader *L, xmlDocPtr doc)
{
    /* The bundled schema is known to be valid (the test suite loads it):
     * when it does not build, libxml2 ran out of memory, whether or not
     * it said so. */
    if (!schema && !(schema = build_schema(L)))
        return nomem(L);
    xmlRelaxNGValidCtxtPtr vc = xmlRelaxNGNewValidCtxt(schema);
    if (!vc)
        return nomem(L);
    xmlRelaxNGSetValidStructuredErrors(vc, xml_error, L);
    int before = L->nerrors;
    int rc = xmlRelaxNGValidateDoc(vc, doc);
    xmlRelaxNGFreeValidCtxt(vc);
    if (rc != 0 && L->nerrors == before && !L->oom)
        diag(L, MIAOPI__D_SCHEMA, -1, "the file does not follow the schema");
    return rc == 0;
}

static bool validate(loader *L, xmlDocPtr doc)
{
    int before_attrs = L->nerrors;
    check_attribute_values(L, xmlDocGetRootElement(doc));
    if (L->nerrors > before_attrs)
        return false; /* the schema would only repeat these, less clearly */
    pthread_mutex_lock(&schema_lock);
    bool ok = validate_locked(L, doc);
    pthread_mutex_unlock(&schema_lock);
    return ok;
}

/* o: the load options, or NULL for the default limits. */
int miaopi__ruleset_setup_pcre(miaopi_ruleset *rs, const miaopi_load_options *o)
{
    miaopi_load_options dflt = MIAOPI_LOAD_OPTIONS_INIT;
    if (!o)
        o = &dflt;
    rs->pcre_gctx = pcre2_general_context_create(
        miaopi__pcre2_malloc, miaopi__pcre2_free, (void *)rs->al);
    if (!rs->pcre_gctx)
        return MIAOPI_ENOMEM;
    rs->pcre_cctx = pcre2_compile_context_create(rs->pcre_gctx);
    rs->pcre_mctx = pcre2_match_context_create(rs->pcre_gctx);
    if (!rs->pcre_cctx || !rs->pcre_mctx)
        return MIAOPI_ENOMEM;
    /* Bounded work per match: a pathological pattern on a long subject
     * makes the rule UNKNOWN quickly instead of hanging the service. */
    pcre2_set_match_limit(rs->pcre_mctx, o->regex_match_limit
                                             ? o->regex_match_limit
                                             : 1000000);
    pcre2_set_depth_limit(rs->pcre_mctx, o->regex_depth_limit
                                             ? o->regex_depth_limit
                                             : 10000);
    pcre2_set_heap_limit(rs->pcre_mctx, o->regex_heap_limit_kib
                                            ? o->regex_heap_limit_kib
                                            : 20000);
    pcre2_set_max_pattern_length(rs->pcre_cctx, 4096);
    return MIAOPI_OK;
}

static void ruleset_destroy(miaopi_ruleset *rs)
{
    if (!rs)
        return;
    for (size_t i = 0; i < rs->nregexes; i++)
        pcre2_code_free(rs->regexes[i]);
    /* rs->al points into rs: keep a copy for freeing rs itself. */
    miaopi_allocator alloc = rs->alloc;
    const miaopi_allocator *al = rs->al ? &alloc : NULL;
    miaopi__free(al, rs->regexes);
    pcre2_match_context_free(rs->pcre_mctx);
    pcre2_compile_context_free(rs->pcre_cctx);
    pcre2_general_context_free(rs->pcre_gctx);
    rs->pool.al = al;
    miaopi__arena_free(&rs->pool);
    miaopi_ruleset_unref(rs->base);
    miaopi__free(al, rs);
}

static int load_xml(loader *L);

static int load(loader *L, const miaopi_load_options *o)
{
    miaopi_ruleset *rs = L->rs;
    if (!build_lines(L))
        return MIAOPI_ENOMEM;
    if (!miaopi__sha256_hex(L->data, L->len, rs->sha256))
        return miaopi__error_set(L->err, MIAOPI_EINTERNAL,
                                 "SHA-256 unavailable in libcrypto");
    rs->file = miaopi__arena_strndup(&rs->pool, L->file, strlen(L->file));
    if (!rs->file || miaopi__ruleset_setup_pcre(rs, o) != MIAOPI_OK)
        return MIAOPI_ENOMEM;
    pthread_once(&xml_once, xml_init);
    /* libxml2 reports some failures (allocation, I/O) where no parser
     * context is at hand: to this thread's structured handler, or else on
     * stderr. For the duration of the load this thread's handler is ours,
     * then the embedder's is put back. */
    xmlStructuredErrorFunc saved = xmlStructuredError;
    void *saved_ctx = xmlStructuredErrorContext;
    xmlSetStructuredErrorFunc(L, xml_error);
    int rc = load_xml(L);
    xmlSetStructuredErrorFunc(saved_ctx, saved);
    return rc;
}

/* Nesting deeper than max_depth is refused, as the header promises;
 * libxml2 itself stops at 256 levels whatever this says. Iterative, so
 * the check cannot be the thing that overflows the stack. */
static bool check_depth(loader *L, xmlNodePtr root)
{
    unsigned depth = 1;
    for (xmlNodePtr n = root; n;) {
        if (n->type == XML_ELEMENT_NODE && depth > L->comp.max_depth) {
            diag(L, MIAOPI__D_TOO_DEEP, node_start(n),
                 "elements nest deeper than %u", L->comp.max_depth);
            return false;
        }
        if (n->children) {
            n = n->children;
            depth++;
            continue;
        }
        while (n && n != root && !n->next) {
            n = n->parent;
            depth--;
        }
        if (!n || n == root)
            break;
        n = n->next;
    }
    return true;
}

static int load_xml(loader *L)
{
    xmlDocPtr doc = parse(L);
    if (L->ctxt) {
        xmlFreeParserCtxt(L->ctxt);
        L->ctxt = NULL;
    }
    if (!doc)
        return L->oom ? MIAOPI_ENOMEM : MIAOPI_ERULES;
    xmlNodePtr root = xmlDocGetRootElement(doc);
    bool ok;
    if (!is_el(root, "ruleset")) {
        diag(L, MIAOPI__D_NAMESPACE, node_start(root),
             "the root element must be <ruleset xmlns=\"" MIAOPI_NS "\">");
        ok = false;
    } else {
        ok = check_depth(L, root) && validate(L, doc) && load_root(L, root);
    }
    xmlFreeDoc(doc);
    if (L->oom)
        return MIAOPI_ENOMEM;
    return ok && L->nerrors == 0 ? MIAOPI_OK : MIAOPI_ERULES;
}

/* Options as the caller's version of the struct has them: fields are only
 * appended, so a shorter struct from an older caller is still honoured and
 * the fields it lacks take their defaults. */
static void load_options(miaopi_load_options *o,
                         const miaopi_load_options *in)
{
    miaopi_load_options dflt = MIAOPI_LOAD_OPTIONS_INIT;
    *o = dflt;
    if (in && in->size > sizeof(size_t)) {
        size_t n = in->size < sizeof(*o) ? in->size : sizeof(*o);
        memcpy(o, in, n);
        o->size = sizeof(*o);
    }
}

int miaopi_ruleset_load_buffer(miaopi_ruleset **out, const char *data,
                               size_t len, const char *name,
                               const miaopi_load_options *opts,
                               miaopi_error *err)
{
    miaopi__error_clear(err);
    if (!out || (!data && len))
        return miaopi__error_set(err, MIAOPI_EINVAL, "invalid argument");
    *out = NULL;
    miaopi_load_options o;
    load_options(&o, opts);
    opts = &o;
    size_t max = opts->max_file_bytes ? opts->max_file_bytes : 16u << 20;
    if (!name)
        name = "<memory>";
    if (len > max || len >= INT32_MAX) {
        int rc = miaopi__error_set(err, MIAOPI_ELIMIT,
                                   "%s is larger than the limit of %zu bytes",
                                   name, max);
        if (err) {
            snprintf(err->id, sizeof(err->id), "%s",
                     miaopi__diag_id_string(MIAOPI__D_XML_TOO_LARGE));
            snprintf(err->file, sizeof(err->file), "%s", name);
        }
        if (opts->on_diagnostic) {
            miaopi_diagnostic d = {MIAOPI_SEVERITY_ERROR,
                                   miaopi__diag_id_string(
                                       MIAOPI__D_XML_TOO_LARGE),
                                   err ? err->message : "file too large",
                                   name, 0, 0, -1};
            opts->on_diagnostic(&d, opts->payload);
        }
        return rc;
    }
    miaopi_allocator alloc;
    const miaopi_allocator *al;
    if (!miaopi__allocator_copy(&alloc, opts->allocator, &al))
        return miaopi__error_set(err, MIAOPI_EINVAL,
                                 "the allocator lacks a function");
    miaopi_ruleset *rs = miaopi__calloc(al, 1, sizeof(*rs));
    if (!rs)
        return miaopi__error_set(err, MIAOPI_ENOMEM, "out of memory");
    rs->refcount = 1;
    rs->alloc = alloc;
    rs->al = al ? &rs->alloc : NULL;
    miaopi__arena_init(&rs->pool, rs->al);
    loader L;
    memset(&L, 0, sizeof(L));
    L.rs = rs;
    L.file = name;
    L.data = data ? data : "";
    L.len = len;
    L.cb = opts->on_diagnostic;
    L.payload = opts->payload;
    L.max_errors = opts->max_errors ? opts->max_errors : 50;
    L.err = err;
    L.dtd_offset = -1;
    L.comp.rs = rs;
    L.comp.on_error = compile_error;
    L.comp.payload = &L;
    L.comp.max_depth = opts->max_depth ? opts->max_depth : 256;
    int rc = load(&L, opts);
    miaopi__free(rs->al, L.lines);
    miaopi__free(rs->al, L.comp.used_slots);
    if (rc == MIAOPI_ENOMEM || L.oom) {
        rc = MIAOPI_ENOMEM;
        miaopi__error_set(err, rc, "%s: out of memory", name);
    }
    if (rc != MIAOPI_OK) {
        if (err && err->code == 0)
            miaopi__error_set(err, rc, "%s: %s", name,
                              rc == MIAOPI_ENOMEM ? "out of memory"
                                                  : "invalid rule file");
        ruleset_destroy(rs);
        return rc;
    }
    *out = rs;
    return MIAOPI_OK;
}

int miaopi_ruleset_load_file(miaopi_ruleset **out, const char *path,
                             const miaopi_load_options *opts,
                             miaopi_error *err)
{
    miaopi__error_clear(err);
    if (!out || !path)
        return miaopi__error_set(err, MIAOPI_EINVAL, "invalid argument");
    *out = NULL;
    miaopi_load_options o;
    load_options(&o, opts);
    opts = &o;
    size_t max = o.max_file_bytes ? o.max_file_bytes : 16u << 20;
    miaopi_allocator alloc;
    const miaopi_allocator *al;
    if (!miaopi__allocator_copy(&alloc, o.allocator, &al))
        return miaopi__error_set(err, MIAOPI_EINVAL,
                                 "the allocator lacks a function");
    char *data;
    size_t len;
    int rc = miaopi__read_file(al, path, max, &data, &len, err);
    if (rc != MIAOPI_OK) {
        if (err) {
            snprintf(err->id, sizeof(err->id), "%s",
                     miaopi__diag_id_string(rc == MIAOPI_ELIMIT
                                                ? MIAOPI__D_XML_TOO_LARGE
                                                : MIAOPI__D_IO));
            snprintf(err->file, sizeof(err->file), "%s", path);
        }
        if (opts->on_diagnostic && rc != MIAOPI_ENOMEM) {
            miaopi_diagnostic d = {
                MIAOPI_SEVERITY_ERROR,
                miaopi__diag_id_string(rc == MIAOPI_ELIMIT
                                           ? MIAOPI__D_XML_TOO_LARGE
                                           : MIAOPI__D_IO),
                err ? err->message : "cannot read file", path, 0, 0, -1};
            opts->on_diagnostic(&d, opts->payload);
        }
        return rc;
    }
    rc = miaopi_ruleset_load_buffer(out, data, len, path, opts, err);
    miaopi__free(al, data);
    return rc;
}

/* ---- reference counting and accessors ---- */

miaopi_ruleset *miaopi_ruleset_ref(miaopi_ruleset *rs)
{
    if (rs)
        __atomic_add_fetch(&rs->refcount, 1, __ATOMIC_RELAXED);
    return rs;
}

void miaopi_ruleset_unref(miaopi_ruleset *rs)
{
    if (rs && __atomic_sub_fetch(&rs->refcount, 1, __ATOMIC_ACQ_REL) == 0)
        ruleset_destroy(rs);
}

const char *miaopi_ruleset_id(const miaopi_ruleset *rs)
{
    return rs ? rs->id : NULL;
}

const char *miaopi_ruleset_version(const miaopi_ruleset *rs)
{
    return rs ? rs->version : NULL;
}

static int lang_of(const miaopi_ruleset *rs, const char *lang)
{
    if (!lang)
        return rs->default_lang;
    return strncmp(lang, "en", 2) == 0 ? MP_LANG_EN : MP_LANG_ZH;
}

const char *miaopi__pick_lang(char *const t[MP_LANG_COUNT], int lang)
{
    if (t[lang])
        return t[lang];
    return t[1 - lang] ? t[1 - lang] : "";
}

const char *miaopi_ruleset_title(const miaopi_ruleset *rs, const char *lang)
{
    return rs ? miaopi__pick_lang(rs->title, lang_of(rs, lang)) : NULL;
}

const char *miaopi_ruleset_authority(const miaopi_ruleset *rs)
{
    return rs ? (rs->authority ? rs->authority : "") : NULL;
}

const char *miaopi_ruleset_effective_from(const miaopi_ruleset *rs)
{
    return rs ? rs->effective_from : NULL;
}

const char *miaopi_ruleset_effective_until(const miaopi_ruleset *rs)
{
    return rs ? rs->effective_until : NULL;
}

const char *miaopi_ruleset_sha256(const miaopi_ruleset *rs)
{
    return rs ? rs->sha256 : NULL;
}

size_t miaopi_ruleset_rule_count(const miaopi_ruleset *rs)
{
    return rs ? rs->nrules : 0;
}

int miaopi_ruleset_rule(miaopi_rule_info *out, const miaopi_ruleset *rs,
                        size_t index, const char *lang)
{
    if (!out || !rs || out->size < sizeof(*out))
        return MIAOPI_EINVAL;
    if (index >= rs->nrules)
        return MIAOPI_ENOTFOUND;
    const mp_rule *r = &rs->rules[index];
    int l = lang_of(rs, lang);
    out->id = r->id;
    out->code = r->code;
    out->title = miaopi__pick_lang(r->title, l);
    out->basis = miaopi__pick_lang(r->basis, l);
    out->on_fail = r->on_fail;
    out->on_unknown = r->on_unknown;
    out->line = r->line;
    return MIAOPI_OK;
}
