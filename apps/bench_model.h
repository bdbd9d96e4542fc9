/* apps/bench_model.h — `herd bench -m MODEL ...`: prefill and decode speed of a
 * Llama model, measured as llama-bench measures it (see bench_model.c). */
#ifndef HD_APPS_BENCH_MODEL_H
#define HD_APPS_BENCH_MODEL_H

extern const char hd_bench_model_usage[];

/* argv[0] is the command name ("bench"), the rest its options.  Returns an
 * exit code (HD_EXIT_*). */
int hd_bench_model_run(int argc, char **argv);

#endif
