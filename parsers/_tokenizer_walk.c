/*
 * One line along a log_format template (parsers/_tokenizer.h): the literal text between the
 * variables, each variable's value matched as parsers/log_format.py's regular expression
 * matches it, and the time, status and byte count typed.
 */
#include "_tokenizer.h"

static inline int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static inline int is_space(unsigned char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
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
 * A time whose fields are all in their ordinary ranges becomes (us, offset minutes) and 1 is
 * returned; anything else (second 60, offset hour over 23, year 0, Feb 30) returns 0 and the
 * line goes to the reference parser, which decides between a time and "invalid_time".
 */
static int civil_to_us(int y, int mo, int d, int h, int mi, int s, int sign, int oh, int om, int64_t *us,
                       int16_t *offset) {
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 59 || oh > 23 ||
        om > 59)
        return 0;
    int off = sign * (oh * 60 + om);
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - (int64_t)off * 60;
    *us = secs * 1000000;
    *offset = (int16_t)off;
    return 1;
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
        /* \s is Unicode-aware in the reference regex: a line with non-ASCII text after this
         * point goes to the reference parser rather than deciding Unicode whitespace here. */
        for (const unsigned char *r = p; r < e; r++)
            if (*r >= 0x80) return NULL;
#define TOKEN_CHAR(c) (!is_space(c) && (c) != ',')
        while (q < e && TOKEN_CHAR(*q)) q++;
        if (q == p) return NULL;
        for (;;) {
            const unsigned char *r;
            if (e - q >= 3 && q[0] == ',' && q[1] == ' ' && TOKEN_CHAR(q[2]))
                r = q + 2;
            else if (e - q >= 4 && q[0] == ' ' && q[1] == ':' && q[2] == ' ' && TOKEN_CHAR(q[3]))
                r = q + 3;
            else
                break;
            while (r < e && TOKEN_CHAR(*r)) r++;
            q = r;
        }
        return q;
#undef TOKEN_CHAR
    }
    return NULL;
}
/* Parse an emitted time or integer; 0 sends the line to the reference parser. */
static int convert(const Template *t, const Var *v, const unsigned char *p, const unsigned char *q, int64_t *value,
                   int16_t *aux) {
    if (v->emit == E_TIME) {
        int ok;
        if (v->kind == K_TIME_LOCAL) {
            int mo = month_number(p + 3);
            if (!mo) return 0;
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
        return ok && *value <= t->max_us;
    }
    if (v->emit == E_STATUS) {
        *value = digits(p, 3);
        return 1;
    }
    if (v->emit == E_INT) {
        if (q - p == 1 && *p == '-') {
            *value = 0;
            *aux = 0;
            return 1;
        }
        if (q - p > 18) return 0; /* may not fit int64: the reference parser decides */
        int64_t n = 0;
        for (const unsigned char *r = p; r < q; r++) n = n * 10 + (*r - '0');
        *value = n;
        *aux = 1;
        return 1;
    }
    return 1;
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
    for (; s < e; s++)
        if (!is_space(*s)) return 0;
    return 1;
}
int walk_line(const Template *t, const unsigned char *s, const unsigned char *e, Spans *sp, int64_t *values,
              int16_t *aux) {
    int ok = (e - s) <= t->max_line && !is_blank(s, e) && match_line(t, s, e, sp);
    for (int i = 0; ok && i < t->nvars; i++)
        if (t->vars[i].emit > E_INTERN) ok = convert(t, &t->vars[i], sp->start[i], sp->end[i], &values[i], &aux[i]);
    return ok;
}
