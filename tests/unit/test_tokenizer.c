/* tests/unit/test_tokenizer.c — the Llama 3 tokenizer against the fixture
 * vectors (llama.cpp llama-bpe, llama3-tokenizer-js, Meta llama-models), from
 * tokenizer.model, tokenizer.json, and after round trips through our GGUF and
 * HF exports; special-token names against special_tokens.tsv; exported merges
 * against Meta-Llama-3's tokenizer.json; invalid UTF-8; the two BPE variants
 * against each other; bad files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/gguf.h"
#include "lm/tokenizer.h"
#include "lm/tokenizer_internal.h"
#include "testutil.h"

enum { SRC_MODEL, SRC_JSON, SRC_GGUF, SRC_HF, N_SRC };
static const char *const src_name[N_SRC] = {"tokenizer.model", "tokenizer.json", "GGUF round trip",
                                            "HF round trip"};
static hd_tokenizer *tok[N_SRC];

static hd_tokenizer *load_fixture(const char *rel) {
    char p[1024];
    hd_error e = {0};
    hd_tokenizer *t = hd_tokenizer_load(tu_fixture(p, sizeof p, rel), &e);
    if (!t) fprintf(stderr, "load %s: %s\n", rel, e.msg);
    return t;
}

static int setup(void **state) {
    (void)state;
    hd_error e = {0};
    tok[SRC_MODEL] = load_fixture("tokenizer/llama3_tokenizer.model");
    tok[SRC_JSON] = load_fixture("tokenizer/tokenizer.json");
    if (!tok[SRC_MODEL] || !tok[SRC_JSON]) return -1;
    /* GGUF written by hd_tokenizer_to_gguf from tokenizer.model */
    char path[1024];
    snprintf(path, sizeof path, "%s/tok.gguf", tu_tmpdir());
    hd_gguf_writer *w = hd_gguf_writer_create(&e);
    if (!w || hd_tokenizer_to_gguf(tok[SRC_MODEL], w, 128009, &e) || hd_gguf_writer_write(w, path, &e)) {
        fprintf(stderr, "gguf export: %s\n", e.msg);
        hd_gguf_writer_free(w);
        return -1;
    }
    hd_gguf_writer_free(w);
    tok[SRC_GGUF] = hd_tokenizer_load(path, &e);
    if (!tok[SRC_GGUF]) fprintf(stderr, "gguf load: %s\n", e.msg);
    /* HF folder written by hd_tokenizer_write_hf from tokenizer.model */
    snprintf(path, sizeof path, "%s/hf", tu_tmpdir());
    {
        char cmd[1100];
        snprintf(cmd, sizeof cmd, "mkdir -p '%s'", path);
        if (system(cmd) != 0) return -1;
    }
    if (hd_tokenizer_write_hf(tok[SRC_MODEL], path, 128009, &e)) {
        fprintf(stderr, "hf export: %s\n", e.msg);
        return -1;
    }
    tok[SRC_HF] = hd_tokenizer_load(path, &e);   /* a directory: reads its tokenizer.json */
    if (!tok[SRC_HF]) fprintf(stderr, "hf load: %s\n", e.msg);
    return tok[SRC_GGUF] && tok[SRC_HF] ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    for (int i = 0; i < N_SRC; i++) hd_tokenizer_free(tok[i]);
    return 0;
}

static cJSON *load_json(const char *rel) {
    char p[1024];
    size_t n;
    char *s = tu_read_file(tu_fixture(p, sizeof p, rel), &n);
    assert_non_null(s);
    cJSON *j = cJSON_ParseWithLength(s, n);
    free(s);
    assert_non_null(j);
    return j;
}

/* encode text and compare with want[0..nw) */
static void check_encode(hd_tokenizer *t, const char *src, const char *text, size_t len, unsigned flags,
                         const int32_t *want, size_t nw) {
    size_t cap = len + 2, n = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    hd_error e = {0};
    assert_int_equal(hd_tokenizer_encode(t, text, len, flags, ids, cap, &n, &e), HD_OK);
    bool same = n == nw && memcmp(ids, want, n * sizeof *ids) == 0;
    if (!same) {
        fprintf(stderr, "[%s] encode mismatch for '%.*s'\n  got :", src, (int)(len > 200 ? 200 : len), text);
        for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", ids[i]);
        fprintf(stderr, "\n  want:");
        for (size_t i = 0; i < nw; i++) fprintf(stderr, " %d", want[i]);
        fprintf(stderr, "\n");
    }
    free(ids);
    assert_true(same);
}

static void check_decode(hd_tokenizer *t, const char *src, const int32_t *ids, size_t n, const char *want,
                         size_t wlen) {
    size_t cap = wlen + 64, got = 0;
    char *buf = malloc(cap);
    hd_error e = {0};
    assert_int_equal(hd_tokenizer_decode(t, ids, n, 0, buf, cap, &got, &e), HD_OK);
    if (got != wlen || memcmp(buf, want, wlen) != 0)
        fprintf(stderr, "[%s] decode mismatch: got '%.*s' want '%.*s'\n", src, (int)got, buf, (int)wlen, want);
    assert_int_equal(got, wlen);
    assert_memory_equal(buf, want, wlen);
    assert_int_equal(buf[got], 0);
    free(buf);
}

static size_t json_ids(const cJSON *arr, int32_t *out, size_t cap) {
    size_t n = 0;
    for (const cJSON *c = arr->child; c; c = c->next) {
        assert_true(n < cap);
        out[n++] = (int32_t)c->valuedouble;
    }
    return n;
}

/* ---- vocabulary and names ---------------------------------------------------- */

static void test_sizes_and_ids(void **state) {
    (void)state;
    for (int s = 0; s < N_SRC; s++) {
        hd_tokenizer *t = tok[s];
        assert_int_equal(hd_tokenizer_n_vocab(t), 128256);
        assert_int_equal(hd_tokenizer_n_ranked(t), 128000);
        assert_int_equal(hd_tokenizer_bos(t), 128000);
        assert_int_equal(hd_tokenizer_eos(t), 128001);
        assert_int_equal(hd_tokenizer_eot(t), 128009);
        assert_int_equal(hd_tokenizer_find_special(t, "<|start_header_id|>"), 128006);
        assert_int_equal(hd_tokenizer_find_special(t, "<|nonexistent|>"), -1);
        assert_true(hd_tokenizer_is_special(t, 128255));
        assert_false(hd_tokenizer_is_special(t, 127999));
        assert_false(hd_tokenizer_is_special(t, 128256));
        size_t len;
        assert_null(hd_tokenizer_token_bytes(t, 128256, &len));
        assert_null(hd_tokenizer_token_bytes(t, -1, &len));
        const char *b = hd_tokenizer_token_bytes(t, 271, &len);   /* "\n\n" */
        assert_int_equal(len, 2);
        assert_memory_equal(b, "\n\n", 2);
    }
    /* Meta names: eom exists; tokenizer.json (Llama 3.0 names) has none */
    assert_int_equal(hd_tokenizer_eom(tok[SRC_MODEL]), 128008);
    assert_int_equal(hd_tokenizer_find_special(tok[SRC_MODEL], "<|image|>"), 128011);
    assert_int_equal(hd_tokenizer_eom(tok[SRC_JSON]), -1);
    int32_t stop[8];
    assert_int_equal(hd_tokenizer_stop_ids(tok[SRC_MODEL], stop, 8), 3);
    assert_int_equal(stop[0], 128001);
    assert_int_equal(stop[1], 128008);
    assert_int_equal(stop[2], 128009);
    assert_true(hd_tokenizer_is_stop(tok[SRC_MODEL], 128008));
    assert_false(hd_tokenizer_is_stop(tok[SRC_MODEL], 128000));
    /* the GGUF carries eos_token_id 128009, already a stop id */
    assert_int_equal(hd_tokenizer_stop_ids(tok[SRC_GGUF], stop, 8), 3);
}

/* every special name under every scheme, against special_tokens.tsv */
static void test_special_names(void **state) {
    (void)state;
    char p[1024];
    size_t n;
    char *tsv = tu_read_file(tu_fixture(p, sizeof p, "tokenizer/special_tokens.tsv"), &n);
    assert_non_null(tsv);
    /* columns: id, 3.0 (tokenizer.json), 3.1 (tokenizer-js), llama-models */
    static const hd_tokenizer_names col_scheme[3] = {HD_TOKENIZER_NAMES_LLAMA3_0, HD_TOKENIZER_NAMES_LLAMA3_1,
                                                     HD_TOKENIZER_NAMES_META};
    hd_tokenizer *own[3] = {tok[SRC_JSON], NULL, tok[SRC_MODEL]};   /* files' own names */
    hd_tokenizer *t = load_fixture("tokenizer/llama3_tokenizer.model");
    assert_non_null(t);
    int rows = 0;
    for (int c = 0; c < 3; c++) {
        hd_error e = {0};
        assert_int_equal(hd_tokenizer_set_names(t, col_scheme[c], &e), HD_OK);
        char *line = tsv, *end = tsv + n;
        rows = 0;
        while (line < end) {
            char *nl = memchr(line, '\n', (size_t)(end - line));
            if (!nl) nl = end;
            if (line[0] >= '0' && line[0] <= '9') {
                char *f[4];
                int k = 0;
                char *q = line;
                f[k++] = q;
                for (; q < nl && k < 4; q++)
                    if (*q == '\t') f[k++] = q + 1;
                assert_int_equal(k, 4);
                int32_t id = atoi(f[0]);
                char *name = f[1 + c];
                size_t nlen = (size_t)((c < 2 ? f[2 + c] - 1 : nl) - name);
                size_t len;
                const char *b = hd_tokenizer_token_bytes(t, id, &len);
                assert_int_equal(len, nlen);
                assert_memory_equal(b, name, nlen);
                char key[128];
                assert_true(nlen < sizeof key);
                memcpy(key, name, nlen);
                key[nlen] = 0;
                assert_int_equal(hd_tokenizer_find_special(t, key), id);
                if (own[c]) {
                    b = hd_tokenizer_token_bytes(own[c], id, &len);
                    assert_int_equal(len, nlen);
                    assert_memory_equal(b, name, nlen);
                }
                rows++;
            }
            line = nl + 1;
        }
        assert_int_equal(rows, 256);
    }
    free(tsv);
    hd_tokenizer_free(t);
}

/* ---- fixture vectors ------------------------------------------------------------ */

static void test_llama_bpe_vectors(void **state) {
    (void)state;
    char p[1024];
    size_t ni, no;
    char *inp = tu_read_file(tu_fixture(p, sizeof p, "tokenizer/llama-bpe.inp"), &ni);
    char *out = tu_read_file(tu_fixture(p, sizeof p, "tokenizer/llama-bpe.out"), &no);
    assert_non_null(inp);
    assert_non_null(out);
    static const char sep[] = "\n__ggml_vocab_test__\n";
    int cases = 0;
    char *a = inp, *end = inp + ni, *ol = out, *oend = out + no;
    int32_t want[4096];
    while (a < end) {
        char *b = memmem(a, (size_t)(end - a), sep, sizeof sep - 1);
        if (!b) break;
        char *onl = memchr(ol, '\n', (size_t)(oend - ol));
        assert_non_null(onl);
        size_t nw = 0;
        for (char *q = ol; q < onl;) {
            char *e;
            long v = strtol(q, &e, 10);
            if (e == q) break;
            want[nw++] = (int32_t)v;
            q = e;
        }
        for (int s = 0; s < N_SRC; s++) {
            check_encode(tok[s], src_name[s], a, (size_t)(b - a), 0, want, nw);
            check_decode(tok[s], src_name[s], want, nw, a, (size_t)(b - a));
        }
        cases++;
        a = b + sizeof sep - 1;
        ol = onl + 1;
    }
    assert_int_equal(cases, 46);
    free(inp);
    free(out);
}

static void test_tokenizer_js_vectors(void **state) {
    (void)state;
    cJSON *j = load_json("tokenizer/llama3-tokenizer-js_vectors.json");
    int32_t ids[4096];
    for (int s = 0; s < N_SRC; s++) {
        /* the vectors use Llama 3.1 special names */
        hd_error e = {0};
        assert_int_equal(hd_tokenizer_set_names(tok[s], HD_TOKENIZER_NAMES_LLAMA3_1, &e), HD_OK);
        int cases = 0;
        for (const cJSON *c = cJSON_GetObjectItem(j, "cases")->child; c; c = c->next) {
            const char *op = cJSON_GetObjectItem(c, "op")->valuestring;
            const char *text = cJSON_GetObjectItem(c, "text")->valuestring;
            size_t n = json_ids(cJSON_GetObjectItem(c, "ids"), ids, 4096);
            if (strcmp(op, "encode") == 0) {
                unsigned f = HD_TOKENIZER_ALLOW_SPECIAL;
                if (cJSON_IsTrue(cJSON_GetObjectItem(c, "bos"))) f |= HD_TOKENIZER_ADD_BOS;
                if (cJSON_IsTrue(cJSON_GetObjectItem(c, "eos"))) f |= HD_TOKENIZER_ADD_EOS;
                check_encode(tok[s], src_name[s], text, strlen(text), f, ids, n);
            } else {
                assert_string_equal(op, "decode");
                check_decode(tok[s], src_name[s], ids, n, text, strlen(text));
            }
            cases++;
        }
        assert_int_equal(cases, 42);
    }
    /* back to the files' own names */
    hd_error e = {0};
    assert_int_equal(hd_tokenizer_set_names(tok[SRC_JSON], HD_TOKENIZER_NAMES_LLAMA3_0, &e), HD_OK);
    for (int s = 0; s < N_SRC; s++)
        if (s != SRC_JSON) assert_int_equal(hd_tokenizer_set_names(tok[s], HD_TOKENIZER_NAMES_META, &e), HD_OK);
    cJSON_Delete(j);
}

static void test_llama_models_chat_vectors(void **state) {
    (void)state;
    cJSON *j = load_json("tokenizer/llama-models_chat_vectors.json");
    int32_t ids[512];
    for (int s = 0; s < N_SRC; s++) {
        int cases = 0;
        for (const cJSON *c = cJSON_GetObjectItem(j, "cases")->child; c; c = c->next) {
            const char *op = cJSON_GetObjectItem(c, "op")->valuestring;
            size_t n = json_ids(cJSON_GetObjectItem(c, "ids"), ids, 512);
            if (strcmp(op, "encode") == 0) {
                const char *text = cJSON_GetObjectItem(c, "text")->valuestring;
                check_encode(tok[s], src_name[s], text, strlen(text), HD_TOKENIZER_ADD_BOS | HD_TOKENIZER_ADD_EOS,
                             ids, n);
            } else if (strcmp(op, "decode") == 0) {
                const char *text = cJSON_GetObjectItem(c, "text")->valuestring;
                check_decode(tok[s], src_name[s], ids, n, text, strlen(text));
            } else {
                /* the chat layout of SPEC §1.9, built here and compared with
                 * the rendered prompt, then encoded with specials parsed */
                char prompt[2048] = "";
                const cJSON *msgs = cJSON_GetObjectItem(c, "messages");
                if (strcmp(op, "encode_message") == 0) {
                    snprintf(prompt, sizeof prompt, "<|start_header_id|>%s<|end_header_id|>\n\n%s<|eot_id|>",
                             cJSON_GetObjectItem(c, "role")->valuestring,
                             cJSON_GetObjectItem(c, "content")->valuestring);
                } else {
                    strcat(prompt, "<|begin_of_text|>");
                    for (const cJSON *m = msgs->child; m; m = m->next) {
                        size_t l = strlen(prompt);
                        snprintf(prompt + l, sizeof prompt - l,
                                 "<|start_header_id|>%s<|end_header_id|>\n\n%s<|eot_id|>",
                                 cJSON_GetObjectItem(m, "role")->valuestring,
                                 cJSON_GetObjectItem(m, "content")->valuestring);
                    }
                    strcat(prompt, "<|start_header_id|>assistant<|end_header_id|>\n\n");
                }
                assert_string_equal(prompt, cJSON_GetObjectItem(c, "rendered")->valuestring);
                check_encode(tok[s], src_name[s], prompt, strlen(prompt), HD_TOKENIZER_ALLOW_SPECIAL, ids, n);
                check_decode(tok[s], src_name[s], ids, n, prompt, strlen(prompt));
            }
            cases++;
        }
        assert_int_equal(cases, 4);
    }
    cJSON_Delete(j);
}

/* SPEC §1.8's HF Llama-3.2-Vision vector, with <|image|> as Meta's 128011 */
static void test_spec_vector(void **state) {
    (void)state;
    const char *text = "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n<|image|>Describe this image in "
                       "two sentences<|eot_id|><|start_header_id|>assistant<|end_header_id|>";
    const int32_t want[] = {128000, 128006, 882,   128007, 271,    128011, 75885, 420,
                            2217,   304,    1403,  23719,  128009, 128006, 78191, 128007};
    check_encode(tok[SRC_MODEL], "tokenizer.model", text, strlen(text), HD_TOKENIZER_ALLOW_SPECIAL, want,
                 sizeof want / sizeof *want);
}

/* pre-tokenizer pieces; expectations computed with Python's `regex` module on
 * the same pattern (see tests/parity/tokenizer_ref.py) */
static void test_pretok_pieces(void **state) {
    (void)state;
    static const struct { const char *text; const char *pieces[20]; } cases[] = {
        {"x'\xc5\xbf" "a 'Kb \xe2\x84\xaa", {"x", "'\xc5\xbf", "a", " '", "Kb", " \xe2\x84\xaa", NULL}},
        {"I'M don'T we'Re they'VE he'LL she'd 'x 'r 'rE", {"I", "'M", " don", "'T", " we", "'Re", " they", "'VE", " he", "'LL", " she", "'d", " '", "x", " '", "r", " '", "rE", NULL}},
        {"   hello", {"  ", " hello", NULL}},
        {"a  \x0a  b", {"a", "  \x0a", " ", " b", NULL}},
        {"  \x0a\x0a  ", {"  \x0a\x0a", "  ", NULL}},
        {"a \x09\x0a", {"a", " \x09\x0a", NULL}},
        {"!!!\x0a\x0a\x0ax", {"!!!\x0a\x0a\x0a", "x", NULL}},
        {" !?\x0d\x0a", {" !?\x0d\x0a", NULL}},
        {"\x09!x", {"\x09", "!x", NULL}},
        {"1234567", {"123", "456", "7", NULL}},
        {"\xd9\xa3\xd9\xa4\xd9\xa5\xd9\xa6", {"\xd9\xa3\xd9\xa4\xd9\xa5", "\xd9\xa6", NULL}},
        {"\xe2\x85\xa7\xc2\xbd\xe2\x91\xa0", {"\xe2\x85\xa7\xc2\xbd\xe2\x91\xa0", NULL}},
        {"e\xcc\x81t\xcc\x81", {"e", "\xcc\x81t", "\xcc\x81", NULL}},
        {"\xcc\x81" "abc", {"\xcc\x81" "abc", NULL}},
        {"\x22hello\x22 (world)", {"\x22hello", "\x22", " (", "world", ")", NULL}},
        {"a\xc2\xa0" "b\xe3\x80\x80" "c\xe2\x80\x83 d", {"a", "\xc2\xa0" "b", "\xe3\x80\x80" "c", "\xe2\x80\x83", " d", NULL}},
        {"x\x1cy", {"x", "\x1cy", NULL}},
        {"\xe4\xb8\xad\xe6\x96\x87" "abc123", {"\xe4\xb8\xad\xe6\x96\x87" "abc", "123", NULL}},
        {"\xf0\x9f\xa6\x99\xf0\x9f\xa6\x99 x", {"\xf0\x9f\xa6\x99\xf0\x9f\xa6\x99", " x", NULL}},
        {" \xf0\x9f\xa6\x99", {" \xf0\x9f\xa6\x99", NULL}},
        {"\xe0\xa4\xa8\xe0\xa4\xae\xe0\xa4\xb8\xe0\xa5\x8d\xe0\xa4\xa4\xe0\xa5\x87", {"\xe0\xa4\xa8\xe0\xa4\xae\xe0\xa4\xb8", "\xe0\xa5\x8d\xe0\xa4\xa4", "\xe0\xa5\x87", NULL}},
        {"\x0d\x0d\x0a \x0d", {"\x0d\x0d\x0a \x0d", NULL}},
        {"    ", {"    ", NULL}},
        {" ", {" ", NULL}},
        {"\x0a", {"\x0a", NULL}},
        {"a\xe2\x80\xa8" "b", {"a", "\xe2\x80\xa8" "b", NULL}},
        {"\xe1\xa0\x8ex", {"\xe1\xa0\x8ex", NULL}},
        {"'s's", {"'s", "'s", NULL}},
        {"$$$ 100$", {"$$$", " ", "100", "$", NULL}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const uint8_t *s = (const uint8_t *)cases[c].text;
        size_t n = strlen(cases[c].text), p = 0;
        int k = 0;
        while (p < n) {
            size_t e = hd_tok_pretok_next(s, n, p);
            const char *want = cases[c].pieces[k++];
            assert_non_null(want);
            if (e - p != strlen(want) || memcmp(s + p, want, e - p) != 0)
                fprintf(stderr, "case %zu piece %d: got '%.*s' want '%s'\n", c, k - 1, (int)(e - p), s + p, want);
            assert_int_equal(e - p, strlen(want));
            assert_memory_equal(s + p, want, e - p);
            p = e;
        }
        assert_null(cases[c].pieces[k]);
    }
}

/* the ASCII fast path agrees with utf8proc; the GPT-2 byte map is a bijection */
static void test_classes_and_gpt2_map(void **state) {
    (void)state;
    for (int c = 0; c < 128; c++) assert_int_equal(hd_tok_class_of_ascii((uint8_t)c), hd_tok_class_of_cp(c));
    assert_int_equal(hd_tok_class_of_cp(-1), 16);
    assert_int_equal(hd_tok_class_of_cp(0x4e2d), 1);    /* 中 Lo */
    assert_int_equal(hd_tok_class_of_cp(0x2167), 2);    /* Ⅷ Nl */
    assert_int_equal(hd_tok_class_of_cp(0x3000), 4);    /* ideographic space */
    assert_int_equal(hd_tok_class_of_cp(0x0301), 0);    /* combining acute: Mn */
    assert_int_equal(hd_tok_class_of_cp(0x200b), 0);    /* zero width space: Cf, not White_Space */
    bool seen[324] = {false};
    for (int b = 0; b < 256; b++) {
        uint32_t cp = hd_tok_gpt2_cp((uint8_t)b);
        assert_true(cp < 324);
        assert_false(seen[cp]);
        seen[cp] = true;
        char u[4];
        uint8_t back[4];
        size_t l = hd_tok_gpt2_encode((const uint8_t[]){(uint8_t)b}, 1, u);
        assert_int_equal(hd_tok_gpt2_decode(u, l, back), 1);
        assert_int_equal(back[0], b);
    }
    assert_int_equal(hd_tok_gpt2_cp(' '), 0x120);   /* Ġ */
    assert_int_equal(hd_tok_gpt2_cp('\n'), 0x10a);  /* Ċ */
    assert_int_equal(hd_tok_gpt2_cp(0xad), 0x143);  /* Ń */
    uint8_t out[8];
    assert_int_equal(hd_tok_gpt2_decode("\xc5\x84", 2, out), -1);   /* U+0144: outside the map */
}

/* ---- special-token parsing ---------------------------------------------------------- */

static void test_allow_special(void **state) {
    (void)state;
    hd_tokenizer *t = tok[SRC_MODEL];
    const char *text = "a<|eot_id|>";
    int32_t ids[32];
    size_t n;
    hd_error e = {0};
    assert_int_equal(hd_tokenizer_encode(t, text, strlen(text), HD_TOKENIZER_ALLOW_SPECIAL, ids, 32, &n, &e), HD_OK);
    assert_int_equal(n, 2);
    assert_int_equal(ids[1], 128009);
    /* without it: ordinary text, no special id, decodes back to the same bytes */
    assert_int_equal(hd_tokenizer_encode(t, text, strlen(text), 0, ids, 32, &n, &e), HD_OK);
    assert_true(n > 2);
    for (size_t i = 0; i < n; i++) assert_true(ids[i] < 128000);
    check_decode(t, "no-special", ids, n, text, strlen(text));
    /* a name cut short and unknown names stay text */
    const char *part = "<|eot_id|<|eot_id>";
    assert_int_equal(hd_tokenizer_encode(t, part, strlen(part), HD_TOKENIZER_ALLOW_SPECIAL, ids, 32, &n, &e), HD_OK);
    for (size_t i = 0; i < n; i++) assert_true(ids[i] < 128000);
    /* SKIP_SPECIAL leaves them out of decoded text */
    int32_t mix[] = {128000, 40, 128009};
    char buf[16];
    assert_int_equal(hd_tokenizer_decode(t, mix, 3, HD_TOKENIZER_SKIP_SPECIAL, buf, sizeof buf, &n, &e), HD_OK);
    assert_int_equal(n, 1);
    assert_string_equal(buf, "I");
}

static void test_buffers_and_args(void **state) {
    (void)state;
    hd_tokenizer *t = tok[SRC_MODEL];
    int32_t ids[3];
    size_t n;
    hd_error e = {0};
    const char *text = "This is a test sentence.";   /* 6 tokens */
    assert_int_equal(hd_tokenizer_encode(t, text, strlen(text), 0, ids, 3, &n, &e), HD_ERR_ARG);
    assert_int_equal(n, 6);
    assert_int_equal(ids[0], 2028);
    assert_int_equal(ids[2], 264);
    assert_non_null(strstr(e.msg, "needs 6"));
    /* size query with no buffer */
    assert_int_equal(hd_tokenizer_encode(t, text, strlen(text), HD_TOKENIZER_ADD_BOS, NULL, 0, &n, &e), HD_ERR_ARG);
    assert_int_equal(n, 7);
    /* empty text */
    assert_int_equal(hd_tokenizer_encode(t, "", 0, 0, ids, 3, &n, &e), HD_OK);
    assert_int_equal(n, 0);
    /* decode: bad id, small buffer */
    int32_t bad[] = {40, 128256};
    char buf[4];
    assert_int_equal(hd_tokenizer_decode(t, bad, 2, 0, buf, sizeof buf, &n, &e), HD_ERR_ARG);
    assert_non_null(strstr(e.msg, "128256"));
    int32_t big[] = {128000};
    assert_int_equal(hd_tokenizer_decode(t, big, 1, 0, buf, sizeof buf, &n, &e), HD_ERR_ARG);
    assert_int_equal(n, strlen("<|begin_of_text|>"));
    /* names: unknown scheme */
    assert_int_equal(hd_tokenizer_set_names(t, (hd_tokenizer_names)99, &e), HD_ERR_ARG);
}

/* ---- invalid UTF-8 and random bytes -------------------------------------------------- */

static int32_t byte_token(hd_tokenizer *t, uint8_t b) { return hd_tok_rank(t, &b, 1); }

static void test_invalid_utf8(void **state) {
    (void)state;
    hd_tokenizer *t = tok[SRC_MODEL];
    /* stray continuation, overlong, surrogate, > U+10FFFF, truncated */
    static const char *const bad[] = {"\x80", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82", "\xff"};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        size_t len = strlen(bad[k]);
        int32_t want[4];
        for (size_t i = 0; i < len; i++) want[i] = byte_token(t, (uint8_t)bad[k][i]);
        check_encode(t, "invalid", bad[k], len, 0, want, len);
    }
    /* an invalid byte stands alone between letters and ends a space run as \S */
    const char *s = "ab\xff" "cd";
    int32_t ids[16];
    size_t n;
    hd_error e = {0};
    assert_int_equal(hd_tokenizer_encode(t, s, 5, 0, ids, 16, &n, &e), HD_OK);
    assert_int_equal(n, 3);
    assert_int_equal(ids[0], hd_tok_rank(t, (const uint8_t *)"ab", 2));
    assert_int_equal(ids[1], byte_token(t, 0xff));
    assert_int_equal(ids[2], hd_tok_rank(t, (const uint8_t *)"cd", 2));
    assert_int_equal(hd_tokenizer_encode(t, "   \x80", 4, 0, ids, 16, &n, &e), HD_OK);
    assert_int_equal(n, 3);   /* "  " " " 0x80 as for any \S after spaces */
    assert_int_equal(ids[0], hd_tok_rank(t, (const uint8_t *)"  ", 2));
    assert_int_equal(ids[1], hd_tok_rank(t, (const uint8_t *)" ", 1));
    /* utf8_pending */
    assert_int_equal(hd_tokenizer_utf8_pending("a\xe2\x82", 3), 2);
    assert_int_equal(hd_tokenizer_utf8_pending("a\xe2\x82\xac", 4), 0);
    assert_int_equal(hd_tokenizer_utf8_pending("\xf0\x9f", 2), 2);
    assert_int_equal(hd_tokenizer_utf8_pending("\xf0", 1), 1);
    assert_int_equal(hd_tokenizer_utf8_pending("\x80\x80", 2), 0);
    assert_int_equal(hd_tokenizer_utf8_pending("\xc0", 1), 0);
    assert_int_equal(hd_tokenizer_utf8_pending("", 0), 0);
}

/* decode(encode(x)) == x for random byte strings biased to tricky content */
static void test_random_round_trip(void **state) {
    (void)state;
    hd_tokenizer *t = tok[SRC_MODEL];
    static const char *const atoms[] = {" ", "  ", "\n", "\r\n", "\t", "'s", "'LL", "'\xc5\xbf", "a", "Z", "7",
                                        "123456", "!", "...", "\xc3\xa9", "\xe4\xb8\xad", "\xf0\x9f\xa6\x99",
                                        "\xe2\x80\x83", "\xc2\xa0", "\x80", "\xff", "\xe2\x82", "<|eot_id|>",
                                        "hello", " world", "\x1c", "\xd9\xa3"};
    tu_rng r;
    tu_rng_seed(&r, 1234);
    char text[600];
    int32_t ids[700];
    char back[700];
    for (int it = 0; it < 3000; it++) {
        size_t len = 0;
        int k = (int)(tu_rng_u64(&r) % 40);
        for (int i = 0; i < k; i++) {
            if (tu_rng_u64(&r) % 4 == 0) {
                text[len++] = (char)(tu_rng_u64(&r) & 0xff);
            } else {
                const char *a = atoms[tu_rng_u64(&r) % (sizeof atoms / sizeof *atoms)];
                memcpy(text + len, a, strlen(a));
                len += strlen(a);
            }
        }
        size_t n, m;
        hd_error e = {0};
        assert_int_equal(hd_tokenizer_encode(t, text, len, 0, ids, len + 2, &n, &e), HD_OK);
        assert_true(n <= len);
        for (size_t i = 0; i < n; i++) assert_true(ids[i] >= 0 && ids[i] < 128000);
        assert_int_equal(hd_tokenizer_decode(t, ids, n, 0, back, sizeof back, &m, &e), HD_OK);
        assert_int_equal(m, len);
        assert_memory_equal(back, text, len);
        /* with specials parsed, the decoded text is still the input */
        assert_int_equal(hd_tokenizer_encode(t, text, len, HD_TOKENIZER_ALLOW_SPECIAL, ids, len + 2, &n, &e), HD_OK);
        assert_int_equal(hd_tokenizer_decode(t, ids, n, 0, back, sizeof back, &m, &e), HD_OK);
        assert_int_equal(m, len);
        assert_memory_equal(back, text, len);
    }
}

/* ---- BPE variants, long pieces, chunk limits ------------------------------------------------ */

typedef struct { int32_t ids[4096]; size_t n; } collect;
static void collect_push(void *ctx, int32_t id) {
    collect *c = ctx;
    assert_true(c->n < 4096);
    c->ids[c->n++] = id;
}

static void test_bpe_scan_equals_heap(void **state) {
    (void)state;
    hd_tokenizer *t = tok[SRC_MODEL];
    tu_rng r;
    tu_rng_seed(&r, 99);
    static const char alpha[] = "aaabcdeeilnorstuthe ing";
    uint8_t s[1500];
    hd_tok_scratch sc = {0};
    static collect a, b;
    for (int it = 0; it < 400; it++) {
        size_t n = 2 + tu_rng_u64(&r) % 1400;
        int mode = it % 3;
        for (size_t i = 0; i < n; i++)
            s[i] = mode == 0 ? (uint8_t)alpha[tu_rng_u64(&r) % (sizeof alpha - 1)]
                 : mode == 1 ? (uint8_t)(tu_rng_u64(&r) & 0xff) : (uint8_t)"ab"[tu_rng_u64(&r) % 2];
        a.n = b.n = 0;
        assert_int_equal(hd_tok_bpe_scan(t, s, n, &sc, collect_push, &a), HD_OK);
        assert_int_equal(hd_tok_bpe_heap(t, s, n, &sc, collect_push, &b), HD_OK);
        assert_int_equal(a.n, b.n);
        assert_memory_equal(a.ids, b.ids, a.n * sizeof(int32_t));
        /* the tokens spell the piece */
        size_t off = 0;
        for (size_t i = 0; i < a.n; i++) {
            size_t l;
            const char *p = hd_tokenizer_token_bytes(t, a.ids[i], &l);
            assert_true(off + l <= n);
            assert_memory_equal(p, s + off, l);
            off += l;
        }
        assert_int_equal(off, n);
    }
    hd_tok_scratch_free(&sc);
}

/* Meta's run limit: 30 000 letters are cut after 25 000 characters */
static void test_chunk_limits(void **state) {
    (void)state;
    hd_tokenizer *t = tok[SRC_MODEL];
    size_t n = 30000;
    char *s = malloc(n);
    memset(s, 'a', n);
    int32_t *ids = malloc((n + 2) * sizeof *ids);
    size_t k, k1, k2;
    hd_error e = {0};
    assert_int_equal(hd_tokenizer_encode(t, s, n, 0, ids, n + 2, &k, &e), HD_OK);
    /* the same as encoding the two parts separately */
    int32_t *p1 = malloc(25002 * sizeof *p1), *p2 = malloc(5002 * sizeof *p2);
    assert_int_equal(hd_tokenizer_encode(t, s, 25000, 0, p1, 25002, &k1, &e), HD_OK);
    assert_int_equal(hd_tokenizer_encode(t, s, 5000, 0, p2, 5002, &k2, &e), HD_OK);
    assert_int_equal(k, k1 + k2);
    assert_memory_equal(ids, p1, k1 * sizeof *ids);
    assert_memory_equal(ids + k1, p2, k2 * sizeof *ids);
    assert_int_equal(hd_tok_run_split((const uint8_t *)s, n, 0), 25000);
    /* 400 000-character windows, counted in characters: "\xc3\xa9a " repeated puts
     * the cut between an e-acute and an a */
    {
        size_t reps = 133335, m = reps * 4, cut = 133333 * 4 + 2;   /* 400 000 chars */
        char *w = malloc(m);
        for (size_t i = 0; i < reps; i++) memcpy(w + 4 * i, "\xc3\xa9" "a ", 4);
        assert_int_equal(hd_tok_window_end((const uint8_t *)w, m, 0), cut);
        int32_t *all = malloc((m + 2) * sizeof *all), *x = malloc((m + 2) * sizeof *x);
        size_t na, nx, ny;
        assert_int_equal(hd_tokenizer_encode(t, w, m, 0, all, m + 2, &na, &e), HD_OK);
        assert_int_equal(hd_tokenizer_encode(t, w, cut, 0, x, m + 2, &nx, &e), HD_OK);
        assert_int_equal(hd_tokenizer_encode(t, w + cut, m - cut, 0, x + nx, m + 2 - nx, &ny, &e), HD_OK);
        assert_int_equal(na, nx + ny);
        assert_memory_equal(all, x, na * sizeof *all);
        free(w);
        free(all);
        free(x);
    }
    /* whitespace then letters: each run counts separately */
    memset(s, ' ', 20000);
    assert_int_equal(hd_tok_run_split((const uint8_t *)s, n, 0), n);
    free(s);
    free(ids);
    free(p1);
    free(p2);
}

/* ---- export ------------------------------------------------------------------------------ */

/* our merges (GGUF and tokenizer.json) equal Meta-Llama-3 tokenizer.json's */
static void test_export_merges_match_hf(void **state) {
    (void)state;
    cJSON *ref = load_json("tokenizer/tokenizer.json");
    const cJSON *rm = cJSON_GetObjectItem(cJSON_GetObjectItem(ref, "model"), "merges");
    char path[1024];
    snprintf(path, sizeof path, "%s/tok.gguf", tu_tmpdir());
    hd_error e = {0};
    hd_gguf *g = hd_gguf_open(path, &e);
    assert_non_null(g);
    int64_t k = hd_gguf_find_key(g, "tokenizer.ggml.merges");
    hd_gguf_vtype et;
    uint64_t n;
    assert_true(hd_gguf_kv_array(g, k, &et, &n));
    assert_int_equal(n, (uint64_t)cJSON_GetArraySize(rm));
    assert_int_equal(n, 280147);
    uint64_t i = 0;
    for (const cJSON *c = rm->child; c; c = c->next, i++) {
        char want[2048];
        if (cJSON_IsString(c)) snprintf(want, sizeof want, "%s", c->valuestring);
        else snprintf(want, sizeof want, "%s %s", c->child->valuestring, c->child->next->valuestring);
        const char *s;
        size_t l;
        assert_true(hd_gguf_arr_str(g, k, i, &s, &l));
        if (l != strlen(want) || memcmp(s, want, l) != 0) fprintf(stderr, "merge %llu: '%.*s' vs '%s'\n",
                                                                  (unsigned long long)i, (int)l, s, want);
        assert_int_equal(l, strlen(want));
        assert_memory_equal(s, want, l);
    }
    /* llama.cpp's keys */
    const char *s;
    size_t l;
    assert_true(hd_gguf_get_str(g, "tokenizer.ggml.model", &s, &l));
    assert_int_equal(l, 4);
    assert_memory_equal(s, "gpt2", 4);
    assert_true(hd_gguf_get_str(g, "tokenizer.ggml.pre", &s, &l));
    assert_memory_equal(s, "llama-bpe", 9);
    uint32_t v;
    assert_true(hd_gguf_get_u32(g, "tokenizer.ggml.bos_token_id", &v));
    assert_int_equal(v, 128000);
    assert_true(hd_gguf_get_u32(g, "tokenizer.ggml.eos_token_id", &v));
    assert_int_equal(v, 128009);
    k = hd_gguf_find_key(g, "tokenizer.ggml.token_type");
    double d;
    assert_true(hd_gguf_arr_number(g, k, 127999, &d));
    assert_true(d == 1);
    assert_true(hd_gguf_arr_number(g, k, 128000, &d));
    assert_true(d == 3);
    /* the GPT-2 form of " the" (id 279) is "Ġthe"; vocab strings equal the HF file's */
    k = hd_gguf_find_key(g, "tokenizer.ggml.tokens");
    const cJSON *rv = cJSON_GetObjectItem(cJSON_GetObjectItem(ref, "model"), "vocab");
    int checked = 0;
    for (const cJSON *c = rv->child; c; c = c->next, checked++) {
        assert_true(hd_gguf_arr_str(g, k, (uint64_t)c->valuedouble, &s, &l));
        assert_int_equal(l, strlen(c->string));
        assert_memory_equal(s, c->string, l);
    }
    assert_int_equal(checked, 128000);
    hd_gguf_close(g);
    cJSON_Delete(ref);
}

/* children of a and b equal one by one, keys included (cJSON_Compare on a
 * 128 000-key object is quadratic) */
static bool same_children_in_order(const cJSON *a, const cJSON *b) {
    if (!a || !b) return false;
    const cJSON *x = a->child, *y = b->child;
    for (; x && y; x = x->next, y = y->next) {
        if ((x->string == NULL) != (y->string == NULL)) return false;
        if (x->string && strcmp(x->string, y->string) != 0) return false;
        if (!cJSON_Compare(x, y, true)) return false;
    }
    return !x && !y;
}

/* our tokenizer.json has the reference file's vocab, merges and pre-tokenizer */
static void test_export_hf_files(void **state) {
    (void)state;
    char p[1024];
    snprintf(p, sizeof p, "%s/hf/tokenizer.json", tu_tmpdir());
    size_t n;
    char *s = tu_read_file(p, &n);
    assert_non_null(s);
    cJSON *ours = cJSON_ParseWithLength(s, n);
    free(s);
    assert_non_null(ours);
    cJSON *ref = load_json("tokenizer/tokenizer.json");
    const cJSON *om = cJSON_GetObjectItem(ours, "model"), *rm = cJSON_GetObjectItem(ref, "model");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(om, "vocab")), 128000);
    assert_true(same_children_in_order(cJSON_GetObjectItem(om, "vocab"), cJSON_GetObjectItem(rm, "vocab")));
    assert_true(same_children_in_order(cJSON_GetObjectItem(om, "merges"), cJSON_GetObjectItem(rm, "merges")));
    assert_true(cJSON_Compare(cJSON_GetObjectItem(ours, "pre_tokenizer"), cJSON_GetObjectItem(ref, "pre_tokenizer"),
                              true));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(om, "ignore_merges")));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(ours, "added_tokens")), 256);
    cJSON_Delete(ours);
    cJSON_Delete(ref);
    snprintf(p, sizeof p, "%s/hf/tokenizer_config.json", tu_tmpdir());
    s = tu_read_file(p, &n);
    assert_non_null(s);
    cJSON *cfg = cJSON_ParseWithLength(s, n);
    free(s);
    assert_non_null(cfg);
    assert_string_equal(cJSON_GetObjectItem(cfg, "bos_token")->valuestring, "<|begin_of_text|>");
    assert_string_equal(cJSON_GetObjectItem(cfg, "eos_token")->valuestring, "<|eot_id|>");
    const cJSON *dec = cJSON_GetObjectItem(cfg, "added_tokens_decoder");
    assert_int_equal(cJSON_GetArraySize(dec), 256);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(dec, "128011"), "content")->valuestring, "<|image|>");
    cJSON_Delete(cfg);
}

/* ---- bad files ------------------------------------------------------------------------------ */

static void expect_bad_tiktoken(const char *text, hd_status st, const char *needle) {
    hd_error e = {0};
    hd_tokenizer *t = hd_tokenizer_from_tiktoken(text, strlen(text), "bad.model", &e);
    assert_null(t);
    if (e.code != st || !strstr(e.msg, needle)) fprintf(stderr, "unexpected: %s\n", e.msg);
    assert_int_equal(e.code, st);
    assert_non_null(strstr(e.msg, "bad.model"));
    assert_non_null(strstr(e.msg, needle));
}

static void test_bad_files(void **state) {
    (void)state;
    expect_bad_tiktoken("", HD_ERR_FORMAT, "empty");
    expect_bad_tiktoken("QQ== 0\n", HD_ERR_FORMAT, "byte 0x00 has no token");
    expect_bad_tiktoken("QQ== 0\nQQ== 1\n", HD_ERR_FORMAT, "same bytes");
    expect_bad_tiktoken("QQ== 0\nQg== 0\n", HD_ERR_FORMAT, "defined twice");
    expect_bad_tiktoken("QQ== 5\n", HD_ERR_FORMAT, "line 1");
    expect_bad_tiktoken("Q!== 0\n", HD_ERR_FORMAT, "line 1");
    expect_bad_tiktoken("QQ==\n", HD_ERR_FORMAT, "line 1");
    expect_bad_tiktoken("QQ== x\n", HD_ERR_FORMAT, "line 1");
    expect_bad_tiktoken("QQ=A 0\n", HD_ERR_FORMAT, "line 1");
    /* a full byte vocabulary with one hole in the ranks */
    {
        char buf[256 * 16];
        size_t o = 0;
        static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        for (int b = 0; b < 256; b++)
            o += (size_t)snprintf(buf + o, sizeof buf - o, "%c%c== %d\n", b64[b >> 2], b64[(b & 3) << 4],
                                  b == 7 ? 300 : b);
        expect_bad_tiktoken(buf, HD_ERR_FORMAT, "line 8");
        /* and the good one loads: 256 byte tokens + 256 specials (CRLF line
         * ends and empty lines are accepted) */
        o = 0;
        for (int b = 0; b < 256; b++)
            o += (size_t)snprintf(buf + o, sizeof buf - o, "%c%c== %d%s", b64[b >> 2], b64[(b & 3) << 4], b,
                                  b == 5 ? "\r\n\n" : "\n");
        hd_error e = {0};
        hd_tokenizer *t = hd_tokenizer_from_tiktoken(buf, o, "bytes.model", &e);
        assert_non_null(t);
        assert_int_equal(hd_tokenizer_n_vocab(t), 512);
        assert_int_equal(hd_tokenizer_bos(t), 256);
        int32_t ids[8];
        size_t n;
        assert_int_equal(hd_tokenizer_encode(t, "hi", 2, HD_TOKENIZER_ADD_BOS, ids, 8, &n, &e), HD_OK);
        assert_int_equal(n, 3);
        assert_int_equal(ids[1], 'h');
        hd_tokenizer_free(t);
    }
    /* tokenizer.json */
    static const struct { const char *json; hd_status st; const char *needle; } js[] = {
        {"{", HD_ERR_FORMAT, "not valid JSON"},
        {"{\"model\": {\"type\": \"BPE\"}}", HD_ERR_FORMAT, "model.vocab"},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {}}, \"pre_tokenizer\": {\"pattern\": {\"Regex\": \"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"}}}",
         HD_ERR_FORMAT, "empty"},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -1}}}", HD_ERR_FORMAT, "no valid id"},
        {"{\"model\": {\"type\": \"Unigram\", \"vocab\": {}}}", HD_ERR_UNSUPPORTED, "BPE"},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}, \"pre_tokenizer\": null}", HD_ERR_UNSUPPORTED,
         "ByteLevel"},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}, \"pre_tokenizer\": {\"type\": \"Metaspace\"}}",
         HD_ERR_UNSUPPORTED, "Metaspace"},
    };
    for (size_t i = 0; i < sizeof js / sizeof *js; i++) {
        hd_error e = {0};
        assert_null(hd_tokenizer_from_hf_json(js[i].json, strlen(js[i].json), "bad.json", &e));
        assert_int_equal(e.code, js[i].st);
        assert_non_null(strstr(e.msg, "bad.json"));
        assert_non_null(strstr(e.msg, js[i].needle));
    }
    /* GGUF without tokenizer keys, and with a foreign tokenizer */
    char path[1024];
    snprintf(path, sizeof path, "%s/notok.gguf", tu_tmpdir());
    hd_error e = {0};
    hd_gguf_writer *w = hd_gguf_writer_create(&e);
    assert_int_equal(hd_gguf_set_str(w, "general.architecture", "llama"), HD_OK);
    assert_int_equal(hd_gguf_writer_write(w, path, &e), HD_OK);
    assert_null(hd_tokenizer_load(path, &e));
    assert_int_equal(e.code, HD_ERR_NOTFOUND);
    assert_non_null(strstr(e.msg, "tokenizer.ggml.model"));
    assert_int_equal(hd_gguf_set_str(w, "tokenizer.ggml.model", "llama"), HD_OK);
    assert_int_equal(hd_gguf_writer_write(w, path, &e), HD_OK);
    assert_null(hd_tokenizer_load(path, &e));
    assert_int_equal(e.code, HD_ERR_UNSUPPORTED);
    assert_int_equal(hd_gguf_set_str(w, "tokenizer.ggml.model", "gpt2"), HD_OK);
    assert_int_equal(hd_gguf_set_str(w, "tokenizer.ggml.pre", "qwen2"), HD_OK);
    assert_int_equal(hd_gguf_writer_write(w, path, &e), HD_OK);
    assert_null(hd_tokenizer_load(path, &e));
    assert_int_equal(e.code, HD_ERR_UNSUPPORTED);
    assert_non_null(strstr(e.msg, "qwen2"));
    hd_gguf_writer_free(w);
    /* missing path, empty directory */
    assert_null(hd_tokenizer_load("/nonexistent/tokenizer.model", &e));
    assert_int_equal(e.code, HD_ERR_IO);
    snprintf(path, sizeof path, "%s/emptydir", tu_tmpdir());
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", path);
    assert_int_equal(system(cmd), 0);
    assert_null(hd_tokenizer_load(path, &e));
    assert_int_equal(e.code, HD_ERR_NOTFOUND);
    hd_tokenizer_free(NULL);
}

/* Truncated and bit-flipped files of all three kinds: a tokenizer or an
 * error naming the file, never a crash (run under ASan/UBSan too). */
static void try_mutations(const uint8_t *orig, size_t n, int kind, tu_rng *r, int rounds) {
    uint8_t *b = malloc(n + 1);
    for (int it = 0; it < rounds; it++) {
        memcpy(b, orig, n);
        size_t len = n;
        if (it % 2 == 0) {
            len = (size_t)(tu_rng_u64(r) % n);
        } else {
            int flips = 1 + (int)(tu_rng_u64(r) % 4);
            for (int f = 0; f < flips; f++) b[tu_rng_u64(r) % n] ^= (uint8_t)(1u << (tu_rng_u64(r) % 8));
        }
        hd_error e = {0};
        hd_tokenizer *t = NULL;
        if (kind == 0) {
            t = hd_tokenizer_from_tiktoken(b, len, "mut.model", &e);
        } else if (kind == 1) {
            t = hd_tokenizer_from_hf_json(b, len, "mut.json", &e);
        } else {
            hd_gguf *g = hd_gguf_open_memory(b, len, "mut.gguf", &e);
            if (g) t = hd_tokenizer_from_gguf(g, &e);
            hd_gguf_close(g);
        }
        if (!t) {
            assert_true(e.code != HD_OK);
            assert_non_null(strstr(e.msg, "mut."));
            continue;
        }
        /* whatever loaded must encode and decode consistently */
        const char *text = "Hello, world! 123 \xe4\xb8\xad\xf0\x9f\xa6\x99 <|eot_id|>\xff";
        int32_t ids[128];
        char back[256];
        size_t k, m;
        assert_int_equal(hd_tokenizer_encode(t, text, strlen(text), 0, ids, 128, &k, &e), HD_OK);
        assert_int_equal(hd_tokenizer_decode(t, ids, k, 0, back, sizeof back, &m, &e), HD_OK);
        assert_int_equal(m, strlen(text));
        assert_memory_equal(back, text, m);
        hd_tokenizer_free(t);
    }
    free(b);
}

static void test_corrupt_inputs(void **state) {
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, 4242);
    char p[1024];
    size_t n;
    uint8_t *model = tu_read_file(tu_fixture(p, sizeof p, "tokenizer/llama3_tokenizer.model"), &n);
    assert_non_null(model);
    try_mutations(model, n, 0, &r, 24);
    free(model);
    /* a small byte-level vocabulary (256 bytes + specials) in GGUF and JSON form */
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char buf[256 * 16];
    size_t o = 0;
    for (int b = 0; b < 256; b++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, "%c%c== %d\n", b64[b >> 2], b64[(b & 3) << 4], b);
    hd_error e = {0};
    hd_tokenizer *t = hd_tokenizer_from_tiktoken(buf, o, "bytes.model", &e);
    assert_non_null(t);
    snprintf(p, sizeof p, "%s/small.gguf", tu_tmpdir());
    hd_gguf_writer *w = hd_gguf_writer_create(&e);
    assert_int_equal(hd_tokenizer_to_gguf(t, w, 257, &e), HD_OK);
    assert_int_equal(hd_gguf_writer_write(w, p, &e), HD_OK);
    hd_gguf_writer_free(w);
    uint8_t *g = tu_read_file(p, &n);
    assert_non_null(g);
    try_mutations(g, n, 2, &r, 300);
    free(g);
    snprintf(p, sizeof p, "%s/small_hf", tu_tmpdir());
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", p);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(hd_tokenizer_write_hf(t, p, 257, &e), HD_OK);
    hd_tokenizer_free(t);
    strcat(p, "/tokenizer.json");
    uint8_t *j = tu_read_file(p, &n);
    assert_non_null(j);
    try_mutations(j, n, 1, &r, 300);
    free(j);
}

/* Llama 3's pre_tokenizer object as tokenizer.json writes it, into buf. */
static void llama3_pretok_json(char *buf, size_t cap) {
    char pat[512];
    size_t k = 0;
    pat[k++] = '"';
    for (const char *q = hd_tok_llama3_pattern; *q; q++) {
        if (*q == '\\' || *q == '"') pat[k++] = '\\';
        pat[k++] = *q;
    }
    pat[k++] = '"';
    pat[k] = 0;
    snprintf(buf, cap,
             "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\": %s}, "
             "\"behavior\": \"Isolated\", \"invert\": false}, {\"type\": \"ByteLevel\", \"add_prefix_space\": false, "
             "\"trim_offsets\": true, \"use_regex\": false}]}", pat);
}

/* Llama 3 pipeline with merges out of rank order: not the tiktoken fast path
 * but Hugging Face's merge-priority BPE (the order decides) */
static void test_bad_merge_order(void **state) {
    (void)state;
    /* bytes 0..255 as GPT-2 strings, then "ab" = 256, "bc" = 257; "b c" has priority */
    size_t cap = 1 << 16, o = 0;
    char *j = malloc(cap);
    char pre[1024];
    llama3_pretok_json(pre, sizeof pre);
    o += (size_t)snprintf(j + o, cap - o, "{\"pre_tokenizer\": %s, \"model\": {\"type\": \"BPE\", \"vocab\": {", pre);
    for (int b = 0; b < 256; b++) {
        char u[4];
        size_t l = hd_tok_gpt2_encode((const uint8_t[]){(uint8_t)b}, 1, u);
        char esc[8];
        if (u[0] == '"' || u[0] == '\\') snprintf(esc, sizeof esc, "\\%c", u[0]);
        else snprintf(esc, sizeof esc, "%.*s", (int)l, u);
        o += (size_t)snprintf(j + o, cap - o, "\"%s\": %d, ", esc, b);
    }
    o += (size_t)snprintf(j + o, cap - o, "\"ab\": 256, \"bc\": 257}, \"merges\": [\"b c\", \"a b\"]},"
                                          " \"added_tokens\": []}");
    hd_error e = {0};
    hd_tokenizer *t = hd_tokenizer_from_hf_json(j, o, "order.json", &e);
    assert_non_null(t);
    int32_t ids[8];
    size_t n;
    assert_int_equal(hd_tokenizer_encode(t, "abc", 3, 0, ids, 8, &n, &e), HD_OK);
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], 'a');
    assert_int_equal(ids[1], 257);
    assert_string_equal(hd_tokenizer_pre_name(t), "llama-bpe");
    /* as a GGUF (pre llama-bpe, merges in priority order) it merges the same way */
    char path[1024];
    snprintf(path, sizeof path, "%s/order.gguf", tu_tmpdir());
    hd_gguf_writer *w = hd_gguf_writer_create(&e);
    assert_int_equal(hd_tokenizer_to_gguf(t, w, 0, &e), HD_OK);
    assert_int_equal(hd_gguf_writer_write(w, path, &e), HD_OK);
    hd_gguf_writer_free(w);
    hd_tokenizer_free(t);
    t = hd_tokenizer_load(path, &e);
    assert_non_null(t);
    assert_int_equal(hd_tokenizer_encode(t, "abc abc", 7, 0, ids, 8, &n, &e), HD_OK);
    assert_int_equal(n, 5);   /* pieces "abc" and " abc" (no " a" token) */
    assert_int_equal(ids[0], 'a');
    assert_int_equal(ids[1], 257);
    assert_int_equal(ids[2], ' ');
    assert_int_equal(ids[3], 'a');
    assert_int_equal(ids[4], 257);
    hd_tokenizer_free(t);
    /* in rank order it is the tiktoken path: lowest rank (ab) first */
    char *m = strstr(j, "[\"b c\", \"a b\"]");
    memcpy(m, "[\"a b\", \"b c\"]", 14);
    t = hd_tokenizer_from_hf_json(j, o, "order.json", &e);
    assert_non_null(t);
    assert_int_equal(hd_tokenizer_encode(t, "abc", 3, 0, ids, 8, &n, &e), HD_OK);
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], 256);
    assert_int_equal(ids[1], 'c');
    hd_tokenizer_free(t);
    free(j);
}

/* an HF Llama-3.2-Vision-like vocabulary: <|image|> appended at base + 256;
 * Meta names would name 128011 <|image|> too, so renaming fails and keeps
 * the old names */
static void test_set_names_clash(void **state) {
    (void)state;
    size_t cap = 1 << 16, o = 0;
    char *j = malloc(cap);
    char pre[1024];
    llama3_pretok_json(pre, sizeof pre);
    o += (size_t)snprintf(j + o, cap - o, "{\"pre_tokenizer\": %s, \"model\": {\"type\": \"BPE\", \"vocab\": {", pre);
    for (int b = 0; b < 256; b++) {
        char u[4];
        size_t l = hd_tok_gpt2_encode((const uint8_t[]){(uint8_t)b}, 1, u);
        char esc[8];
        if (u[0] == '"' || u[0] == '\\') snprintf(esc, sizeof esc, "\\%c", u[0]);
        else snprintf(esc, sizeof esc, "%.*s", (int)l, u);
        o += (size_t)snprintf(j + o, cap - o, "%s\"%s\": %d", b ? ", " : "", esc, b);
    }
    o += (size_t)snprintf(j + o, cap - o, "}}, \"added_tokens\": [");
    char name[64];
    for (int i = 0; i < 257; i++) {
        if (i == 0) snprintf(name, sizeof name, "<|begin_of_text|>");
        else if (i == 256) snprintf(name, sizeof name, "<|image|>");
        else snprintf(name, sizeof name, "<|reserved_special_token_%d|>", i);
        o += (size_t)snprintf(j + o, cap - o, "%s{\"id\": %d, \"content\": \"%s\", \"special\": true}",
                              i ? ", " : "", 256 + i, name);
    }
    o += (size_t)snprintf(j + o, cap - o, "]}");
    hd_error e = {0};
    hd_tokenizer *t = hd_tokenizer_from_hf_json(j, o, "mllama.json", &e);
    if (!t) fprintf(stderr, "%s\n", e.msg);
    assert_non_null(t);
    assert_int_equal(hd_tokenizer_n_vocab(t), 513);
    assert_int_equal(hd_tokenizer_find_special(t, "<|image|>"), 512);
    assert_int_equal(hd_tokenizer_set_names(t, HD_TOKENIZER_NAMES_META, &e), HD_ERR_FORMAT);
    assert_non_null(strstr(e.msg, "<|image|>"));
    /* unchanged */
    assert_int_equal(hd_tokenizer_find_special(t, "<|image|>"), 512);
    assert_int_equal(hd_tokenizer_find_special(t, "<|reserved_special_token_11|>"), 267);
    assert_int_equal(hd_tokenizer_find_special(t, "<|eot_id|>"), -1);
    /* 3.1 names have no <|image|>: fine */
    assert_int_equal(hd_tokenizer_set_names(t, HD_TOKENIZER_NAMES_LLAMA3_1, &e), HD_OK);
    assert_int_equal(hd_tokenizer_eot(t), 256 + 9);
    assert_int_equal(hd_tokenizer_find_special(t, "<|image|>"), 512);
    int32_t ids[8];
    size_t n;
    assert_int_equal(hd_tokenizer_encode(t, "<|image|>x<|eot_id|>", 20, HD_TOKENIZER_ALLOW_SPECIAL, ids, 8, &n, &e),
                     HD_OK);
    assert_int_equal(n, 3);
    assert_int_equal(ids[0], 512);
    assert_int_equal(ids[1], 'x');
    assert_int_equal(ids[2], 265);
    hd_tokenizer_free(t);
    free(j);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sizes_and_ids),
        cmocka_unit_test(test_special_names),
        cmocka_unit_test(test_llama_bpe_vectors),
        cmocka_unit_test(test_tokenizer_js_vectors),
        cmocka_unit_test(test_llama_models_chat_vectors),
        cmocka_unit_test(test_spec_vector),
        cmocka_unit_test(test_pretok_pieces),
        cmocka_unit_test(test_classes_and_gpt2_map),
        cmocka_unit_test(test_allow_special),
        cmocka_unit_test(test_buffers_and_args),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_random_round_trip),
        cmocka_unit_test(test_bpe_scan_equals_heap),
        cmocka_unit_test(test_chunk_limits),
        cmocka_unit_test(test_export_merges_match_hf),
        cmocka_unit_test(test_export_hf_files),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_bad_merge_order),
        cmocka_unit_test(test_corrupt_inputs),
        cmocka_unit_test(test_set_names_clash),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
