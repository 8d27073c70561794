/*
 * One line along a log_format template (parsers/_tokenizer.h): the literal text between the
 * variables, each variable's value matched as parsers/log_format.py's regular expression
 * matches it, and the time, status and byte count typed.
 *
 * walk_line is the one entry; it stays a function of its own, called once per line, and the
 * rare upstream lists are matched out of line, which keeps the per-line code as fast as when
 * the walk was inlined into the loop (bench/tokenizer_bench.py, docs/contributors/performance-history.md).
 */

#include <stddef.h>

#include "_tokenizer.h"

static inline int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static inline int is_space(unsigned char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
/*
 * The length of the whitespace character at p (UTF-8, before e), 0 if there is none. Whitespace
 * is Unicode's White_Space property, as the regular expressions (\s) and polars' strip_chars
 * read it: ASCII \t \n \v \f \r and space, U+0085, U+00A0, U+1680, U+2000..U+200A, U+2028,
 * U+2029, U+202F, U+205F and U+3000. A continuation byte is never the start of one, so callers
 * may step through a multi-byte character one byte at a time.
 */
static inline size_t space_len(const unsigned char *p, const unsigned char *e) {
    unsigned char c = p[0];
    if (c < 0x80) return is_space(c) ? 1 : 0;
    ptrdiff_t n = e - p;
    if (c == 0xC2) return n >= 2 && (p[1] == 0x85 || p[1] == 0xA0) ? 2 : 0;
    if (c == 0xE1) return n >= 3 && p[1] == 0x9A && p[2] == 0x80 ? 3 : 0;
    if (c == 0xE2 && n >= 3) {
        if (p[1] == 0x80) return (p[2] >= 0x80 && p[2] <= 0x8A) || p[2] == 0xA8 || p[2] == 0xA9 || p[2] == 0xAF ? 3 : 0;
        return p[1] == 0x81 && p[2] == 0x9F ? 3 : 0;
    }
    if (c == 0xE3) return n >= 3 && p[1] == 0x80 && p[2] == 0x80 ? 3 : 0;
    return 0;
}
static inline int digits(const unsigned char *p, int n) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!is_digit(p[i])) return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m) {
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
    return dm[m - 1];
}

static int month_number(const unsigned char *p) {
    static const char *names = "janfebmaraprmayjunjulaugsepoctnovdec";
    char m[3];
    for (int i = 0; i < 3; i++) {
        unsigned char c = p[i];
        if (c >= 'A' && c <= 'Z') c = (unsigned char)(c - 'A' + 'a');
        m[i] = (char)c;
    }
    for (int i = 0; i < 12; i++)
        if (memcmp(names + 3 * i, m, 3) == 0) return i + 1;
    return 0;
}

/*
 * A logged time to (us, offset minutes); returns 1, or 0 when it names no moment. The ranges
 * are those of polars' strptime (chrono's %d %m/%b %Y %H %M %S %z), which the regular-expression
 * path reads times with: a proleptic Gregorian date, years 0000..9999 (year 0 is a leap year),
 * hours 0..23, minutes 0..59, seconds 0..60 where 60 is a leap second read as the next second
 * (23:59:60 is 00:00:00 of the next day), offsets up to 23:59 either way.
 */
static int civil_to_us(int y, int mo, int d, int h, int mi, int s, int sign, int oh, int om, int64_t *us,
                       int16_t *offset) {
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 60 || oh > 23 ||
        om > 59)
        return 0;
    int off = sign * (oh * 60 + om);
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - (int64_t)off * 60;
    *us = secs * 1000000;
    *offset = (int16_t)off;
    return 1;
}

/*
 * [^\s,]+(?:(?:, | : )[^\s,]+)* with \s Unicode's White_Space, as in the regular expression.
 * A function of its own: inside match_value it made that too big to inline (upstream lists are
 * rare, match_value runs for every variable of every line).
 */
static NOINLINE const unsigned char *match_upstream(const unsigned char *p, const unsigned char *e) {
    const unsigned char *q = p;
#define TOKEN_AT(r) ((r) < e && *(r) != ',' && !space_len((r), e))
    while (TOKEN_AT(q)) q++;
    if (q == p) return NULL;
    for (;;) {
        const unsigned char *r;
        if (e - q >= 3 && q[0] == ',' && q[1] == ' ' && TOKEN_AT(q + 2))
            r = q + 2;
        else if (e - q >= 4 && q[0] == ' ' && q[1] == ':' && q[2] == ' ' && TOKEN_AT(q + 3))
            r = q + 3;
        else
            break;
        while (TOKEN_AT(r)) r++;
        q = r;
    }
    return q;
#undef TOKEN_AT
}

/* Match one variable's value at p (line ends at e); returns the end of the value or NULL. */
static const unsigned char *match_value(const Var *v, const unsigned char *p, const unsigned char *e) {
    const unsigned char *q = p;
    switch (v->kind) {
    case K_UNTIL: {
        const unsigned char *hit = memchr(p, v->stop, (size_t)(e - p));
        return hit ? hit : e;
    }
    case K_REST:
        return e;
    case K_QUOTED:
        while (q < e) {
            if (*q == '"') break;
            if (*q == '\\') {
                if (q + 1 >= e) break;
                q += 2;
                continue;
            }
            q++;
        }
        return q;
    case K_TIME_LOCAL: {
        /* [0-9]{2}/[A-Za-z]{3}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4} */
        static const char shape[] = "99/aaa/9999:99:99:99 s9999";
        if (e - p < 26) return NULL;
        for (int i = 0; i < 26; i++) {
            unsigned char c = p[i], s = (unsigned char)shape[i];
            if (s == '9' ? !is_digit(c)
                : s == 'a' ? !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))
                : s == 's' ? (c != '+' && c != '-')
                : c != s)
                return NULL;
        }
        return p + 26;
    }
    case K_TIME_ISO: {
        /* [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:[+-][0-9]{2}:[0-9]{2}|Z) */
        static const char shape[] = "9999-99-99T99:99:99";
        if (e - p < 20) return NULL;
        for (int i = 0; i < 19; i++) {
            unsigned char c = p[i], s = (unsigned char)shape[i];
            if (s == '9' ? !is_digit(c) : c != s) return NULL;
        }
        q = p + 19;
        if (*q == '+' || *q == '-') {
            if (e - q < 6 || !is_digit(q[1]) || !is_digit(q[2]) || q[3] != ':' || !is_digit(q[4]) ||
                !is_digit(q[5]))
                return NULL;
            return q + 6;
        }
        return *q == 'Z' ? q + 1 : NULL;
    }
    case K_STATUS:
        if (e - p < 3 || !is_digit(p[0]) || !is_digit(p[1]) || !is_digit(p[2])) return NULL;
        return p + 3;
    case K_INT:
        while (q < e && is_digit(*q)) q++;
        if (q > p) return q;
        return (p < e && *p == '-') ? p + 1 : NULL;
    case K_FLOAT:
        while (q < e && is_digit(*q)) q++;
        if (q == p) return (p < e && *p == '-') ? p + 1 : NULL;
        if (q + 1 < e && *q == '.' && is_digit(q[1])) {
            q++;
            while (q < e && is_digit(*q)) q++;
        }
        return q;
    case K_UPSTREAM:
        return match_upstream(p, e);
    }
    return NULL;
}

/*
 * Type an emitted time, status or integer into *value (and *aux: offset minutes of a time,
 * validity of an integer). Returns R_EVENT, or R_INVALID_TIME / R_FUTURE for a time that names
 * no moment / is later than the template's limit.
 */
static int convert(const Template *t, const Var *v, const unsigned char *p, const unsigned char *q, int64_t *value,
                   int16_t *aux) {
    if (v->emit == E_TIME) {
        int ok;
        if (v->kind == K_TIME_LOCAL) {
            int mo = month_number(p + 3);
            if (!mo) return R_INVALID_TIME;
            ok = civil_to_us(digits(p + 7, 4), mo, digits(p, 2), digits(p + 12, 2), digits(p + 15, 2),
                             digits(p + 18, 2), p[21] == '-' ? -1 : 1, digits(p + 22, 2), digits(p + 24, 2), value,
                             aux);
        } else {
            int sign = 1, oh = 0, om = 0;
            if (p[19] != 'Z') {
                sign = p[19] == '-' ? -1 : 1;
                oh = digits(p + 20, 2);
                om = digits(p + 23, 2);
            }
            ok = civil_to_us(digits(p, 4), digits(p + 5, 2), digits(p + 8, 2), digits(p + 11, 2), digits(p + 14, 2),
                             digits(p + 17, 2), sign, oh, om, value, aux);
        }
        if (!ok) return R_INVALID_TIME;
        return *value > t->max_us ? R_FUTURE : R_EVENT;
    }
    if (v->emit == E_STATUS) {
        *value = digits(p, 3);
        return R_EVENT;
    }
    if (v->emit == E_INT) {
        /* As polars' cast to Int64 (strict=False) reads it: "-", or a value beyond int64, is null. */
        int64_t n = 0;
        *aux = 0;
        *value = 0;
        if (q - p == 1 && *p == '-') return R_EVENT;
        for (const unsigned char *r = p; r < q; r++) {
            int d = *r - '0';
            /* 18 digits always fit; only a longer number can overflow. */
            if (r - p >= 18 && n > (INT64_MAX - d) / 10) return R_EVENT;
            n = n * 10 + d;
        }
        *value = n;
        *aux = 1;
        return R_EVENT;
    }
    return R_EVENT;
}

/* Walk one line [s, e); fills spans and returns 1 if the template matches it. */
static int match_line(const Template *t, const unsigned char *s, const unsigned char *e, Spans *sp) {
    const unsigned char *p = s;
    for (int i = 0; i < t->nvars; i++) {
        const Var *v = &t->vars[i];
        if (e - p < v->lit_len || memcmp(p, v->lit, (size_t)v->lit_len) != 0) return 0;
        p += v->lit_len;
        const unsigned char *q = match_value(v, p, e);
        if (!q) return 0;
        sp->start[i] = p;
        sp->end[i] = q;
        p = q;
    }
    if (t->tail_mode == T_OPTIONAL_QUOTE) {
        /* escape(tail[:-1]) (?:"\r?)?$ */
        Py_ssize_t n = t->tail_len - 1;
        if (e - p < n || memcmp(p, t->tail, (size_t)n) != 0) return 0;
        p += n;
        if (p < e && *p == '"') {
            p++;
            if (p < e && *p == '\r') p++;
        }
        return p == e;
    }
    if (e - p < t->tail_len || memcmp(p, t->tail, (size_t)t->tail_len) != 0) return 0;
    p += t->tail_len;
    if (p < e && *p == '\r') p++;
    return p == e;
}
static int is_blank(const unsigned char *s, const unsigned char *e) {
    while (s < e) {
        size_t n = space_len(s, e);
        if (!n) return 0;
        s += n;
    }
    return 1;
}

/* parsers/_tokenizer.h says what it returns. */
int walk_line(const Template *t, const unsigned char *s, const unsigned char *e, Spans *sp, int64_t *values,
              int16_t *aux) {
    /* A blank line never matches (every template has a time, made of digits): whether it is
     * blank is asked only of lines that are too long or do not match, off the common path. */
    if (e - s > t->max_line) return is_blank(s, e) ? R_EMPTY : R_TOO_LONG;
    if (!match_line(t, s, e, sp)) return is_blank(s, e) ? R_EMPTY : R_NO_MATCH;
    for (int i = 0; i < t->nvars; i++) {
        if (t->vars[i].emit <= E_INTERN) continue;
        int reason = convert(t, &t->vars[i], sp->start[i], sp->end[i], &values[i], &aux[i]);
        if (reason != R_EVENT) return reason;
    }
    return R_EVENT;
}
