// iofile.c: atomic file writes (temp file + fsync + rename + directory fsync) and shape
// strings for error messages. See iofile.h.
#include "iofile.h"
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fl_atomic_open(fl_atomic_file* af, const char* path, fl_err* err) {
    memset(af, 0, sizeof *af);
    if (!path || !path[0]) return fl_fail(err, "cannot write file: empty path");
    size_t len = strlen(path);
    if (len + 12 >= sizeof af->tmp_path)
        return fl_fail(err, "cannot write %s: path is %zu characters, at most %zu allowed", path, len,
                       sizeof af->tmp_path - 13);
    memcpy(af->path, path, len + 1);
    snprintf(af->tmp_path, sizeof af->tmp_path, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(af->tmp_path);
    if (fd < 0)
        return fl_fail(err, "cannot create temporary file %s to write %s: %s", af->tmp_path, path, strerror(errno));
    // mkstemp makes the file 0600; give it the usual mode of a data file.
    if (fchmod(fd, 0644) != 0) {
        int e = errno;
        close(fd);
        unlink(af->tmp_path);
        return fl_fail(err, "cannot set the mode of temporary file %s: %s", af->tmp_path, strerror(e));
    }
    af->f = fdopen(fd, "wb");
    if (!af->f) {
        int e = errno;
        close(fd);
        unlink(af->tmp_path);
        return fl_fail(err, "cannot open temporary file %s for writing: %s", af->tmp_path, strerror(e));
    }
    return 0;
}

void fl_atomic_abort(fl_atomic_file* af) {
    if (!af->f) return;
    fclose(af->f);
    af->f = NULL;
    unlink(af->tmp_path);
}

int fl_atomic_write(fl_atomic_file* af, const void* buf, size_t n, fl_err* err) {
    if (!af->f) return fl_fail(err, "write to %s after it was closed", af->path);
    if (n == 0) return 0;
    size_t done = fwrite(buf, 1, n, af->f);
    if (done != n) {
        int e = errno;
        fl_atomic_abort(af);
        return fl_fail(err, "write error on %s at byte %zu: %s", af->tmp_path, af->written + done, strerror(e));
    }
    af->written += n;
    return 0;
}

// fsync the directory that holds path, so that the rename itself is durable.
static int fsync_parent_dir(const char* path, fl_err* err) {
    char dir[4096];
    const char* slash = strrchr(path, '/');
    if (!slash) {
        strcpy(dir, ".");
    } else if (slash == path) {
        strcpy(dir, "/");
    } else {
        size_t n = (size_t)(slash - path);
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return fl_fail(err, "cannot open directory %s to fsync it after writing %s: %s", dir, path, strerror(errno));
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    // Some file systems cannot fsync a directory (EINVAL); the rename has happened all the same.
    if (rc != 0 && e != EINVAL)
        return fl_fail(err, "cannot fsync directory %s after writing %s: %s", dir, path, strerror(e));
    return 0;
}

int fl_atomic_commit(fl_atomic_file* af, fl_err* err) {
    if (!af->f) return fl_fail(err, "commit of %s after it was closed", af->path);
    if (fflush(af->f) != 0) {
        int e = errno;
        fl_atomic_abort(af);
        return fl_fail(err, "cannot flush %s (%zu bytes): %s", af->tmp_path, af->written, strerror(e));
    }
    if (fsync(fileno(af->f)) != 0) {
        int e = errno;
        fl_atomic_abort(af);
        return fl_fail(err, "cannot fsync %s (%zu bytes): %s", af->tmp_path, af->written, strerror(e));
    }
    int rc = fclose(af->f);
    af->f = NULL;
    if (rc != 0) {
        int e = errno;
        unlink(af->tmp_path);
        return fl_fail(err, "cannot close %s: %s", af->tmp_path, strerror(e));
    }
    if (rename(af->tmp_path, af->path) != 0) {
        int e = errno;
        unlink(af->tmp_path);
        return fl_fail(err, "cannot rename %s to %s: %s", af->tmp_path, af->path, strerror(e));
    }
    return fsync_parent_dir(af->path, err);
}

const char* fl_shape_str(char* buf, size_t size, int ndim, const int64_t* shape) {
    if (size == 0) return buf;
    size_t at = 0;
    buf[0] = '\0';
    at += (size_t)snprintf(buf + at, size - at, "(");
    for (int i = 0; i < ndim && at < size; i++)
        at += (size_t)snprintf(buf + at, size - at, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (at < size) snprintf(buf + at, size - at, ")");
    return buf;
}
