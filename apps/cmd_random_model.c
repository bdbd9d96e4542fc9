/* TEMPORARY scaffold — replaced by the real command during this session. */
#include "cli.h"
#include <stdio.h>
static int run(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "herd random-model: under construction\n"); return 1; }
const hd_command hd_cmd_random_model = {"random-model", "(under construction)", "", run};
