/* apps/main.c — `herd <command>`: dispatch to the subcommands. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

#ifndef HERD_VERSION
#define HERD_VERSION "0.1.0"
#endif

static void print_help(FILE *f) {
    fprintf(f, "herd %s — multimodal Llama 3 perception engine\n\n"
               "usage: herd <command> [options]\n\ncommands:\n", HERD_VERSION);
    for (int i = 0; hd_commands[i]; i++)
        fprintf(f, "  %-14s %s\n", hd_commands[i]->name, hd_commands[i]->summary);
    fprintf(f, "\nshared options: -m MODEL  -t THREADS  -n MAX_TOKENS  --temp T (0 = greedy)  --seed N\n"
               "                --ids  --json  --quiet  --device cpu|cuda|auto (default cpu)  -h/--help\n"
               "exit codes: 0 ok, 1 bad input, 2 usage error.  'herd <command> --help' for details.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        print_help(stderr);
        return HD_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        print_help(stdout);
        return HD_EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("herd %s\n", HERD_VERSION);
        return HD_EXIT_OK;
    }
    for (int i = 0; hd_commands[i]; i++)
        if (strcmp(hd_commands[i]->name, cmd) == 0) return hd_commands[i]->run(argc - 1, argv + 1);
    fprintf(stderr, "herd: unknown command '%s' (see 'herd --help')\n", cmd);
    return HD_EXIT_USAGE;
}
