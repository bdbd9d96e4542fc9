/* apps/cmd_bench.c — `herd bench MODE`: performance measurements.
 *
 * Modes are a table (k_modes) so others can join; today:
 *   kernels   matrix-vector and matrix-matrix products per weight type and shape
 *             (core/bench_kernels.h) beside the machine's measured read bandwidth
 *             and arithmetic peak, in text or --json;
 *   model     prefill/decode tokens/s of a Llama model (apps/bench_model.c); also
 *             reached as `herd bench -m MODEL ...` (options first, no mode name).
 */
#include "bench_model.h"
#include "cli.h"

#include "core/bench_kernels.h"
#include "core/cpu.h"
#include "core/threadpool.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_LIST 16

typedef struct kernels_opts {
    const hd_cli *cli;
    hd_type types[MAX_LIST];
    int n_types;
    int64_t shapes[MAX_LIST][2]; /* {n, k}: w is [n, k] = out × in */
    int n_shapes;
    int64_t tokens[MAX_LIST];
    int n_tokens;
    double seconds;      /* minimum timed seconds per measurement */
    long long bw_mib;    /* bandwidth buffer                       */
    long long cold_mib;  /* weights cycled through for mat-vec     */
    bool no_interleave;  /* quote against the roofs measured at the start only */
    bool bad;
} kernels_opts;

static const hd_type k_default_types[] = {HD_TYPE_F32,  HD_TYPE_F16,  HD_TYPE_BF16, HD_TYPE_Q8_0,
                                          HD_TYPE_Q4_0, HD_TYPE_Q4_K, HD_TYPE_Q5_K, HD_TYPE_Q6_K};

/* Splits a comma list into at most MAX_LIST items, calling parse on each. */
static bool parse_list(kernels_opts *o, const char *flag, const char *value,
                       bool (*parse)(kernels_opts *o, const char *flag, const char *item)) {
    char buf[512];
    if (strlen(value) >= sizeof buf) {
        hd_cli_usage_error(o->cli, "%s: list too long", flag);
        return false;
    }
    strcpy(buf, value);
    char *save = NULL;
    for (char *it = strtok_r(buf, ",", &save); it; it = strtok_r(NULL, ",", &save))
        if (!parse(o, flag, it)) return false;
    return true;
}

static bool parse_type(kernels_opts *o, const char *flag, const char *item) {
    const int t = hd_type_from_name(item);
    if (t < 0 || t == HD_TYPE_Q8_K || o->n_types == MAX_LIST) {
        hd_cli_usage_error(o->cli, "%s: '%s' is not a weight type (F32 F16 BF16 Q8_0 Q4_0 Q4_K Q5_K Q6_K)", flag, item);
        return false;
    }
    o->types[o->n_types++] = (hd_type)t;
    return true;
}

static bool parse_shape(kernels_opts *o, const char *flag, const char *item) {
    long long n, k;
    char tail;
    if (sscanf(item, "%lldx%lld%c", &n, &k, &tail) != 2 || n < 1 || k < 1 || n > (1 << 20) || k > (1 << 20) ||
        o->n_shapes == MAX_LIST) {
        hd_cli_usage_error(o->cli, "%s: '%s' is not OUTxIN (e.g. 8192x2048)", flag, item);
        return false;
    }
    o->shapes[o->n_shapes][0] = n;
    o->shapes[o->n_shapes][1] = k;
    o->n_shapes++;
    return true;
}

static bool parse_tokens(kernels_opts *o, const char *flag, const char *item) {
    long long m;
    if (!hd_cli_int(o->cli, flag, item, 1, 1 << 16, &m)) return false;
    if (o->n_tokens == MAX_LIST) {
        hd_cli_usage_error(o->cli, "%s: too many values", flag);
        return false;
    }
    o->tokens[o->n_tokens++] = m;
    return true;
}

static int kernels_flag(void *ctx, const char *flag, const char *value) {
    kernels_opts *o = ctx;
    if (!value && (!strcmp(flag, "--types") || !strcmp(flag, "--shapes") || !strcmp(flag, "--tokens") ||
                   !strcmp(flag, "--seconds") || !strcmp(flag, "--bw-mib") || !strcmp(flag, "--cold-mib")))
        return 1; /* hd_cli_parse reports the missing value */
    if (!strcmp(flag, "--no-interleave")) {
        o->no_interleave = true;
        return 0;
    }
    if (!strcmp(flag, "--types")) {
        o->n_types = 0;
        if (!parse_list(o, flag, value, parse_type)) o->bad = true;
        return 1;
    }
    if (!strcmp(flag, "--shapes")) {
        o->n_shapes = 0;
        if (!parse_list(o, flag, value, parse_shape)) o->bad = true;
        return 1;
    }
    if (!strcmp(flag, "--tokens")) {
        o->n_tokens = 0;
        if (!parse_list(o, flag, value, parse_tokens)) o->bad = true;
        return 1;
    }
    if (!strcmp(flag, "--seconds")) {
        if (!hd_cli_float(o->cli, flag, value, &o->seconds)) {
            o->bad = true;
        } else if (o->seconds < 0 || o->seconds > 60) {
            hd_cli_usage_error(o->cli, "%s must be in [0, 60]", flag);
            o->bad = true;
        }
        return 1;
    }
    if (!strcmp(flag, "--bw-mib")) {
        if (!hd_cli_int(o->cli, flag, value, 16, 1 << 16, &o->bw_mib)) o->bad = true;
        return 1;
    }
    if (!strcmp(flag, "--cold-mib")) {
        if (!hd_cli_int(o->cli, flag, value, 0, 1 << 16, &o->cold_mib)) o->bad = true;
        return 1;
    }
    return -1;
}

static const char k_kernels_usage[] =
    "usage: herd bench kernels [options]\n"
    "\n"
    "Times y = x·wᵀ (hd_op_linear) per weight type and shape, for 1 token (matrix-vector,\n"
    "memory bound: weights cycle through --cold-mib of copies so they come from memory) and\n"
    "for many tokens (matrix-matrix, compute bound), with 1 thread and with -t threads.\n"
    "Beside them: the read bandwidth of a STREAM-like pass over --bw-mib with the same\n"
    "threads (best 8 MiB window, like the best call of the products), and the FMA / BF16\n"
    "arithmetic peak of the active SIMD level.  Times are the best call.\n"
    "GFLOP/s = 2·out·in·tokens / time; GB/s = weight bytes / time; %BW = GB/s over the\n"
    "measured bandwidth; %peak = GFLOP/s over the peak of the arithmetic used: F32 FMA,\n"
    "BF16 vdpbf16ps for BF16 weights, INT8 vpdpbusd for quantized weights (AVX-512).\n"
    "Each % uses its roof measured again right after that product (bandwidth for fewer\n"
    "than 8 tokens, peak otherwise), so load from other programs skews both alike.\n"
    "\n"
    "options:\n"
    "  -t N               most threads (default: all cores); runs 1 and N\n"
    "  --types LIST       e.g. q4_0,q8_0 (default F32,F16,BF16,Q8_0,Q4_0,Q4_K,Q5_K,Q6_K)\n"
    "  --shapes LIST      OUTxIN list (default 2048x2048,8192x2048,2048x8192)\n"
    "  --tokens LIST      token counts (default 1,512)\n"
    "  --seconds S        minimum timed seconds per measurement (default 0.3)\n"
    "  --bw-mib N         bandwidth buffer in MiB (default 1024)\n"
    "  --cold-mib N       weight copies cycled for tokens < 8, MiB (default 256; 0 = warm)\n"
    "  --no-interleave    quote against the roofs measured once at the start\n"
    "  --json             one JSON object on stdout\n"
    "  --quiet            no progress on stderr\n"
    "\n"
    "HERD_CPU=scalar|avx2|avx512 picks the kernels.\n";

typedef struct machine {
    int threads;
    double bw, bw_pass, peak_f32, peak_bf16, peak_int8; /* 0 when the level has none */
} machine;

static int run_kernels(int argc, char **argv) {
    hd_cli cli;
    bool help = false;
    kernels_opts o = {.cli = &cli, .seconds = 0.3, .bw_mib = 1024, .cold_mib = 256};
    o.n_types = (int)(sizeof k_default_types / sizeof k_default_types[0]);
    memcpy(o.types, k_default_types, sizeof k_default_types);
    const int64_t def_shapes[3][2] = {{2048, 2048}, {8192, 2048}, {2048, 8192}};
    memcpy(o.shapes, def_shapes, sizeof def_shapes);
    o.n_shapes = 3;
    o.tokens[0] = 1;
    o.tokens[1] = 512;
    o.n_tokens = 2;
    int rc = hd_cli_parse(&cli, argc, argv, kernels_flag, &o, &help);
    if (rc != HD_EXIT_OK || o.bad) return HD_EXIT_USAGE;
    if (help) {
        fputs(k_kernels_usage, stdout);
        return HD_EXIT_OK;
    }
    if (cli.n_pos > 0) return hd_cli_usage_error(&cli, "unexpected argument '%s'", cli.pos[0]);
    for (int s = 0; s < o.n_shapes; s++)
        for (int t = 0; t < o.n_types; t++)
            if (hd_type_row_size(o.types[t], o.shapes[s][1]) == 0)
                return hd_cli_usage_error(&cli, "shape %lldx%lld: IN is not a multiple of %s's block",
                                          (long long)o.shapes[s][0], (long long)o.shapes[s][1],
                                          hd_type_name(o.types[t]));

    int thread_counts[2] = {1, cli.threads};
    const int n_counts = cli.threads > 1 ? 2 : 1;
    machine mach[2] = {{0}};
    hd_threadpool *pools[2] = {NULL, NULL};
    hd_error err = {0};
    cJSON *root = cli.json ? cJSON_CreateObject() : NULL;
    cJSON *jm = NULL, *jr = NULL;
    int status = HD_EXIT_OK;
    const hd_cpu_level level = hd_cpu_level_get();
    const bool tty = isatty(STDERR_FILENO) != 0;
    if (root) {
        cJSON_AddStringToObject(root, "mode", "kernels");
        cJSON_AddStringToObject(root, "simd", hd_cpu_level_name(level));
        jm = cJSON_AddArrayToObject(root, "machine");
        jr = cJSON_AddArrayToObject(root, "results");
    } else {
        printf("herd bench kernels — SIMD %s\n", hd_cpu_level_name(level));
    }
    for (int c = 0; c < n_counts; c++) {
        machine *m = &mach[c];
        m->threads = thread_counts[c];
        if (m->threads > 1 && !(pools[c] = hd_threadpool_create(m->threads, &err))) {
            status = hd_cli_fail(&cli, &err);
            goto done;
        }
        hd_cli_progress(&cli, "measuring bandwidth and peak with %d thread(s)...\n", m->threads);
        if (hd_bench_bandwidth(pools[c], (size_t)o.bw_mib << 20, 3, &m->bw, &m->bw_pass, &err) != HD_OK ||
            hd_bench_peak(pools[c], HD_BENCH_PEAK_F32, &m->peak_f32, &err) != HD_OK) {
            status = hd_cli_fail(&cli, &err);
            goto done;
        }
        if (hd_bench_peak(pools[c], HD_BENCH_PEAK_BF16, &m->peak_bf16, &err) != HD_OK) m->peak_bf16 = 0;
        if (hd_bench_peak(pools[c], HD_BENCH_PEAK_INT8, &m->peak_int8, &err) != HD_OK) m->peak_int8 = 0;
        if (root) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddNumberToObject(e, "threads", m->threads);
            cJSON_AddNumberToObject(e, "read_gbps", m->bw);
            cJSON_AddNumberToObject(e, "read_gbps_whole_pass", m->bw_pass);
            cJSON_AddNumberToObject(e, "peak_f32_gflops", m->peak_f32);
            if (m->peak_bf16 > 0) cJSON_AddNumberToObject(e, "peak_bf16_gflops", m->peak_bf16);
            if (m->peak_int8 > 0) cJSON_AddNumberToObject(e, "peak_int8_gops", m->peak_int8);
            cJSON_AddItemToArray(jm, e);
        } else {
            printf("%d thread%s: read bandwidth %.1f GB/s (best 8 MiB window; whole %lld MiB pass %.1f), "
                   "F32 FMA peak %.0f GFLOP/s",
                   m->threads, m->threads > 1 ? "s" : " ", m->bw, o.bw_mib, m->bw_pass, m->peak_f32);
            if (m->peak_bf16 > 0) printf(", BF16 peak %.0f GFLOP/s", m->peak_bf16);
            if (m->peak_int8 > 0) printf(", INT8 peak %.0f GOP/s", m->peak_int8);
            printf("\n");
        }
    }
    if (!root)
        printf("\n%-5s %-11s %6s %3s %10s %9s %8s %6s %6s\n", "type", "OUTxIN", "tokens", "thr", "ms", "GFLOP/s",
               "GB/s", "%BW", "%peak");
    for (int ti = 0; ti < o.n_types; ti++)
        for (int si = 0; si < o.n_shapes; si++)
            for (int mi = 0; mi < o.n_tokens; mi++)
                for (int c = 0; c < n_counts; c++) {
                    const hd_type t = o.types[ti];
                    const int64_t n = o.shapes[si][0], k = o.shapes[si][1], m = o.tokens[mi];
                    hd_bench_linear_result r;
                    const size_t cold = m < 8 ? (size_t)o.cold_mib << 20 : 0;
                    if (tty) /* a status line, overwritten by the result */
                        hd_cli_progress(&cli, "%s %lldx%lld tokens %lld threads %d\r", hd_type_name(t),
                                        (long long)n, (long long)k, (long long)m, mach[c].threads);
                    if (hd_bench_linear(t, n, k, m, pools[c], o.seconds, cold, &r, &err) != HD_OK) {
                        status = hd_cli_fail(&cli, &err);
                        goto done;
                    }
                    /* the roof of the arithmetic the product ran: BF16 weights use vdpbf16ps and
                     * quantized ones the int8 dot products where the level has them (from 8
                     * tokens the gemm of F16/F32-dequantized K-quants on levels without) */
                    hd_bench_peak_kind kind = HD_BENCH_PEAK_F32;
                    if (t == HD_TYPE_BF16 && mach[c].peak_bf16 > 0) kind = HD_BENCH_PEAK_BF16;
                    if (hd_type_get(t)->quantized && mach[c].peak_int8 > 0) kind = HD_BENCH_PEAK_INT8;
                    double peak = kind == HD_BENCH_PEAK_BF16   ? mach[c].peak_bf16
                                  : kind == HD_BENCH_PEAK_INT8 ? mach[c].peak_int8
                                                               : mach[c].peak_f32;
                    double bw = mach[c].bw;
                    if (!o.no_interleave) {
                        /* the roof measured again right after the product, with the same
                         * threads, so a shared machine's load changes both alike */
                        if (m < 8) {
                            if (hd_bench_bandwidth(pools[c], (size_t)o.bw_mib << 20, 1, &bw, NULL, &err) != HD_OK) {
                                status = hd_cli_fail(&cli, &err);
                                goto done;
                            }
                        } else if (hd_bench_peak(pools[c], kind, &peak, &err) != HD_OK) {
                            status = hd_cli_fail(&cli, &err);
                            goto done;
                        }
                    }
                    const double pbw = 100.0 * r.gbps / bw, ppk = 100.0 * r.gflops / peak;
                    if (root) {
                        cJSON *e = cJSON_CreateObject();
                        cJSON_AddStringToObject(e, "type", hd_type_name(t));
                        cJSON_AddNumberToObject(e, "out", (double)n);
                        cJSON_AddNumberToObject(e, "in", (double)k);
                        cJSON_AddNumberToObject(e, "tokens", (double)m);
                        cJSON_AddNumberToObject(e, "threads", mach[c].threads);
                        cJSON_AddNumberToObject(e, "seconds", r.seconds);
                        cJSON_AddNumberToObject(e, "gflops", r.gflops);
                        cJSON_AddNumberToObject(e, "weight_gbps", r.gbps);
                        cJSON_AddNumberToObject(e, "pct_bandwidth", pbw);
                        cJSON_AddNumberToObject(e, "roof_read_gbps", bw);
                        cJSON_AddNumberToObject(e, "roof_peak_gflops", peak);
                        cJSON_AddStringToObject(e, "roof_peak_kind", kind == HD_BENCH_PEAK_BF16   ? "bf16"
                                                                     : kind == HD_BENCH_PEAK_INT8 ? "int8"
                                                                                                  : "f32");
                        cJSON_AddNumberToObject(e, "pct_peak", ppk);
                        cJSON_AddNumberToObject(e, "weight_bytes", (double)r.weight_bytes);
                        cJSON_AddNumberToObject(e, "weight_copies", r.copies);
                        cJSON_AddNumberToObject(e, "runs", r.runs);
                        cJSON_AddItemToArray(jr, e);
                    } else {
                        char shape[32];
                        snprintf(shape, sizeof shape, "%lldx%lld", (long long)n, (long long)k);
                        if (tty) hd_cli_progress(&cli, "%60s\r", "");
                        printf("%-5s %-11s %6lld %3d %10.3f %9.1f %8.1f %5.0f%% %5.0f%%\n", hd_type_name(t), shape,
                               (long long)m, mach[c].threads, r.seconds * 1e3, r.gflops, r.gbps, pbw, ppk);
                        fflush(stdout);
                    }
                }
    if (root) {
        char *s = cJSON_Print(root);
        if (s) {
            puts(s);
            free(s);
        }
    }
done:
    cJSON_Delete(root);
    for (int c = 0; c < 2; c++) hd_threadpool_free(pools[c]);
    return status;
}

/* ---- the mode table ---------------------------------------------------------------- */

typedef struct bench_mode {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} bench_mode;

static const bench_mode k_modes[] = {
    {"kernels", "matrix products per weight type vs. memory bandwidth and FMA peak", run_kernels},
    {"model", "prefill and decode tokens/s of a Llama model, as llama-bench measures (-m MODEL)",
     hd_bench_model_run},
};

static void print_modes(FILE *f) {
    fprintf(f, "usage: herd bench MODE [options]   or   herd bench -m MODEL [options]\n"
               "(herd bench MODE -h for a mode's options)\n\nmodes:\n");
    for (size_t i = 0; i < sizeof k_modes / sizeof k_modes[0]; i++)
        fprintf(f, "  %-10s %s\n", k_modes[i].name, k_modes[i].summary);
}

static int run(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        print_modes(argc < 2 ? stderr : stdout);
        return argc < 2 ? HD_EXIT_USAGE : HD_EXIT_OK;
    }
    if (argv[1][0] == '-') /* options without a mode: `herd bench -m MODEL ...` */
        return hd_bench_model_run(argc, argv);
    for (size_t i = 0; i < sizeof k_modes / sizeof k_modes[0]; i++)
        if (!strcmp(argv[1], k_modes[i].name)) {
            /* the mode sees "bench MODE" as its command name for messages */
            char name[64];
            snprintf(name, sizeof name, "bench %s", k_modes[i].name);
            char *saved = argv[1];
            argv[1] = name;
            const int rc = k_modes[i].run(argc - 1, argv + 1);
            argv[1] = saved;
            return rc;
        }
    fprintf(stderr, "herd bench: unknown mode '%s'\n", argv[1]);
    print_modes(stderr);
    return HD_EXIT_USAGE;
}

const hd_command hd_cmd_bench = {
    "bench",
    "performance: bench -m MODEL (tokens/s), bench kernels (matrix products vs. roofs)",
    "usage: herd bench MODE [options]   or   herd bench -m MODEL [options]\n"
    "\n"
    "modes:\n"
    "  kernels   matrix-vector and matrix-matrix products per weight type and shape,\n"
    "            beside the measured read bandwidth and arithmetic peak\n"
    "  model     prefill and decode tokens/s of a Llama model (the default when the\n"
    "            first argument is an option, e.g. herd bench -m model.gguf)\n"
    "\n"
    "herd bench MODE -h shows a mode's options.\n",
    run,
};
