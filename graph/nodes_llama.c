/* graph/nodes_llama.c — the Llama 3 language model as a node.
 *
 *   llama model=PATH task=ask|generate|transcribe|translate ...
 *
 * Inputs (both optional):  embed  embeddings: image states (vit) or speech
 *                                  rows (speech-adapter)
 *                          text   questions / prompts, one per segment
 * Outputs:                 out    the answer as text pieces: every piece but
 *                                  the last carries HD_PKT_FLAG_PARTIAL, the
 *                                  last (possibly empty) closes the answer;
 *                                  pts/duration of what was answered
 *                          tokens one packet per answer with its token ids
 *
 * Tasks:
 *   ask         Llama 3.2 Vision chat: every image packet (HD_EMBED_IMAGE)
 *               is collected first (the node reads `embed` until it ends),
 *               then each text segment is one question about all of them
 *               (`prompt`, if set, goes before it); without a text input the
 *               `prompt` option is the one question.  The user turn holds an
 *               <|image|> per image then the question (graph/vision_lm.h);
 *               hd_llama_set_images gets the images with the ranges of
 *               hd_llama_image_ranges (mask mode `hf-mask`).  Images on a
 *               model without cross-attention are an error; no images is a
 *               plain chat question.
 *               group=K (video frames, `herd caption`): no text input; every
 *               K images (the last run may be shorter) get their own answer
 *               to `prompt` as soon as they are in, then are dropped; the
 *               answer's pts/duration span the run's pictures.  frame-times:
 *               the question begins with the images' times (graph/
 *               video_prompt.h), from the packets' pts.
 *               video=true (a video model, lm/llama.h "video cross-attention"):
 *               the `embed` packets are effective frames from a vagg node
 *               (n_latent rows of LM width each); the frames of one answer
 *               (all, or a run of `group`) are one video for the video
 *               cross-attention layers, behind a single <|image|>
 *               placeholder; frame-times then says the clip's time span.
 *   generate    plain completion: <|begin_of_text|> prompt [+ text segment],
 *               one answer per text segment (or `prompt` alone).
 *   transcribe  one answer per speech segment (an embedding packet of LM
 *   translate   width from speech-adapter), prompt of speech/speech_prompt.h
 *               ("Repeat after me in {language}:" / "Translate the following
 *               sentence into {to}:") with the rows spliced between the
 *               packet's begin/end ids (defaults 128002/128003); greedy
 *               unless temp is given; pts/duration of the segment go to
 *               the text, so srt/vtt sinks get segment times.
 * Each answer starts from an empty KV cache.  model may be the LM file or a
 * speech file (general.architecture "conformer") naming its LM in
 * speech.lm_file; the tokenizer is the LM's own.
 */
#include "node.h"

#include "models.h"
#include "node_hooks.h"
#include "video_prompt.h"
#include "vision_lm.h"

#include "core/gguf.h"
#include "lm/chat.h"
#include "lm/generate.h"
#include "core/strbuf.h"
#include "lm/llama.h"
#include "lm/tokenizer.h"
#include "speech/audio_lm.h"
#include "speech/speech_file.h"
#include "speech/speech_model.h"
#include "speech/speech_prompt.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_IMAGES 16

typedef enum task { T_ASK, T_GENERATE, T_TRANSCRIBE, T_TRANSLATE } task;

static const hd_port_def llama_in[] = {
    {"embed", HD_KIND_BIT(HD_PKT_EMBED), HD_PORT_OPTIONAL},
    {"text", HD_KIND_BIT(HD_PKT_TEXT), HD_PORT_OPTIONAL},
};
static const hd_port_def llama_out[] = {
    {"out", HD_KIND_BIT(HD_PKT_TEXT), 0},
    {"tokens", HD_KIND_BIT(HD_PKT_TOKENS), 0},
};

typedef struct llama_state {
    hd_node *node;
    task task;
    hd_model *lm_entry, *tok_entry;
    hd_model *audio_entry;    /* a Granite Speech / Ultravox checkpoint (speech/audio_lm.h), or NULL */
    hd_audio_lm *audio;
    const hd_llama_model *lm;
    const hd_tokenizer *tok;
    hd_llama_context *ctx;
    hd_generate_params gp;
    hd_xattn_mask_mode mode;
    char *prompt, *system, *language, *to;
    int32_t image_token;
    bool embed_ended;

    hd_packet *images[MAX_IMAGES];
    int n_images, max_images;
    int group;                /* ask: answer every `group` images (0 = all) */
    bool frame_times;         /* ask: the images' times start the question */
    bool video;               /* ask: `images` are effective frames of a video */

    /* the text segment being gathered */
    char *seg;
    size_t seg_len, seg_cap;
    bool seg_open, seg_timed;
    int64_t seg_start, seg_end;
    int64_t n_answers;

    /* the answer being generated */
    hd_tokens prompt_ids;
    char *pend;               /* generated bytes not yet sent (incomplete UTF-8 tail) */
    hd_strbuf utf8;           /* the piece being sent, repaired to valid UTF-8 */
    size_t pend_len, pend_cap;
    hd_tokens out_ids;
    int64_t ans_pts, ans_dur;
    hd_error cb_err;          /* failure inside the token callback */
    bool cb_failed;
} llama_state;

static bool grow(char **buf, size_t *cap, size_t need) {
    if (need <= *cap) return true;
    size_t c = *cap ? *cap : 256;
    while (c < need) c *= 2;
    char *b = realloc(*buf, c);
    if (!b) return false;
    *buf = b;
    *cap = c;
    return true;
}

/* ---- model ----------------------------------------------------------------------- */

static hd_status llama_create(hd_node *node, const hd_node_opts *o, void **state, hd_error *err) {
    llama_state *s = calloc(1, sizeof *s);
    if (!s) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    *state = s;
    s->node = node;
    const char *t = hd_opt_str(o, "task");
    s->task = !strcmp(t, "generate") ? T_GENERATE : !strcmp(t, "transcribe") ? T_TRANSCRIBE
              : !strcmp(t, "translate")  ? T_TRANSLATE : T_ASK;
    s->prompt = strdup(hd_opt_str(o, "prompt"));
    s->system = strdup(hd_opt_str(o, "system"));
    s->language = strdup(hd_opt_str(o, "language"));
    s->to = strdup(hd_opt_str(o, "to"));
    if (!s->prompt || !s->system || !s->language || !s->to) return hd_error_set(err, HD_ERR_NOMEM, "out of memory");
    s->mode = hd_opt_bool(o, "hf-mask") ? HD_XATTN_MASK_HF : HD_XATTN_MASK_META;
    s->max_images = (int)hd_opt_int(o, "max-images");
    s->group = (int)hd_opt_int(o, "group");
    s->frame_times = hd_opt_bool(o, "frame-times");
    s->video = hd_opt_bool(o, "video");
    if (s->video && s->task != T_ASK) return hd_error_set(err, HD_ERR_ARG, "video=true is for task=ask");
    if (s->group > 0 && s->task != T_ASK)
        return hd_error_set(err, HD_ERR_ARG, "group= is for task=ask (images answered in runs)");
    if (s->group > 0 && hd_node_input_linked(node, 1))
        return hd_error_set(err, HD_ERR_ARG, "group=%d answers prompt= about each run of images; the text input is not used",
                            s->group);
    if (s->group > s->max_images) s->max_images = s->group;

    /* the languages are checked now, not at the first segment */
    char sys[256];
    if (s->task == T_TRANSCRIBE && hd_speech_system_prompt(HD_SPEECH_ASR, s->language, sys, sizeof sys, err))
        return err ? err->code : HD_ERR_ARG;
    if (s->task == T_TRANSLATE && hd_speech_system_prompt(HD_SPEECH_AST, s->to, sys, sizeof sys, err))
        return err ? err->code : HD_ERR_ARG;

    const char *model = hd_opt_str(o, "model");
    hd_audio_lm_family fam = HD_AUDIO_LM_NONE;
    hd_error derr = {0};
    if (hd_audio_lm_detect(model, &fam, &derr)) fam = HD_AUDIO_LM_NONE;   /* the LM loader names the problem */
    if (fam != HD_AUDIO_LM_NONE) {
        /* a published speech LLM: its LM (with its audio LoRA, if any), tokenizer and prompt */
        if (s->task != T_TRANSCRIBE && s->task != T_TRANSLATE)
            return hd_error_set(err, HD_ERR_ARG, "%s is a %s checkpoint: use task=transcribe or task=translate", model,
                                hd_audio_lm_family_name(fam));
        s->audio_entry = hd_model_acquire_with(HD_MODEL_AUDIO_LM, model, hd_opt_str(o, "lm"), err);
        if (!s->audio_entry) return err ? err->code : HD_ERR_IO;
        s->audio = hd_model_audio_lm(s->audio_entry);
        s->lm = hd_audio_lm_lm(s->audio);
        s->tok = hd_audio_lm_tokenizer(s->audio);
        if (!s->lm || !s->tok)
            return hd_error_set(err, HD_ERR_ARG, "%s: loaded without a language model or tokenizer", model);
    } else {
        if (hd_opt_str(o, "lm")[0])
            return hd_error_set(err, HD_ERR_ARG, "lm= is for Granite Speech / Ultravox checkpoints; %s is none", model);
        char *lm_path = NULL;
        hd_status st = hd_speech_file_lm_path(model, &lm_path, NULL, err);
        if (st) return st;
        s->lm_entry = hd_model_acquire(HD_MODEL_LLAMA, lm_path, err);
        free(lm_path);
        if (!s->lm_entry) return err ? err->code : HD_ERR_IO;
        s->lm = hd_model_llama(s->lm_entry);
        s->tok_entry = hd_model_acquire(HD_MODEL_TOKENIZER, s->lm->source, err);
        if (!s->tok_entry) return hd_error_prefix(err, "the model's tokenizer");
        s->tok = hd_model_tokenizer(s->tok_entry);
    }
    if (hd_tokenizer_n_vocab(s->tok) > (int32_t)s->lm->tok_embd.ne[1])
        return hd_error_set(err, HD_ERR_FORMAT, "%s: the tokenizer has %d ids but the model only %lld embedding rows",
                            s->lm->source, (int)hd_tokenizer_n_vocab(s->tok), (long long)s->lm->tok_embd.ne[1]);
    s->image_token = hd_vlm_image_token(s->tok, s->lm);
    if (s->video && !hd_llama_has_video_layers(s->lm))
        return hd_error_set(err, HD_ERR_UNSUPPORTED,
                            "%s has no video cross-attention layers (a video model comes from herd random-model --arch "
                            "video; give the frames as images instead)",
                            s->lm->source);
    /* images are coming: say now, before any encoder runs, if the model cannot see them */
    if (s->task == T_ASK && hd_node_input_linked(node, 0) && !hd_llama_has_cross_attention(s->lm))
        return hd_error_set(err, HD_ERR_UNSUPPORTED,
                            "%s has no cross-attention layers: not a Llama 3.2 Vision model, it cannot see images",
                            s->lm->source);

    hd_llama_context_params cp = hd_llama_context_default_params();
    cp.n_ctx = hd_opt_int(o, "ctx");
    cp.n_threads = hd_threadpool_size(hd_node_pool(node));
    cp.xattn_mask = s->mode;
    cp.max_images = s->max_images;
    if (!(s->ctx = hd_llama_context_create(s->lm, &cp, err))) return err ? err->code : HD_ERR_NOMEM;

    s->gp = hd_generate_default_params();
    s->gp.n_predict = (int)hd_opt_int(o, "n");
    hd_sampler_params *sp = &s->gp.sampling;
    const bool speech = s->task == T_TRANSCRIBE || s->task == T_TRANSLATE;
    sp->temp = (float)hd_opt_float(o, "temp");
    if (speech && !hd_opt_is_set(o, "temp")) sp->temp = 0;   /* the paper decodes greedily */
    sp->top_k = (int)hd_opt_int(o, "top-k");
    sp->top_p = (float)hd_opt_float(o, "top-p");
    sp->min_p = (float)hd_opt_float(o, "min-p");
    sp->repeat_penalty = (float)hd_opt_float(o, "repeat-penalty");
    sp->seed = (uint64_t)hd_opt_int(o, "seed");
    return hd_sampler_params_check(sp, err);
}

static void llama_destroy(void *state) {
    llama_state *s = state;
    if (!s) return;
    for (int i = 0; i < s->n_images; i++) hd_packet_unref(s->images[i]);
    hd_llama_context_free(s->ctx);
    hd_model_release(s->tok_entry);
    hd_model_release(s->lm_entry);
    hd_model_release(s->audio_entry);
    free(s->prompt);
    free(s->system);
    free(s->language);
    free(s->to);
    free(s->seg);
    free(s->pend);
    free(s->utf8.p);
    hd_tokens_free(&s->prompt_ids);
    hd_tokens_free(&s->out_ids);
    free(s);
}

/* ---- answering ---------------------------------------------------------------------- */

static bool send_text(llama_state *s, const char *text, size_t len, bool last, hd_error *err) {
    hd_packet *p = hd_packet_text_new(text, len, err);
    if (!p) return false;
    p->flags = last ? 0 : HD_PKT_FLAG_PARTIAL;
    p->pts = s->ans_pts;
    p->duration = s->ans_dur;
    if (hd_node_send(s->node, 0, p, err) != HD_OK) return false;
    hd_node_deliver_now(s->node);   /* stream the answer piece by piece, not when the callback returns */
    return true;
}

/* Sends the whole UTF-8 characters of the pending bytes (all when last), as
 * valid UTF-8: byte-level tokens need not form characters (a sampled stray
 * continuation byte, an answer cut inside a character), and those bytes
 * become U+FFFD, as Hugging Face's decode(errors="replace") shows them. */
static bool emit(llama_state *s, bool last, hd_error *err) {
    size_t keep = last ? 0 : hd_tokenizer_utf8_pending(s->pend ? s->pend : "", s->pend_len);
    size_t n = s->pend_len - keep;
    if (n == 0 && !last) return true;
    s->utf8.n = 0;
    hd_strbuf_put_utf8(&s->utf8, s->pend ? s->pend : "", n);
    hd_strbuf_put(&s->utf8, "", 0);   /* NUL-terminated even when empty */
    if (s->utf8.oom) return hd_error_set(err, HD_ERR_NOMEM, "out of memory"), false;
    const hd_node_hooks *h = hd_node_hooks_of(s->node);
    if (h && h->text) h->text(h->ctx, hd_node_name(s->node), s->utf8.p, s->utf8.n, last);
    if (!send_text(s, s->utf8.p, s->utf8.n, last, err)) return false;
    if (keep) memmove(s->pend, s->pend + n, keep);
    s->pend_len = keep;
    return true;
}

static bool on_token(void *user, int32_t token, const char *text, size_t len) {
    llama_state *s = user;
    if (hd_node_cancelled(s->node)) return false;
    if (token >= 0 && hd_tokens_push(&s->out_ids, &token, 1, &s->cb_err)) {
        s->cb_failed = true;
        return false;
    }
    if (!len) return true;
    if (!grow(&s->pend, &s->pend_cap, s->pend_len + len)) {
        hd_error_set(&s->cb_err, HD_ERR_NOMEM, "out of memory");
        s->cb_failed = true;
        return false;
    }
    memcpy(s->pend + s->pend_len, text, len);
    s->pend_len += len;
    if (!emit(s, false, &s->cb_err)) {
        s->cb_failed = true;
        return false;
    }
    return true;
}

/* Generates one answer to s->prompt_ids (embd: rows for its EMBD entries),
 * sending the text pieces and the ids. */
static hd_node_ret answer(llama_state *s, const float *embd, int64_t pts, int64_t dur, hd_error *err) {
    s->ans_pts = pts;
    s->ans_dur = dur;
    s->pend_len = 0;
    s->out_ids.n = 0;
    s->cb_failed = false;
    s->gp.prompt_embd = embd;
    s->gp.on_token = on_token;
    s->gp.user = s;
    hd_generate_result res;
    hd_status st = hd_generate(s->ctx, s->tok, s->prompt_ids.ids, (int64_t)s->prompt_ids.n, &s->gp, &res, err);
    if (s->cb_failed) {
        if (err) *err = s->cb_err;
        return HD_NODE_ERROR;
    }
    if (st == HD_OK && hd_node_cancelled(s->node)) return HD_NODE_EOS;
    if (st) return HD_NODE_ERROR;
    if (!emit(s, true, err)) return HD_NODE_ERROR;
    hd_packet *ids = hd_packet_tokens_new(s->out_ids.ids, (int64_t)s->out_ids.n, err);
    if (!ids) return HD_NODE_ERROR;
    ids->pts = pts;
    ids->duration = dur;
    if (hd_node_send(s->node, 1, ids, err)) return HD_NODE_ERROR;
    s->n_answers++;
    hd_node_progressf(s->node, "answer %lld: prompt %lld tokens in %.0f ms, %lld tokens in %.0f ms (%.1f tok/s), stop: %s",
                      (long long)s->n_answers, (long long)res.n_prompt, res.prefill_ms, (long long)res.n_generated,
                      res.decode_ms, res.decode_ms > 0 ? res.n_generated * 1e3 / res.decode_ms : 0.0,
                      hd_stop_reason_name(res.stop));
    return HD_NODE_OK;
}

/* ask, video=true: the question q behind one <|image|> placeholder, the
 * effective frames held as one video for the video cross-attention layers
 * (seen from the placeholder on), no images. */
static hd_node_ret answer_video(llama_state *s, const char *q, int64_t pts, int64_t dur, hd_error *err) {
    if (hd_vlm_user_turn(s->tok, true, s->system, s->image_token, 1, q, &s->prompt_ids, err)) return HD_NODE_ERROR;
    int64_t p0 = -1;
    for (size_t i = 0; i < s->prompt_ids.n && p0 < 0; i++)
        if (s->prompt_ids.ids[i] == s->image_token) p0 = (int64_t)i;
    if (p0 < 0) return hd_error_set(err, HD_ERR_INTERNAL, "no video placeholder in the prompt"), HD_NODE_ERROR;
    const int64_t D = s->lm->cfg.n_embd;
    int64_t T = 0;
    for (int i = 0; i < s->n_images; i++) T += s->images[i]->u.embed.rows;
    float *rows = malloc((size_t)(T * D) * sizeof *rows);   /* [T][D]: the effective frames in order */
    if (!rows) return hd_error_set(err, HD_ERR_NOMEM, "out of memory for %lld video tokens", (long long)T), HD_NODE_ERROR;
    int64_t off = 0;
    for (int i = 0; i < s->n_images; i++) {
        const hd_packet *p = s->images[i];
        memcpy(rows + off * D, p->u.embed.data, (size_t)(p->u.embed.rows * D) * sizeof *rows);
        off += p->u.embed.rows;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    hd_llama_clear_images(s->ctx);
    const hd_llama_video v = {.states = rows, .n_tokens = T, .pos_begin = p0, .pos_end = -1};
    hd_status st = hd_llama_set_video(s->ctx, &v, err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    free(rows);
    if (st) return HD_NODE_ERROR;
    hd_node_progressf(s->node, "video keys/values of %d effective frame%s (%lld tokens) in %.0f ms", s->n_images,
                      s->n_images == 1 ? "" : "s", (long long)T,
                      (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
    return answer(s, NULL, pts, dur, err);
}

/* ask / generate: one question (prompt option + text). */
static hd_node_ret answer_text(llama_state *s, const char *text, int64_t pts, int64_t dur, hd_error *err) {
    size_t lp = strlen(s->prompt), lt = text ? strlen(text) : 0;
    char *q = malloc(lp + lt + 2);
    if (!q) return hd_error_set(err, HD_ERR_NOMEM, "out of memory"), HD_NODE_ERROR;
    memcpy(q, s->prompt, lp);
    size_t n = lp;
    if (lp && lt) q[n++] = s->task == T_GENERATE ? '\n' : ' ';
    if (lt) memcpy(q + n, text, lt);
    q[n + lt] = 0;
    if (s->frame_times && s->video && s->n_images > 0) {
        const hd_packet *a = s->images[0], *b = s->images[s->n_images - 1];
        char *tq = hd_video_span_text(a->pts, b->pts == HD_PTS_NONE ? -1 : b->pts + b->duration, q, err);
        free(q);
        if (!tq) return HD_NODE_ERROR;
        q = tq;
    } else if (s->frame_times && s->task == T_ASK && s->n_images > 0) {
        int64_t pts[MAX_IMAGES];
        for (int i = 0; i < s->n_images; i++) pts[i] = s->images[i]->pts;
        char *tq = hd_video_frames_text(pts, s->n_images, q, err);
        free(q);
        if (!tq) return HD_NODE_ERROR;
        q = tq;
    }

    hd_status st = HD_OK;
    s->prompt_ids.n = 0;
    if (hd_llama_rewind(s->ctx, 0, err)) {
        free(q);
        return HD_NODE_ERROR;
    }
    if (s->task == T_GENERATE) {
        size_t len = strlen(q), got = 0;
        if (len == 0) {
            free(q);
            return hd_error_set(err, HD_ERR_ARG, "task=generate: empty prompt (give prompt= or a text input)"),
                   HD_NODE_ERROR;
        }
        int32_t *ids = malloc((len + 2) * sizeof *ids);
        if (!ids) st = hd_error_set(err, HD_ERR_NOMEM, "out of memory");
        else st = hd_tokenizer_encode(s->tok, q, len, HD_TOKENIZER_ADD_BOS, ids, len + 2, &got, err);
        if (!st) st = hd_tokens_push(&s->prompt_ids, ids, got, err);
        free(ids);
    } else {
        if (s->n_images == 0 && !q[strspn(q, " \t\r\n")]) {
            free(q);
            return hd_error_set(err, HD_ERR_ARG, "task=ask: no question and no image (give prompt= or a text input)"),
                   HD_NODE_ERROR;
        }
        if (s->video && s->n_images > 0) {
            hd_node_ret r = answer_video(s, q, pts, dur, err);
            free(q);
            return r;
        }
        st = hd_vlm_user_turn(s->tok, true, s->system, s->image_token, s->n_images, q, &s->prompt_ids, err);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (!st)
            st = hd_vlm_set_images(s->ctx, s->prompt_ids.ids, (int64_t)s->prompt_ids.n, s->image_token, s->images,
                                   s->n_images, s->mode, err);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (!st && s->n_images)
            hd_node_progressf(s->node, "cross-attention keys/values of %d image%s in %.0f ms", s->n_images,
                              s->n_images == 1 ? "" : "s",
                              (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
    }
    free(q);
    if (st) return HD_NODE_ERROR;
    return answer(s, NULL, pts, dur, err);
}

/* transcribe / translate: one speech segment. */
static hd_node_ret answer_speech(llama_state *s, const hd_packet *in, hd_error *err) {
    if (in->u.embed.what == HD_EMBED_IMAGE)
        return hd_error_set(err, HD_ERR_ARG, "task=%s takes speech embeddings, got image states (use task=ask)",
                            s->task == T_TRANSCRIBE ? "transcribe" : "translate"),
               HD_NODE_ERROR;
    if (in->u.embed.dim != s->lm->cfg.n_embd)
        return hd_error_set(err, HD_ERR_ARG,
                            "speech rows of width %lld, the language model is %d wide (put speech-adapter before llama, "
                            "or use the adapter that belongs to this model)",
                            (long long)in->u.embed.dim, s->lm->cfg.n_embd),
               HD_NODE_ERROR;
    s->prompt_ids.n = 0;
    if (s->audio) {
        /* the family's own prompt (its processor and chat template) around the rows */
        const hd_audio_prompt ap = {
            .task = s->task == T_TRANSCRIBE ? HD_SPEECH_ASR : HD_SPEECH_AST,
            .language = s->task == T_TRANSCRIBE ? s->language : s->to,
            .n_audio = in->u.embed.rows,
            .text = s->prompt[0] ? s->prompt : NULL,
        };
        if (hd_llama_rewind(s->ctx, 0, err) || hd_audio_lm_prompt(s->audio, &ap, &s->prompt_ids, NULL, err))
            return HD_NODE_ERROR;
        return answer(s, in->u.embed.data, in->pts, in->duration, err);
    }
    hd_speech_prompt sp = {
        .task = s->task == T_TRANSCRIBE ? HD_SPEECH_ASR : HD_SPEECH_AST,
        .language = s->task == T_TRANSCRIBE ? s->language : s->to,
        .begin_id = in->u.embed.begin_id >= 0 ? in->u.embed.begin_id : HD_SPEECH_BEGIN_TOKEN,
        .end_id = in->u.embed.end_id >= 0 ? in->u.embed.end_id : HD_SPEECH_END_TOKEN,
        .n_audio = in->u.embed.rows,
        .text = s->prompt[0] ? s->prompt : NULL,
    };
    s->prompt_ids.n = 0;
    if (hd_llama_rewind(s->ctx, 0, err) || hd_speech_prompt_encode(s->tok, &sp, &s->prompt_ids, NULL, err))
        return HD_NODE_ERROR;
    hd_llama_clear_images(s->ctx);
    return answer(s, in->u.embed.data, in->pts, in->duration, err);
}

/* ask with group=K: answers prompt= about the images held, then drops them. */
static hd_node_ret answer_group(llama_state *s, hd_error *err) {
    const hd_packet *a = s->images[0], *b = s->images[s->n_images - 1];
    int64_t pts = a->pts, dur = 0;
    if (pts != HD_PTS_NONE && b->pts != HD_PTS_NONE && b->pts + b->duration > pts) dur = b->pts + b->duration - pts;
    hd_node_ret r = answer_text(s, "", pts, dur, err);
    for (int i = 0; i < s->n_images; i++) hd_packet_unref(s->images[i]);
    s->n_images = 0;
    return r;
}

/* ---- callbacks ------------------------------------------------------------------------ */

static hd_node_ret text_segment_done(llama_state *s, hd_error *err) {
    s->seg_open = false;
    if (s->task == T_TRANSCRIBE || s->task == T_TRANSLATE)
        return hd_error_set(err, HD_ERR_ARG, "task=%s answers speech embeddings; the text input is not used",
                            s->task == T_TRANSCRIBE ? "transcribe" : "translate"),
               HD_NODE_ERROR;
    int64_t pts = s->seg_timed ? s->seg_start : HD_PTS_NONE;
    int64_t dur = s->seg_timed ? s->seg_end - s->seg_start : 0;
    hd_node_ret r = answer_text(s, s->seg ? s->seg : "", pts, dur, err);
    s->seg_len = 0;
    if (s->seg) s->seg[0] = 0;
    return r;
}

static hd_node_ret llama_process(hd_node *node, void *state, int port, hd_packet *in, hd_error *err) {
    (void)node;
    llama_state *s = state;
    if (port == 0) {
        if (s->task == T_TRANSCRIBE || s->task == T_TRANSLATE) return answer_speech(s, in, err);
        if (s->task == T_GENERATE)
            return hd_error_set(err, HD_ERR_ARG,
                                "task=generate takes no embeddings (task=ask for images, transcribe/translate for speech)"),
                   HD_NODE_ERROR;
        if (s->video) {
            if (in->u.embed.what == HD_EMBED_IMAGE || in->u.embed.dim != s->lm->cfg.n_embd || in->u.embed.rows <= 0)
                return hd_error_set(err, HD_ERR_ARG,
                                    "video=true takes effective frames from a vagg node (rows of width %d), got %s "
                                    "embeddings (%lld x %lld)",
                                    s->lm->cfg.n_embd, hd_embed_kind_name(in->u.embed.what),
                                    (long long)in->u.embed.rows, (long long)in->u.embed.dim),
                       HD_NODE_ERROR;
        } else if (in->u.embed.what != HD_EMBED_IMAGE)
            return hd_error_set(err, HD_ERR_ARG,
                                "task=ask takes image states from a vit node, got %s embeddings (%lld x %lld)",
                                hd_embed_kind_name(in->u.embed.what), (long long)in->u.embed.rows,
                                (long long)in->u.embed.dim),
                   HD_NODE_ERROR;
        if (!hd_llama_has_cross_attention(s->lm))
            return hd_error_set(err, HD_ERR_UNSUPPORTED,
                                "%s has no cross-attention layers: not a Llama 3.2 Vision model, it cannot see images",
                                s->lm->source),
                   HD_NODE_ERROR;
        if (s->n_images == s->max_images)
            return hd_error_set(err, HD_ERR_ARG, "more than %d %s: raise max-images (up to %d)", s->max_images,
                                s->video ? "effective frames" : "images", MAX_IMAGES),
                   HD_NODE_ERROR;
        s->images[s->n_images++] = hd_packet_ref(in);
        if (s->group > 0 && s->n_images == s->group) return answer_group(s, err);
        return HD_NODE_AGAIN;
    }
    /* text */
    if (!s->seg_open) {
        s->seg_open = true;
        s->seg_timed = in->pts != HD_PTS_NONE;
        s->seg_start = s->seg_end = in->pts;
    }
    if (in->pts == HD_PTS_NONE) s->seg_timed = false;
    else if (in->pts + in->duration > s->seg_end) s->seg_end = in->pts + in->duration;
    if (!grow(&s->seg, &s->seg_cap, s->seg_len + in->u.text.len + 1))
        return hd_error_set(err, HD_ERR_NOMEM, "out of memory"), HD_NODE_ERROR;
    memcpy(s->seg + s->seg_len, in->u.text.text, in->u.text.len);
    s->seg_len += in->u.text.len;
    s->seg[s->seg_len] = 0;
    if (in->flags & HD_PKT_FLAG_PARTIAL) return HD_NODE_AGAIN;
    return text_segment_done(s, err);
}

static hd_node_ret llama_input_eos(hd_node *node, void *state, int port, hd_error *err) {
    (void)node;
    (void)err;
    llama_state *s = state;
    if (port == 0) s->embed_ended = true;
    return HD_NODE_OK;
}

/* ask reads every image before the first question. */
static int llama_select_input(hd_node *node, void *state) {
    llama_state *s = state;
    if (s->task != T_ASK) return -1;
    return hd_node_input_linked(node, 0) && !s->embed_ended ? 0 : -1;
}

static hd_status llama_flush(hd_node *node, void *state, hd_error *err) {
    llama_state *s = state;
    hd_node_ret r = HD_NODE_OK;
    if (s->seg_open) r = text_segment_done(s, err);
    else if (s->group > 0 && s->n_images > 0) r = answer_group(s, err);   /* the last, shorter run */
    else if (s->group > 0) r = s->n_answers == 0 ? answer_text(s, "", HD_PTS_NONE, 0, err) : HD_NODE_OK;
    else if ((s->task == T_ASK || s->task == T_GENERATE) && s->n_answers == 0 && !hd_node_input_linked(node, 1))
        r = answer_text(s, "", HD_PTS_NONE, 0, err);
    return r == HD_NODE_ERROR ? (err && err->code ? err->code : HD_ERR_INTERNAL) : HD_OK;
}

static const hd_option_def llama_opts[] = {
    {"model", HD_OPT_STRING, NULL, "Llama 3 model (GGUF or HF folder), a speech file naming its LM, or a Granite "
                                   "Speech / Ultravox checkpoint", 0, 0, NULL},
    {"task", HD_OPT_STRING, "ask", "what to do with the inputs", 0, 0, "ask|generate|transcribe|translate"},
    {"lm", HD_OPT_STRING, "", "transcribe/translate with a Granite Speech or Ultravox checkpoint that does not hold "
                              "its language model: that model (HF folder or GGUF)", 0, 0, NULL},
    {"prompt", HD_OPT_STRING, "", "ask/generate: the question or prompt (before each text segment); speech: text "
                                  "after the audio", 0, 0, NULL},
    {"system", HD_OPT_STRING, "", "ask: system message", 0, 0, NULL},
    {"language", HD_OPT_STRING, "English", "transcribe: language of the transcript (name or ISO code)", 0, 0, NULL},
    {"to", HD_OPT_STRING, "English", "translate: target language (name or ISO code)", 0, 0, NULL},
    {"n", HD_OPT_INT, "256", "maximum tokens per answer (-1: until a stop token or the context end)", -1, 1 << 24,
     NULL},
    {"temp", HD_OPT_FLOAT, "0.6", "temperature, 0 = greedy (transcribe/translate: 0 unless given)", 0, 100, NULL},
    {"top-k", HD_OPT_INT, "0", "keep the K most likely tokens (0 = off)", 0, 1 << 30, NULL},
    {"top-p", HD_OPT_FLOAT, "0.9", "nucleus sampling mass (1 = off)", 0.000001, 1, NULL},
    {"min-p", HD_OPT_FLOAT, "0", "drop tokens below P x the best probability (0 = off)", 0, 1, NULL},
    {"repeat-penalty", HD_OPT_FLOAT, "1", "penalty on recent tokens (1 = off)", 0.01, 100, NULL},
    {"seed", HD_OPT_INT, "0", "sampling seed (every answer starts from it)", 0, (double)INT64_MAX, NULL},
    {"ctx", HD_OPT_INT, "0", "context length (0: the model's, at most 4096)", 0, 1 << 24, NULL},
    {"max-images", HD_OPT_INT, "4", "ask: images per question", 1, MAX_IMAGES, NULL},
    {"group", HD_OPT_INT, "0", "ask: answer every K images on their own, as they arrive (video segments; 0 = all "
                               "images, one answer per question)", 0, MAX_IMAGES, NULL},
    {"frame-times", HD_OPT_BOOL, "false", "ask: the question starts with the images' times (video frames)", 0, 0, NULL},
    {"video", HD_OPT_BOOL, "false", "ask: embed packets are a video's effective frames (vagg) for the video "
                                    "cross-attention layers", 0, 0, NULL},
    {"hf-mask", HD_OPT_BOOL, "false", "ask: Hugging Face's cross-attention row mask instead of Meta's", 0, 0, NULL},
};

const hd_node_type hd_node_llama = {
    .name = "llama",
    .summary = "Llama 3 language model: answers about images (ask), completes text, transcribes/translates speech",
    .inputs = llama_in,
    .n_inputs = 2,
    .outputs = llama_out,
    .n_outputs = 2,
    .options = llama_opts,
    .n_options = HD_COUNTOF(llama_opts),
    .arg_option = "model",
    .flags = HD_NODE_HEAVY,
    .create = llama_create,
    .process = llama_process,
    .flush = llama_flush,
    .input_eos = llama_input_eos,
    .select_input = llama_select_input,
    .destroy = llama_destroy,
};
