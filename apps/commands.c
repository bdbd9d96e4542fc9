/* apps/commands.c — the table behind `herd --help`, in the order shown. */
#include "cli.h"

extern const hd_command hd_cmd_info;
extern const hd_command hd_cmd_random_model;
extern const hd_command hd_cmd_convert;
extern const hd_command hd_cmd_quantize;
extern const hd_command hd_cmd_bench;
extern const hd_command hd_cmd_generate;
extern const hd_command hd_cmd_chat;
extern const hd_command hd_cmd_ask;
extern const hd_command hd_cmd_caption;
extern const hd_command hd_cmd_transcribe;
extern const hd_command hd_cmd_translate;
extern const hd_command hd_cmd_run;
extern const hd_command hd_cmd_tokenize;
extern const hd_command hd_cmd_serve;
extern const hd_command hd_cmd_speak;

const hd_command *const hd_commands[] = {
    &hd_cmd_info,
    &hd_cmd_random_model,
    &hd_cmd_convert,
    &hd_cmd_quantize,
    &hd_cmd_bench,
    &hd_cmd_generate,
    &hd_cmd_chat,
    &hd_cmd_ask,
    &hd_cmd_caption,
    &hd_cmd_transcribe,
    &hd_cmd_translate,
    &hd_cmd_run,
    &hd_cmd_tokenize,
    &hd_cmd_serve,
    &hd_cmd_speak,
    NULL,
};
