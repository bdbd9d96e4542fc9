/* tests/unit/test_graph_run.c — apps/cmd_run.c through the herd binary:
 * --list, error display with the caret line, exit codes, stdin input and
 * SIGINT (prompt stop, exit code 130, finished output file). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "media/wav_reader.h"
#include "testutil.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Starts `herd run ARGS...` with stdin from in_path (or /dev/null) and
 * stdout/stderr to files in the test directory. */
static pid_t spawn_run_fd(const char *const *args, const char *in_path, int in_fd);
static pid_t spawn_run(const char *const *args, const char *in_path) { return spawn_run_fd(args, in_path, -1); }

/* stdin from in_fd when >= 0 (e.g. a pipe kept open and idle) */
static pid_t spawn_run_fd(const char *const *args, const char *in_path, int in_fd) {
    char out[512], err[512];
    snprintf(out, sizeof out, "%s/run.out", tu_tmpdir());
    snprintf(err, sizeof err, "%s/run.err", tu_tmpdir());
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (in_fd >= 0) posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
    else posix_spawn_file_actions_addopen(&fa, 0, in_path ? in_path : "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    char *argv[16];
    int n = 0;
    argv[n++] = (char *)HERD_BINARY;
    argv[n++] = (char *)"run";
    for (int i = 0; args[i] && n < 15; i++) argv[n++] = (char *)args[i];
    argv[n] = NULL;
    pid_t pid;
    if (posix_spawn(&pid, HERD_BINARY, &fa, NULL, argv, environ) != 0) fail_msg("cannot start %s", HERD_BINARY);
    posix_spawn_file_actions_destroy(&fa);
    return pid;
}

static int wait_exit(pid_t pid, double timeout) {
    double t0 = now_s();
    int st;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) break;
        if (now_s() - t0 > timeout) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            fail_msg("herd run did not exit within %.1f s", timeout);
        }
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
    if (!WIFEXITED(st)) fail_msg("herd run died with signal %d", WIFSIGNALED(st) ? WTERMSIG(st) : -1);
    return WEXITSTATUS(st);
}

static char *output(const char *which) {
    char p[512];
    snprintf(p, sizeof p, "%s/run.%s", tu_tmpdir(), which);
    size_t n;
    char *b = tu_read_file(p, &n);
    assert_non_null(b);
    char *s = malloc(n + 1);
    memcpy(s, b, n);
    s[n] = 0;
    free(b);
    return s;
}

static void test_list_and_errors(void **state) {
    const char *list[] = {"--list", NULL};
    assert_int_equal(wait_exit(spawn_run(list, NULL), 30), 0);
    char *o = output("out");
    assert_non_null(strstr(o, "resample  [filter]\n"));
    assert_non_null(strstr(o, "sine (alias: tone)  [source]\n"));
    assert_non_null(strstr(o, "    shorthand: srt:VALUE sets path\n"));
    free(o);

    const char *bad[] = {"sine ! resampel", NULL};
    assert_int_equal(wait_exit(spawn_run(bad, NULL), 30), 2);
    char *e = output("err");
    assert_string_equal(e, "herd run: column 8: unknown node type 'resampel' (did you mean 'resample'?)\n"
                           "  sine ! resampel\n"
                           "         ^\n");
    free(e);

    const char *missing[] = {"file:/nonexistent/a.wav ! null", NULL};
    assert_int_equal(wait_exit(spawn_run(missing, NULL), 30), 1);
    e = output("err");
    assert_string_equal(e, "herd run: node 'file0': /nonexistent/a.wav: No such file or directory\n");
    free(e);

    const char *none[] = {NULL};
    assert_int_equal(wait_exit(spawn_run(none, NULL), 30), 2);
}

static void test_stdin_raw(void **state) {
    char in[512], wav[512], desc[1024];
    snprintf(in, sizeof in, "%s/in.raw", tu_tmpdir());
    snprintf(wav, sizeof wav, "%s/stdin.wav", tu_tmpdir());
    int16_t pcm[5000];
    for (int i = 0; i < 5000; i++) pcm[i] = (int16_t)((i * 7919) % 65536 - 32768);
    tu_write_file(in, pcm, sizeof pcm);
    /* several arguments are joined into one description */
    snprintf(desc, sizeof desc, "wav:%s", wav);
    const char *args[] = {"--quiet", "raw:-", "rate=8000", "!", desc, "format=f32", NULL};
    assert_int_equal(wait_exit(spawn_run(args, in), 30), 0);
    hd_error err = {0};
    hd_wavfile *r = hd_wavfile_open(wav, &err);
    assert_non_null(r);
    assert_int_equal(hd_wavfile_get_info(r)->n_frames, 5000);
    assert_int_equal(hd_wavfile_get_info(r)->rate, 8000);
    float *x = malloc(5000 * sizeof *x);
    assert_int_equal(hd_wavfile_read(r, x, 5000, &err), 5000);
    for (int i = 0; i < 5000; i++) assert_true(x[i] == pcm[i] / 32768.0f);
    free(x);
    hd_wavfile_close(r);
}

static void test_sigint(void **state) {
    char wav[512], desc[1024];
    snprintf(wav, sizeof wav, "%s/endless.wav", tu_tmpdir());
    snprintf(desc, sizeof desc, "sine duration=0 rate=44100 ! resample rate=16000 ! wav:%s", wav);
    const char *args[] = {desc, NULL};
    pid_t pid = spawn_run(args, NULL);
    struct timespec ts = {0, 300000000};
    nanosleep(&ts, NULL);
    double t0 = now_s();
    kill(pid, SIGINT);
    int rc = wait_exit(pid, 10);
    double lag = now_s() - t0;
    print_message("herd run exited %.1f ms after SIGINT\n", lag * 1e3);
    assert_int_equal(rc, 130);
    assert_true(lag < 2.0);   /* typically ~60 ms */
    char *e = output("err");
    assert_string_equal(e, "herd run: interrupted, finishing the outputs\n");
    free(e);
    /* the sink was flushed: a complete WAV file with exact sizes */
    hd_error err = {0};
    hd_wavfile *r = hd_wavfile_open(wav, &err);
    if (!r) fail_msg("%s", err.msg);
    int64_t n = hd_wavfile_get_info(r)->n_frames;
    assert_true(n > 0);
    FILE *f = fopen(wav, "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    assert_int_equal(hd_wavfile_get_info(r)->data_offset + 2 * n, size);
    hd_wavfile_close(r);
}

static void test_sigint_idle_stdin(void **state) {
    /* the source waits on a pipe that stays open and silent: SIGINT must
     * still stop the run promptly, and the WAV file must be complete */
    char wav[512], desc[1024];
    snprintf(wav, sizeof wav, "%s/idle.wav", tu_tmpdir());
    snprintf(desc, sizeof desc, "raw:- rate=16000 ! wav:%s", wav);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    int16_t some[800] = {0};
    for (int i = 0; i < 800; i++) some[i] = (int16_t)(i * 40);
    assert_int_equal(write(fds[1], some, sizeof some), (ssize_t)sizeof some);   /* 50 ms, then silence */
    const char *args[] = {desc, NULL};
    pid_t pid = spawn_run_fd(args, NULL, fds[0]);
    close(fds[0]);
    struct timespec ts = {0, 300000000};
    nanosleep(&ts, NULL);
    double t0 = now_s();
    kill(pid, SIGINT);
    int rc = wait_exit(pid, 10);
    double lag = now_s() - t0;
    close(fds[1]);
    print_message("idle stdin: exited %.1f ms after SIGINT\n", lag * 1e3);
    assert_int_equal(rc, 130);
    assert_true(lag < 2.0);
    hd_error err = {0};
    hd_wavfile *r = hd_wavfile_open(wav, &err);
    if (!r) fail_msg("%s", err.msg);
    assert_int_equal(hd_wavfile_get_info(r)->n_frames, 800);
    hd_wavfile_close(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_and_errors),
        cmocka_unit_test(test_stdin_raw),
        cmocka_unit_test(test_sigint),
        cmocka_unit_test(test_sigint_idle_stdin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
