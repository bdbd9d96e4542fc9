/* tests/unit/test_tokenizer_hf.c — the generic Hugging Face tokenizer.json
 * path on small hand-built vocabularies whose results are worked out by hand
 * from tokenizers' semantics: Split behaviours and invert, merge priority
 * (not rank), ignore_merges, Digits, added tokens (special / non-special,
 * lstrip, rstrip, single_word), normalizers, unk for missing bytes, the
 * post-processor's BOS, tokenizer_config.json's bos/eos, the PCRE2 wrapper
 * (Oniguruma \s, find_iter on empty matches), GGUF export/import of gpt-2 and
 * refact vocabularies, and bad files (one error naming the file). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/gguf.h"
#include "lm/tokenizer.h"
#include "lm/tokenizer_internal.h"
#include "testutil.h"

/* ---- building tokenizer.json text ------------------------------------------------ */

typedef struct jb { char *p; size_t n, cap; } jb;

static void jb_put(jb *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void jb_printf(jb *b, const char *fmt, ...) {
    char tmp[4096];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    assert_true(k >= 0 && (size_t)k < sizeof tmp);
    jb_put(b, tmp, (size_t)k);
}

/* JSON string of the GPT-2 form of bytes s[0..n). */
static void jb_gpt2(jb *b, const char *s, size_t n) {
    char u[64];
    size_t l = hd_tok_gpt2_encode((const uint8_t *)s, n, u);
    jb_put(b, "\"", 1);
    for (size_t i = 0; i < l; i++) {
        if (u[i] == '"' || u[i] == '\\') jb_put(b, "\\", 1);
        jb_put(b, u + i, 1);
    }
    jb_put(b, "\"", 1);
}

/* A tokenizer.json: ids 0..255 = the bytes (byte `skip_byte`, if >= 0, has
 * no token: its id holds the byte twice instead), then
 * `extra` tokens (NULL-terminated, raw bytes) from 256, merges "A B" given as
 * raw-byte pairs separated by '|' (e.g. "a|-"), and the JSON of the other
 * parts verbatim (NULL = null).  Returns malloc'd text. */
static char *make_json(const char *const *extra, const char *const *merges, const char *normalizer, const char *pre,
                       const char *post, const char *added, const char *model_extra, int skip_byte) {
    jb b = {0};
    jb_printf(&b, "{\"version\": \"1.0\", \"added_tokens\": [%s], \"normalizer\": %s, \"pre_tokenizer\": %s, "
                  "\"post_processor\": %s, \"decoder\": {\"type\": \"ByteLevel\"}, \"model\": {\"type\": \"BPE\"%s%s, "
                  "\"vocab\": {",
              added ? added : "", normalizer ? normalizer : "null", pre ? pre : "null", post ? post : "null",
              model_extra ? ", " : "", model_extra ? model_extra : "");
    bool first = true;
    for (int c = 0; c < 256; c++) {
        if (!first) jb_put(&b, ", ", 2);
        first = false;
        char ch[2] = {(char)c, (char)c};
        jb_gpt2(&b, ch, c == skip_byte ? 2 : 1);
        jb_printf(&b, ": %d", c);
    }
    for (int i = 0; extra && extra[i]; i++) {
        jb_put(&b, ", ", 2);
        jb_gpt2(&b, extra[i], strlen(extra[i]));
        jb_printf(&b, ": %d", 256 + i);
    }
    jb_put(&b, "}, \"merges\": [", 14);
    for (int i = 0; merges && merges[i]; i++) {
        const char *bar = strchr(merges[i], '|');
        assert_non_null(bar);
        jb_put(&b, i ? ", [" : "[", i ? 3 : 1);
        jb_gpt2(&b, merges[i], (size_t)(bar - merges[i]));
        jb_put(&b, ", ", 2);
        jb_gpt2(&b, bar + 1, strlen(bar + 1));
        jb_put(&b, "]", 1);
    }
    jb_put(&b, "]}}", 3);
    return b.p;
}

static hd_tokenizer *load_json(const char *json, const char *name) {
    hd_error e = {0};
    hd_tokenizer *t = hd_tokenizer_from_hf_json(json, strlen(json), name, &e);
    if (!t) fprintf(stderr, "%s: %s\n", name, e.msg);
    assert_non_null(t);
    return t;
}

/* Encodes text and compares with the expected ids (terminated by -1). */
static void expect_ids(const hd_tokenizer *t, const char *text, unsigned flags, const int32_t *want) {
    int32_t ids[256];
    size_t n, nw = 0;
    hd_error e = {0};
    while (want[nw] >= 0) nw++;
    assert_int_equal(hd_tokenizer_encode(t, text, strlen(text), flags, ids, 256, &n, &e), HD_OK);
    if (n != nw || memcmp(ids, want, n * sizeof *ids) != 0) {
        fprintf(stderr, "text '%s': got", text);
        for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", ids[i]);
        fprintf(stderr, "\n");
    }
    assert_int_equal(n, nw);
    assert_memory_equal(ids, want, n * sizeof *ids);
}

#define IDS(...) ((const int32_t[]){__VA_ARGS__, -1})
#define NO_IDS ((const int32_t[]){-1})

static const char BL_NOREGEX[] = "{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"use_regex\": false}";
static const char BL_REGEX[] = "{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"use_regex\": true}";

/* ---- tests ------------------------------------------------------------------------ */

/* "a-b--c" split on "-" with each behaviour; merges join what stays together */
static void test_split_behaviors(void **state) {
    (void)state;
    /* b-- and --c catch a piece joined one match too far */
    static const char *const extra[] = {"a-", "b-", "--", "-c", "-b", "b--", "--c", NULL};
    static const char *const merges[] = {"a|-", "b|-", "-|-", "-|c", "-|b", "b-|-", "-|-c", NULL};
    static const struct { const char *beh; bool invert; int32_t want[8]; } cases[] = {
        {"Removed", false, {'a', 'b', 'c', -1}},
        {"Isolated", false, {'a', '-', 'b', '-', '-', 'c', -1}},
        {"MergedWithPrevious", false, {256, 257, '-', 'c', -1}},
        {"MergedWithNext", false, {'a', 260, '-', 259, -1}},
        {"Contiguous", false, {'a', '-', 'b', 258, 'c', -1}},
        {"Removed", true, {'-', '-', '-', -1}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char pre[512];
        snprintf(pre, sizeof pre,
                 "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"String\": \"-\"}, "
                 "\"behavior\": \"%s\", \"invert\": %s}, %s]}",
                 cases[i].beh, cases[i].invert ? "true" : "false", BL_NOREGEX);
        char *j = make_json(extra, merges, NULL, pre, NULL, NULL, NULL, -1);
        hd_tokenizer *t = load_json(j, "split.json");
        expect_ids(t, "a-b--c", 0, cases[i].want);
        hd_tokenizer_free(t);
        free(j);
    }
    /* the same as a regex; and no split at all: merge priority decides
     * (a- first, then b-, then -c; the -- pair is gone by then) */
    char pre[512];
    snprintf(pre, sizeof pre,
             "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\": \"-+\"}, "
             "\"behavior\": \"Isolated\", \"invert\": false}, %s]}", BL_NOREGEX);
    char *j = make_json(extra, merges, NULL, pre, NULL, NULL, NULL, -1);
    hd_tokenizer *t = load_json(j, "split.json");
    expect_ids(t, "a-b--c", 0, IDS('a', '-', 'b', 258, 'c'));
    hd_tokenizer_free(t);
    free(j);
    j = make_json(extra, merges, NULL, BL_NOREGEX, NULL, NULL, NULL, -1);
    t = load_json(j, "merge.json");
    expect_ids(t, "a-b--c", 0, IDS(256, 257, 259));
    assert_null(hd_tokenizer_pre_name(t));   /* llama.cpp has no name for ByteLevel without regex */
    hd_tokenizer_free(t);
    free(j);
}

/* ignore_merges: a piece that is a token is taken whole; without it only merges build tokens */
static void test_ignore_merges(void **state) {
    (void)state;
    static const char *const extra[] = {"ab", "bc", "abc", NULL};
    static const char *const merges[] = {"b|c", "a|b", NULL};   /* no merge makes abc */
    char *j = make_json(extra, merges, NULL, BL_REGEX, NULL, NULL, NULL, -1);
    hd_tokenizer *t = load_json(j, "gpt2like.json");
    expect_ids(t, "abc", 0, IDS('a', 257));
    expect_ids(t, "ab abc", 0, IDS(256, ' ', 'a', 257));
    assert_string_equal(hd_tokenizer_pre_name(t), "gpt-2");
    hd_tokenizer_free(t);
    free(j);
    j = make_json(extra, merges, NULL, BL_REGEX, NULL, NULL, "\"ignore_merges\": true", -1);
    t = load_json(j, "ignore.json");
    expect_ids(t, "abc", 0, IDS(258));
    hd_tokenizer_free(t);
    free(j);
    /* a repeated pair takes its later priority (tokenizers builds a map) */
    static const char *const merges2[] = {"a|b", "b|c", "a|b", NULL};
    j = make_json(extra, merges2, NULL, BL_REGEX, NULL, NULL, NULL, -1);
    t = load_json(j, "dup.json");
    expect_ids(t, "abc", 0, IDS('a', 257));
    hd_tokenizer_free(t);
    free(j);
}

/* Whitespace keeps \w+ and [^\w\s]+ runs and drops the white space;
 * WhitespaceSplit drops white space only; Punctuation isolates each mark */
static void test_whitespace_punct(void **state) {
    (void)state;
    static const char *const extra[] = {"ab", "!?", "b!", NULL};
    static const char *const merges[] = {"b|!", "a|b", "!|?", NULL};   /* b! first: across the split */
    static const struct { const char *pre; int32_t want[12]; } cases[] = {
        {"{\"type\": \"Whitespace\"}", {256, 257, 'c', 256, -1}},
        {"{\"type\": \"WhitespaceSplit\"}", {'a', 258, '?', 'c', 256, -1}},
        {"{\"type\": \"Punctuation\"}", {256, '!', '?', ' ', ' ', 'c', '\t', 256, -1}},
        {"{\"type\": \"Punctuation\", \"behavior\": \"Contiguous\"}", {256, 257, ' ', ' ', 'c', '\t', 256, -1}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char pre[512];
        snprintf(pre, sizeof pre, "{\"type\": \"Sequence\", \"pretokenizers\": [%s, %s]}", cases[i].pre, BL_NOREGEX);
        char *j = make_json(extra, merges, NULL, pre, NULL, NULL, NULL, -1);
        hd_tokenizer *t = load_json(j, "ws.json");
        expect_ids(t, "ab!?  c\tab", 0, cases[i].want);
        hd_tokenizer_free(t);
        free(j);
    }
}

/* a long text (the piece cache on, with slot collisions) gives the ids of
 * its pieces encoded one by one (short texts: no cache) */
static void test_long_text_cache(void **state) {
    (void)state;
    static const char *const extra[] = {"ab", "bc", "abc", " a", " ab", "ca", NULL};
    static const char *const merges[] = {"b|c", "a|b", " |a", " a|b", "c|a", "a|bc", NULL};
    char *j = make_json(extra, merges, NULL, BL_REGEX, NULL, NULL, NULL, -1);
    hd_tokenizer *t = load_json(j, "long.json");
    tu_rng r;
    tu_rng_seed(&r, 5);
    size_t cap = 200000, n = 0, nw = 0;
    char *text = malloc(cap);
    int32_t *want = malloc(cap * sizeof *want), *got = malloc(cap * sizeof *got);
    hd_error e = {0};
    for (int w = 0; w < 12000; w++) {
        char word[16];
        size_t l = 0;
        if (w) word[l++] = ' ';
        int len = 1 + (int)(tu_rng_u64(&r) % 9);
        for (int k = 0; k < len; k++) word[l++] = (char)('a' + tu_rng_u64(&r) % 3);
        size_t k;
        assert_int_equal(hd_tokenizer_encode(t, word, l, 0, want + nw, cap - nw, &k, &e), HD_OK);
        nw += k;
        memcpy(text + n, word, l);
        n += l;
    }
    size_t k;
    assert_int_equal(hd_tokenizer_encode(t, text, n, 0, got, cap, &k, &e), HD_OK);
    assert_int_equal(k, nw);
    assert_memory_equal(got, want, nw * sizeof *got);
    free(text);
    free(want);
    free(got);
    hd_tokenizer_free(t);
    free(j);
}

static void test_digits(void **state) {
    (void)state;
    static const char *const extra[] = {"12", NULL};
    static const char *const merges[] = {"1|2", NULL};
    char pre[512];
    for (int ind = 0; ind < 2; ind++) {
        snprintf(pre, sizeof pre,
                 "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Digits\", \"individual_digits\": %s}, %s]}",
                 ind ? "true" : "false", BL_REGEX);
        char *j = make_json(extra, merges, NULL, pre, NULL, NULL, NULL, -1);
        hd_tokenizer *t = load_json(j, "digits.json");
        if (ind) {
            expect_ids(t, "a12345", 0, IDS('a', '1', '2', '3', '4', '5'));
            assert_string_equal(hd_tokenizer_pre_name(t), "refact");
        } else {
            expect_ids(t, "a12345", 0, IDS('a', 256, '3', '4', '5'));
            assert_null(hd_tokenizer_pre_name(t));
        }
        hd_tokenizer_free(t);
        free(j);
    }
}

static void test_added_tokens(void **state) {
    (void)state;
    static const char *const extra[] = {"<s>", NULL};   /* also a plain vocab entry: the added token wins */
    const char *added =
        "{\"id\": 256, \"content\": \"<s>\", \"special\": true}, "
        "{\"id\": 257, \"content\": \"<n>\", \"special\": false}, "
        "{\"id\": 258, \"content\": \"<l>\", \"special\": true, \"lstrip\": true}, "
        "{\"id\": 259, \"content\": \"<r>\", \"special\": false, \"rstrip\": true}, "
        "{\"id\": 260, \"content\": \"<w>\", \"special\": true, \"single_word\": true}, "
        "{\"id\": 261, \"content\": \"<s><s>\", \"special\": true}";
    char *j = make_json(extra, NULL, NULL, BL_REGEX, NULL, added, NULL, -1);
    hd_tokenizer *t = load_json(j, "added.json");
    assert_int_equal(hd_tokenizer_n_vocab(t), 262);
    assert_int_equal(hd_tokenizer_n_ranked(t), 256);
    const unsigned SP = HD_TOKENIZER_ALLOW_SPECIAL;
    expect_ids(t, "x<n>y", 0, IDS('x', 257, 'y'));                      /* non-special: always matched */
    expect_ids(t, "x<s>y", 0, IDS('x', '<', 's', '>', 'y'));            /* special: only when allowed */
    expect_ids(t, "x<s>y", SP, IDS('x', 256, 'y'));
    expect_ids(t, "<s><s><s>", SP, IDS(261, 256));                      /* longest first, leftmost */
    expect_ids(t, "a  <l>b", SP, IDS('a', 258, 'b'));                   /* lstrip swallows the spaces */
    expect_ids(t, "a<r> \t b", 0, IDS('a', 259, 'b'));                  /* rstrip */
    expect_ids(t, "a<w>b", SP, IDS('a', '<', 'w', '>', 'b'));           /* single_word: not inside a word */
    expect_ids(t, "a <w> b", SP, IDS('a', ' ', 260, ' ', 'b'));
    assert_true(hd_tokenizer_is_special(t, 256));
    assert_false(hd_tokenizer_is_special(t, 257));
    assert_int_equal(hd_tokenizer_find_special(t, "<n>"), 257);
    /* decode: specials skipped on request, non-special added tokens never */
    int32_t ids[] = {'a', 256, 257, 'b'};
    char out[64];
    size_t n;
    hd_error e = {0};
    assert_int_equal(hd_tokenizer_decode(t, ids, 4, 0, out, sizeof out, &n, &e), HD_OK);
    assert_string_equal(out, "a<s><n>b");
    assert_int_equal(hd_tokenizer_decode(t, ids, 4, HD_TOKENIZER_SKIP_SPECIAL, out, sizeof out, &n, &e), HD_OK);
    assert_string_equal(out, "a<n>b");
    assert_false(hd_tokenizer_adds_bos(t));
    hd_tokenizer_free(t);
    free(j);
}

static void test_normalizers(void **state) {
    (void)state;
    static const struct { const char *norm, *text; int32_t want[8]; } cases[] = {
        {"{\"type\": \"NFC\"}", "e\xcc\x81", {0xc3, 0xa9, -1}},
        {"{\"type\": \"NFD\"}", "\xc3\xa9", {'e', 0xcc, 0x81, -1}},
        {"{\"type\": \"NFKC\"}", "\xef\xac\x81", {'f', 'i', -1}},   /* U+FB01 ligature fi */
        {"{\"type\": \"Prepend\", \"prepend\": \"_\"}", "ab", {'_', 'a', 'b', -1}},
        {"{\"type\": \"Replace\", \"pattern\": {\"String\": \" \"}, \"content\": \"__\"}", "a b", {'a', '_', '_', 'b', -1}},
        {"{\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"NFKC\"}, {\"type\": \"Replace\", \"pattern\": "
         "{\"Regex\": \"i+\"}, \"content\": \"I\"}]}", "\xef\xac\x81ii", {'f', 'I', -1}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *j = make_json(NULL, NULL, cases[i].norm, BL_NOREGEX, NULL, NULL, NULL, -1);
        hd_tokenizer *t = load_json(j, "norm.json");
        expect_ids(t, cases[i].text, 0, cases[i].want);
        assert_null(hd_tokenizer_pre_name(t));
        hd_tokenizer_free(t);
        free(j);
    }
    /* the empty text stays empty (Prepend adds nothing to it) */
    char *j = make_json(NULL, NULL, "{\"type\": \"Prepend\", \"prepend\": \"_\"}", BL_NOREGEX, NULL, NULL, NULL, -1);
    hd_tokenizer *t = load_json(j, "norm.json");
    expect_ids(t, "", 0, NO_IDS);
    hd_tokenizer_free(t);
    free(j);
}

/* a missing byte: unk (fused with fuse_unk) or dropped without unk_token;
 * invalid UTF-8 bytes are pieces of their own */
static void test_unk_and_invalid(void **state) {
    (void)state;
    static const char *const extra[] = {"<unk>", "ab", NULL};
    static const char *const merges[] = {"a|b", NULL};
    char *j = make_json(extra, merges, NULL, BL_NOREGEX, NULL, NULL, "\"unk_token\": \"<unk>\"", 'z');
    hd_tokenizer *t = load_json(j, "unk.json");
    expect_ids(t, "azzb", 0, IDS('a', 256, 256, 'b'));
    expect_ids(t, "a\xff" "b", 0, IDS('a', 0xff, 'b'));
    expect_ids(t, "ab\xff" "ab", 0, IDS(257, 0xff, 257));
    hd_tokenizer_free(t);
    free(j);
    j = make_json(extra, merges, NULL, BL_NOREGEX, NULL, NULL, "\"unk_token\": \"<unk>\", \"fuse_unk\": true", 'z');
    t = load_json(j, "fuse.json");
    expect_ids(t, "azzb", 0, IDS('a', 256, 'b'));
    hd_tokenizer_free(t);
    free(j);
    j = make_json(extra, merges, NULL, BL_NOREGEX, NULL, NULL, NULL, 'z');
    t = load_json(j, "nounk.json");
    expect_ids(t, "azzb", 0, IDS(257));   /* z dropped: a and b meet and merge, as in tokenizers */
    hd_tokenizer_free(t);
    free(j);
}

static void test_regex(void **state) {
    (void)state;
    char msg[256];
    static const struct { const char *pat; bool literal; const char *text; size_t n, spans[8]; } cases[] = {
        {"\\s+", false, "a\xc2\x85" "b", 1, {1, 3}},                 /* U+0085 is \s, as in Oniguruma */
        {"\\s+", false, "a\xe1\xa0\x8e" "b", 0, {0}},              /* U+180E is not (PCRE2 alone: is) */
        {"[\\s]+|\\S+", false, "a\xe1\xa0\x8e \xe3\x80\x80" "b", 3, {0, 4, 4, 8, 8, 9}},
        {"[^\\s]+", false, "a\xc2\x85" "b", 2, {0, 1, 3, 4}},
        {"\\S+", false, "a\xc2\x85" "b", 2, {0, 1, 3, 4}},
        {"x*", false, "axb", 3, {0, 0, 1, 2, 3, 3}},                /* empty right after a match: skipped */
        {"a.b", true, "axb a.b", 1, {4, 7}},
        {"[]a]+", false, "b]a]", 1, {1, 4}},
        {"(?i:'s|'t)|\\p{L}+", false, "IT'S", 2, {0, 2, 2, 4}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        hd_tok_regex *re = hd_tok_regex_compile(cases[i].pat, strlen(cases[i].pat), cases[i].literal, msg, sizeof msg);
        assert_non_null(re);
        hd_tok_spans sp = {0};
        assert_int_equal(hd_tok_regex_find(re, (const uint8_t *)cases[i].text, strlen(cases[i].text), &sp), HD_OK);
        if (sp.n != cases[i].n) fprintf(stderr, "pattern %s: %zu spans\n", cases[i].pat, sp.n);
        assert_int_equal(sp.n, cases[i].n);
        for (size_t k = 0; k < sp.n; k++) {
            assert_int_equal(sp.v[k].a, cases[i].spans[2 * k]);
            assert_int_equal(sp.v[k].b, cases[i].spans[2 * k + 1]);
        }
        free(sp.v);
        hd_tok_regex_free(re);
    }
    assert_null(hd_tok_regex_compile("(a", 2, false, msg, sizeof msg));
    assert_non_null(strstr(msg, "does not compile"));
    hd_tok_regex_free(NULL);
}

static void test_post_processor(void **state) {
    (void)state;
    const char *added = "{\"id\": 256, \"content\": \"<s>\", \"special\": true}, "
                        "{\"id\": 257, \"content\": \"</s>\", \"special\": true}";
    const char *tmpl = "{\"type\": \"Sequence\", \"processors\": [{\"type\": \"ByteLevel\"}, {\"type\": "
                       "\"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"<s>\", \"type_id\": 0}}, "
                       "{\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}], \"pair\": [], \"special_tokens\": {}}]}";
    char *j = make_json(NULL, NULL, NULL, BL_REGEX, tmpl, added, NULL, -1);
    hd_tokenizer *t = load_json(j, "bos.json");
    assert_true(hd_tokenizer_adds_bos(t));
    assert_int_equal(hd_tokenizer_bos(t), 256);
    expect_ids(t, "hi", HD_TOKENIZER_ADD_BOS, IDS(256, 'h', 'i'));
    hd_tokenizer_free(t);
    free(j);
    /* a template adding a token after the text is refused, not ignored */
    const char *suffix = "{\"type\": \"TemplateProcessing\", \"single\": [{\"Sequence\": {\"id\": \"A\"}}, "
                         "{\"SpecialToken\": {\"id\": \"</s>\"}}]}";
    j = make_json(NULL, NULL, NULL, BL_REGEX, suffix, added, NULL, -1);
    hd_error e = {0};
    assert_null(hd_tokenizer_from_hf_json(j, strlen(j), "suffix.json", &e));
    assert_int_equal(e.code, HD_ERR_UNSUPPORTED);
    assert_non_null(strstr(e.msg, "suffix.json"));
    free(j);
    /* the Llama 3 fixtures: tokenizer.json's post-processor is ByteLevel only
     * (Meta-Llama-3's first release), Meta's tokenizer.model adds BOS */
    char p[1024];
    t = hd_tokenizer_load(tu_fixture(p, sizeof p, "tokenizer/tokenizer.json"), &e);
    assert_non_null(t);
    assert_false(hd_tokenizer_adds_bos(t));
    assert_string_equal(hd_tokenizer_pre_name(t), "llama-bpe");
    hd_tokenizer_free(t);
    t = hd_tokenizer_load(tu_fixture(p, sizeof p, "tokenizer/llama3_tokenizer.model"), &e);
    assert_non_null(t);
    assert_true(hd_tokenizer_adds_bos(t));
    hd_tokenizer_free(t);
}

static void write_text(const char *dir, const char *file, const char *text) {
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    assert_int_equal(tu_write_file(p, text, strlen(text)), 0);
}

static void test_config_bos_eos(void **state) {
    (void)state;
    const char *added = "{\"id\": 256, \"content\": \"<|end_of_text|>\", \"special\": true}, "
                        "{\"id\": 257, \"content\": \"<|start_of_role|>\", \"special\": true}";
    char *j = make_json(NULL, NULL, NULL, BL_REGEX, NULL, added, NULL, -1);
    char dir[1024], cmd[1100];
    snprintf(dir, sizeof dir, "%s/granite_tok", tu_tmpdir());
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    assert_int_equal(system(cmd), 0);
    write_text(dir, "tokenizer.json", j);
    write_text(dir, "tokenizer_config.json",
               "{\"bos_token\": \"<|end_of_text|>\", \"eos_token\": {\"content\": \"<|end_of_text|>\"}}");
    hd_error e = {0};
    hd_tokenizer *t = hd_tokenizer_load(dir, &e);
    assert_non_null(t);
    assert_int_equal(hd_tokenizer_bos(t), 256);
    assert_int_equal(hd_tokenizer_eos(t), 256);
    assert_true(hd_tokenizer_is_stop(t, 256));
    assert_false(hd_tokenizer_adds_bos(t));
    hd_tokenizer_free(t);
    write_text(dir, "tokenizer_config.json", "{\"eos_token\": \"<|nope|>\"}");
    assert_null(hd_tokenizer_load(dir, &e));
    assert_int_equal(e.code, HD_ERR_FORMAT);
    assert_non_null(strstr(e.msg, "tokenizer_config.json"));
    assert_non_null(strstr(e.msg, "<|nope|>"));
    free(j);
}

/* a and b give the same ids for every text, with and without ALLOW_SPECIAL */
static void same_encodings(const hd_tokenizer *a, const hd_tokenizer *b, const char *const *texts, size_t n) {
    hd_error e = {0};
    for (size_t i = 0; i < n; i++)
        for (unsigned f = 0; f <= HD_TOKENIZER_ALLOW_SPECIAL; f += HD_TOKENIZER_ALLOW_SPECIAL) {
            int32_t x[128], y[128];
            size_t nx, ny;
            assert_int_equal(hd_tokenizer_encode(a, texts[i], strlen(texts[i]), f, x, 128, &nx, &e), HD_OK);
            assert_int_equal(hd_tokenizer_encode(b, texts[i], strlen(texts[i]), f, y, 128, &ny, &e), HD_OK);
            if (nx != ny || memcmp(x, y, nx * sizeof *x)) fprintf(stderr, "differs on '%s'\n", texts[i]);
            assert_int_equal(nx, ny);
            assert_memory_equal(x, y, nx * sizeof *x);
        }
}

/* GGUF export and import keep the pre-tokenizer, merges, kinds of added tokens, unk;
 * tokenizer.json export keeps all of that too */
static void test_gguf_round_trip(void **state) {
    (void)state;
    static const char *const extra[] = {"<unk>", "12", "ab", "bc", " b", NULL};
    static const char *const merges[] = {"b|c", "a|b", "1|2", " |b", NULL};
    const char *added = "{\"id\": 261, \"content\": \"<|end_of_text|>\", \"special\": true}, "
                        "{\"id\": 262, \"content\": \"<|audio|>\", \"special\": true}, "
                        "{\"id\": 263, \"content\": \"hello world\", \"special\": false}";
    const char *pres[2] = {BL_REGEX,
                           "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Digits\", \"individual_digits\": "
                           "true}, {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, "
                           "\"use_regex\": true}]}"};
    const char *names[2] = {"gpt-2", "refact"};
    const char *texts[] = {"abc 12 bc hello world<|audio|>x z", "a\xff\x62  \n\n b", "1234", "<|end_of_text|>", ""};
    for (int k = 0; k < 2; k++) {
        char *j = make_json(extra, merges, NULL, pres[k], NULL, added, "\"unk_token\": \"<unk>\"", 'z');
        hd_tokenizer *a = load_json(j, "src.json");
        assert_string_equal(hd_tokenizer_pre_name(a), names[k]);
        char path[1024];
        snprintf(path, sizeof path, "%s/vocab_%s.gguf", tu_tmpdir(), names[k]);
        hd_error e = {0};
        hd_gguf_writer *w = hd_gguf_writer_create(&e);
        assert_int_equal(hd_tokenizer_to_gguf(a, w, 261, &e), HD_OK);
        assert_int_equal(hd_gguf_writer_write(w, path, &e), HD_OK);
        hd_gguf_writer_free(w);
        hd_gguf *g = hd_gguf_open(path, &e);
        assert_non_null(g);
        const char *s;
        size_t n;
        assert_true(hd_gguf_get_str(g, "tokenizer.ggml.pre", &s, &n));
        assert_int_equal(n, strlen(names[k]));
        assert_memory_equal(s, names[k], n);
        bool ab = true;
        assert_true(hd_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &ab));
        assert_false(ab);
        hd_gguf_close(g);
        hd_tokenizer *b = hd_tokenizer_load(path, &e);
        if (!b) fprintf(stderr, "%s\n", e.msg);
        assert_non_null(b);
        assert_int_equal(hd_tokenizer_n_vocab(b), hd_tokenizer_n_vocab(a));
        assert_string_equal(hd_tokenizer_pre_name(b), names[k]);
        assert_true(hd_tokenizer_is_special(b, 262));
        assert_false(hd_tokenizer_is_special(b, 263));
        assert_int_equal(hd_tokenizer_eos(b), 261);
        assert_false(hd_tokenizer_adds_bos(b));
        same_encodings(a, b, texts, sizeof texts / sizeof *texts);
        /* the merges decide: "abc" -> a bc (b c has priority), " b" merged, z -> unk */
        expect_ids(b, "abc", 0, IDS('a', 259));
        expect_ids(b, "z b", 0, IDS(256, 260));
        /* and from the GGUF back to tokenizer.json + tokenizer_config.json */
        char dir[1024], cmd[1100];
        snprintf(dir, sizeof dir, "%s/hf_%s", tu_tmpdir(), names[k]);
        snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
        assert_int_equal(system(cmd), 0);
        assert_int_equal(hd_tokenizer_write_hf(b, dir, 261, &e), HD_OK);
        hd_tokenizer *c = hd_tokenizer_load(dir, &e);
        if (!c) fprintf(stderr, "%s\n", e.msg);
        assert_non_null(c);
        assert_string_equal(hd_tokenizer_pre_name(c), names[k]);
        assert_int_equal(hd_tokenizer_eos(c), 261);
        assert_false(hd_tokenizer_is_special(c, 263));
        expect_ids(c, "z b", 0, IDS(256, 260));
        same_encodings(a, c, texts, sizeof texts / sizeof *texts);
        hd_tokenizer_free(c);
        hd_tokenizer_free(a);
        hd_tokenizer_free(b);
        free(j);
    }
    /* no llama.cpp name: export refused */
    char *j = make_json(NULL, NULL, "{\"type\": \"NFC\"}", BL_REGEX, NULL, NULL, NULL, -1);
    hd_tokenizer *t = load_json(j, "nfc.json");
    hd_error e = {0};
    hd_gguf_writer *w = hd_gguf_writer_create(&e);
    assert_int_equal(hd_tokenizer_to_gguf(t, w, 0, &e), HD_ERR_UNSUPPORTED);
    assert_non_null(strstr(e.msg, "tokenizer.ggml.pre"));
    hd_gguf_writer_free(w);
    hd_tokenizer_free(t);
    free(j);
}

/* tokenizer.json export of a pipeline with every kind of step, normalizer,
 * flagged added tokens and a BOS template: reloaded, it encodes the same */
static void test_hf_round_trip(void **state) {
    (void)state;
    static const char *const extra[] = {"ab", "12", " a", NULL};
    static const char *const merges[] = {"a|b", "1|2", " |a", NULL};
    const char *added = "{\"id\": 259, \"content\": \"<s>\", \"special\": true}, "
                        "{\"id\": 260, \"content\": \"<l>\", \"special\": true, \"lstrip\": true}, "
                        "{\"id\": 261, \"content\": \"<r>\", \"special\": false, \"rstrip\": true}, "
                        "{\"id\": 262, \"content\": \"<w>\", \"special\": true, \"single_word\": true}";
    const char *norm = "{\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"NFKC\"}, {\"type\": \"Replace\", "
                       "\"pattern\": {\"String\": \"\\\"\"}, \"content\": \"'\"}, {\"type\": \"Replace\", \"pattern\": "
                       "{\"Regex\": \"\\\\s{2,}\"}, \"content\": \" \"}, {\"type\": \"Prepend\", \"prepend\": \"#\"}]}";
    const char *pre = "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\": "
                      "\"[0-9]+\"}, \"behavior\": \"MergedWithNext\", \"invert\": true}, {\"type\": \"Punctuation\", "
                      "\"behavior\": \"Contiguous\"}, {\"type\": \"Digits\", \"individual_digits\": false}, "
                      "{\"type\": \"Whitespace\"}, {\"type\": \"ByteLevel\", \"add_prefix_space\": true, "
                      "\"use_regex\": true}]}";
    const char *post = "{\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"<s>\"}}, "
                       "{\"Sequence\": {\"id\": \"A\"}}]}";
    char *j = make_json(extra, merges, norm, pre, post, added, "\"ignore_merges\": true", -1);
    hd_tokenizer *a = load_json(j, "full.json");
    assert_null(hd_tokenizer_pre_name(a));
    char dir[1024], cmd[1100];
    snprintf(dir, sizeof dir, "%s/hf_full", tu_tmpdir());
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    assert_int_equal(system(cmd), 0);
    hd_error e = {0};
    assert_int_equal(hd_tokenizer_write_hf(a, dir, 259, &e), HD_OK);
    hd_tokenizer *b = hd_tokenizer_load(dir, &e);
    if (!b) fprintf(stderr, "%s\n", e.msg);
    assert_non_null(b);
    assert_true(hd_tokenizer_adds_bos(b));
    assert_int_equal(hd_tokenizer_bos(b), 259);
    const char *texts[] = {"ab ab  12 \"q\" x<l>  y<r>  z <w> w<w>", "\xef\xac\x81 ab12ab, 1a2b!? \t\n a", "", "<s>ab<s>",
                           "\xe4\xb8\xad\xe6\x96\x87 ...!!! 9 99 999"};
    same_encodings(a, b, texts, sizeof texts / sizeof *texts);
    hd_tokenizer_free(a);
    hd_tokenizer_free(b);
    free(j);
}

static void expect_bad(const char *json, hd_status st, const char *needle) {
    hd_error e = {0};
    hd_tokenizer *t = hd_tokenizer_from_hf_json(json, strlen(json), "bad.json", &e);
    if (t || e.code != st || !strstr(e.msg, needle)) fprintf(stderr, "unexpected: %s\n", t ? "(loaded)" : e.msg);
    assert_null(t);
    assert_int_equal(e.code, st);
    assert_non_null(strstr(e.msg, "bad.json"));
    assert_non_null(strstr(e.msg, needle));
}

static void test_bad_files(void **state) {
    (void)state;
    static const struct { const char *pre, *norm, *post, *model_extra; const char *merge; hd_status st; const char *needle; } cases[] = {
        {"{\"type\": \"Metaspace\"}", NULL, NULL, NULL, NULL, HD_ERR_UNSUPPORTED, "Metaspace"},
        {"{\"type\": \"Split\", \"pattern\": {\"Regex\": \"(a\"}, \"behavior\": \"Isolated\"}", NULL, NULL, NULL, NULL,
         HD_ERR_UNSUPPORTED, "does not compile"},
        {"{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"String\": \"-\"}, "
         "\"behavior\": \"Sideways\"}, {\"type\": \"ByteLevel\"}]}", NULL, NULL, NULL, NULL, HD_ERR_FORMAT, "Sideways"},
        {"{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {}}, {\"type\": \"ByteLevel\"}]}",
         NULL, NULL, NULL, NULL, HD_ERR_FORMAT, "pattern"},
        {"{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"ByteLevel\"}, {\"type\": \"ByteLevel\"}]}", NULL, NULL,
         NULL, NULL, HD_ERR_UNSUPPORTED, "2 ByteLevel"},
        {BL_REGEX, "{\"type\": \"Lowercase\"}", NULL, NULL, NULL, HD_ERR_UNSUPPORTED, "Lowercase"},
        {BL_REGEX, "{\"type\": \"Replace\", \"pattern\": {\"String\": \"a\"}}", NULL, NULL, NULL, HD_ERR_FORMAT, "Replace"},
        {BL_REGEX, "{\"type\": \"Prepend\", \"prepend\": \"\xff\"}", NULL, NULL, NULL, HD_ERR_FORMAT, "not UTF-8"},
        {"{\"type\": \"Split\", \"pattern\": {\"Regex\": \"a\xc3\"}, \"behavior\": \"Isolated\"}", NULL, NULL, NULL, NULL,
         HD_ERR_UNSUPPORTED, "does not compile"},
        {BL_REGEX, NULL, "{\"type\": \"RobertaProcessing\"}", NULL, NULL, HD_ERR_UNSUPPORTED, "RobertaProcessing"},
        {BL_REGEX, NULL, "{\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"<q>\"}}, "
                          "{\"Sequence\": {\"id\": \"A\"}}]}", NULL, NULL, HD_ERR_FORMAT, "<q>"},
        {BL_REGEX, NULL, NULL, "\"byte_fallback\": true", NULL, HD_ERR_UNSUPPORTED, "byte_fallback"},
        {BL_REGEX, NULL, NULL, "\"dropout\": 0.1", NULL, HD_ERR_UNSUPPORTED, "dropout"},
        {BL_REGEX, NULL, NULL, "\"continuing_subword_prefix\": \"##\"", NULL, HD_ERR_UNSUPPORTED, "continuing_subword"},
        {BL_REGEX, NULL, NULL, "\"unk_token\": \"<nope>\"", NULL, HD_ERR_FORMAT, "unk_token"},
        {BL_REGEX, NULL, NULL, NULL, "x|y", HD_ERR_FORMAT, "merged token"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *merges[] = {cases[i].merge, NULL};
        char *j = make_json(NULL, cases[i].merge ? merges : NULL, cases[i].norm, cases[i].pre, cases[i].post, NULL,
                            cases[i].model_extra, -1);
        expect_bad(j, cases[i].st, cases[i].needle);
        free(j);
    }
    /* a non-byte-level decoder */
    char *j = make_json(NULL, NULL, NULL, BL_REGEX, NULL, NULL, NULL, -1);
    char *d = strstr(j, "{\"type\": \"ByteLevel\"}");
    assert_non_null(d);
    char *j2 = malloc(strlen(j) + 32);
    sprintf(j2, "%.*s{\"type\": \"WordPiece\"}%s", (int)(d - j), j, d + strlen("{\"type\": \"ByteLevel\"}"));
    expect_bad(j2, HD_ERR_UNSUPPORTED, "WordPiece");
    free(j2);
    free(j);
    /* merges in "a b" form with a third part */
    j = make_json(NULL, NULL, NULL, BL_REGEX, NULL, NULL, NULL, -1);
    char *m = strstr(j, "\"merges\": []");
    assert_non_null(m);
    j2 = malloc(strlen(j) + 32);
    sprintf(j2, "%.*s\"merges\": [\"a b c\"]%s", (int)(m - j), j, m + strlen("\"merges\": []"));
    expect_bad(j2, HD_ERR_FORMAT, "not 'A B'");
    free(j2);
    free(j);
}

/* truncated / bit-flipped generic tokenizer.json: a tokenizer or an error
 * naming the file; whatever loads encodes and decodes (ASan/UBSan too) */
static void test_mutations(void **state) {
    (void)state;
    static const char *const extra[] = {"ab", "12", NULL};
    static const char *const merges[] = {"a|b", "1|2", NULL};
    const char *added = "{\"id\": 258, \"content\": \"<s>\", \"special\": true, \"lstrip\": true}";
    char pre[512];
    snprintf(pre, sizeof pre,
             "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Digits\", \"individual_digits\": true}, "
             "{\"type\": \"Split\", \"pattern\": {\"Regex\": \"\\\\s+|[a-z]+\"}, \"behavior\": \"MergedWithNext\"}, %s]}",
             BL_REGEX);
    char *j = make_json(extra, merges, "{\"type\": \"NFC\"}", pre, NULL, added, NULL, -1);
    size_t n = strlen(j);
    hd_tokenizer_free(load_json(j, "ok.json"));
    tu_rng r;
    tu_rng_seed(&r, 77);
    char *b = malloc(n + 1);
    for (int it = 0; it < 400; it++) {
        memcpy(b, j, n);
        size_t len = n;
        if (it % 2 == 0) {
            len = (size_t)(tu_rng_u64(&r) % n);
        } else {
            int flips = 1 + (int)(tu_rng_u64(&r) % 4);
            for (int f = 0; f < flips; f++) b[tu_rng_u64(&r) % n] ^= (char)(1u << (tu_rng_u64(&r) % 8));
        }
        hd_error e = {0};
        hd_tokenizer *t = hd_tokenizer_from_hf_json(b, len, "mut.json", &e);
        if (!t) {
            assert_true(e.code != HD_OK);
            assert_non_null(strstr(e.msg, "mut.json"));
            continue;
        }
        const char *text = "Hello, world! 123 ab  <s> \xe4\xb8\xad\xf0\x9f\xa6\x99\xff e\xcc\x81";
        int32_t ids[256];
        char back[512];
        size_t k, m;
        hd_status st = hd_tokenizer_encode(t, text, strlen(text), HD_TOKENIZER_ALLOW_SPECIAL, ids, 256, &k, &e);
        if (st == HD_OK) assert_int_equal(hd_tokenizer_decode(t, ids, k, 0, back, sizeof back, &m, &e), HD_OK);
        else assert_non_null(strstr(e.msg, "tokenizer"));
        hd_tokenizer_free(t);
    }
    free(b);
    free(j);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_behaviors),
        cmocka_unit_test(test_ignore_merges),
        cmocka_unit_test(test_long_text_cache),
        cmocka_unit_test(test_digits),
        cmocka_unit_test(test_whitespace_punct),
        cmocka_unit_test(test_added_tokens),
        cmocka_unit_test(test_normalizers),
        cmocka_unit_test(test_unk_and_invalid),
        cmocka_unit_test(test_regex),
        cmocka_unit_test(test_post_processor),
        cmocka_unit_test(test_config_bos_eos),
        cmocka_unit_test(test_gguf_round_trip),
        cmocka_unit_test(test_hf_round_trip),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
