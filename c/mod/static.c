// Static files: the host copies a directory into guest memory at start
// (pg_fs_add); Mongoose serves it through its packed-file system, which reads
// only this table.
#include <string.h>
#include <time.h>

#include "py/runtime.h"
#include "c/abi/exports.h"
#include "c/mod/conn.h"
#include "c/mod/static.h"

typedef struct {
    char *path;
    const char *data;
    size_t size;
    time_t mtime;
} pg_file_t;

static pg_file_t *files;
static size_t n_files, files_cap;

// Mongoose's directory logic needs a root other than "/": files live under
// this prefix in the table, and URIs map onto it.
#define PG_STATIC_ROOT "/www"

// Takes ownership of data (malloc'd by the host); path is copied.
PG_EXPORT int pg_fs_add(const char *path, const char *data, size_t size, double mtime) {
    if (n_files == files_cap) {
        size_t cap = files_cap == 0 ? 64 : files_cap * 2;
        pg_file_t *p = realloc(files, cap * sizeof(*p));
        if (p == NULL) {
            return 0;
        }
        files = p;
        files_cap = cap;
    }
    char *stored = malloc(strlen(PG_STATIC_ROOT) + strlen(path) + 1);
    if (stored == NULL) {
        return 0;
    }
    strcpy(stored, PG_STATIC_ROOT);
    strcat(stored, path);
    files[n_files++] = (pg_file_t){stored, data, size, (time_t)mtime};
    return 1;
}

const char *mg_unpack(const char *path, size_t *size, time_t *mtime) {
    for (size_t i = 0; i < n_files; i++) {
        if (strcmp(files[i].path, path) == 0) {
            if (size != NULL) {
                *size = files[i].size;
            }
            if (mtime != NULL) {
                *mtime = files[i].mtime;
            }
            return files[i].data;
        }
    }
    return NULL;
}

const char *mg_unlist(size_t i) {
    return i < n_files ? files[i].path : NULL;
}

// libc's gmtime pulls in the environment (TZ) as imports: the civil-from-days
// algorithm is a few lines.
static void http_date(char *out, size_t cap, const char *prefix, int64_t t) {
    static const char *const days[] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    int64_t day = (t >= 0 ? t : t - 86399) / 86400, secs = t - day * 86400;
    int64_t z = day + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097, yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    int d = (int)(doy - (153 * mp + 2) / 5 + 1), m = (int)(mp < 10 ? mp + 3 : mp - 9);
    int y = (int)(yoe + era * 400 + (m <= 2));
    snprintf(out, cap, "%s%s, %02d %s %04d %02d:%02d:%02d GMT\r\n", prefix, days[((day % 7) + 7) % 7], d, months[m - 1],
        y, (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60));
}

// The file Mongoose will send for a path it found (a directory's index.html,
// the .gz variant for a client that takes gzip), for the headers Mongoose
// leaves to us: false if it will send none. *has_gz: there is a .gz variant.
static bool static_target(struct mg_http_message *hm, const char *path, int flags, size_t *size, time_t *mtime,
    bool *has_gz) {
    char file[MG_PATH_MAX + 16], gz[MG_PATH_MAX + 20];
    snprintf(file, sizeof(file), (flags & MG_FS_DIR) ? "%s/" MG_HTTP_INDEX : "%s", path);
    snprintf(gz, sizeof(gz), "%s.gz", file);
    *has_gz = (mg_fs_packed.st(gz, NULL, NULL) & MG_FS_READ) != 0;
    struct mg_str *ae = mg_http_get_header(hm, "Accept-Encoding");
    if (*has_gz && ae != NULL && mg_match(*ae, mg_str("*gzip*"), NULL)) {
        return (mg_fs_packed.st(gz, size, mtime) & MG_FS_READ) != 0;
    }
    return (mg_fs_packed.st(file, size, mtime) & MG_FS_READ) != 0;
}

// serve_static(conn): True if the request names a static file or directory
// (the response is then sent), False if not (nothing is sent).
static mp_obj_t mongoose_serve_static(mp_obj_t conn) {
    struct mg_connection *c = pg_conn_arg(conn);
    struct mg_http_message *hm = pg_current_hm;
    if (c != pg_current_conn || hm == NULL) {
        mp_raise_msg(&mp_type_RuntimeError, MP_ERROR_TEXT("serve_static() only while handling the request"));
    }
    if (n_files == 0) {
        return mp_const_false;
    }
    // Resolve as Mongoose will, to learn whether anything is there.
    char path[MG_PATH_MAX] = PG_STATIC_ROOT;
    size_t root_len = strlen(PG_STATIC_ROOT);
    int decoded = mg_url_decode(hm->uri.buf, hm->uri.len, path + root_len, sizeof(path) - root_len, 0);
    if (decoded < 0) {
        return mp_const_false;  // a bad escape or too long: no file has that name
    }
    size_t n = strlen(path);
    // A %00 would cut the name short (/a.css%00.txt is not /a.css).
    bool nul = decoded > 0 && n != root_len + (size_t)decoded;
    while (n > root_len && path[n - 1] == '/') {
        path[--n] = '\0';
    }
    size_t size = 0;
    time_t mtime = 0;
    int flags = mg_fs_packed.st(path, &size, &mtime);
    if (flags == 0 && mg_path_is_sane(mg_str(path))) {
        char gz[MG_PATH_MAX + 3];
        snprintf(gz, sizeof(gz), "%s.gz", path);
        flags = mg_fs_packed.st(gz, &size, &mtime);
    }
    if (flags == 0 && mg_path_is_sane(mg_str(path)) && !nul) {
        return mp_const_false;
    }
    pg_conn_t *st = conn_state(c);
    size_t before = c->send.len;
    if (st->log_line != NULL) {
        st->log_line[0] = PG_KIND_STATIC;
    }
    if (nul) {
        mg_http_reply(c, 400, "", "Invalid path\n");
    } else {
        // Last-Modified: Mongoose sends an ETag only.
        char extra[192] = "";
        struct mg_str id = pg_request_id(c);
        if (id.len > 0) {
            snprintf(extra, sizeof(extra), "X-Request-Id: %.*s\r\n", (int)id.len, id.buf);
        }
        size_t fsize = 0;
        time_t fmtime = 0;
        bool has_gz = false;
        bool file = static_target(hm, path, flags, &fsize, &fmtime, &has_gz);
        if (file) {
            http_date(extra + strlen(extra), sizeof(extra) - strlen(extra), "Last-Modified: ", (int64_t)fmtime);
            size = fsize;
        }
        if (has_gz) {
            // Caches must not hand the gzip variant to clients that did not ask for it.
            strcat(extra, "Vary: Accept-Encoding\r\n");
        }
        // Mongoose reads a suffix range "bytes=-N" as the whole file: give it
        // the range that means (restored after: Mongoose reads hm again).
        struct mg_str *rh = mg_http_get_header(hm, "Range");
        struct mg_str range_was = rh != NULL ? *rh : mg_str("");
        char range[48];
        size_t suffix = 0;
        if (file && rh != NULL && rh->len > 7 && memcmp(rh->buf, "bytes=-", 7) == 0 &&
            mg_str_to_num(mg_str_n(rh->buf + 7, rh->len - 7), 10, &suffix, sizeof(suffix))) {
            size_t from = suffix == 0 ? fsize : suffix >= fsize ? 0 : fsize - suffix;  // fsize: unsatisfiable
            snprintf(range, sizeof(range), "bytes=%lu-", (unsigned long)from);
            *rh = mg_str(range);
        }
        struct mg_http_serve_opts opts = {.root_dir = PG_STATIC_ROOT, .fs = &mg_fs_packed, .extra_headers = extra};
        mg_http_serve_dir(c, hm, &opts);
        if (rh != NULL) {
            *rh = range_was;
        }
    }
    st->flags |= F_STARTED;
    if (c->send.len >= before + 12) {
        st->status = (uint16_t)atoi((const char *)c->send.buf + before + 9);
    }
    if (st->flags & F_HEAD) {
        // Mongoose's own replies (400, 403, 404) carry their body even for
        // HEAD, which a keep-alive client would read as the next response.
        for (size_t i = before; i + 4 <= c->send.len; i++) {
            if (memcmp(c->send.buf + i, "\r\n\r\n", 4) == 0) {
                c->send.len = i + 4;
                break;
            }
        }
    }
    if (c->is_resp) {
        st->flags |= F_STATIC;  // Mongoose streams the file: see MG_EV_WRITE
    } else if (st->flags & F_CLOSE_AFTER) {
        c->is_draining = 1;  // Mongoose sees "Connection: close" only, not HTTP/1.0
    }
    st->bytes = (uint32_t)size;
    pg_log_response(c);  // Mongoose streams the file itself from here
    return mp_const_true;
}
MP_DEFINE_CONST_FUN_OBJ_1(mongoose_serve_static_obj, mongoose_serve_static);
