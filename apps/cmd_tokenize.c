/* apps/cmd_tokenize.c — `herd tokenize`: text to Llama 3 token ids and back.
 *
 *   herd tokenize -m TOKENIZER [--special] [--bos] [--eos] [--json] [--pieces] TEXT...
 *   herd tokenize -m TOKENIZER --decode ID...
 *
 * TOKENIZER is a tokenizer.model, tokenizer.json, GGUF model or a model
 * directory.  TEXT words are joined by single spaces; "-" reads stdin and
 * -f FILE reads a file (bytes as they are, no newline stripping).
 */
#include "cli.h"

#include "lm/tokenizer.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern const hd_command hd_cmd_tokenize;

typedef struct opts {
    bool special, bos, eos, pieces, count, stats, decode;
    const char *file;
    const char *names;
} opts;

static int flag(void *ctx, const char *f, const char *v) {
    opts *o = ctx;
    if (strcmp(f, "--special") == 0) return o->special = true, 0;
    if (strcmp(f, "--bos") == 0) return o->bos = true, 0;
    if (strcmp(f, "--eos") == 0) return o->eos = true, 0;
    if (strcmp(f, "--pieces") == 0) return o->pieces = true, 0;
    if (strcmp(f, "--count") == 0) return o->count = true, 0;
    if (strcmp(f, "--stats") == 0) return o->stats = true, 0;
    if (strcmp(f, "--decode") == 0) return o->decode = true, 0;
    if (strcmp(f, "-f") == 0 || strcmp(f, "--file") == 0) return o->file = v, 1;
    if (strcmp(f, "--names") == 0) return o->names = v, 1;
    return -1;
}

/* Reads all of f; NULL on failure. */
static char *read_all(FILE *f, size_t *n) {
    size_t cap = 1 << 16, len = 0;
    char *b = malloc(cap);
    while (b) {
        size_t k = fread(b + len, 1, cap - len, f);
        len += k;
        if (k == 0) break;
        if (len == cap) {
            char *nb = realloc(b, cap *= 2);
            if (!nb) free(b);
            b = nb;
        }
    }
    if (b && ferror(f)) {
        free(b);
        return NULL;
    }
    *n = len;
    return b;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* A token's bytes for a text line: printable ASCII and valid UTF-8 as they are,
 * control and invalid bytes as \n, \t, \xNN. */
static void print_piece(const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n') fputs("\\n", stdout), i++;
        else if (c == '\t') fputs("\\t", stdout), i++;
        else if (c == '\r') fputs("\\r", stdout), i++;
        else if (c == '\\') fputs("\\\\", stdout), i++;
        else if (c < 0x20 || c == 0x7f) printf("\\x%02x", c), i++;
        else if (c < 0x80) putchar(c), i++;
        else {
            size_t k = 1;
            while (i + k < n && k < 4 && ((unsigned char)s[i + k] & 0xc0) == 0x80) k++;
            /* print only complete, valid sequences raw */
            char tmp[5] = {0};
            memcpy(tmp, s + i, k);
            bool ok = (k == 2 && c >= 0xc2 && c <= 0xdf) || (k == 3 && c >= 0xe0 && c <= 0xef) ||
                      (k == 4 && c >= 0xf0 && c <= 0xf4);
            if (ok && hd_tokenizer_utf8_pending(tmp, k) == 0) {
                fwrite(s + i, 1, k, stdout);
                i += k;
            } else {
                printf("\\x%02x", c);
                i++;
            }
        }
    }
}

static char *hex_of(const char *s, size_t n) {
    char *h = malloc(2 * n + 1);
    if (!h) return NULL;
    for (size_t i = 0; i < n; i++) snprintf(h + 2 * i, 3, "%02x", (unsigned char)s[i]);
    h[2 * n] = 0;
    return h;
}

static int print_ids(const hd_cli *cli, const opts *o, const hd_tokenizer *tok, const int32_t *ids, size_t n) {
    if (o->count) {
        printf("%zu\n", n);
        return HD_EXIT_OK;
    }
    if (cli->json) {
        cJSON *arr = cJSON_CreateArray();
        for (size_t i = 0; arr && i < n; i++) {
            if (!o->pieces) {
                cJSON_AddItemToArray(arr, cJSON_CreateNumber(ids[i]));
                continue;
            }
            size_t len;
            const char *b = hd_tokenizer_token_bytes(tok, ids[i], &len);
            cJSON *obj = cJSON_CreateObject();
            char *hex = hex_of(b, len);
            char *txt = malloc(len + 1);
            if (!obj || !hex || !txt) {
                cJSON_Delete(obj);
                free(hex);
                free(txt);
                cJSON_Delete(arr);
                arr = NULL;
                break;
            }
            memcpy(txt, b, len);
            txt[len] = 0;
            cJSON_AddNumberToObject(obj, "id", ids[i]);
            /* a piece that is not whole UTF-8 (or holds NUL) is given by its bytes only */
            bool valid = memchr(b, 0, len) == NULL;
            for (size_t k = 0; valid && k < len;) {
                unsigned char c = (unsigned char)b[k];
                size_t want = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
                if (c >= 0x80 && (c < 0xc2 || c > 0xf4)) valid = false;
                else if (k + want > len) valid = false;
                else if (want > 1 && hd_tokenizer_utf8_pending(b + k, want) != 0) valid = false;
                else {
                    for (size_t q = 1; q < want; q++) valid &= (((unsigned char)b[k + q]) & 0xc0) == 0x80;
                    k += want;
                }
            }
            if (valid) cJSON_AddStringToObject(obj, "piece", txt);
            else cJSON_AddNullToObject(obj, "piece");
            cJSON_AddStringToObject(obj, "hex", hex);
            cJSON_AddItemToArray(arr, obj);
            free(hex);
            free(txt);
        }
        char *s = arr ? cJSON_PrintUnformatted(arr) : NULL;
        cJSON_Delete(arr);
        if (!s) {
            fprintf(stderr, "herd %s: out of memory\n", cli->command);
            return HD_EXIT_INPUT;
        }
        puts(s);
        free(s);
        return HD_EXIT_OK;
    }
    if (o->pieces) {
        for (size_t i = 0; i < n; i++) {
            size_t len;
            const char *b = hd_tokenizer_token_bytes(tok, ids[i], &len);
            printf("%d\t", ids[i]);
            print_piece(b, len);
            putchar('\n');
        }
        return HD_EXIT_OK;
    }
    for (size_t i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
    putchar('\n');
    return HD_EXIT_OK;
}

/* Parses ids separated by spaces, commas or brackets (so JSON arrays work). */
static int parse_ids(const hd_cli *cli, const char *s, size_t len, int32_t **ids, size_t *n, size_t *cap) {
    size_t i = 0;
    while (i < len) {
        char c = s[i];
        if (c == ' ' || c == ',' || c == '[' || c == ']' || c == '\n' || c == '\t' || c == '\r') {
            i++;
            continue;
        }
        char buf[32];
        size_t k = 0;
        while (i < len && k < sizeof buf - 1 && ((s[i] >= '0' && s[i] <= '9') || s[i] == '-')) buf[k++] = s[i++];
        buf[k] = 0;
        long long v;
        if (k == 0 || !hd_cli_int(cli, "--decode", buf, 0, INT32_MAX, &v)) {
            if (k == 0) hd_cli_usage_error(cli, "--decode: '%c' is not part of a token id", c);
            return HD_EXIT_USAGE;
        }
        if (*n == *cap) {
            *cap = *cap ? *cap * 2 : 256;
            int32_t *p = realloc(*ids, *cap * sizeof *p);
            if (!p) return hd_cli_usage_error(cli, "out of memory");
            *ids = p;
        }
        (*ids)[(*n)++] = (int32_t)v;
    }
    return HD_EXIT_OK;
}

static int run(int argc, char **argv) {
    hd_cli cli;
    opts o = {0};
    bool help;
    int rc = hd_cli_parse(&cli, argc, argv, flag, &o, &help);
    if (rc) return rc;
    if (help) {
        fputs(hd_cmd_tokenize.usage, stdout);
        return HD_EXIT_OK;
    }
    if (!cli.model) return hd_cli_usage_error(&cli, "-m TOKENIZER is required (tokenizer.model, tokenizer.json, GGUF or directory)");
    if (o.file && cli.n_pos) return hd_cli_usage_error(&cli, "give either -f FILE or TEXT, not both");
    if (!o.file && cli.n_pos == 0) return hd_cli_usage_error(&cli, "no text (give TEXT, '-' for stdin or -f FILE)");
    hd_tokenizer_names names = HD_TOKENIZER_NAMES_META;
    if (o.names) {
        if (strcmp(o.names, "meta") == 0) names = HD_TOKENIZER_NAMES_META;
        else if (strcmp(o.names, "3.0") == 0) names = HD_TOKENIZER_NAMES_LLAMA3_0;
        else if (strcmp(o.names, "3.1") == 0) names = HD_TOKENIZER_NAMES_LLAMA3_1;
        else return hd_cli_usage_error(&cli, "--names must be meta, 3.0 or 3.1");
    }

    /* the input bytes */
    char *text = NULL;
    size_t len = 0;
    if (o.file || (cli.n_pos == 1 && strcmp(cli.pos[0], "-") == 0)) {
        FILE *f = o.file ? fopen(o.file, "rb") : stdin;
        if (!f) {
            fprintf(stderr, "herd %s: %s: %s\n", cli.command, o.file, strerror(errno));
            return HD_EXIT_INPUT;
        }
        text = read_all(f, &len);
        if (o.file) fclose(f);
        if (!text) {
            fprintf(stderr, "herd %s: %s: read failed\n", cli.command, o.file ? o.file : "stdin");
            return HD_EXIT_INPUT;
        }
    } else {
        for (int i = 0; i < cli.n_pos; i++) len += strlen(cli.pos[i]) + 1;
        text = malloc(len + 1);
        if (!text) return hd_cli_usage_error(&cli, "out of memory");
        len = 0;
        for (int i = 0; i < cli.n_pos; i++) {
            if (i) text[len++] = ' ';
            size_t l = strlen(cli.pos[i]);
            memcpy(text + len, cli.pos[i], l);
            len += l;
        }
    }

    hd_error err = {0};
    double t0 = now_s();
    hd_tokenizer *tok = hd_tokenizer_load(cli.model, &err);
    if (!tok) {
        free(text);
        return hd_cli_fail(&cli, &err);
    }
    if (o.names && hd_tokenizer_set_names(tok, names, &err)) {
        hd_tokenizer_free(tok);
        free(text);
        return hd_cli_fail(&cli, &err);
    }
    double t1 = now_s();

    int32_t *ids = NULL;
    size_t n = 0, cap = 0;
    if (o.decode) {
        rc = parse_ids(&cli, text, len, &ids, &n, &cap);
        if (rc == HD_EXIT_OK) {
            /* sizing pass: every token has at least one byte, so need == 0 with
             * ids given means a bad id */
            size_t need = 0;
            hd_status st = hd_tokenizer_decode(tok, ids, n, 0, NULL, 0, &need, &err);
            char *out = NULL;
            if (st && need == 0 && n > 0) rc = hd_cli_fail(&cli, &err);
            else if (!(out = malloc(need + 1))) rc = hd_cli_usage_error(&cli, "out of memory");
            else if (hd_tokenizer_decode(tok, ids, n, 0, out, need + 1, &need, &err)) rc = hd_cli_fail(&cli, &err);
            else {
                fwrite(out, 1, need, stdout);
                putchar('\n');
            }
            free(out);
        }
    } else {
        unsigned flags = (o.special ? HD_TOKENIZER_ALLOW_SPECIAL : 0) | (o.bos ? HD_TOKENIZER_ADD_BOS : 0) |
                         (o.eos ? HD_TOKENIZER_ADD_EOS : 0);
        cap = len + 2;
        ids = malloc(cap * sizeof *ids);
        if (!ids) {
            rc = hd_cli_usage_error(&cli, "out of memory");
        } else if (hd_tokenizer_encode(tok, text, len, flags, ids, cap, &n, &err)) {
            rc = hd_cli_fail(&cli, &err);
        } else {
            double t2 = now_s();
            if (o.stats)
                fprintf(stderr, "herd %s: load %.1f ms; %zu bytes -> %zu tokens in %.1f ms (%.2f MB/s)\n", cli.command,
                        (t1 - t0) * 1e3, len, n, (t2 - t1) * 1e3, (t2 > t1 ? len / (t2 - t1) : 0) / 1e6);
            rc = print_ids(&cli, &o, tok, ids, n);
        }
    }
    free(ids);
    free(text);
    hd_tokenizer_free(tok);
    if (fflush(stdout) != 0 && rc == HD_EXIT_OK) {
        fprintf(stderr, "herd %s: writing the output failed\n", cli.command);
        rc = HD_EXIT_INPUT;
    }
    return rc;
}

const hd_command hd_cmd_tokenize = {
    "tokenize",
    "text to Llama 3 token ids (and back with --decode)",
    "usage: herd tokenize -m TOKENIZER [options] TEXT...|-|-f FILE\n"
    "       herd tokenize -m TOKENIZER --decode ID...|-\n"
    "\n"
    "Encodes text with the Llama 3 tokenizer and prints the ids, space-separated.\n"
    "TOKENIZER: tokenizer.model (Meta), tokenizer.json (Hugging Face), a GGUF\n"
    "model, or a model directory.  TEXT words are joined by single spaces; '-'\n"
    "reads stdin, -f FILE a file (bytes as they are).\n"
    "\n"
    "  --special      parse special-token names in the text (\"<|eot_id|>\" -> 128009)\n"
    "  --bos, --eos   add <|begin_of_text|> / <|end_of_text|>\n"
    "  --names N      special-token names: meta (llama-models, default for\n"
    "                 tokenizer.model), 3.0 or 3.1 (HF releases); default: the file's\n"
    "  --json         a JSON array (with --pieces: objects {id, piece, hex})\n"
    "  --pieces       one token per line: id, TAB, its bytes (\\n, \\xNN escaped)\n"
    "  --count        print only the number of tokens\n"
    "  --stats        timing on stderr (load, encode MB/s)\n"
    "  --decode       the arguments (or stdin) are ids: print their text (raw bytes)\n"
    "\n"
    "Exit codes: 0 ok, 1 bad tokenizer file or input, 2 usage error.\n",
    run,
};
