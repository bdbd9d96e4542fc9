/* graph/registry.h — the table of node types a pipeline description may use.
 *
 * A registry maps names (and aliases) to hd_node_type descriptions.  The
 * types themselves are static and must outlive the registry.  Model
 * components get their nodes by adding a type here (graph/nodes_*.c); the
 * components themselves know nothing of the graph.
 */
#ifndef HD_REGISTRY_H
#define HD_REGISTRY_H

#include "node.h"

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hd_registry hd_registry;

/* An empty registry.  Caller frees with hd_registry_free (NULL no-op). */
hd_registry *hd_registry_create(hd_error *err);
void hd_registry_free(hd_registry *r);
/* Adds the built-in node types of graph/ (sources, sinks, resample, tee...). */
hd_status hd_registry_add_builtins(hd_registry *r, hd_error *err);
/* Adds a type (borrowed) under its own name; a duplicate name is an error. */
hd_status hd_registry_add(hd_registry *r, const hd_node_type *type, hd_error *err);
/* Makes `alias` another name for the registered type `name`. */
hd_status hd_registry_alias(hd_registry *r, const char *alias, const char *name, hd_error *err);

const hd_node_type *hd_registry_find(const hd_registry *r, const char *name);   /* NULL if unknown */
/* Types in registration order (aliases not repeated). */
int hd_registry_count(const hd_registry *r);
const hd_node_type *hd_registry_at(const hd_registry *r, int i);
/* Aliases of a type, comma-separated, into buf ("" if none). */
const char *hd_registry_aliases(const hd_registry *r, const hd_node_type *t, char *buf, size_t size);
/* Registered name closest to `name` (edit distance <= 2), or NULL. */
const char *hd_registry_suggest(const hd_registry *r, const char *name);

/* Human-readable description of every type: name, aliases, summary, ports
 * with kinds, options with type, default and help (`herd run --list`). */
void hd_registry_print(const hd_registry *r, FILE *out);

#ifdef __cplusplus
}
#endif
#endif
