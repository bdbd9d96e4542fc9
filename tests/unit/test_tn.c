/* tests/unit/test_tn.c — speech/tn.c: the rule-based English normaliser
 * against expected spoken forms for every semiotic class it handles, text it
 * must leave alone, number words at the edges of their range, and bad
 * arguments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "speech/tn.h"
#include "testutil.h"

typedef struct pair {
    const char *written, *spoken;
} pair;

static void check_pairs(const pair *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        hd_error err = {0};
        char *s = hd_tn_normalize(p[i].written, strlen(p[i].written), &err);
        assert_non_null(s);
        if (strcmp(s, p[i].spoken) != 0) fail_msg("\"%s\" -> \"%s\", expected \"%s\"", p[i].written, s, p[i].spoken);
        free(s);
    }
}

#define CHECK(t) check_pairs(t, sizeof t / sizeof t[0])

static void test_cardinals(void **state) {
    (void)state;
    static const pair t[] = {
        {"0", "zero"},
        {"7 cats", "seven cats"},
        {"I have 1,234 apples.", "I have one thousand two hundred thirty four apples."},
        {"100", "one hundred"},
        {"1000000", "one million"},
        {"2,000,017", "two million seventeen"},
        {"It was -5 outside", "It was minus five outside"},
        {"pi is 3.14", "pi is three point one four"},
        {"0.5", "zero point five"},
        {"007", "zero zero seven"},
        {"1234567890123456", "one two three four five six seven eight nine zero one two three four five six"},
        {"3D movies", "three D movies"},
        {"2+2=4", "two plus two equals four"},
        {"1,2", "one,two"},
        {"there are 1500 seats", "there are one thousand five hundred seats"},
    };
    CHECK(t);
}

static void test_ordinals_years_decades(void **state) {
    (void)state;
    static const pair t[] = {
        {"the 21st century", "the twenty first century"},
        {"22nd", "twenty second"},
        {"3rd", "third"},
        {"13th", "thirteenth"},
        {"100th", "one hundredth"},
        {"the 40th time", "the fortieth time"},
        {"in 1984 we", "in nineteen eighty four we"},
        {"since 2005", "since two thousand five"},
        {"in 1905", "in nineteen oh five"},
        {"by 1900", "by nineteen hundred"},
        {"in 2024", "in twenty twenty four"},
        {"the 1990s", "the nineteen nineties"},
        {"the '80s", "the eighties"},
        {"1990-1995", "nineteen ninety to nineteen ninety five"},
    };
    CHECK(t);
}

static void test_dates_times(void **state) {
    (void)state;
    static const pair t[] = {
        {"on March 5, 2024 at 3:30 pm", "on March fifth, twenty twenty four at three thirty p m"},
        {"5 March 2024", "the fifth of March twenty twenty four"},
        {"the 5th of May", "the fifth of May"},
        {"2024-03-05", "March fifth, twenty twenty four"},
        {"3/5/2024", "March fifth, twenty twenty four"},
        {"Mar. 3rd", "March third"},
        {"Sept. 11", "September eleventh"},
        {"June 2019", "June twenty nineteen"},
        {"12:00", "twelve o'clock"},
        {"15:00", "fifteen hundred"},
        {"10:05", "ten oh five"},
        {"9am", "nine a m"},
        {"3 p.m.", "three p m"},
        {"at 7:45 AM.", "at seven forty five a m."},
        /* not dates or times */
        {"May I", "May I"},
        {"2024-13-05", "two thousand twenty four-thirteen-zero five"},
        {"25:00", "twenty five:zero zero"},
        {"I have 3 apples", "I have three apples"},
    };
    CHECK(t);
}

static void test_money_percent_units(void **state) {
    (void)state;
    static const pair t[] = {
        {"It costs $3.50", "It costs three dollars and fifty cents"},
        {"$0.99", "ninety nine cents"},
        {"$1", "one dollar"},
        {"$1.00", "one dollar"},
        {"$1,000", "one thousand dollars"},
        {"-$5", "minus five dollars"},
        {"\xe2\x82\xac" "2 million", "two million euros"},
        {"\xc2\xa3" "1.5bn", "one point five billion pounds"},
        {"\xc2\xa3" "2.01", "two pounds and one penny"},
        {"\xc2\xa5" "500", "five hundred yen"},
        {"$5m", "five million dollars"},
        {"50% off", "fifty percent off"},
        {"3.5%", "three point five percent"},
        {"5 km and 1kg", "five kilometers and one kilogram"},
        {"20\xc2\xb0" "C", "twenty degrees Celsius"},
        {"-3\xc2\xb0" "F", "minus three degrees Fahrenheit"},
        {"90\xc2\xb0", "ninety degrees"},
        {"1.5 GHz", "one point five gigahertz"},
        {"60 mph", "sixty miles per hour"},
        {"1 ft", "one foot"},
        {"6 ft", "six feet"},
        {"5 min", "five minutes"},
        {"100 m", "one hundred meters"},
        {"5 mangoes", "five mangoes"},
        {"16 GB", "sixteen gigabytes"},
    };
    CHECK(t);
}

static void test_fractions_ranges(void **state) {
    (void)state;
    static const pair t[] = {
        {"1/2", "one half"},
        {"3/4 cup", "three quarters cup"},
        {"1/3", "one third"},
        {"2/3", "two thirds"},
        {"5/8", "five eighths"},
        {"10-20 people", "ten to twenty people"},
        {"20-10", "twenty-ten"},
        {"call 555-1234", "call five five five, one two three four"},
        {"555-123-4567", "five five five, one two three, four five six seven"},
        {"(555) 123-4567", "five five five, one two three, four five six seven"},
        {"open 24/7", "open twenty four seven"},
    };
    CHECK(t);
}

static void test_abbreviations_symbols(void **state) {
    (void)state;
    static const pair t[] = {
        {"Dr. Smith lives on Elm Dr.", "Doctor Smith lives on Elm Drive."},
        {"St. Louis", "Saint Louis"},
        {"Main St. is long", "Main Street is long"},
        {"Mr. and Mrs. Jones", "Mister and Missus Jones"},
        {"cats, dogs etc.", "cats, dogs et cetera."},
        {"e.g. this", "for example this"},
        {"i.e. that", "that is that"},
        {"Ali vs. Frazier", "Ali versus Frazier"},
        {"No. 5 & #7", "number five and number seven"},
        {"AT&T", "AT and T"},
        {"me@home", "me at home"},
        {"No way", "No way"},
        {"Drive on", "Drive on"},
        {"World War II ended", "World War two ended"},
        {"Henry VIII had", "Henry the eighth had"},
        {"Chapter XIV begins", "Chapter fourteen begins"},
        {"Super Bowl XX", "Super Bowl twenty"},
        {"I think I can", "I think I can"},
        {"Louis XIV and I", "Louis the fourteenth and I"},
        {"MIX it", "MIX it"},
    };
    CHECK(t);
}

static void test_untouched(void **state) {
    (void)state;
    static const pair t[] = {
        {"", ""},
        {"Hello, world!", "Hello, world!"},
        {"x86 and A4 paper", "x86 and A4 paper"},
        {"caf\xc3\xa9 na\xc3\xafve", "caf\xc3\xa9 na\xc3\xafve"},
        {"  two  spaces\n", "  two  spaces\n"},
        {"well - maybe", "well - maybe"},
    };
    CHECK(t);
}

static void test_not_nul_terminated(void **state) {
    (void)state;
    /* only text[0, len) is read: "12" of "123" */
    const char buf[3] = {'1', '2', '3'};
    char *s = hd_tn_normalize(buf, 2, NULL);
    assert_string_equal(s, "twelve");
    free(s);
    /* a rule looking past the end sees nothing: "$" alone, "3:" */
    s = hd_tn_normalize("$5", 1, NULL);
    assert_string_equal(s, "$");
    free(s);
    s = hd_tn_normalize("3:30", 2, NULL);
    assert_string_equal(s, "three:");
    free(s);
}

static void test_number_words(void **state) {
    (void)state;
    char b[256];
    assert_string_equal(hd_tn_cardinal(0, b, sizeof b), "zero");
    assert_string_equal(hd_tn_cardinal(-19, b, sizeof b), "minus nineteen");
    assert_string_equal(hd_tn_cardinal(999999999999999LL, b, sizeof b),
                        "nine hundred ninety nine trillion nine hundred ninety nine billion nine hundred ninety nine "
                        "million nine hundred ninety nine thousand nine hundred ninety nine");
    assert_null(hd_tn_cardinal(1000000000000000LL, b, sizeof b));
    assert_null(hd_tn_cardinal(123, b, 5));   /* does not fit */
    assert_string_equal(hd_tn_ordinal(1, b, sizeof b), "first");
    assert_string_equal(hd_tn_ordinal(12, b, sizeof b), "twelfth");
    assert_string_equal(hd_tn_ordinal(90, b, sizeof b), "ninetieth");
    assert_string_equal(hd_tn_ordinal(1000000, b, sizeof b), "one millionth");
    assert_null(hd_tn_ordinal(0, b, sizeof b));
    hd_error err = {0};
    assert_null(hd_tn_normalize(NULL, 3, &err));
    assert_int_equal(err.code, HD_ERR_ARG);
    char *s = hd_tn_normalize(NULL, 0, &err);
    assert_string_equal(s, "");
    free(s);
}

/* Random text made of the characters the rules look at: never a crash (run
 * under the sanitizers), always a string, and digits never survive next to
 * nothing but digits (every digit run is read out unless glued to letters). */
static void test_random_text(void **state) {
    (void)state;
    static const char alphabet[] = "0123456789 ,.:/-+$%&#@=' aAmMpPsSkKgGtTnNdDrRhH\xc2\xa3\xe2\x82\xac\xb0\n";
    tu_rng r;
    tu_rng_seed(&r, 99);
    char buf[64];
    for (int it = 0; it < 20000; it++) {
        size_t n = (size_t)(tu_rng_u64(&r) % sizeof buf);
        for (size_t i = 0; i < n; i++) buf[i] = alphabet[tu_rng_u64(&r) % (sizeof alphabet - 1)];
        hd_error err = {0};
        char *s = hd_tn_normalize(buf, n, &err);
        assert_non_null(s);
        for (size_t i = 0; s[i]; i++) {
            if (s[i] < '0' || s[i] > '9') continue;
            /* a digit left in the output belongs to a word (x86, A4, UTF-8 letters) */
            unsigned char p = i > 0 ? (unsigned char)s[i - 1] : 0;
            bool glued = ((p | 32) >= 'a' && (p | 32) <= 'z') || (p >= '0' && p <= '9') || p >= 0x80;
            if (!glued) fail_msg("digit left in \"%.*s\" -> \"%s\"", (int)n, buf, s);
        }
        free(s);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cardinals),          cmocka_unit_test(test_ordinals_years_decades),
        cmocka_unit_test(test_dates_times),        cmocka_unit_test(test_money_percent_units),
        cmocka_unit_test(test_fractions_ranges),   cmocka_unit_test(test_abbreviations_symbols),
        cmocka_unit_test(test_untouched),          cmocka_unit_test(test_not_nul_terminated),
        cmocka_unit_test(test_number_words),       cmocka_unit_test(test_random_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
