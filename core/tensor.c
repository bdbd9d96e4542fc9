#include "tensor.h"

#include <stdio.h>

hd_tensor hd_tensor_view(hd_type type, int n_dims, const int64_t *ne, void *data) {
    hd_tensor t = {0};
    t.type = type;
    t.n_dims = n_dims;
    t.data = data;
    const hd_type_traits *tr = hd_type_get(type);
    for (int i = 0; i < HD_MAX_DIMS; i++) t.ne[i] = i < n_dims ? ne[i] : 1;
    t.nb[0] = tr ? tr->type_size : 0;
    t.nb[1] = hd_type_row_size(type, t.ne[0]);
    for (int i = 2; i < HD_MAX_DIMS; i++) t.nb[i] = t.nb[i - 1] * (size_t)t.ne[i - 1];
    return t;
}

hd_tensor hd_tensor_1d(hd_type type, int64_t ne0, void *data) {
    int64_t ne[1] = {ne0};
    return hd_tensor_view(type, 1, ne, data);
}

hd_tensor hd_tensor_2d(hd_type type, int64_t ne0, int64_t ne1, void *data) {
    int64_t ne[2] = {ne0, ne1};
    return hd_tensor_view(type, 2, ne, data);
}

hd_tensor hd_tensor_3d(hd_type type, int64_t ne0, int64_t ne1, int64_t ne2, void *data) {
    int64_t ne[3] = {ne0, ne1, ne2};
    return hd_tensor_view(type, 3, ne, data);
}

int64_t hd_tensor_nelements(const hd_tensor *t) { return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]; }

int64_t hd_tensor_nrows(const hd_tensor *t) { return t->ne[1] * t->ne[2] * t->ne[3]; }

size_t hd_tensor_nbytes(const hd_tensor *t) {
    return hd_type_row_size(t->type, t->ne[0]) * (size_t)hd_tensor_nrows(t);
}

bool hd_tensor_is_contiguous(const hd_tensor *t) {
    const hd_type_traits *tr = hd_type_get(t->type);
    if (!tr || t->nb[0] != tr->type_size) return false;
    size_t expect = hd_type_row_size(t->type, t->ne[0]);
    for (int i = 1; i < HD_MAX_DIMS; i++) {
        if (t->ne[i] > 1 && t->nb[i] != expect) return false;
        expect *= (size_t)t->ne[i];
    }
    return true;
}

const char *hd_tensor_shape_str(const hd_tensor *t, char *buf, size_t size) {
    int n = t->n_dims < 1 ? 1 : t->n_dims;
    size_t off = 0;
    off += (size_t)snprintf(buf + off, off < size ? size - off : 0, "[");
    for (int i = 0; i < n && off < size; i++)
        off += (size_t)snprintf(buf + off, size - off, "%s%lld", i ? ", " : "", (long long)t->ne[i]);
    if (off < size) snprintf(buf + off, size - off, "]");
    return buf;
}
