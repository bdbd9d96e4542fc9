/* tests/parity/runner_io.h — the C side of the parity harness (harness.py).
 *
 * A runner is `RUNNER IN.safetensors OUT.safetensors`: it reads the inputs a
 * Python suite wrote (tensors in PyTorch order, scalars in __metadata__, the
 * case name under "case"), runs herd's code and writes named F32 outputs.
 * A runner defines its cases and calls pr_main:
 *
 *     static hd_status my_case(pr_io *io, hd_error *err) {
 *         hd_tensor x;                                   // ggml order
 *         if (pr_input(io, "x", HD_TYPE_F32, &x, err)) return err->code;
 *         hd_tensor y = pr_output(io, "y", x.n_dims, x.ne);
 *         return hd_op_silu(pr_exec(io), &y, &x, err);
 *     }
 *     static const pr_case cases[] = {{"silu", my_case}, {NULL, NULL}};
 *     int main(int argc, char **argv) { return pr_main(argc, argv, cases); }
 *
 * Environment: HERD_THREADS (pool size, default 1 = no pool), HERD_CPU (SIMD
 * level, read by core/cpu.c), HERD_PARITY_SCRATCH_MB (ex->scratch arena,
 * default 256; 0 = no scratch).
 */
#ifndef HD_PARITY_RUNNER_IO_H
#define HD_PARITY_RUNNER_IO_H

#include "core/error.h"
#include "core/exec.h"
#include "core/tensor.h"

#include <stdint.h>

typedef struct pr_io pr_io;

typedef struct pr_case {
    const char *name;
    hd_status (*run)(pr_io *io, hd_error *err);
} pr_case;

/* Parses argv, opens the files, runs the case named in the metadata, writes
 * the outputs; prints one line and returns 1 on any error. */
int pr_main(int argc, char **argv, const pr_case *cases);

/* Input `name` as a writable, 64-byte aligned copy owned by io, in ggml order
 * (ne[0] innermost).  want: HD_TYPE_F32 (from F32 or F16 in the file) or
 * HD_TYPE_F16 (from F16 only). */
hd_status pr_input(pr_io *io, const char *name, hd_type want, hd_tensor *t, hd_error *err);
/* Optional input: false when absent. */
bool pr_has_input(pr_io *io, const char *name);
/* The input's type in the file: HD_TYPE_F32, HD_TYPE_F16, or -1 (absent or other). */
int pr_input_type(pr_io *io, const char *name);
/* An I32 (or I64, narrowed with a range check) input as int32 values owned by io. */
hd_status pr_input_i32(pr_io *io, const char *name, const int32_t **v, int64_t *n, hd_error *err);

/* Metadata scalars; fall back to def when absent; a present but malformed value is an error. */
hd_status pr_meta_f64(pr_io *io, const char *key, double def, double *v, hd_error *err);
hd_status pr_meta_i64(pr_io *io, const char *key, int64_t def, int64_t *v, hd_error *err);
const char *pr_meta_str(pr_io *io, const char *key, const char *def);

/* A zeroed F32 output of shape ne (ggml order), written to the output file
 * (in PyTorch order) when the case returns HD_OK.  data is NULL only when out
 * of memory, which pr_main reports. */
hd_tensor pr_output(pr_io *io, const char *name, int n_dims, const int64_t *ne);
/* A scratch F32 buffer owned by io (zeroed), for intermediate tensors. */
hd_tensor pr_temp(pr_io *io, int n_dims, const int64_t *ne);

/* The executor every op gets: CPU backend, pool and scratch from the environment. */
hd_exec *pr_exec(pr_io *io);

#endif
