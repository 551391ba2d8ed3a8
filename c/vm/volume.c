// The guest's file systems (c/abi/exports.h): the app bundle, a ROMFS image
// the host packed, read-only at /app; and the data volume, littlefs v2 at
// /data on a block device whose blocks the host keeps in a file (pg.block_*).
// littlefs commits by copy-on-write and syncs at each commit, so a file once
// closed or flushed survives the host being killed.
#include <string.h>

#include "py/mperrno.h"
#include "py/objarray.h"
#include "py/objstr.h"
#include "py/runtime.h"
#include "py/stream.h"
#include "py/unicode.h"
#include "extmod/vfs.h"
#include "extmod/vfs_lfs.h"
#include "extmod/vfs_rom.h"
#include "c/abi/exports.h"
#include "c/abi/imports.h"
#include "c/vm/volume.h"

#define VOLUME_BLOCK_SIZE (4096)

typedef struct {
    mp_obj_base_t base;
    uint32_t block_count;
} volume_obj_t;

// readblocks(block, buf, offset) and writeblocks(block, buf, offset): the
// extended block protocol, so littlefs reads and programs parts of a block.
static mp_obj_t volume_io(size_t n_args, const mp_obj_t *args, bool write) {
    volume_obj_t *self = MP_OBJ_TO_PTR(args[0]);
    uint32_t block = mp_obj_get_int(args[1]);
    mp_buffer_info_t buf;
    mp_get_buffer_raise(args[2], &buf, write ? MP_BUFFER_READ : MP_BUFFER_WRITE);
    uint32_t offset = n_args > 3 ? mp_obj_get_int(args[3]) : 0;
    if (block >= self->block_count || (uint64_t)offset + buf.len > (uint64_t)(self->block_count - block) * VOLUME_BLOCK_SIZE) {
        mp_raise_OSError(MP_EINVAL);
    }
    int err = write ? pg_block_write(block, offset, buf.buf, buf.len) : pg_block_read(block, offset, buf.buf, buf.len);
    return MP_OBJ_NEW_SMALL_INT(err);  // 0, or -errno: littlefs reports it as an I/O error
}

static mp_obj_t volume_readblocks(size_t n_args, const mp_obj_t *args) {
    return volume_io(n_args, args, false);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(volume_readblocks_obj, 3, 4, volume_readblocks);

static mp_obj_t volume_writeblocks(size_t n_args, const mp_obj_t *args) {
    return volume_io(n_args, args, true);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(volume_writeblocks_obj, 3, 4, volume_writeblocks);

static mp_obj_t volume_ioctl(mp_obj_t self_in, mp_obj_t op_in, mp_obj_t arg_in) {
    volume_obj_t *self = MP_OBJ_TO_PTR(self_in);
    switch (mp_obj_get_int(op_in)) {
        case MP_BLOCKDEV_IOCTL_BLOCK_COUNT:
            return mp_obj_new_int_from_uint(self->block_count);
        case MP_BLOCKDEV_IOCTL_BLOCK_SIZE:
            return MP_OBJ_NEW_SMALL_INT(VOLUME_BLOCK_SIZE);
        case MP_BLOCKDEV_IOCTL_SYNC:
            return MP_OBJ_NEW_SMALL_INT(pg_block_sync());
        default:
            // INIT, DEINIT, and BLOCK_ERASE: a file needs no erasing before a write.
            return MP_OBJ_NEW_SMALL_INT(0);
    }
}
static MP_DEFINE_CONST_FUN_OBJ_3(volume_ioctl_obj, volume_ioctl);

static const mp_rom_map_elem_t volume_locals_dict_table[] = {
    { MP_ROM_QSTR(MP_QSTR_readblocks), MP_ROM_PTR(&volume_readblocks_obj) },
    { MP_ROM_QSTR(MP_QSTR_writeblocks), MP_ROM_PTR(&volume_writeblocks_obj) },
    { MP_ROM_QSTR(MP_QSTR_ioctl), MP_ROM_PTR(&volume_ioctl_obj) },
};
static MP_DEFINE_CONST_DICT(volume_locals_dict, volume_locals_dict_table);

static MP_DEFINE_CONST_OBJ_TYPE(
    volume_type,
    MP_QSTR_Volume,
    MP_TYPE_FLAG_NONE,
    locals_dict, &volume_locals_dict
    );

static void mount(mp_obj_t fs, const char *at) {
    mp_obj_t args[2] = { fs, mp_obj_new_str(at, strlen(at)) };
    mp_vfs_mount(2, args, (mp_map_t *)&mp_const_empty_map);
}

// Files of the bundle. VfsRom's own would do, but its read() copies: a
// template read per request would cost an allocation of its size (in a
// fragmented heap, the scan for that many free blocks) and, as str, a UTF-8
// check and a hash. The image never changes while the guest runs, so a
// whole-file read() returns one str or bytes object pointing into it, made
// once per file and kept (MP_STATE_VM(pg_rom_reads)).
typedef struct {
    mp_obj_base_t base;
    size_t size;
    size_t offset;
    const uint8_t *data;
} rom_file_t;

static mp_uint_t rom_file_read(mp_obj_t self_in, void *buf, mp_uint_t size, int *errcode) {
    rom_file_t *self = MP_OBJ_TO_PTR(self_in);
    size_t remain = self->size - self->offset;
    if (size > remain) {
        size = remain;
    }
    memcpy(buf, self->data + self->offset, size);
    self->offset += size;
    return size;
}

static mp_uint_t rom_file_ioctl(mp_obj_t self_in, mp_uint_t request, uintptr_t arg, int *errcode) {
    rom_file_t *self = MP_OBJ_TO_PTR(self_in);
    if (request == MP_STREAM_CLOSE) {
        return 0;
    }
    if (request != MP_STREAM_SEEK) {
        *errcode = MP_EINVAL;
        return MP_STREAM_ERROR;
    }
    struct mp_stream_seek_t *seek = (struct mp_stream_seek_t *)arg;
    mp_off_t base = seek->whence == 0 ? 0 : seek->whence == 1 ? (mp_off_t)self->offset : (mp_off_t)self->size;
    mp_off_t to = base + seek->offset;
    if (to < 0) {
        *errcode = MP_EINVAL;
        return MP_STREAM_ERROR;
    }
    self->offset = (size_t)to > self->size ? self->size : (size_t)to;
    seek->offset = self->offset;
    return 0;
}

static mp_int_t rom_file_get_buffer(mp_obj_t self_in, mp_buffer_info_t *bufinfo, mp_uint_t flags) {
    rom_file_t *self = MP_OBJ_TO_PTR(self_in);
    if (flags != MP_BUFFER_READ) {
        return 1;
    }
    bufinfo->buf = (void *)self->data;
    bufinfo->len = self->size;
    bufinfo->typecode = 'B';
    return 0;
}

static const mp_obj_type_t rom_textio_type;

// The rest of the file as one object over the image; a read from the start is memoised.
static mp_obj_t rom_file_rest(rom_file_t *self) {
    bool text = mp_obj_get_type(MP_OBJ_FROM_PTR(self)) == &rom_textio_type;
    const uint8_t *data = self->data + self->offset;
    size_t len = self->size - self->offset;
    self->offset = self->size;
    mp_obj_t key = mp_obj_new_int_from_uint((uintptr_t)data * 2 + text);
    bool whole = data == self->data;
    if (whole) {
        if (MP_STATE_VM(pg_rom_reads) == MP_OBJ_NULL) {
            MP_STATE_VM(pg_rom_reads) = mp_obj_new_dict(0);
        }
        mp_map_elem_t *hit = mp_map_lookup(mp_obj_dict_get_map(MP_STATE_VM(pg_rom_reads)), key, MP_MAP_LOOKUP);
        if (hit != NULL) {
            return hit->value;
        }
    }
    if (text && !utf8_check(data, len)) {
        mp_raise_msg(&mp_type_UnicodeError, NULL);
    }
    mp_obj_str_t *o = mp_obj_malloc(mp_obj_str_t, text ? &mp_type_str : &mp_type_bytes);
    o->data = data;
    o->len = len;
    o->hash = qstr_compute_hash(data, len);
    if (whole) {
        mp_obj_dict_store(MP_STATE_VM(pg_rom_reads), key, MP_OBJ_FROM_PTR(o));
    }
    return MP_OBJ_FROM_PTR(o);
}

static mp_obj_t rom_file_read_method(size_t n_args, const mp_obj_t *args) {
    if (n_args == 1 || args[1] == mp_const_none || mp_obj_get_int(args[1]) < 0) {
        return rom_file_rest(MP_OBJ_TO_PTR(args[0]));
    }
    return mp_call_function_n_kw(MP_OBJ_FROM_PTR(&mp_stream_read_obj), n_args, 0, args);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(rom_file_read_obj, 1, 2, rom_file_read_method);

static const mp_rom_map_elem_t rom_file_locals_dict_table[] = {
    { MP_ROM_QSTR(MP_QSTR_read), MP_ROM_PTR(&rom_file_read_obj) },
    { MP_ROM_QSTR(MP_QSTR_readinto), MP_ROM_PTR(&mp_stream_readinto_obj) },
    { MP_ROM_QSTR(MP_QSTR_readline), MP_ROM_PTR(&mp_stream_unbuffered_readline_obj) },
    { MP_ROM_QSTR(MP_QSTR_readlines), MP_ROM_PTR(&mp_stream_unbuffered_readlines_obj) },
    { MP_ROM_QSTR(MP_QSTR_seek), MP_ROM_PTR(&mp_stream_seek_obj) },
    { MP_ROM_QSTR(MP_QSTR_tell), MP_ROM_PTR(&mp_stream_tell_obj) },
    { MP_ROM_QSTR(MP_QSTR_close), MP_ROM_PTR(&mp_stream_close_obj) },
    { MP_ROM_QSTR(MP_QSTR___enter__), MP_ROM_PTR(&mp_identity_obj) },
    { MP_ROM_QSTR(MP_QSTR___exit__), MP_ROM_PTR(&mp_stream___exit___obj) },
};
static MP_DEFINE_CONST_DICT(rom_file_locals_dict, rom_file_locals_dict_table);

static const mp_stream_p_t rom_fileio_stream = { .read = rom_file_read, .ioctl = rom_file_ioctl };
static const mp_stream_p_t rom_textio_stream = { .read = rom_file_read, .ioctl = rom_file_ioctl, .is_text = true };

static MP_DEFINE_CONST_OBJ_TYPE(
    rom_fileio_type,
    MP_QSTR_FileIO,
    MP_TYPE_FLAG_ITER_IS_STREAM,
    buffer, rom_file_get_buffer,
    protocol, &rom_fileio_stream,
    locals_dict, &rom_file_locals_dict
    );

static MP_DEFINE_CONST_OBJ_TYPE(
    rom_textio_type,
    MP_QSTR_TextIOWrapper,
    MP_TYPE_FLAG_ITER_IS_STREAM,
    buffer, rom_file_get_buffer,
    protocol, &rom_textio_stream,
    locals_dict, &rom_file_locals_dict
    );

// open() on the bundle: writing is EROFS, as VfsRom has it.
static mp_obj_t rom_open(mp_obj_t self_in, mp_obj_t path_in, mp_obj_t mode_in) {
    const mp_obj_type_t *type = &rom_textio_type;
    for (const char *mode = mp_obj_str_get_str(mode_in); *mode; mode++) {
        if (*mode == 'w' || *mode == 'a' || *mode == '+' || *mode == 'x') {
            mp_raise_OSError(MP_EROFS);
        }
        if (*mode == 'b') {
            type = &rom_fileio_type;
        }
    }
    rom_file_t *file = mp_obj_malloc(rom_file_t, type);
    file->offset = 0;
    mp_import_stat_t stat = mp_vfs_rom_search_filesystem(MP_OBJ_TO_PTR(self_in), mp_obj_str_get_str(path_in), &file->size, &file->data);
    if (stat == MP_IMPORT_STAT_NO_EXIST) {
        mp_raise_OSError(MP_ENOENT);
    }
    if (stat == MP_IMPORT_STAT_DIR) {
        mp_raise_OSError(MP_EISDIR);
    }
    return MP_OBJ_FROM_PTR(file);
}
static MP_DEFINE_CONST_FUN_OBJ_3(rom_open_obj, rom_open);

// VfsRom has no remove, rename, mkdir or rmdir (os.remove would raise
// AttributeError): a subtype of it names them, and they raise EROFS as a
// write does.
static mp_obj_t read_only(size_t n_args, const mp_obj_t *args) {
    mp_raise_OSError(MP_EROFS);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(read_only_obj, 2, 3, read_only);

static const mp_rom_map_elem_t read_only_rom_locals_dict_table[] = {
    { MP_ROM_QSTR(MP_QSTR_open), MP_ROM_PTR(&rom_open_obj) },
    { MP_ROM_QSTR(MP_QSTR_remove), MP_ROM_PTR(&read_only_obj) },
    { MP_ROM_QSTR(MP_QSTR_rename), MP_ROM_PTR(&read_only_obj) },
    { MP_ROM_QSTR(MP_QSTR_mkdir), MP_ROM_PTR(&read_only_obj) },
    { MP_ROM_QSTR(MP_QSTR_rmdir), MP_ROM_PTR(&read_only_obj) },
};
static MP_DEFINE_CONST_DICT(read_only_rom_locals_dict, read_only_rom_locals_dict_table);

// Imports find modules through VfsRom's own (fast) lookup.
static mp_import_stat_t read_only_rom_import_stat(void *self, const char *path) {
    const mp_vfs_proto_t *rom_proto = MP_OBJ_TYPE_GET_SLOT(&mp_type_vfs_rom, protocol);
    return rom_proto->import_stat(self, path);
}
static const mp_vfs_proto_t read_only_rom_proto = { .import_stat = read_only_rom_import_stat };

// The methods above, then VfsRom's own (a native type's locals are not inherited).
static void read_only_rom_attr(mp_obj_t self_in, qstr attr, mp_obj_t *dest) {
    if (dest[0] != MP_OBJ_NULL) {
        return;  // no attribute can be stored or deleted
    }
    dest[1] = MP_OBJ_SENTINEL;  // go on to this type's locals
    if (mp_map_lookup((mp_map_t *)&read_only_rom_locals_dict.map, MP_OBJ_NEW_QSTR(attr), MP_MAP_LOOKUP) != NULL) {
        return;
    }
    mp_map_t *rom_locals = &MP_OBJ_TYPE_GET_SLOT(&mp_type_vfs_rom, locals_dict)->map;
    mp_map_elem_t *elem = mp_map_lookup(rom_locals, MP_OBJ_NEW_QSTR(attr), MP_MAP_LOOKUP);
    if (elem != NULL) {
        dest[1] = MP_OBJ_NULL;
        mp_convert_member_lookup(self_in, &mp_type_vfs_rom, elem->value, dest);
    }
}

static MP_DEFINE_CONST_OBJ_TYPE(
    read_only_rom_type,
    MP_QSTR_VfsRom,
    MP_TYPE_FLAG_NONE,
    attr, read_only_rom_attr,
    protocol, &read_only_rom_proto,
    locals_dict, &read_only_rom_locals_dict
    );

static mp_obj_t rom(const uint8_t *image, size_t len) {
    mp_obj_t memory = mp_obj_new_bytearray_by_ref(len, (void *)image);
    mp_obj_t fs = MP_OBJ_TYPE_GET_SLOT(&mp_type_vfs_rom, make_new)(&mp_type_vfs_rom, 1, 0, &memory);
    ((mp_obj_base_t *)MP_OBJ_TO_PTR(fs))->type = &read_only_rom_type;  // same layout: only methods added
    return fs;
}

// An empty ROMFS at the root, which MicroPython keeps last among its mounts:
// any path outside /app and /data does not exist (ENOENT, EROFS for writes)
// rather than naming no device at all.
static void mount_root(void *arg) {
    static const uint8_t empty[] = { 0xd2, 0xcd, 0x31, 0x00 };
    mount(rom(empty, sizeof(empty)), "/");
}

// Run f(arg) with a Python exception printed on stderr: 0 if it raised.
static int guarded(void (*f)(void *), void *arg) {
    nlr_buf_t nlr;
    if (nlr_push(&nlr) == 0) {
        f(arg);
        nlr_pop();
        return 1;
    }
    mp_obj_print_exception(&mp_stderr_print, MP_OBJ_FROM_PTR(nlr.ret_val));
    return 0;
}

int pg_mount_root(void) {
    return guarded(mount_root, NULL);
}

typedef struct {
    const uint8_t *image;
    size_t len;
} app_image_t;

static void mount_app(void *arg) {
    app_image_t *app = arg;
    mount(rom(app->image, app->len), "/app");
    // Relative paths and `import x` resolve in the bundle; lib/ as on a board.
    mp_vfs_chdir(MP_OBJ_NEW_QSTR(qstr_from_str("/app")));
    mp_obj_list_append(mp_sys_path, MP_OBJ_NEW_QSTR(qstr_from_str("/app/lib")));
}

int pg_mount_app(const uint8_t *image, size_t len) {
    app_image_t app = { image, len };
    return guarded(mount_app, &app);
}

typedef struct {
    uint32_t block_count;
    bool format;
} data_volume_t;

static void mount_data(void *arg) {
    data_volume_t *data = arg;
    volume_obj_t *volume = mp_obj_malloc(volume_obj_t, &volume_type);
    volume->block_count = data->block_count;
    // littlefs's caches: each miss is a call to the host and a pread. With
    // MicroPython's defaults (32-byte reads, 128-byte caches) a small file's
    // rewrite took 42 of them; with a block-sized cache it takes a few. The
    // lookahead bitmap covers 8 blocks a byte: 512 bytes, a 16 MiB volume.
    mp_obj_t args[7] = {
        MP_OBJ_FROM_PTR(volume),
        MP_OBJ_NEW_QSTR(MP_QSTR_readsize), MP_OBJ_NEW_SMALL_INT(1024),
        MP_OBJ_NEW_QSTR(MP_QSTR_progsize), MP_OBJ_NEW_SMALL_INT(1024),
        MP_OBJ_NEW_QSTR(MP_QSTR_lookahead), MP_OBJ_NEW_SMALL_INT(512),
    };
    if (data->format) {
        mp_obj_t mkfs = mp_load_attr(MP_OBJ_FROM_PTR(&mp_type_vfs_lfs2), MP_QSTR_mkfs);
        mp_call_function_n_kw(mkfs, 1, 3, args);
    }
    mp_obj_t fs = MP_OBJ_TYPE_GET_SLOT(&mp_type_vfs_lfs2, make_new)(&mp_type_vfs_lfs2, 1, 3, args);
    mount(fs, "/data");
}

int pg_mount_data(uint32_t block_count, int format) {
    data_volume_t data = { block_count, format != 0 };
    return guarded(mount_data, &data);
}

MP_REGISTER_ROOT_POINTER(mp_obj_t pg_rom_reads);
