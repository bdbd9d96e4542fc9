/* speech/whisper_encoder.h — Whisper's audio encoder (transformers
 * modeling_whisper.py WhisperEncoder; Ultravox's ModifiedWhisperEncoder),
 * on the shared blocks of core/nn.h.
 *
 * mel ne={n_mel, T} (speech/hf_mel.h's WHISPER rows) →
 *     conv1  Conv1d(n_mel → D, k 3, stride 1, pad 1) + b, GELU (erf)
 *     conv2  Conv1d(D → D, k 3, stride 2, pad 1) + b, GELU (erf)
 *            → S = (T − 1)/2 + 1 frames (T = 3000 → 1500)
 *     + embed_positions[0 .. S)   (stored weights [P, D], P = max_source_positions;
 *                                  S ≤ P or HD_ERR_ARG)
 *     L pre-LN layers (core/nn.h hd_nn_layer):
 *        x += out_proj(MHA(LayerNorm₁(x)))   q, v, out with bias, k without,
 *                                            softmax(q·kᵀ/√d), d = D/H
 *        x += fc2(GELU(fc1(LayerNorm₂(x))))  fc1 D→F + b, fc2 F→D + b
 *     layer_norm                              → out ne={D, S}
 *   LayerNorm eps 1e-5 (nn.LayerNorm default; GGUF key below may override).
 *
 * Inputs shorter than 30 s (Ultravox).  The stock HF WhisperEncoder insists
 * on exactly 3000 mel frames; Ultravox's ModifiedWhisperEncoder accepts
 * T ≤ 2·P frames and adds embed_positions[:S] only (positions are not
 * interpolated).  Its processor cuts the PAD_HOP mel into windows of 3000
 * frames: the first window is passed as it is (T = its length, ≤ 3000, no
 * padding), later windows ("continuations") are zero-padded (feature value
 * 0) to 3000.  Every window gets a key mask from audio_lens: encoder frames
 * s ≥ (n_valid − 1)/2 + 1 are not attended to (additive finfo.min in
 * PyTorch; here −∞ via hd_nn_attention's mask), queries are still computed
 * for every frame.  hd_whisper_encoder_forward's n_valid is that length (in
 * mel frames, = T when the whole window is audio).  Optional block-causal
 * mask (Ultravox's audio_latency_block_size, `latency_block` below; 0 = none,
 * the published v0.5 configs): frame s attends to t only if
 * t / block ≤ s / block.
 *
 * Weights (PyTorch shapes; any of F32/F16/BF16 for the safetensors layout,
 * any herd matrix type for GGUF matrices; vectors F32/F16/BF16):
 *   HF name (after prefix)                     llama.cpp mmproj name       shape
 *   conv1.weight / conv1.bias                  a.conv1d.1.weight / .bias   [D, n_mel, 3] / [D] (GGUF bias [D, 1])
 *   conv2.weight / conv2.bias                  a.conv1d.2.weight / .bias   [D, D, 3] / [D]     (GGUF bias [D, 1])
 *   embed_positions.weight                     a.position_embd.weight      [P, D]
 *   layers.N.self_attn_layer_norm.{weight,bias} a.blk.N.ln1.{weight,bias}  [D]
 *   layers.N.self_attn.q_proj.{weight,bias}    a.blk.N.attn_q.{weight,bias} [D, D], [D]
 *   layers.N.self_attn.k_proj.weight           a.blk.N.attn_k.weight       [D, D]   (no bias)
 *   layers.N.self_attn.v_proj.{weight,bias}    a.blk.N.attn_v.{weight,bias} [D, D], [D]
 *   layers.N.self_attn.out_proj.{weight,bias}  a.blk.N.attn_out.{weight,bias} [D, D], [D]
 *   layers.N.final_layer_norm.{weight,bias}    a.blk.N.ln2.{weight,bias}   [D]
 *   layers.N.fc1.{weight,bias}                 a.blk.N.ffn_up.{weight,bias} [F, D], [F]
 *   layers.N.fc2.{weight,bias}                 a.blk.N.ffn_down.{weight,bias} [D, F], [D]
 *   layer_norm.{weight,bias}                   a.post_ln.{weight,bias}     [D]
 * Prefixes: Ultravox checkpoints "audio_tower." (the encoder itself is the
 * audio tower; its weights are saved in model*.safetensors next to the
 * projector, the LM is not); openai/whisper-* HF checkpoints "model.encoder.".
 * The mmproj names are llama.cpp's (gguf-py constants A_ENC_*, tensor_mapping
 * "audio_tower.*"; convert_hf_to_gguf.py WhisperEncoderModel writes the conv
 * biases unsqueezed to [D, 1] and the conv weights as F16).
 * GGUF keys (llama.cpp clip/mmproj): clip.audio.embedding_length (D),
 * clip.audio.feed_forward_length (F), clip.audio.block_count (L),
 * clip.audio.attention.head_count (H), clip.audio.num_mel_bins (n_mel),
 * clip.audio.attention.layer_norm_epsilon (default 1e-5); P is read from
 * a.position_embd.weight's shape.
 *
 * Thread safety: an hd_whisper_encoder owns its activation arena (grown to
 * the longest window seen): one forward at a time per encoder.  Weights are
 * borrowed from the hd_weights given at load, which must outlive it.
 */
#ifndef HD_SPEECH_WHISPER_ENCODER_H
#define HD_SPEECH_WHISPER_ENCODER_H

#include "core/error.h"
#include "core/exec.h"
#include "core/weights.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct cJSON;

typedef struct hd_whisper_config {
    int n_mel;          /* num_mel_bins            128 (large-v3*), 80 (≤ v2) */
    int n_embd;         /* d_model, D              1280                       */
    int n_ff;           /* encoder_ffn_dim, F      5120                       */
    int n_layer;        /* encoder_layers, L       32 (large-v3-turbo)        */
    int n_head;         /* encoder_attention_heads 20                         */
    int n_pos;          /* max_source_positions, P 1500                       */
    float norm_eps;     /* LayerNorm               1e-5                       */
    int latency_block;  /* Ultravox audio_latency_block_size, 0 = none        */
} hd_whisper_config;

/* Presets: "tiny-test" (n_mel 80, D 64, F 128, L 2, H 4, P 1500: tests),
 * "whisper-large-v3-turbo" (Ultravox v0.5's audio tower, per its model card:
 * n_mel 128, D 1280, F 5120, L 32, H 20, P 1500; the encoder of
 * openai/whisper-large-v3-turbo is large-v3's), "whisper-large-v3" (same
 * encoder shape), "whisper-base" (80, 512, 2048, 6, 8, 1500).  false for an
 * unknown name. */
bool hd_whisper_preset(const char *name, hd_whisper_config *c);

/* HD_ERR_ARG naming the first bad field (D % H, sizes ≤ 0, ...). */
hd_status hd_whisper_config_check(const hd_whisper_config *c, hd_error *err);
/* A WhisperConfig JSON object (Ultravox: config.json's "audio_config"; a
 * Whisper checkpoint: its config.json).  Keys absent take WhisperConfig's
 * defaults as transformers does (num_mel_bins 80, d_model 384,
 * encoder_ffn_dim 1536, encoder_layers 4, encoder_attention_heads 6,
 * max_source_positions 1500); activation_function must be "gelu" when given.
 * `name` (the file) prefixes errors: HD_ERR_FORMAT "NAME: audio_config.KEY ...". */
hd_status hd_whisper_config_from_cjson(const struct cJSON *obj, const char *name, hd_whisper_config *c,
                                       hd_error *err);
/* The same from JSON text (len bytes, need not be NUL-terminated). */
hd_status hd_whisper_config_from_json(const char *json, size_t len, const char *name, hd_whisper_config *c,
                                      hd_error *err);
/* Reads the clip.audio.* keys above (P from a.position_embd.weight). */
hd_status hd_whisper_config_from_gguf(const hd_gguf *g, hd_whisper_config *c, hd_error *err);

/* Writes the clip.audio.* keys above (u32; epsilon f32), as llama.cpp's
 * converter does; the file-level keys (general.architecture "clip",
 * clip.has_audio_encoder, clip.projector_type, ...) are the caller's. */
hd_status hd_whisper_config_to_gguf(const hd_whisper_config *c, hd_gguf_writer *w, hd_error *err);
/* The llama.cpp mmproj name of an encoder tensor's HF name (after the
 * prefix), e.g. "layers.3.fc1.weight" → "a.blk.3.ffn_up.weight",
 * "conv2.bias" → "a.conv1d.2.bias" (the table above).  false (out untouched)
 * for a name that is not a Whisper encoder tensor or does not fit in size. */
bool hd_whisper_mmproj_name(const char *hf, char *out, size_t size);

/* Encoder frames for T mel frames: (T − 1)/2 + 1, 0 for T ≤ 0. */
int64_t hd_whisper_encoder_n_out(int64_t n_mel_frames);
/* Largest T the positions allow: 2·P. */
int64_t hd_whisper_encoder_max_frames(const hd_whisper_config *c);
/* Parameters of the encoder with config c. */
int64_t hd_whisper_n_params(const hd_whisper_config *c);

typedef struct hd_whisper_encoder hd_whisper_encoder;

/* The HF layout: tensors named prefix + the HF names above ("audio_tower.",
 * "model.encoder.", "" ...), shapes checked against c (errors name the file
 * and tensor).  Borrows w.  Caller frees with hd_whisper_encoder_free. */
hd_whisper_encoder *hd_whisper_encoder_load(const hd_weights *w, const char *prefix, const hd_whisper_config *c,
                                            hd_error *err);
/* The llama.cpp mmproj layout (a.* names); c NULL = from w's GGUF keys
 * (hd_whisper_config_from_gguf).  Borrows w. */
hd_whisper_encoder *hd_whisper_encoder_load_mmproj(const hd_weights *w, const hd_whisper_config *c,
                                                   hd_error *err);
void hd_whisper_encoder_free(hd_whisper_encoder *e);   /* NULL is a no-op */
const hd_whisper_config *hd_whisper_encoder_config(const hd_whisper_encoder *e);

/* Encodes one window: mel [T][n_mel] (ne={n_mel, T}, 1 ≤ T ≤ 2·P), n_valid
 * mel frames of audio (1 ≤ n_valid ≤ T; T = no padding, no mask) →
 * out [S][D] (ne={D, S}, S = hd_whisper_encoder_n_out(T)), caller-allocated.
 * HD_ERR_ARG for T or n_valid out of range; HD_ERR_NOMEM when the arena
 * cannot grow. */
hd_status hd_whisper_encoder_forward(hd_whisper_encoder *e, hd_exec *ex, const float *mel, int64_t n_frames,
                                     int64_t n_valid, float *out, hd_error *err);

#ifdef __cplusplus
}
#endif
#endif
