/* tests/fuzz/fuzz_pipeline.c — libFuzzer harness for the pipeline description
 * parser (graph/parse.c) with the built-in node registry: lexing, quoting,
 * element and option parsing, typed option values, reference resolution,
 * port selection, link kind checks and graph validation.  Nothing is started,
 * so no file is opened or written.  Seeds: tests/fuzz/pipeline.dict words
 * and any corpus of descriptions. */
#include "graph/parse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static hd_registry *registry(void) {
    static hd_registry *reg;
    if (!reg) {
        reg = hd_registry_create(NULL);
        if (!reg || hd_registry_add_builtins(reg, NULL)) abort();
    }
    return reg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > HD_PIPELINE_MAX_LEN + 16) return 0;
    char *desc = malloc(size + 1);
    if (!desc) return 0;
    memcpy(desc, data, size);
    desc[size] = 0;   /* an embedded NUL just ends the description early */
    hd_error err;
    hd_graph *g = hd_graph_create(NULL, &err);
    if (g) {
        int offset = -1;
        if (hd_pipeline_build(desc, registry(), g, &offset, &err) == HD_OK) {
            hd_graph_validate(g, &err);
        } else {
            if (offset < -1 || (offset >= 0 && (size_t)offset > strlen(desc))) abort(); /* offsets stay in the text */
            if (!err.msg[0]) abort();                                    /* every error has a message */
            char caret[512];
            hd_pipeline_caret(desc, offset, caret, sizeof caret);
        }
        hd_graph_free(g);
    }
    free(desc);
    return 0;
}
