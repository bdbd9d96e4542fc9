#include "mmap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

hd_status hd_mmap_open(hd_mmap *m, const char *path, hd_error *err) {
    memset(m, 0, sizeof *m);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return hd_error_set(err, HD_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return hd_error_set(err, HD_ERR_IO, "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return hd_error_set(err, HD_ERR_IO, "%s: not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        return HD_OK;
    }
    if ((uint64_t)st.st_size > (uint64_t)SIZE_MAX) {
        close(fd);
        return hd_error_set(err, HD_ERR_IO, "%s: file too large to map", path);
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED) return hd_error_set(err, HD_ERR_IO, "%s: mmap failed: %s", path, strerror(e));
    m->data = p;
    m->size = (size_t)st.st_size;
    return HD_OK;
}

void hd_mmap_close(hd_mmap *m) {
    if (!m) return;
    if (m->data && m->size) munmap((void *)m->data, m->size);
    m->data = NULL;
    m->size = 0;
}

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

hd_status hd_outfile_open(hd_outfile *o, const char *path, hd_error *err) {
    memset(o, 0, sizeof *o);
    size_t n = strlen(path) + 32;
    o->path = dup_str(path);
    o->tmp = malloc(n);
    if (!o->path || !o->tmp) {
        free(o->path);
        free(o->tmp);
        memset(o, 0, sizeof *o);
        return hd_error_set(err, HD_ERR_NOMEM, "%s: out of memory", path);
    }
    snprintf(o->tmp, n, "%s.tmp.%ld", path, (long)getpid());
    o->f = fopen(o->tmp, "wb");
    if (!o->f) {
        int e = errno;
        free(o->path);
        free(o->tmp);
        memset(o, 0, sizeof *o);
        return hd_error_set(err, HD_ERR_IO, "%s: cannot create: %s", path, strerror(e));
    }
    return HD_OK;
}

void hd_outfile_write(hd_outfile *o, const void *data, size_t n) {
    if (o->failed || n == 0) return;
    if (fwrite(data, 1, n, o->f) != n) {
        o->failed = true;
        o->failed_errno = errno ? errno : EIO;
    }
    o->written += n;
}

void hd_outfile_pad(hd_outfile *o, size_t align) {
    static const unsigned char zeros[256];
    size_t rem = o->written & (align - 1);
    if (!rem) return;
    size_t n = align - rem;
    while (n) {
        size_t k = n < sizeof zeros ? n : sizeof zeros;
        hd_outfile_write(o, zeros, k);
        n -= k;
    }
}

hd_status hd_outfile_commit(hd_outfile *o, hd_error *err) {
    hd_status st = HD_OK;
    int e = 0;
    if (o->failed) e = o->failed_errno;
    if (fflush(o->f) != 0 && !e) e = errno;
    if (!e && fsync(fileno(o->f)) != 0 && errno != EINVAL) e = errno;
    if (fclose(o->f) != 0 && !e) e = errno;
    o->f = NULL;
    if (e) {
        st = hd_error_set(err, HD_ERR_IO, "%s: write failed: %s", o->path, strerror(e));
    } else if (rename(o->tmp, o->path) != 0) {
        st = hd_error_set(err, HD_ERR_IO, "%s: cannot rename from %s: %s", o->path, o->tmp, strerror(errno));
    }
    if (st != HD_OK) unlink(o->tmp);
    free(o->path);
    free(o->tmp);
    memset(o, 0, sizeof *o);
    return st;
}

void hd_outfile_abort(hd_outfile *o) {
    if (!o) return;
    if (o->f) {
        fclose(o->f);
        unlink(o->tmp);
    }
    free(o->path);
    free(o->tmp);
    memset(o, 0, sizeof *o);
}
