/* speech/hf_mel.h — the log-mel front ends of two Hugging Face feature
 * extractors, computed exactly as they compute them (in double, stored as
 * float), for the published speech-LLM checkpoints (speech/audio_lm.h).
 *
 * WHISPER (transformers WhisperFeatureExtractor; Ultravox's audio processor):
 *     n_fft 400, hop 160, periodic Hann window of 400, center=True: the signal
 *     is reflect-padded by n_fft/2 = 200 samples at both ends, so a signal of
 *     N samples gives N/hop + 1 frames; power spectrum |X|² of the 201 bins;
 *     Slaney-scale mel filters with Slaney area normalisation (80 or 128
 *     bins, 0 .. 8000 Hz; audio_utils.mel_filter_bank(norm="slaney",
 *     mel_scale="slaney"), the same bank as librosa.filters.mel);
 *     log10(max(E, 1e-10)); the LAST frame dropped (stft[..., :-1]);
 *     x = max(x, max_all(x) − 8) over the whole utterance; (x + 4) / 4.
 *   Padding of the samples before that (hd_hf_mel_pad):
 *     HD_HF_MEL_PAD_30S  the WhisperProcessor default (padding="max_length",
 *                        truncation): zeros appended / samples cut to exactly
 *                        480 000 (30 s) → always 3000 frames.
 *     HD_HF_MEL_PAD_HOP  Ultravox (ultravox_processing.py): audio shorter than
 *                        2 hops is zero-padded to 2 hops first, then the
 *                        extractor runs with padding="longest",
 *                        pad_to_multiple_of=hop, truncation=False: zeros up to
 *                        the next multiple of 160 → N'/160 frames, no limit
 *                        (the processor then cuts the mel into 3000-frame
 *                        encoder windows; speech/whisper_encoder.h).
 *   n_valid = ceil(N'/160) frames carry audio (the extractor's attention mask
 *   taken every hop-th sample; N' = max(N, 2·hop) in PAD_HOP, min(N, 480000)
 *   in PAD_30S): Ultravox's audio_lens.
 *
 * GRANITE (transformers GraniteSpeechFeatureExtractor):
 *     torchaudio.transforms.MelSpectrogram(sample_rate=16000, n_fft=512,
 *     win_length=400, hop_length=160, n_mels=80) with every other argument at
 *     its default: periodic Hann window of 400 zero-padded to 512 (56 zeros
 *     each side, as torch.stft centres a short window), center=True with
 *     reflect padding of 256 → N/160 + 1 frames, power 2, HTK mel scale
 *     2595·log10(1 + f/700), f 0 .. 8000, no filter normalisation (torchaudio
 *     melscale_fbanks(norm=None, mel_scale="htk")); then
 *     log10(max(E, 1e-10)); x = max(x, max_all(x) − 8); x / 4 + 1; an odd
 *     last frame dropped; frames stacked in pairs (frame 2t then 2t+1:
 *     160 features per row) → (N/160 + 1) / 2 rows.  No padding of the
 *     samples (one utterance per call; the extractor zero-pads only to batch
 *     several).  1 .. 256 samples are HD_ERR_ARG: torch.stft's reflect
 *     padding of 256 needs a longer signal (torch raises as well); 0 samples
 *     give 0 rows.
 *   hd_hf_mel_granite_n_embeddings gives the projector rows the processor
 *   reserves (audio_embed_sizes).
 *
 * Output layout: row-major, `width` floats per row (ggml ne = {width, T}):
 * WHISPER width = n_mel, rows = mel frames; GRANITE width = 2·n_mel, rows =
 * stacked pairs.  (WhisperFeatureExtractor returns [n_mel, T]: the transpose
 * of this; speech/whisper_encoder.h takes this layout.)
 *
 * Non-finite samples are HD_ERR_ARG.  An hd_hf_mel holds the filterbank,
 * window and FFT plan: one thread at a time per object.
 */
#ifndef HD_SPEECH_HF_MEL_H
#define HD_SPEECH_HF_MEL_H

#include "core/error.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum hd_hf_mel_kind {
    HD_HF_MEL_WHISPER = 0,
    HD_HF_MEL_GRANITE = 1,
} hd_hf_mel_kind;

typedef enum hd_hf_mel_pad {
    HD_HF_MEL_PAD_30S = 0,   /* Whisper: pad / truncate to max_samples (480 000)     */
    HD_HF_MEL_PAD_HOP = 1,   /* Whisper as Ultravox: ≥ 2 hops, zeros to a multiple of hop */
    HD_HF_MEL_PAD_NONE = 2,  /* Granite (the only mode it takes)                      */
} hd_hf_mel_pad;

typedef struct hd_hf_mel_params {
    hd_hf_mel_kind kind;
    hd_hf_mel_pad pad;
    int rate;              /* 16000 (both)                                          */
    int n_mel;             /* Whisper 80 or 128 (feature_size); Granite 80 (n_mels) */
    int n_fft;             /* Whisper 400; Granite 512                              */
    int win;               /* Whisper 400 (= n_fft); Granite 400 (win_length ≤ n_fft) */
    int hop;               /* 160                                                   */
    int64_t max_samples;   /* PAD_30S: 480000 (chunk_length 30 s · rate)             */
} hd_hf_mel_params;

/* Whisper's extractor with n_mel bins (80: whisper ≤ v2; 128: large-v3 and
 * large-v3-turbo, Ultravox v0.5) and the given padding (PAD_30S or PAD_HOP). */
hd_hf_mel_params hd_hf_mel_whisper_params(int n_mel, hd_hf_mel_pad pad);
/* Granite Speech 3.3's extractor (the defaults in its __init__). */
hd_hf_mel_params hd_hf_mel_granite_params(void);

/* HD_ERR_ARG naming the first bad field (sizes, pad mode for the kind,
 * n_mel > n_fft/2 + 1, ...). */
hd_status hd_hf_mel_params_check(const hd_hf_mel_params *p, hd_error *err);

/* Floats per output row: n_mel (Whisper) or 2·n_mel (Granite). */
int hd_hf_mel_width(const hd_hf_mel_params *p);
/* Output rows for n samples (see the file comment; 0 for Granite when
 * n/hop + 1 < 2). */
int64_t hd_hf_mel_n_rows(const hd_hf_mel_params *p, int64_t n_samples);
/* Rows that carry audio (Whisper: the attention-mask length, ≤ n_rows;
 * Granite: n_rows). */
int64_t hd_hf_mel_n_valid(const hd_hf_mel_params *p, int64_t n_samples);

/* GraniteSpeechFeatureExtractor._get_num_audio_features for one utterance:
 *   mel = n/hop + 1; enc = mel/2; blocks = ceil(enc / window);
 *   rows = blocks · (window / downsample)
 * (window = projector_window_size 15, downsample = projector_downsample_rate 5
 * in the published preprocessor_config.json). */
int64_t hd_hf_mel_granite_n_embeddings(int64_t n_samples, int hop, int window, int downsample);

typedef struct hd_hf_mel hd_hf_mel;

/* Validates p (NULL = Whisper 128 bins, PAD_30S) and builds the window,
 * filterbank and FFT.  Caller frees with hd_hf_mel_free. */
hd_hf_mel *hd_hf_mel_create(const hd_hf_mel_params *p, hd_error *err);
void hd_hf_mel_free(hd_hf_mel *m);                       /* NULL is a no-op */
const hd_hf_mel_params *hd_hf_mel_params_of(const hd_hf_mel *m);
/* The filterbank, [n_mel][n_fft/2 + 1] row-major (owned by m), for tests. */
const double *hd_hf_mel_filters(const hd_hf_mel *m);

/* Features of n samples (16 kHz mono, [-1, 1]) into out, which holds
 * max_rows rows of hd_hf_mel_width floats; *n_rows = hd_hf_mel_n_rows(p, n)
 * (HD_ERR_ARG, nothing written, when max_rows is smaller); *n_valid (may be
 * NULL) = hd_hf_mel_n_valid(p, n).  n = 0 gives 0 rows for Granite and
 * Whisper PAD_HOP's 2 hops of silence / PAD_30S's 3000 frames of silence. */
hd_status hd_hf_mel_run(hd_hf_mel *m, const float *x, size_t n, float *out, int64_t max_rows, int64_t *n_rows,
                        int64_t *n_valid, hd_error *err);

/* One call: *out malloc'd (caller frees; NULL when there is no row). */
hd_status hd_hf_mel_compute(const hd_hf_mel_params *p, const float *x, size_t n, float **out, int64_t *n_rows,
                            int64_t *n_valid, hd_error *err);

#ifdef __cplusplus
}
#endif
#endif
