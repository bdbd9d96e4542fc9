/* herd.h — the public C API of herd, the multimodal Llama 3 perception engine.
 *
 * Build against an installed herd with `pkg-config --cflags --libs herd`.
 * Conventions (see each module header for details):
 *  - every public name starts with hd_;
 *  - functions that can fail take an `hd_error *` (may be NULL) and return an
 *    hd_status; the message names the file or input and the problem;
 *  - objects come in pairs hd_xxx_open/create/init and hd_xxx_close/free,
 *    and freeing NULL is a no-op; who owns a returned pointer is stated next
 *    to the function;
 *  - model objects (weights) are read-only and may be shared between threads;
 *    per-request state (caches, scratch) is separate.
 *
 * Modules:
 *  core/error.h        status codes and the error value
 *  core/types.h        element types with GGUF's block layouts, fp16/bf16
 *  core/tensor.h       tensor views (ggml dimension order, ne[0] innermost)
 *  core/quant.h        quantize / dequantize rows
 *  core/cpu.h          run-time SIMD level (HERD_CPU=scalar|avx2|avx512)
 *  core/threadpool.h   persistent thread pool with parallel-for
 *  core/arena.h        activation arena (no malloc in the token loop)
 *  core/exec.h         where ops run (backend, threads, scratch)
 *  core/ops.h          the backend-neutral op API
 *  core/gguf.h         GGUF v3 reader (mmap) and writer
 *  core/safetensors.h  safetensors reader (incl. sharded index) and writer
 *  core/weights.h      tensors by name with shape/type checks
 *  core/nn.h           shared blocks: attention, SwiGLU MLP, norms, transformer layer
 *  media/image.h       images to 8-bit RGB (libpng, libjpeg-turbo + EXIF, FFmpeg)
 *  media/audio.h       any audio FFmpeg demuxes to 16 kHz mono float, streamed
 *  media/video.h       video frames sampled uniformly or by fps, streamed
 *  media/wav.h         WAV writer
 *  lm/tokenizer.h      Llama 3 tokenizer (tokenizer.model, tokenizer.json, GGUF)
 *  lm/llama_config.h   Llama 3.x hyper-parameters, presets, GGUF/HF config I/O
 *  lm/llama.h          the Llama 3.x decoder (GGUF or HF folder), contexts
 *  lm/kv_cache.h       KV cache
 *  lm/sampler.h        greedy / temperature / top-k / top-p / min-p / penalty
 *  lm/generate.h       prefill + decode loop with a token callback
 *  lm/chat.h           the Llama 3 chat format
 *  lm/random_model.h   random-weight checkpoints in the published layouts
 *  vision/preprocess.h Llama 3.2 Vision tiling, resize, normalisation
 *  vision/vit.h        the mllama vision encoder + projector
 *  vision/video_aggregator.h  the temporal aggregator (perceiver resampler)
 *  speech/mel.h        80-bin log-mel front end (streaming)
 *  speech/conformer.h  the paper's Conformer speech encoder
 *  adapters/speech_adapter.h  strided conv + rotary layer + projection into the LM
 *  speech/speech_model.h  encoder + adapter + LM bundle, speech/speech_prompt.h its prompts
 *  speech/tts.h        streaming text-to-speech (speech/tn.h, phonemes.h, prosody.h, vocoder.h)
 *  graph/graph.h       the processing graph: packets, nodes, scheduler
 *  graph/registry.h    the built-in node types; graph/models.h the shared model cache
 *  graph/parse.h       pipeline descriptions ("file:a.wav ! resample ! wav:b.wav")
 */
#ifndef HERD_H
#define HERD_H

#define HERD_VERSION_MAJOR 0
#define HERD_VERSION_MINOR 1
#define HERD_VERSION_PATCH 0

#include "core/error.h"
#include "core/types.h"
#include "core/tensor.h"
#include "core/quant.h"
#include "core/cpu.h"
#include "core/threadpool.h"
#include "core/arena.h"
#include "core/exec.h"
#include "core/ops.h"
#include "core/gguf.h"
#include "core/safetensors.h"
#include "core/weights.h"
#include "core/nn.h"
#include "media/image.h"
#include "media/audio.h"
#include "media/video.h"
#include "media/wav.h"
#include "lm/tokenizer.h"
#include "lm/llama_config.h"
#include "lm/llama.h"
#include "lm/kv_cache.h"
#include "lm/sampler.h"
#include "lm/generate.h"
#include "lm/chat.h"
#include "lm/random_model.h"
#include "vision/preprocess.h"
#include "vision/vit.h"
#include "vision/video_aggregator.h"
#include "speech/mel.h"
#include "speech/conformer.h"
#include "adapters/speech_adapter.h"
#include "speech/speech_model.h"
#include "speech/speech_prompt.h"
#include "speech/tn.h"
#include "speech/phonemes.h"
#include "speech/prosody.h"
#include "speech/vocoder.h"
#include "speech/tts.h"
#include "graph/graph.h"
#include "graph/registry.h"
#include "graph/models.h"
#include "graph/parse.h"

#ifdef __cplusplus
extern "C" {
#endif

/* "0.1.0"; static storage. */
const char *hd_version(void);

#ifdef __cplusplus
}
#endif
#endif
