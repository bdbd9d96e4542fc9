/* graph/queue.c — the bounded ring of packet references behind every link. */
#include "graph_impl.h"

#include <stdlib.h>

hd_status hd_queue_init(hd_queue *q, int cap, hd_error *err) {
    q->head = q->count = q->high = 0;
    q->cap = cap;
    q->buf = calloc((size_t)cap, sizeof *q->buf);
    if (!q->buf) return hd_error_set(err, HD_ERR_NOMEM, "out of memory for a queue of %d packets", cap);
    return HD_OK;
}

void hd_queue_clear(hd_queue *q) {
    while (q->count) hd_packet_unref(hd_queue_pop(q));
}

void hd_queue_free(hd_queue *q) {
    if (!q->buf) return;
    hd_queue_clear(q);
    free(q->buf);
    q->buf = NULL;
}

bool hd_queue_push(hd_queue *q, hd_packet *p) {
    if (q->count >= q->cap) return false;
    q->buf[(q->head + q->count) % q->cap] = p;
    q->count++;
    if (q->count > q->high) q->high = q->count;
    return true;
}

hd_packet *hd_queue_pop(hd_queue *q) {
    if (!q->count) return NULL;
    hd_packet *p = q->buf[q->head];
    q->buf[q->head] = NULL;
    q->head = (q->head + 1) % q->cap;
    q->count--;
    return p;
}
