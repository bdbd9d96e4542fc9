/* graph/nodes_tokenizer.c — a text source and the Llama 3 tokenizer as nodes
 * (lm/tokenizer.h; the tokenizer knows nothing of the graph).
 *
 * text        one text packet with the given string (no timestamp), then the end
 * tokenize    text -> tokens: the pieces of a segment (HD_PKT_FLAG_PARTIAL)
 *             are joined first, so BPE merges never see a piece boundary;
 *             one token packet per segment, with the segment's time
 * detokenize  tokens -> text, streaming: each token packet becomes a text
 *             piece (PARTIAL) holding the bytes that form whole UTF-8
 *             characters (an incomplete tail waits for the next packet);
 *             end of stream closes the segment with a last, unflagged piece
 */
#include "node.h"

#include "lm/tokenizer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const hd_port_def text_out[] = {{"out", HD_KIND_BIT(HD_PKT_TEXT), 0}};
static const hd_port_def text_in[] = {{"in", HD_KIND_BIT(HD_PKT_TEXT), 0}};
static const hd_port_def tokens_out[] = {{"out", HD_KIND_BIT(HD_PKT_TOKENS), 0}};
static const hd_port_def tokens_in[] = {{"in", HD_KIND_BIT(HD_PKT_TOKENS), 0}};

/* ---- text ------------------------------------------------------------------------- */

/* text=STRING: one packet.  path=FILE or path=- (stdin): a packet per read, as
 * the text arrives (a writer piping sentences in is heard sentence by
 * sentence downstream). */
typedef struct textsrc {
    char *text;
    bool sent;
    int fd;            /* path: the file, or 0; -1 for text= */
    bool own_fd;
    char *name;
} textsrc;

static hd_status textsrc_create(hd_node *node, const hd_node_opts *o, void **state, hd_error *err) {
    textsrc *t = calloc(1, sizeof *t);
    if (!t) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    *state = t;
    t->fd = -1;
    const bool has_text = hd_opt_is_set(o, "text"), has_path = hd_opt_is_set(o, "path");
    if (has_text == has_path) return hd_error_set(err, HD_ERR_ARG, "give text=STRING or path=FILE|- (one of them)");
    if (has_text) {
        t->text = strdup(hd_opt_str(o, "text"));
        return t->text ? HD_OK : hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    }
    const char *path = hd_opt_str(o, "path");
    t->name = strdup(strcmp(path, "-") ? path : "stdin");
    if (!t->name) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    if (strcmp(path, "-") == 0) {
        t->fd = STDIN_FILENO;
    } else {
        if ((t->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) return hd_error_set(err, HD_ERR_IO, "%s: %s", path, strerror(errno));
        t->own_fd = true;
    }
    return HD_OK;
}

static hd_node_ret textsrc_process(hd_node *node, void *state, int port, hd_packet *in, hd_error *err) {
    textsrc *t = state;
    if (t->fd < 0) {
        if (t->sent) return HD_NODE_EOS;
        t->sent = true;
        hd_packet *p = hd_packet_text_new(t->text, strlen(t->text), err);
        if (!p) return HD_NODE_ERROR;
        return hd_node_send(node, 0, p, err) ? HD_NODE_ERROR : HD_NODE_EOS;
    }
    char buf[4096];
    ssize_t n;
    do n = read(t->fd, buf, sizeof buf);
    while (n < 0 && errno == EINTR && !hd_node_cancelled(node));
    if (n < 0) return hd_error_set(err, HD_ERR_IO, "%s: %s", t->name, strerror(errno)), HD_NODE_ERROR;
    if (n == 0) return HD_NODE_EOS;
    hd_packet *p = hd_packet_text_new(buf, (size_t)n, err);
    if (!p) return HD_NODE_ERROR;
    p->flags = HD_PKT_FLAG_PARTIAL;   /* pieces of one text; the end of the stream closes it */
    return hd_node_send(node, 0, p, err) ? HD_NODE_ERROR : HD_NODE_OK;
}

static void textsrc_destroy(void *state) {
    textsrc *t = state;
    if (!t) return;
    if (t->own_fd) close(t->fd);
    free(t->text);
    free(t->name);
    free(t);
}

static const hd_option_def textsrc_opts[] = {
    {"text", HD_OPT_STRING, "", "the text to send (UTF-8)", 0, 0, NULL},
    {"path", HD_OPT_STRING, "", "or: read the text from this file, '-' for stdin, piece by piece as it arrives", 0, 0,
     NULL},
};

const hd_node_type hd_node_text = {
    .name = "text",
    .summary = "sends a text: one packet (text=), or a file / stdin piece by piece as it arrives (path=)",
    .outputs = text_out,
    .n_outputs = 1,
    .options = textsrc_opts,
    .n_options = HD_COUNTOF(textsrc_opts),
    .arg_option = "text",
    .create = textsrc_create,
    .process = textsrc_process,
    .destroy = textsrc_destroy,
};

/* ---- shared: tokenizer + byte buffer ---------------------------------------------------- */

typedef struct tok_state {
    hd_tokenizer *tok;
    unsigned flags;
    char *buf;            /* tokenize: segment text; detokenize: pending bytes */
    size_t len, cap;
    bool open;            /* tokenize: a segment has pieces */
    int64_t start, end;
    bool timed;
} tok_state;

static bool reserve(tok_state *s, size_t need) {
    if (need <= s->cap) return true;
    size_t cap = need * 2;
    char *b = realloc(s->buf, cap);
    if (!b) return false;
    s->buf = b;
    s->cap = cap;
    return true;
}

static hd_status tok_create(const hd_node_opts *o, unsigned flags, void **state, hd_error *err) {
    tok_state *s = calloc(1, sizeof *s);
    if (!s) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    *state = s;
    s->flags = flags;
    s->tok = hd_tokenizer_load(hd_opt_str(o, "vocab"), err);
    return s->tok ? HD_OK : (err ? err->code : HD_ERR_IO);
}

static void tok_destroy(void *state) {
    tok_state *s = state;
    if (!s) return;
    hd_tokenizer_free(s->tok);
    free(s->buf);
    free(s);
}

/* ---- tokenize ----------------------------------------------------------------------- */

static hd_status tokenize_create(hd_node *node, const hd_node_opts *o, void **state, hd_error *err) {
    unsigned f = (hd_opt_bool(o, "bos") ? HD_TOKENIZER_ADD_BOS : 0) |
                 (hd_opt_bool(o, "special") ? HD_TOKENIZER_ALLOW_SPECIAL : 0);
    return tok_create(o, f, state, err);
}

static hd_node_ret tokenize_segment(hd_node *node, tok_state *s, hd_error *err) {
    if (!s->open) return HD_NODE_OK;
    s->open = false;
    size_t cap = s->len + 2, n = 0;
    hd_packet *p = hd_packet_tokens_new(NULL, (int64_t)cap, err);
    if (!p) return HD_NODE_ERROR;
    if (hd_tokenizer_encode(s->tok, s->buf ? s->buf : "", s->len, s->flags, p->u.tokens.ids, cap, &n, err)) {
        hd_packet_unref(p);
        return HD_NODE_ERROR;
    }
    p->u.tokens.n = (int64_t)n;   /* fewer ids than the room reserved */
    if (s->timed) {
        p->pts = s->start;
        p->duration = s->end - s->start;
    }
    s->len = 0;
    return hd_node_send(node, 0, p, err) ? HD_NODE_ERROR : HD_NODE_OK;
}

static hd_node_ret tokenize_process(hd_node *node, void *state, int port, hd_packet *in, hd_error *err) {
    tok_state *s = state;
    if (!s->open) {
        s->open = true;
        s->timed = in->pts != HD_PTS_NONE;
        s->start = s->end = in->pts;
    }
    if (in->pts == HD_PTS_NONE) s->timed = false;
    else if (in->pts + in->duration > s->end) s->end = in->pts + in->duration;
    if (!reserve(s, s->len + in->u.text.len + 1)) return hd_error_set(err, HD_ERR_NOMEM, "out of memory"), HD_NODE_ERROR;
    memcpy(s->buf + s->len, in->u.text.text, in->u.text.len);
    s->len += in->u.text.len;
    if (in->flags & HD_PKT_FLAG_PARTIAL) return HD_NODE_AGAIN;
    return tokenize_segment(node, s, err);
}

static hd_status tokenize_flush(hd_node *node, void *state, hd_error *err) {
    return tokenize_segment(node, state, err) == HD_NODE_ERROR ? (err ? err->code : HD_ERR_INTERNAL) : HD_OK;
}

static const hd_option_def tokenize_opts[] = {
    {"vocab", HD_OPT_STRING, NULL, "tokenizer.model, tokenizer.json, a GGUF or a model directory", 0, 0, NULL},
    {"bos", HD_OPT_BOOL, "false", "prepend <|begin_of_text|> to each segment", 0, 0, NULL},
    {"special", HD_OPT_BOOL, "false", "read special-token names like <|eot_id|> in the text", 0, 0, NULL},
};

const hd_node_type hd_node_tokenize = {
    .name = "tokenize",
    .summary = "Llama 3 tokenizer: text segments to token ids",
    .inputs = text_in,
    .n_inputs = 1,
    .outputs = tokens_out,
    .n_outputs = 1,
    .options = tokenize_opts,
    .n_options = HD_COUNTOF(tokenize_opts),
    .arg_option = "vocab",
    .create = tokenize_create,
    .process = tokenize_process,
    .flush = tokenize_flush,
    .destroy = tok_destroy,
};

/* ---- detokenize ----------------------------------------------------------------------- */

static hd_status detokenize_create(hd_node *node, const hd_node_opts *o, void **state, hd_error *err) {
    return tok_create(o, hd_opt_bool(o, "skip-special") ? HD_TOKENIZER_SKIP_SPECIAL : 0, state, err);
}

/* Sends the complete characters of the pending bytes (all of them when last). */
static hd_node_ret detok_emit(hd_node *node, tok_state *s, bool last, int64_t pts, int64_t dur, hd_error *err) {
    size_t keep = last ? 0 : hd_tokenizer_utf8_pending(s->buf ? s->buf : "", s->len);
    size_t n = s->len - keep;
    if (n == 0 && !last) return HD_NODE_AGAIN;
    hd_packet *p = hd_packet_text_new(s->buf ? s->buf : "", n, err);
    if (!p) return HD_NODE_ERROR;
    p->flags = last ? 0 : HD_PKT_FLAG_PARTIAL;
    p->pts = pts;
    p->duration = dur;
    memmove(s->buf, s->buf + n, keep);
    s->len = keep;
    return hd_node_send(node, 0, p, err) ? HD_NODE_ERROR : HD_NODE_OK;
}

static hd_node_ret detokenize_process(hd_node *node, void *state, int port, hd_packet *in, hd_error *err) {
    tok_state *s = state;
    size_t need = 0;
    /* first call sizes the text, the second writes it */
    hd_error e2;
    if (hd_tokenizer_decode(s->tok, in->u.tokens.ids, (size_t)in->u.tokens.n, s->flags, NULL, 0, &need, &e2) &&
        need == 0) {
        if (err) *err = e2;
        return HD_NODE_ERROR;
    }
    if (!reserve(s, s->len + need + 1)) return hd_error_set(err, HD_ERR_NOMEM, "out of memory"), HD_NODE_ERROR;
    size_t got = 0;
    if (hd_tokenizer_decode(s->tok, in->u.tokens.ids, (size_t)in->u.tokens.n, s->flags, s->buf + s->len,
                            s->cap - s->len, &got, err))
        return HD_NODE_ERROR;
    s->len += got;
    if (!s->open) {
        s->open = true;
        s->start = in->pts;
    }
    return detok_emit(node, s, false, in->pts, in->duration, err);
}

static hd_status detokenize_flush(hd_node *node, void *state, hd_error *err) {
    tok_state *s = state;
    if (!s->open) return HD_OK;
    return detok_emit(node, s, true, HD_PTS_NONE, 0, err) == HD_NODE_ERROR ? (err ? err->code : HD_ERR_INTERNAL)
                                                                            : HD_OK;
}

static const hd_option_def detokenize_opts[] = {
    {"vocab", HD_OPT_STRING, NULL, "tokenizer.model, tokenizer.json, a GGUF or a model directory", 0, 0, NULL},
    {"skip-special", HD_OPT_BOOL, "false", "leave special tokens out of the text", 0, 0, NULL},
};

const hd_node_type hd_node_detokenize = {
    .name = "detokenize",
    .summary = "Llama 3 tokenizer: token ids to streamed UTF-8 text",
    .inputs = tokens_in,
    .n_inputs = 1,
    .outputs = text_out,
    .n_outputs = 1,
    .options = detokenize_opts,
    .n_options = HD_COUNTOF(detokenize_opts),
    .arg_option = "vocab",
    .create = detokenize_create,
    .process = detokenize_process,
    .flush = detokenize_flush,
    .destroy = tok_destroy,
};
