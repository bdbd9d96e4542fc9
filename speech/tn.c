/* speech/tn.c — rule-based English text normalisation (see tn.h).
 *
 * A left-to-right scanner: at each position where a word may start it tries
 * the semiotic-class rules in a fixed order (dates before times before
 * currencies before plain numbers, ...); the first that matches writes the
 * spoken form and consumes its span, otherwise one byte is copied.  Every
 * read goes through at(), which returns 0 past the end, so no rule can read
 * outside text[0, len). */
#include "tn.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"

/* ---- output buffer --------------------------------------------------------- */

typedef hd_strbuf obuf;

static void put_n(obuf *o, const char *s, size_t n) { hd_strbuf_put(o, s, n); }
static void put(obuf *o, const char *s) { hd_strbuf_puts(o, s); }

/* Appends a word, preceded by a space unless the buffer ends in one (or is empty
 * since `from`). */
static void word(obuf *o, size_t from, const char *w) {
    if (o->n > from && o->p[o->n - 1] != ' ') put(o, " ");
    put(o, w);
}

/* ---- number words ----------------------------------------------------------- */

static const char *const ONES[] = {"zero",    "one",     "two",       "three",    "four",
                                   "five",    "six",     "seven",     "eight",    "nine",
                                   "ten",     "eleven",  "twelve",    "thirteen", "fourteen",
                                   "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"};
static const char *const TENS[] = {"", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"};
static const char *const SCALES[] = {"", "thousand", "million", "billion", "trillion"};

#define MAX_CARDINAL 999999999999999LL   /* 10^15 - 1 */

/* Words for 0 < v < 1000 appended to o. */
static void say_below_1000(obuf *o, size_t from, int v) {
    if (v >= 100) {
        word(o, from, ONES[v / 100]);
        word(o, from, "hundred");
        v %= 100;
        if (!v) return;
    }
    if (v < 20) {
        word(o, from, ONES[v]);
        return;
    }
    word(o, from, TENS[v / 10]);
    if (v % 10) word(o, from, ONES[v % 10]);
}

/* Cardinal words for 0 <= v <= MAX_CARDINAL. */
static void say_cardinal(obuf *o, size_t from, long long v) {
    if (v == 0) {
        word(o, from, "zero");
        return;
    }
    int groups[5], ng = 0;
    while (v > 0 && ng < 5) groups[ng++] = (int)(v % 1000), v /= 1000;
    for (int g = ng - 1; g >= 0; g--) {
        if (!groups[g]) continue;
        say_below_1000(o, from, groups[g]);
        if (g) word(o, from, SCALES[g]);
    }
}

/* The last word of o (from `from` on) as an ordinal: one -> first, twenty -> twentieth. */
static void ordinalize_last(obuf *o, size_t from) {
    if (o->oom || o->n <= from) return;
    size_t s = o->n;
    while (s > from && o->p[s - 1] != ' ') s--;
    static const char *const irregular[][2] = {{"one", "first"},   {"two", "second"}, {"three", "third"},
                                               {"five", "fifth"},  {"eight", "eighth"}, {"nine", "ninth"},
                                               {"twelve", "twelfth"}};
    for (size_t i = 0; i < sizeof irregular / sizeof irregular[0]; i++)
        if (strcmp(o->p + s, irregular[i][0]) == 0) {
            o->n = s;
            put(o, irregular[i][1]);
            return;
        }
    if (o->n > s && o->p[o->n - 1] == 'y') {
        o->n--;
        put(o, "ieth");
    } else {
        put(o, "th");
    }
}

/* The last word as a plural: ninety -> nineties, hundred -> hundreds. */
static void pluralize_last(obuf *o) {
    if (o->oom || !o->n) return;
    if (o->p[o->n - 1] == 'y') {
        o->n--;
        put(o, "ies");
    } else if (o->p[o->n - 1] == 'x') {
        put(o, "es");   /* six -> sixes */
    } else {
        put(o, "s");
    }
}

/* Year reading of 1000 <= y <= 2099: 1984 nineteen eighty four, 1900 nineteen
 * hundred, 1905 nineteen oh five, 2005 two thousand five, 2024 twenty twenty four. */
static void say_year(obuf *o, size_t from, int y) {
    if (y >= 2000 && y <= 2009) {
        say_cardinal(o, from, y);
        return;
    }
    say_below_1000(o, from, y / 100);
    int low = y % 100;
    if (low == 0) {
        word(o, from, "hundred");
    } else if (low < 10) {
        word(o, from, "oh");
        word(o, from, ONES[low]);
    } else {
        say_below_1000(o, from, low);
    }
}

char *hd_tn_cardinal(long long v, char *buf, size_t size) {
    if (!buf || !size || v > MAX_CARDINAL || v < -MAX_CARDINAL) return NULL;
    obuf o = {0};
    if (v < 0) word(&o, 0, "minus");
    say_cardinal(&o, 0, v < 0 ? -v : v);
    char *r = NULL;
    if (!o.oom && o.n < size) memcpy(buf, o.p, o.n + 1), r = buf;
    free(o.p);
    return r;
}

char *hd_tn_ordinal(long long v, char *buf, size_t size) {
    if (!buf || !size || v <= 0 || v > MAX_CARDINAL) return NULL;
    obuf o = {0};
    say_cardinal(&o, 0, v);
    ordinalize_last(&o, 0);
    char *r = NULL;
    if (!o.oom && o.n < size) memcpy(buf, o.p, o.n + 1), r = buf;
    free(o.p);
    return r;
}

char *hd_tn_year(int y, char *buf, size_t size) {
    if (!buf || !size || y < 1000 || y > 2099) return NULL;
    obuf o = {0};
    say_year(&o, 0, y);
    char *r = NULL;
    if (!o.oom && o.n < size) memcpy(buf, o.p, o.n + 1), r = buf;
    free(o.p);
    return r;
}

/* ---- scanning helpers ------------------------------------------------------- */

typedef struct scan {
    const char *s;
    size_t n;
} scan;

static int at(const scan *sc, size_t i) { return i < sc->n ? (unsigned char)sc->s[i] : 0; }
static bool is_digit(int c) { return c >= '0' && c <= '9'; }
static bool is_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static bool is_upper(int c) { return c >= 'A' && c <= 'Z'; }
/* Letters, digits and any non-ASCII byte (UTF-8 letters) continue a word. */
static bool is_wordc(int c) { return is_alpha(c) || is_digit(c) || c >= 0x80; }
static int lower(int c) { return is_upper(c) ? c + 32 : c; }

/* Whether text at i starts with s (ASCII, case-insensitive when ci). */
static bool starts(const scan *sc, size_t i, const char *s, bool ci) {
    for (size_t k = 0; s[k]; k++) {
        int c = at(sc, i + k);
        if (!c || (ci ? lower(c) != lower((unsigned char)s[k]) : c != (unsigned char)s[k])) return false;
    }
    return true;
}

/* A word may start at i (nothing word-like before it). */
static bool word_start(const scan *sc, size_t i) { return i == 0 || !is_wordc(at(sc, i - 1)); }
/* A word ends at i. */
static bool word_end(const scan *sc, size_t i) { return !is_wordc(at(sc, i)); }

/* A number as written: integer part (digits, optionally grouped "1,234"),
 * optional fraction ".5". */
typedef struct num {
    size_t start, end;
    long long ip;          /* integer value (valid when !too_long)          */
    int int_digits;        /* digits in the integer part                     */
    bool commas, leading_zero, too_long;
    size_t frac_start;     /* index of the first fraction digit              */
    int frac_digits;       /* 0 = no fraction                                */
} num;

/* Parses a number at i; returns false if none. */
static bool parse_num(const scan *sc, size_t i, num *nm) {
    if (!is_digit(at(sc, i))) return false;
    memset(nm, 0, sizeof *nm);
    nm->start = i;
    size_t j = i;
    while (is_digit(at(sc, j))) j++;
    size_t first_group = j - i;
    /* digit groups: "1,234,567" — each comma followed by exactly three digits */
    if (first_group <= 3 && at(sc, j) == ',' && is_digit(at(sc, j + 1)) && is_digit(at(sc, j + 2)) &&
        is_digit(at(sc, j + 3)) && !is_digit(at(sc, j + 4))) {
        nm->commas = true;
        while (at(sc, j) == ',' && is_digit(at(sc, j + 1)) && is_digit(at(sc, j + 2)) && is_digit(at(sc, j + 3)) &&
               !is_digit(at(sc, j + 4)))
            j += 4;
    }
    size_t end_int = j;
    for (size_t k = i; k < end_int; k++) {
        if (at(sc, k) == ',') continue;
        nm->int_digits++;
        if (nm->int_digits > 15) nm->too_long = true;
        if (!nm->too_long) nm->ip = nm->ip * 10 + (at(sc, k) - '0');
    }
    nm->leading_zero = at(sc, i) == '0' && nm->int_digits > 1;
    if (at(sc, j) == '.' && is_digit(at(sc, j + 1))) {
        nm->frac_start = j + 1;
        j++;
        while (is_digit(at(sc, j))) j++, nm->frac_digits++;
    }
    nm->end = j;
    return true;
}

/* Digits one by one: "007" -> "zero zero seven". */
static void say_digits(obuf *o, size_t from, const scan *sc, size_t a, size_t b) {
    for (size_t k = a; k < b; k++)
        if (is_digit(at(sc, k))) word(o, from, ONES[at(sc, k) - '0']);
}

/* Integer part then "point d d d". */
static void say_num(obuf *o, size_t from, const scan *sc, const num *nm) {
    if (nm->too_long || nm->leading_zero) say_digits(o, from, sc, nm->start, nm->frac_start ? nm->frac_start - 1 : nm->end);
    else say_cardinal(o, from, nm->ip);
    if (nm->frac_digits) {
        word(o, from, "point");
        say_digits(o, from, sc, nm->frac_start, nm->end);
    }
}

static bool plain_int(const num *nm) { return !nm->frac_digits && !nm->too_long; }

/* Skips spaces (at most `max`) from i. */
static size_t skip_sp(const scan *sc, size_t i, int max) {
    while (max-- > 0 && at(sc, i) == ' ') i++;
    return i;
}

/* The word before i (spaces skipped) is w, case-insensitively. */
static bool prev_word_is(const scan *sc, size_t i, const char *w) {
    size_t j = i;
    while (j > 0 && at(sc, j - 1) == ' ') j--;
    size_t e = j;
    while (j > 0 && is_alpha(at(sc, j - 1))) j--;
    if (e == j || (j > 0 && is_wordc(at(sc, j - 1)))) return false;
    return strlen(w) == e - j && starts(sc, j, w, true);
}

/* ---- months ------------------------------------------------------------------- */

static const char *const MONTHS[] = {"January", "February", "March",     "April",   "May",      "June",
                                     "July",    "August",   "September", "October", "November", "December"};

/* A month name or abbreviation ("Mar", "Mar.", "Sept.") at i: returns 1..12 and
 * *end, or 0. */
static int parse_month(const scan *sc, size_t i, size_t *end) {
    if (!word_start(sc, i) || !is_upper(at(sc, i))) return 0;
    for (int m = 0; m < 12; m++) {
        size_t L = strlen(MONTHS[m]);
        if (starts(sc, i, MONTHS[m], false) && word_end(sc, i + L)) return *end = i + L, m + 1;
    }
    static const char *const abbr[] = {"Jan", "Feb", "Mar", "Apr", "", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    for (int m = 0; m < 12; m++) {
        if (!abbr[m][0]) continue;
        size_t L = 3;
        if (m == 8 && starts(sc, i, "Sept", false)) L = 4;
        if (!starts(sc, i, abbr[m], false) || !word_end(sc, i + L)) continue;
        if (at(sc, i + L) == '.') L++;
        return *end = i + L, m + 1;
    }
    return 0;
}

static const int MONTH_DAYS[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

/* A day number 1..31 (optionally with st/nd/rd/th) at i. */
static int parse_day(const scan *sc, size_t i, size_t *end) {
    int d = 0;
    size_t j = i;
    while (is_digit(at(sc, j)) && j - i < 2) d = d * 10 + at(sc, j) - '0', j++;
    if (j == i || is_digit(at(sc, j)) || d < 1 || d > 31) return 0;
    static const char *const suf[] = {"st", "nd", "rd", "th"};
    for (int k = 0; k < 4; k++)
        if (starts(sc, j, suf[k], true) && word_end(sc, j + 2)) {
            j += 2;
            break;
        }
    if (!word_end(sc, j)) return 0;
    *end = j;
    return d;
}

/* A four-digit year 1000..2099 at i (not followed by more digits or letters). */
static int parse_year(const scan *sc, size_t i, size_t *end) {
    int y = 0;
    for (int k = 0; k < 4; k++) {
        if (!is_digit(at(sc, i + k))) return 0;
        y = y * 10 + at(sc, i + k) - '0';
    }
    if (!word_end(sc, i + 4) || y < 1000 || y > 2099) return 0;
    *end = i + 4;
    return y;
}

static void say_date(obuf *o, size_t from, int m, int d, int y) {
    word(o, from, MONTHS[m - 1]);
    say_cardinal(o, from, d);
    ordinalize_last(o, from);
    if (y) {
        put(o, ",");
        say_year(o, from, y);
    }
}

/* "2024-03-05", "3/5/2024" (US month/day order). */
static size_t rule_numeric_date(const scan *sc, size_t i, obuf *o, size_t from) {
    size_t e;
    int y = parse_year(sc, i, &e);
    if (y && at(sc, e) == '-' && is_digit(at(sc, e + 1)) && is_digit(at(sc, e + 2)) && at(sc, e + 3) == '-' &&
        is_digit(at(sc, e + 4)) && is_digit(at(sc, e + 5)) && word_end(sc, e + 6)) {
        int m = (at(sc, e + 1) - '0') * 10 + at(sc, e + 2) - '0';
        int d = (at(sc, e + 4) - '0') * 10 + at(sc, e + 5) - '0';
        if (m >= 1 && m <= 12 && d >= 1 && d <= MONTH_DAYS[m - 1]) {
            say_date(o, from, m, d, y);
            return e + 6;
        }
    }
    int a = 0, b = 0;
    size_t j = i;
    while (is_digit(at(sc, j)) && j - i < 2) a = a * 10 + at(sc, j) - '0', j++;
    if (j == i || at(sc, j) != '/') return 0;
    size_t k = ++j;
    while (is_digit(at(sc, j)) && j - k < 2) b = b * 10 + at(sc, j) - '0', j++;
    if (j == k || at(sc, j) != '/') return 0;
    y = parse_year(sc, j + 1, &e);
    if (!y || a < 1 || a > 12 || b < 1 || b > MONTH_DAYS[a - 1]) return 0;
    say_date(o, from, a, b, y);
    return e;
}

/* "March 5", "March 5th, 2024", "Mar. 5 2024", "March 2024". */
static size_t rule_month_date(const scan *sc, size_t i, obuf *o, size_t from) {
    size_t e;
    int m = parse_month(sc, i, &e);
    if (!m || at(sc, e) != ' ') return 0;
    size_t j = e + 1, de;
    int y = parse_year(sc, j, &de);
    if (y) {   /* "March 2024" */
        word(o, from, MONTHS[m - 1]);
        say_year(o, from, y);
        return de;
    }
    int d = parse_day(sc, j, &de);
    if (!d || d > MONTH_DAYS[m - 1]) return 0;
    size_t ye = 0;
    size_t k = de;
    bool comma = at(sc, k) == ',';
    if (comma) k++;
    if (at(sc, k) == ' ') y = parse_year(sc, k + 1, &ye);
    say_date(o, from, m, d, y);
    if (y) return ye;
    return de;
}

/* "5 March 2024", "5th of March" -> "the fifth of March twenty twenty four". */
static size_t rule_day_month(const scan *sc, size_t i, obuf *o, size_t from) {
    size_t de, me;
    int d = parse_day(sc, i, &de);
    if (!d || at(sc, de) != ' ') return 0;
    size_t j = de + 1;
    if (starts(sc, j, "of ", false)) j += 3;
    int m = parse_month(sc, j, &me);
    if (!m || d > MONTH_DAYS[m - 1]) return 0;
    /* "5 May" is a date only with a capitalised month (parse_month checks);
     * "the" is added unless the text has it ("the 5th of May") */
    if (!prev_word_is(sc, i, "the")) word(o, from, "the");
    say_cardinal(o, from, d);
    ordinalize_last(o, from);
    word(o, from, "of");
    word(o, from, MONTHS[m - 1]);
    size_t ye;
    int y = at(sc, me) == ' ' ? parse_year(sc, me + 1, &ye) : 0;
    if (y) {
        say_year(o, from, y);
        return ye;
    }
    return me;
}

/* am/pm after a time: "pm", "p.m.", "PM"; returns the end or 0. */
static size_t parse_ampm(const scan *sc, size_t i, bool *pm) {
    int c = lower(at(sc, i));
    if (c != 'a' && c != 'p') return 0;
    *pm = c == 'p';
    if (lower(at(sc, i + 1)) == 'm' && word_end(sc, i + 2)) return i + 2;
    if (at(sc, i + 1) == '.' && lower(at(sc, i + 2)) == 'm' && at(sc, i + 3) == '.') return i + 4;
    return 0;
}

/* "3:30", "03:05 pm", "12:00", "9am", "9 p.m." */
static size_t rule_time(const scan *sc, size_t i, obuf *o, size_t from) {
    int h = 0;
    size_t j = i;
    while (is_digit(at(sc, j)) && j - i < 2) h = h * 10 + at(sc, j) - '0', j++;
    if (j == i || is_digit(at(sc, j))) return 0;
    int mi = -1;
    if (at(sc, j) == ':' && is_digit(at(sc, j + 1)) && is_digit(at(sc, j + 2)) && !is_digit(at(sc, j + 3))) {
        mi = (at(sc, j + 1) - '0') * 10 + at(sc, j + 2) - '0';
        j += 3;
        if (h > 24 || mi > 59) return 0;
    }
    bool pm = false;
    size_t k = skip_sp(sc, j, 1), ae = parse_ampm(sc, k, &pm);
    if (mi < 0 && (!ae || h < 1 || h > 12)) return 0;   /* a bare number is not a time */
    if (ae && (h < 1 || h > 12)) ae = 0;
    if (!ae && !word_end(sc, j)) return 0;
    say_cardinal(o, from, h);
    if (mi > 0 && mi < 10) {
        word(o, from, "oh");
        word(o, from, ONES[mi]);
    } else if (mi >= 10) {
        say_cardinal(o, from, mi);
    } else if (mi == 0 && !ae) {
        word(o, from, h <= 12 ? "o'clock" : "hundred");
    }
    if (ae) {
        word(o, from, pm ? "p" : "a");
        word(o, from, "m");
        return ae;
    }
    return j;
}

/* ---- currencies, percentages, units ----------------------------------------------- */

typedef struct currency {
    const char *sym;
    const char *one, *many, *sub_one, *sub_many;
} currency;

static const currency CURRENCIES[] = {
    {"$", "dollar", "dollars", "cent", "cents"},
    {"\xe2\x82\xac", "euro", "euros", "cent", "cents"},
    {"\xc2\xa3", "pound", "pounds", "penny", "pence"},
    {"\xc2\xa5", "yen", "yen", NULL, NULL},
};

/* Scale word after an amount: "million", "bn", "m"; returns the index into
 * SCALES (1..4) and *end, or 0. */
static int parse_scale(const scan *sc, size_t i, size_t *end) {
    static const struct {
        const char *w;
        int s;
    } t[] = {{"thousand", 1}, {"million", 2}, {"billion", 3}, {"trillion", 4}, {"k", 1},
             {"K", 1},        {"m", 2},       {"M", 2},       {"bn", 3},       {"B", 3}, {"tn", 4}};
    for (size_t k = 0; k < sizeof t / sizeof t[0]; k++) {
        size_t L = strlen(t[k].w);
        bool short_form = L <= 2;
        size_t j = short_form ? i : skip_sp(sc, i, 1);
        if (!short_form && j == i) continue;   /* "5 million" needs the space */
        if (starts(sc, j, t[k].w, false) && word_end(sc, j + L)) return *end = j + L, t[k].s;
    }
    return 0;
}

/* "$5", "$3.50", "€2 million", "£1.5bn". */
static size_t rule_currency(const scan *sc, size_t i, obuf *o, size_t from) {
    const currency *c = NULL;
    size_t j = i;
    bool minus = false;
    if (at(sc, j) == '-' && word_start(sc, j)) minus = true, j++;
    for (size_t k = 0; k < sizeof CURRENCIES / sizeof CURRENCIES[0]; k++)
        if (starts(sc, j, CURRENCIES[k].sym, false)) {
            c = &CURRENCIES[k];
            j += strlen(c->sym);
            break;
        }
    num nm;
    if (!c || !parse_num(sc, j, &nm)) return 0;
    if (minus) word(o, from, "minus");
    size_t se;
    int scale = parse_scale(sc, nm.end, &se);
    if (scale) {
        say_num(o, from, sc, &nm);
        word(o, from, SCALES[scale]);
        word(o, from, c->many);
        return se;
    }
    if (!word_end(sc, nm.end)) return 0;
    bool cents = nm.frac_digits == 2 && c->sub_one && !nm.too_long;
    if (!cents) {
        say_num(o, from, sc, &nm);
        word(o, from, plain_int(&nm) && nm.ip == 1 ? c->one : c->many);
        return nm.end;
    }
    int sub = (at(sc, nm.frac_start) - '0') * 10 + at(sc, nm.frac_start + 1) - '0';
    if (nm.ip || !sub) {
        say_num(o, from, sc, &(num){.start = nm.start, .end = nm.frac_start - 1, .ip = nm.ip,
                                   .int_digits = nm.int_digits, .leading_zero = nm.leading_zero});
        word(o, from, nm.ip == 1 ? c->one : c->many);
    }
    if (sub) {
        if (nm.ip) word(o, from, "and");
        say_cardinal(o, from, sub);
        word(o, from, sub == 1 ? c->sub_one : c->sub_many);
    }
    return nm.end;
}

typedef struct unit {
    const char *sym;
    const char *one, *many;
    bool needs_space_ok;   /* may be separated from the number by a space */
} unit;

static const unit UNITS[] = {
    {"%", "percent", "percent", false},
    {"km/h", "kilometer per hour", "kilometers per hour", true},
    {"kWh", "kilowatt hour", "kilowatt hours", true},
    {"\xc2\xb0" "C", "degree Celsius", "degrees Celsius", true},
    {"\xc2\xb0" "F", "degree Fahrenheit", "degrees Fahrenheit", true},
    {"\xc2\xb0", "degree", "degrees", false},
    {"km", "kilometer", "kilometers", true},
    {"cm", "centimeter", "centimeters", true},
    {"mm", "millimeter", "millimeters", true},
    {"kg", "kilogram", "kilograms", true},
    {"mg", "milligram", "milligrams", true},
    {"mph", "mile per hour", "miles per hour", true},
    {"kph", "kilometer per hour", "kilometers per hour", true},
    {"lbs", "pound", "pounds", true},
    {"lb", "pound", "pounds", true},
    {"oz", "ounce", "ounces", true},
    {"ft", "foot", "feet", true},
    {"mi", "mile", "miles", true},
    {"yd", "yard", "yards", true},
    {"ml", "milliliter", "milliliters", true},
    {"mL", "milliliter", "milliliters", true},
    {"kHz", "kilohertz", "kilohertz", true},
    {"MHz", "megahertz", "megahertz", true},
    {"GHz", "gigahertz", "gigahertz", true},
    {"Hz", "hertz", "hertz", true},
    {"KB", "kilobyte", "kilobytes", true},
    {"kB", "kilobyte", "kilobytes", true},
    {"MB", "megabyte", "megabytes", true},
    {"GB", "gigabyte", "gigabytes", true},
    {"TB", "terabyte", "terabytes", true},
    {"kW", "kilowatt", "kilowatts", true},
    {"ms", "millisecond", "milliseconds", true},
    {"sec", "second", "seconds", true},
    {"min", "minute", "minutes", true},
    {"hrs", "hour", "hours", true},
    {"hr", "hour", "hours", true},
    {"m", "meter", "meters", true},
    {"g", "gram", "grams", false},
    {"L", "liter", "liters", false},
};

/* "50%", "5 km", "1kg", "-3°C", "2.5 GHz". */
static size_t rule_unit(const scan *sc, size_t i, obuf *o, size_t from) {
    size_t j = i;
    bool minus = false;
    if ((at(sc, j) == '-' || at(sc, j) == '+') && word_start(sc, j)) minus = at(sc, j) == '-', j++;
    num nm;
    if (!parse_num(sc, j, &nm)) return 0;
    for (size_t k = 0; k < sizeof UNITS / sizeof UNITS[0]; k++) {
        const unit *u = &UNITS[k];
        size_t us = nm.end;
        if (at(sc, us) == ' ' && u->needs_space_ok) us++;
        size_t L = strlen(u->sym);
        if (!starts(sc, us, u->sym, false)) continue;
        /* the symbol must end the word ("%" and "°" never continue one) */
        if (is_alpha((unsigned char)u->sym[L - 1]) && !word_end(sc, us + L)) continue;
        if (minus) word(o, from, j > i && at(sc, i) == '-' ? "minus" : "plus");
        else if (j > i) word(o, from, "plus");
        say_num(o, from, sc, &nm);
        word(o, from, plain_int(&nm) && nm.ip == 1 ? u->one : u->many);
        return us + L;
    }
    return 0;
}

/* ---- ordinals, decades, fractions, ranges, plain numbers ------------------------------ */

/* "21st", "3rd", "100th". */
static size_t rule_ordinal(const scan *sc, size_t i, obuf *o, size_t from) {
    num nm;
    if (!parse_num(sc, i, &nm) || !plain_int(&nm) || nm.ip == 0) return 0;
    static const char *const suf[] = {"st", "nd", "rd", "th"};
    for (int k = 0; k < 4; k++)
        if (starts(sc, nm.end, suf[k], true) && word_end(sc, nm.end + 2)) {
            say_cardinal(o, from, nm.ip);
            ordinalize_last(o, from);
            return nm.end + 2;
        }
    return 0;
}

/* "1990s" -> "nineteen nineties", "80s" / "'80s" -> "eighties". */
static size_t rule_decade(const scan *sc, size_t i, obuf *o, size_t from) {
    size_t j = i;
    if (at(sc, j) == '\'') j++;
    num nm;
    if (!parse_num(sc, j, &nm) || !plain_int(&nm) || nm.commas) return 0;
    size_t e = nm.end;
    if (at(sc, e) == '\'') e++;
    if (at(sc, e) != 's' || !word_end(sc, e + 1)) return 0;
    if (nm.int_digits == 4 && nm.ip >= 1000 && nm.ip <= 2090 && nm.ip % 10 == 0) say_year(o, from, (int)nm.ip);
    else if (nm.int_digits == 2 && nm.ip >= 10 && nm.ip % 10 == 0) say_cardinal(o, from, nm.ip);
    else return 0;
    pluralize_last(o);
    return e + 1;
}

/* "1/2" -> "one half", "3/4" -> "three quarters", "2/3" -> "two thirds". */
static size_t rule_fraction(const scan *sc, size_t i, obuf *o, size_t from) {
    num a, b;
    if (!parse_num(sc, i, &a) || !plain_int(&a) || a.commas || at(sc, a.end) != '/') return 0;
    if (!parse_num(sc, a.end + 1, &b) || !plain_int(&b) || b.commas || !word_end(sc, b.end)) return 0;
    if (b.ip < 2 || b.ip > 100 || a.ip > 1000) return 0;
    say_cardinal(o, from, a.ip);
    if (b.ip == 2) word(o, from, a.ip == 1 ? "half" : "halves");
    else if (b.ip == 4) word(o, from, a.ip == 1 ? "quarter" : "quarters");
    else {
        say_cardinal(o, from, b.ip);
        ordinalize_last(o, from);
        if (a.ip != 1) pluralize_last(o);
    }
    return b.end;
}

/* Words after which a four-digit number is read as a year. */
static bool year_context(const scan *sc, size_t i) {
    static const char *const w[] = {"in",     "since", "by",     "from",  "until",  "till",   "year",
                                    "around", "circa", "before", "after", "during", "of",     "early",
                                    "late",   "mid",   "spring", "summer", "autumn", "winter", "fall"};
    for (size_t k = 0; k < sizeof w / sizeof w[0]; k++)
        if (prev_word_is(sc, i, w[k])) return true;
    return false;
}

static bool is_year_num(const num *nm) {
    return plain_int(nm) && !nm->commas && nm->int_digits == 4 && nm->ip >= 1000 && nm->ip <= 2099;
}

/* n digits at i exactly (not followed by another digit). */
static bool digits_at(const scan *sc, size_t i, int n) {
    for (int k = 0; k < n; k++)
        if (!is_digit(at(sc, i + k))) return false;
    return !is_digit(at(sc, i + n));
}

/* Telephone numbers, read digit by digit in their groups: "555-1234",
 * "555-123-4567", "(555) 123-4567" -> "five five five, one two three, ...". */
static size_t rule_phone(const scan *sc, size_t i, obuf *o, size_t from) {
    size_t g[3][2];   /* group spans */
    int ng = 0;
    size_t j = i;
    if (at(sc, j) == '(' && digits_at(sc, j + 1, 3) && at(sc, j + 4) == ')' && at(sc, j + 5) == ' ' &&
        digits_at(sc, j + 6, 3) && at(sc, j + 9) == '-' && digits_at(sc, j + 10, 4) && word_end(sc, j + 14)) {
        g[0][0] = j + 1, g[1][0] = j + 6, g[2][0] = j + 10, ng = 3, j += 14;
    } else if (digits_at(sc, j, 3) && at(sc, j + 3) == '-' && digits_at(sc, j + 4, 3) && at(sc, j + 7) == '-' &&
               digits_at(sc, j + 8, 4) && word_end(sc, j + 12)) {
        g[0][0] = j, g[1][0] = j + 4, g[2][0] = j + 8, ng = 3, j += 12;
    } else if (digits_at(sc, j, 3) && at(sc, j + 3) == '-' && digits_at(sc, j + 4, 4) && word_end(sc, j + 8)) {
        g[0][0] = j, g[1][0] = j + 4, ng = 2, j += 8;
    } else {
        return 0;
    }
    for (int k = 0; k < ng; k++) {
        g[k][1] = g[k][0] + (k == ng - 1 ? 4 : 3);
        if (k) put(o, ",");
        say_digits(o, from, sc, g[k][0], g[k][1]);
    }
    return j;
}

/* "24/7" -> "twenty four seven" */
static size_t rule_247(const scan *sc, size_t i, obuf *o, size_t from) {
    if (!starts(sc, i, "24/7", false) || !word_end(sc, i + 4) || is_digit(at(sc, i + 4))) return 0;
    word(o, from, "twenty four seven");
    return i + 4;
}

/* "10-20" -> "ten to twenty", "1990-1995" -> years. */
static size_t rule_range(const scan *sc, size_t i, obuf *o, size_t from) {
    num a, b;
    if (!parse_num(sc, i, &a) || !plain_int(&a) || (at(sc, a.end) != '-' && !starts(sc, a.end, "\xe2\x80\x93", false)))
        return 0;
    size_t j = a.end + (at(sc, a.end) == '-' ? 1 : 3);
    if (!parse_num(sc, j, &b) || !plain_int(&b) || !word_end(sc, b.end) || b.ip <= a.ip) return 0;
    bool years = is_year_num(&a) && is_year_num(&b);
    if (years) say_year(o, from, (int)a.ip);
    else say_num(o, from, sc, &a);
    word(o, from, "to");
    if (years) say_year(o, from, (int)b.ip);
    else say_num(o, from, sc, &b);
    return b.end;
}

/* Any number: "-5", "1,234", "3.14", "007", a year in context. */
static size_t rule_number(const scan *sc, size_t i, obuf *o, size_t from) {
    size_t j = i;
    int sign = 0;
    if (at(sc, j) == '-' && is_digit(at(sc, j + 1))) sign = -1, j++;
    else if (starts(sc, j, "\xe2\x88\x92", false) && is_digit(at(sc, j + 3))) sign = -1, j += 3;   /* U+2212 */
    else if (at(sc, j) == '+' && is_digit(at(sc, j + 1))) sign = 1, j++;
    num nm;
    if (!parse_num(sc, j, &nm)) return 0;
    if (sign < 0) word(o, from, "minus");
    if (sign > 0) word(o, from, "plus");
    if (!sign && is_year_num(&nm) && year_context(sc, i)) say_year(o, from, (int)nm.ip);
    else say_num(o, from, sc, &nm);
    if (is_alpha(at(sc, nm.end))) put(o, " ");   /* "3D" -> "three D" */
    return nm.end;
}

/* ---- abbreviations and symbols ------------------------------------------------------ */

/* The next non-space character after i starts a capitalised word. */
static bool next_capitalised(const scan *sc, size_t i) {
    size_t j = skip_sp(sc, i, 4);
    return j > i && is_upper(at(sc, j));
}

/* Only whitespace remains after i (the abbreviation's dot also ends the text). */
static bool at_text_end(const scan *sc, size_t i) {
    while (at(sc, i) == ' ' || at(sc, i) == '\n' || at(sc, i) == '\t' || at(sc, i) == '\r') i++;
    return i >= sc->n;
}

static size_t rule_abbreviation(const scan *sc, size_t i, obuf *o, size_t from) {
    static const struct {
        const char *a, *spoken;
    } t[] = {
        {"Mr.", "Mister"},       {"Mrs.", "Missus"},        {"Ms.", "Miz"},          {"Prof.", "Professor"},
        {"Jr.", "Junior"},       {"Sr.", "Senior"},         {"Mt.", "Mount"},        {"Ave.", "Avenue"},
        {"Blvd.", "Boulevard"},  {"Rd.", "Road"},           {"etc.", "et cetera"},   {"e.g.", "for example"},
        {"i.e.", "that is"},     {"vs.", "versus"},         {"vs", "versus"},        {"approx.", "approximately"},
        {"dept.", "department"}, {"Inc.", "Incorporated"},  {"Ltd.", "Limited"},     {"Corp.", "Corporation"},
        {"Gen.", "General"},     {"Capt.", "Captain"},      {"Sgt.", "Sergeant"},    {"Lt.", "Lieutenant"},
        {"Gov.", "Governor"},    {"Sen.", "Senator"},       {"Rep.", "Representative"}, {"Fig.", "Figure"},
        {"a.m.", "a m"},         {"p.m.", "p m"},
    };
    if (!word_start(sc, i)) return 0;
    /* Dr. / St.: a title before a name, a street type after one */
    if (starts(sc, i, "Dr.", false) || starts(sc, i, "St.", false)) {
        bool dr = at(sc, i) == 'D';
        bool title = next_capitalised(sc, i + 3);
        word(o, from, dr ? (title ? "Doctor" : "Drive") : (title ? "Saint" : "Street"));
        if (!title && at_text_end(sc, i + 3)) put(o, ".");
        return i + 3;
    }
    /* "No. 5" -> "number five" */
    if (starts(sc, i, "No.", false) && at(sc, i + 3) == ' ' && is_digit(at(sc, i + 4))) {
        word(o, from, "number");
        return i + 3;
    }
    for (size_t k = 0; k < sizeof t / sizeof t[0]; k++) {
        size_t L = strlen(t[k].a);
        if (!starts(sc, i, t[k].a, false)) continue;
        if (t[k].a[L - 1] != '.' && !word_end(sc, i + L)) continue;
        if (t[k].a[L - 1] == '.' && is_alpha(at(sc, i + L))) continue;
        word(o, from, t[k].spoken);
        if (t[k].a[L - 1] == '.' && at_text_end(sc, i + L)) put(o, ".");
        return i + L;
    }
    return 0;
}

/* Value of a Roman numeral of I, V, X (2..39, canonical form) spanning
 * [i, i+n), or 0. */
static int roman_value(const scan *sc, size_t i, size_t n) {
    static const char *const r[] = {"",     "I",    "II",    "III",   "IV",   "V",     "VI",   "VII",   "VIII",
                                    "IX",   "X",    "XI",    "XII",   "XIII", "XIV",   "XV",   "XVI",   "XVII",
                                    "XVIII", "XIX", "XX",    "XXI",   "XXII", "XXIII", "XXIV", "XXV",   "XXVI",
                                    "XXVII", "XXVIII", "XXIX", "XXX", "XXXI", "XXXII", "XXXIII", "XXXIV", "XXXV",
                                    "XXXVI", "XXXVII", "XXXVIII", "XXXIX"};
    for (int v = 2; v < 40; v++)
        if (strlen(r[v]) == n && starts(sc, i, r[v], false)) return v;
    return 0;
}

/* "World War II" -> "World War two", "Henry VIII" -> "Henry the eighth":
 * a Roman numeral (II..XXXIX; a lone "I" is a pronoun) after a capitalised
 * word; after a counting noun (War, Chapter, Part, ...) a cardinal, after a
 * name "the" and an ordinal. */
static size_t rule_roman(const scan *sc, size_t i, obuf *o, size_t from) {
    size_t j = i;
    while (at(sc, j) == 'I' || at(sc, j) == 'V' || at(sc, j) == 'X') j++;
    if (j - i < 2 && at(sc, i) != 'V' && at(sc, i) != 'X') return 0;
    if (!word_end(sc, j)) return 0;
    int v = roman_value(sc, i, j - i);
    if (!v) return 0;
    /* the word before: capitalised letters only */
    size_t e = i;
    while (e > 0 && at(sc, e - 1) == ' ') e--;
    if (e == i) return 0;
    size_t b = e;
    while (b > 0 && is_alpha(at(sc, b - 1))) b--;
    if (b == e || !is_upper(at(sc, b)) || (b > 0 && is_wordc(at(sc, b - 1)))) return 0;
    static const char *const nouns[] = {"War", "Chapter", "Part", "Volume", "Book", "Act", "Section", "Phase",
                                        "Type", "Class", "Level", "Round", "Stage", "Article", "Episode", "Bowl"};
    bool noun = false;
    for (size_t k = 0; k < sizeof nouns / sizeof nouns[0]; k++)
        noun |= strlen(nouns[k]) == e - b && starts(sc, b, nouns[k], false);
    if (!noun && e - b < 2) return 0;
    if (!noun) word(o, from, "the");
    say_cardinal(o, from, v);
    if (!noun) ordinalize_last(o, from);
    return j;
}

/* "&", "+", "=", "@", "#5": words padded with spaces where the text has none. */
static size_t rule_symbol(const scan *sc, size_t i, obuf *o, size_t from) {
    const char *w = NULL;
    int c = at(sc, i);
    if (c == '&') w = "and";
    else if (c == '+' && (at(sc, i + 1) == ' ' || is_digit(at(sc, i + 1)))) w = "plus";
    else if (c == '=') w = "equals";
    else if (c == '@') w = "at";
    else if (c == '#' && is_digit(at(sc, i + 1))) w = "number";
    if (!w) return 0;
    (void)from;   /* padded against the text before, not the expansion start */
    if (o->n > 0 && o->p[o->n - 1] != ' ' && o->p[o->n - 1] != '\n') put(o, " ");
    put(o, w);
    if (at(sc, i + 1) && at(sc, i + 1) != ' ') put(o, " ");
    return i + 1;
}

/* ---- the scanner ------------------------------------------------------------------------ */

typedef size_t (*rule_fn)(const scan *sc, size_t i, obuf *o, size_t from);

char *hd_tn_normalize(const char *text, size_t len, hd_error *err) {
    if (!text && len) {
        hd_error_set(err, HD_ERR_ARG, "text normalisation: NULL text");
        return NULL;
    }
    static const rule_fn number_rules[] = {rule_numeric_date, rule_phone,    rule_day_month, rule_time,
                                           rule_currency,     rule_unit,     rule_ordinal,   rule_decade,
                                           rule_247,          rule_fraction, rule_range,     rule_number};
    scan sc = {text, len};
    obuf o = {0};
    put(&o, "");
    size_t i = 0;
    while (i < len && !o.oom) {
        int c = at(&sc, i);
        size_t end = 0, mark = o.n;
        /* rules fire only where a word may start, so "A4" or "x86" stay as they are */
        if (word_start(&sc, i)) {
            if (is_alpha(c)) {
                end = rule_month_date(&sc, i, &o, mark);
                if (!end) end = rule_abbreviation(&sc, i, &o, mark);
                if (!end) end = rule_roman(&sc, i, &o, mark);
            } else {
                bool numeric = is_digit(c) || c == '-' || c == '+' || c == '\'' || c == 0xe2 || c == 0xc2 || c == '$' ||
                               c == '(';
                for (size_t k = 0; numeric && !end && k < sizeof number_rules / sizeof number_rules[0]; k++) {
                    o.n = mark;
                    if (o.p) o.p[o.n] = 0;
                    end = number_rules[k](&sc, i, &o, mark);
                }
                if (!end) {
                    o.n = mark;
                    if (o.p) o.p[o.n] = 0;
                    end = rule_symbol(&sc, i, &o, mark);
                }
            }
        } else if (c == '&' || c == '=' || c == '@' || c == '+') {
            end = rule_symbol(&sc, i, &o, mark);
        }
        if (end > i) {
            i = end;
            continue;
        }
        o.n = mark;
        if (o.p) o.p[o.n] = 0;
        /* copy a whole word (or one other byte) unchanged */
        size_t j = i + 1;
        if (is_wordc(c))
            while (j < len && is_wordc(at(&sc, j))) j++;
        put_n(&o, text + i, j - i);
        i = j;
    }
    if (o.oom) {
        free(o.p);
        hd_error_set(err, HD_ERR_NOMEM, "text normalisation: out of memory");
        return NULL;
    }
    return o.p;
}
