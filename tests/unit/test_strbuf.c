/* tests/unit/test_strbuf.c — core/strbuf.h: appends, and the UTF-8 repair
 * against the replacements of Python's bytes.decode("utf-8", "replace")
 * (values worked out by hand from Unicode 3.9's maximal-subpart rule and
 * checked with CPython 3.11). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/strbuf.h"

#include <stdlib.h>
#include <string.h>

#define R "\xEF\xBF\xBD" /* U+FFFD */

static void check_n(const char *in, size_t n, const char *want, size_t want_n) {
    hd_strbuf b = {0};
    hd_strbuf_put_utf8(&b, in, n);
    assert_false(b.oom);
    assert_int_equal(b.n, want_n);
    if (b.n) assert_memory_equal(b.p, want, b.n);
    free(b.p);
}

static void check(const char *in, size_t n, const char *want) { check_n(in, n, want, strlen(want)); }

static void test_put(void **state) {
    (void)state;
    hd_strbuf b = {0};
    hd_strbuf_put(&b, "five", 4);
    hd_strbuf_puts(&b, " dollars");
    assert_string_equal(b.p, "five dollars");
    assert_int_equal(b.n, 12);
    free(b.p);
}

static void test_utf8_valid_unchanged(void **state) {
    (void)state;
    const char *ok = "a \xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xEF\xBF\xBF \xF4\x8F\xBF\xBF";
    check(ok, strlen(ok), ok);
    check("", 0, "");
    check_n("x\0y", 3, "x\0y", 3);   /* NUL is ASCII */
}

static void test_utf8_repairs(void **state) {
    (void)state;
    check("\x9e", 1, R);                                  /* stray continuation byte */
    check("a\x80\x80z", 4, "a" R R "z");                  /* each stray byte */
    check("\xC3", 1, R);                                  /* cut after the lead byte */
    check("\xE2\x82", 2, R);                              /* cut inside: one maximal subpart */
    check("\xE2\x82z", 3, R "z");
    check("\xF0\x9F\x98", 3, R);
    check("\xC0\xAF", 2, R R);                            /* overlong lead bytes C0/C1 */
    check("\xE0\x80\xAF", 3, R R R);                      /* overlong 3-byte: E0 needs A0..BF */
    check("\xED\xA0\x80", 3, R R R);                      /* surrogate D800 */
    check("\xF4\x90\x80\x80", 4, R R R R);                /* above U+10FFFF */
    check("\xF5\x80", 2, R R);                            /* F5..FF never start a sequence */
    check("\xFF", 1, R);
    check("\xE2\x82\xAC\xE2", 4, "\xE2\x82\xAC" R);       /* valid, then a cut one */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put),
        cmocka_unit_test(test_utf8_valid_unchanged),
        cmocka_unit_test(test_utf8_repairs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
