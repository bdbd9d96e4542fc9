/* tests/unit/test_serve_api.c — herd serve's wire format: chat request
 * parsing (fields, parts, limits, every error with its status and param),
 * base64, multipart/form-data, response JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/serve_api.h"
#include "apps/serve_multipart.h"

static bool parse(const char *body, hd_api_chat *c, hd_api_error *e) {
    hd_api_limits lim = hd_api_default_limits();
    memset(e, 0, sizeof *e);
    return hd_api_parse_chat(body, strlen(body), &lim, c, e);
}

static void test_chat_fields(void **state) {
    (void)state;
    hd_api_chat c;
    hd_api_error e;
    const char *body =
        "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\",\"text\":\"b\"}]}],"
        "\"stream\":true,\"stream_options\":{\"include_usage\":true},\"temperature\":0.5,\"top_p\":0.9,"
        "\"max_tokens\":7,\"stop\":[\"x\",\"yy\"],\"seed\":42,\"unknown_field\":{\"ignored\":1}}";
    assert_true(parse(body, &c, &e));
    assert_string_equal(c.model, "m");
    assert_int_equal(c.n_messages, 2);
    assert_int_equal(c.messages[0].role, HD_CHAT_SYSTEM);
    assert_int_equal(c.messages[1].role, HD_CHAT_USER);
    assert_int_equal(c.messages[1].n_parts, 2);
    char *t = hd_api_message_text(&c.messages[1]);
    assert_string_equal(t, "a\nb");
    free(t);
    assert_true(c.stream && c.include_usage);
    assert_true(c.has_temperature && c.temperature == 0.5f);
    assert_true(c.has_top_p && c.top_p == 0.9f);
    assert_int_equal(c.max_tokens, 7);
    assert_int_equal(c.n_stop, 2);
    assert_string_equal(c.stop[1], "yy");
    assert_true(c.has_seed && c.seed == 42);
    assert_int_equal(c.n_media, 0);
    hd_api_chat_free(&c);

    /* defaults; max_completion_tokens; stop as a string */
    assert_true(parse("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_completion_tokens\":3,\"stop\":\"END\"}",
                      &c, &e));
    assert_string_equal(c.model, "");
    assert_false(c.stream || c.has_temperature || c.has_seed);
    assert_int_equal(c.max_tokens, 3);
    assert_int_equal(c.n_stop, 1);
    assert_string_equal(c.stop[0], "END");
    hd_api_chat_free(&c);
}

static void test_media_parts(void **state) {
    (void)state;
    hd_api_chat c;
    hd_api_error e;
    /* "hello" in base64, as an image data URL, as input_audio, and a path */
    const char *body =
        "{\"messages\":[{\"role\":\"user\",\"content\":["
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,aGVsbG8=\"}},"
        "{\"type\":\"input_audio\",\"input_audio\":{\"data\":\"aGVsbG8\",\"format\":\"wav\"}},"
        "{\"type\":\"video_url\",\"video_url\":{\"url\":\"file:///tmp/clip.mp4\"}},"
        "{\"type\":\"text\",\"text\":\"what?\"}]}]}";
    assert_true(parse(body, &c, &e));
    const hd_api_message *m = &c.messages[0];
    assert_int_equal(c.n_media, 3);
    assert_int_equal(m->parts[0].kind, HD_API_IMAGE);
    assert_int_equal(m->parts[0].size, 5);
    assert_memory_equal(m->parts[0].data, "hello", 5);
    assert_string_equal(m->parts[0].format, "png");
    assert_int_equal(m->parts[1].kind, HD_API_AUDIO);
    assert_memory_equal(m->parts[1].data, "hello", 5);
    assert_string_equal(m->parts[1].format, "wav");
    assert_int_equal(m->parts[2].kind, HD_API_VIDEO);
    assert_string_equal(m->parts[2].path, "/tmp/clip.mp4");
    char *t = hd_api_message_text(m);
    assert_string_equal(t, "what?");
    free(t);
    hd_api_chat_free(&c);
}

typedef struct bad_case {
    const char *body;
    int status;
    const char *param;
    const char *msg;   /* a substring of the message */
} bad_case;

static void test_errors(void **state) {
    (void)state;
    static const bad_case cases[] = {
        {"", 400, "", "not valid JSON"},
        {"{\"messages\":", 400, "", "not valid JSON"},
        {"[1,2]", 400, "", "must be a JSON object"},
        {"{}", 400, "messages", "non-empty array"},
        {"{\"messages\":[]}", 400, "messages", "non-empty array"},
        {"{\"model\":5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", 400, "model", "must be a string"},
        {"{\"messages\":[{\"content\":\"x\"}]}", 400, "messages[0].role", "must be a string"},
        {"{\"messages\":[{\"role\":\"robot\",\"content\":\"x\"}]}", 400, "messages[0].role", "robot"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":5}]}", 400, "messages[0].content", "string or an array"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"gif\"}]}]}", 400, "messages[0].content[0]",
         "expected text"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":"
         "\"data:image/png;base64,@@@\"}}]}]}",
         400, "messages[0].content[0]", "invalid base64"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":"
         "\"https://example.com/cat.png\"}}]}]}",
         400, "messages[0].content[0]", "does not download"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":3}", 400, "temperature", "between 0"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":\"hot\"}", 400, "temperature", "number"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"top_p\":0}", 400, "top_p", "greater than 0"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":0}", 400, "max_tokens", "between 1"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream\":\"yes\"}", 400, "stream", "boolean"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":[1]}", 400, "stop", "strings"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", 400, "stop",
         "more than 4"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hd_api_chat c;
        hd_api_error e;
        bool ok = parse(cases[i].body, &c, &e);
        if (ok || e.status != cases[i].status || strcmp(e.param, cases[i].param) != 0 || !strstr(e.message, cases[i].msg))
            fail_msg("case %zu (%s): ok=%d status=%d param='%s' message='%s'", i, cases[i].body, ok, e.status, e.param,
                     e.message);
        hd_api_chat_free(&c);
    }
}

static void test_limits(void **state) {
    (void)state;
    hd_api_limits lim = hd_api_default_limits();
    hd_api_chat c;
    hd_api_error e;
    const char *body = "{\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]}";
    lim.max_body = 10;
    assert_false(hd_api_parse_chat(body, strlen(body), &lim, &c, &e));
    assert_int_equal(e.status, 413);
    hd_api_chat_free(&c);
    /* media over the limit: 413 naming the part */
    lim = hd_api_default_limits();
    lim.max_media = 4;
    const char *img = "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":"
                      "\"data:image/png;base64,aGVsbG8=\"}}]}]}";
    assert_false(hd_api_parse_chat(img, strlen(img), &lim, &c, &e));
    assert_int_equal(e.status, 413);
    assert_string_equal(e.param, "messages[0].content[0]");
    hd_api_chat_free(&c);
    /* too many media parts */
    lim = hd_api_default_limits();
    lim.max_parts = 1;
    const char *two = "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":"
                      "\"a.png\"}},{\"type\":\"image_url\",\"image_url\":{\"url\":\"b.png\"}}]}]}";
    assert_false(hd_api_parse_chat(two, strlen(two), &lim, &c, &e));
    assert_int_equal(e.status, 400);
    assert_non_null(strstr(e.message, "more than 1 media"));
    hd_api_chat_free(&c);
    /* too many messages */
    lim = hd_api_default_limits();
    lim.max_messages = 1;
    const char *msgs = "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"user\",\"content\":\"b\"}]}";
    assert_false(hd_api_parse_chat(msgs, strlen(msgs), &lim, &c, &e));
    assert_string_equal(e.param, "messages");
    hd_api_chat_free(&c);
}

static void test_base64(void **state) {
    (void)state;
    static const struct {
        const char *in, *out;
    } ok[] = {{"", ""}, {"Zg==", "f"}, {"Zm8=", "fo"}, {"Zm9v", "foo"}, {"Zm9vYg", "foob"},
              {"Zm9v\nYmFy", "foobar"}, {"-_8=", "\xfb\xff"}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        unsigned char *b;
        size_t n;
        assert_true(hd_api_base64_decode(ok[i].in, strlen(ok[i].in), 100, &b, &n, NULL));
        assert_int_equal(n, strlen(ok[i].out));
        assert_memory_equal(b, ok[i].out, n);
        free(b);
    }
    static const char *bad[] = {"Z", "Zm9=v", "Zg===", "Z!==", "Zm9vY"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unsigned char *b;
        size_t n;
        assert_false(hd_api_base64_decode(bad[i], strlen(bad[i]), 100, &b, &n, NULL));
        assert_null(b);
    }
    unsigned char *b;
    size_t n;
    bool big;
    assert_false(hd_api_base64_decode("Zm9vYmFy", 8, 5, &b, &n, &big));
    assert_true(big);
}

static void test_responses(void **state) {
    (void)state;
    hd_api_usage u = {12, 3};
    char *s = hd_api_chat_completion_json("id1", 100, "m", "hi\xff", 3, "stop", &u);
    cJSON *o = cJSON_Parse(s);
    assert_non_null(o);
    assert_string_equal(cJSON_GetObjectItem(o, "object")->valuestring, "chat.completion");
    cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "choices"), 0);
    /* an invalid byte becomes U+FFFD, the JSON stays valid */
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(ch, "message"), "content")->valuestring, "hi\xef\xbf\xbd");
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "usage"), "total_tokens")->valueint, 15);
    cJSON_Delete(o);
    free(s);
    s = hd_api_chat_chunk_json("id1", 100, "m", NULL, NULL, 0, NULL, &u);
    o = cJSON_Parse(s);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "choices")), 0);
    cJSON_Delete(o);
    free(s);
    hd_api_error e;
    hd_api_fail(&e, 404, "invalid_request_error", "model", "no such model '%s'", "x");
    snprintf(e.code, sizeof e.code, "model_not_found");
    s = hd_api_error_json(&e);
    assert_string_equal(s, "{\"error\":{\"message\":\"no such model 'x'\",\"type\":\"invalid_request_error\",\"param\":"
                           "\"model\",\"code\":\"model_not_found\"}}");
    free(s);
}

static void test_multipart(void **state) {
    (void)state;
    char b[80];
    assert_true(hd_mp_boundary("multipart/form-data; boundary=XyZ", b, sizeof b));
    assert_string_equal(b, "XyZ");
    assert_true(hd_mp_boundary("Multipart/Form-Data; charset=utf-8; boundary=\"a b\"", b, sizeof b));
    assert_string_equal(b, "a b");
    assert_false(hd_mp_boundary("application/json", b, sizeof b));
    assert_false(hd_mp_boundary("multipart/form-data", b, sizeof b));

    const char body[] = "preamble\r\n--XyZ\r\n"
                        "Content-Disposition: form-data; name=\"model\"\r\n\r\n"
                        "whisper-1\r\n--XyZ\r\n"
                        "Content-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n"
                        "Content-Type: audio/wav\r\n\r\n"
                        "RIFF\0\1\2\r\n--XyZ--\r\n";
    hd_multipart m;
    char msg[128];
    assert_true(hd_mp_parse(body, sizeof body - 1, "XyZ", &m, msg, sizeof msg));
    assert_int_equal(m.n, 2);
    char v[32];
    assert_true(hd_mp_field(&m, "model", v, sizeof v));
    assert_string_equal(v, "whisper-1");
    const hd_mp_part *f = hd_mp_find(&m, "file");
    assert_non_null(f);
    assert_int_equal(f->size, 7);
    assert_memory_equal(f->data, "RIFF\0\1\2", 7);
    assert_int_equal(f->filename_len, 5);
    assert_memory_equal(f->filename, "a.wav", 5);
    assert_memory_equal(f->content_type, "audio/wav", 9);
    assert_false(hd_mp_field(&m, "file", v, sizeof v));   /* holds NUL bytes */
    assert_null(hd_mp_find(&m, "language"));

    /* truncated: every prefix is refused cleanly or parsed as fewer parts, never read past the end */
    for (size_t n = 0; n + 1 < sizeof body - 1; n++) {
        char *cut = malloc(n ? n : 1);
        memcpy(cut, body, n);
        hd_multipart mm;
        if (hd_mp_parse(cut, n, "XyZ", &mm, msg, sizeof msg)) assert_true(mm.n <= 2);
        free(cut);
    }
    assert_false(hd_mp_parse("no boundary here", 16, "XyZ", &m, msg, sizeof msg));
    assert_non_null(strstr(msg, "no boundary line"));
    const char noname[] = "--XyZ\r\nContent-Type: text/plain\r\n\r\nx\r\n--XyZ--";
    assert_false(hd_mp_parse(noname, sizeof noname - 1, "XyZ", &m, msg, sizeof msg));
    assert_non_null(strstr(msg, "without a Content-Disposition name"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chat_fields), cmocka_unit_test(test_media_parts), cmocka_unit_test(test_errors),
        cmocka_unit_test(test_limits),      cmocka_unit_test(test_base64),      cmocka_unit_test(test_responses),
        cmocka_unit_test(test_multipart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
