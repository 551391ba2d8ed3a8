// The guest's file systems (c/abi/exports.h): the app bundle, a ROMFS image
// the host packed, read-only at /app; and the data volume, littlefs v2 at
// /data on a block device whose blocks the host keeps in a file (pg.block_*).
// littlefs commits by copy-on-write and syncs at each commit, so a file once
// closed or flushed survives the host being killed.
#include <string.h>

#include "py/mperrno.h"
#include "py/objarray.h"
#include "py/runtime.h"
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
    if (block >= self->block_count || offset + buf.len > (uint64_t)(self->block_count - block) * VOLUME_BLOCK_SIZE) {
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

// VfsRom has no remove, rename, mkdir or rmdir (os.remove would raise
// AttributeError): a subtype of it names them, and they raise EROFS as a
// write does.
static mp_obj_t read_only(size_t n_args, const mp_obj_t *args) {
    mp_raise_OSError(MP_EROFS);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(read_only_obj, 2, 3, read_only);

static const mp_rom_map_elem_t read_only_rom_locals_dict_table[] = {
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

// VfsRom's own methods first (a native type's locals are not inherited),
// then the ones above.
static void read_only_rom_attr(mp_obj_t self_in, qstr attr, mp_obj_t *dest) {
    if (dest[0] != MP_OBJ_NULL) {
        return;  // no attribute can be stored or deleted
    }
    mp_map_t *rom_locals = &MP_OBJ_TYPE_GET_SLOT(&mp_type_vfs_rom, locals_dict)->map;
    mp_map_elem_t *elem = mp_map_lookup(rom_locals, MP_OBJ_NEW_QSTR(attr), MP_MAP_LOOKUP);
    if (elem != NULL) {
        mp_convert_member_lookup(self_in, &mp_type_vfs_rom, elem->value, dest);
    } else {
        dest[1] = MP_OBJ_SENTINEL;
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
    mp_obj_t bdev = MP_OBJ_FROM_PTR(volume);
    if (data->format) {
        mp_obj_t mkfs = mp_load_attr(MP_OBJ_FROM_PTR(&mp_type_vfs_lfs2), MP_QSTR_mkfs);
        mp_call_function_1(mkfs, bdev);
    }
    mp_obj_t fs = MP_OBJ_TYPE_GET_SLOT(&mp_type_vfs_lfs2, make_new)(&mp_type_vfs_lfs2, 1, 0, &bdev);
    mount(fs, "/data");
}

int pg_mount_data(uint32_t block_count, int format) {
    data_volume_t data = { block_count, format != 0 };
    return guarded(mount_data, &data);
}
