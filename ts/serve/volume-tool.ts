// `pythongoose data FILE ls|cat|get|put|rm|mkdir`: the data volume from the
// host's side, as `mpremote fs` is for a board. It runs the same guest with
// the volume mounted and a small program of ours, so the file is only ever
// read and written by littlefs in the sandbox.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { Guest } from '../guest/guest.js';
import { DEFAULT_APP_MAX } from './bundle.js';
import { AppError, resolveOptions } from './options.js';

export const VOLUME_COMMANDS = `  ls [PATH]           list a directory of the volume (default: its root)
  cat PATH            write a file of the volume to stdout
  get PATH [LOCAL]    copy a file of the volume to LOCAL (default: its name)
  put LOCAL [PATH]    copy LOCAL into the volume (default: its name); FILE is
                      created (16 MiB, or --data-size) if it does not exist
  rm PATH             remove a file or an empty directory
  mkdir PATH          make a directory`;

// One line out per result: "L name size" (ls), "D base64" (file data), "E message" (an error).
const PROGRAM = `
import os, binascii, errno

def main(op, path, payload):
    if op == 'ls':
        for name, kind, *_ in os.ilistdir(path):
            full = path.rstrip('/') + '/' + name
            print('L', name + ('/' if kind == 0x4000 else ''), 0 if kind == 0x4000 else os.stat(full)[6])
    elif op == 'cat':
        with open(path, 'rb') as f:
            while True:
                chunk = f.read(3072)
                if not chunk:
                    break
                print('D', binascii.b2a_base64(chunk, newline=False).decode())
    elif op == 'put':
        with open(payload, 'rb') as src, open(path, 'wb') as dst:
            while True:
                chunk = src.read(4096)
                if not chunk:
                    break
                dst.write(chunk)
    elif op == 'rm':
        if os.stat(path)[0] & 0x4000:
            os.rmdir(path)
        else:
            os.remove(path)
    elif op == 'mkdir':
        os.mkdir(path)

NAMES = {28: 'ENOSPC (the volume is full)', 39: 'ENOTEMPTY'}

try:
    main(OP, PATH, '/app/payload')
except OSError as e:
    code = e.args[0] if e.args else 0
    print('E', NAMES.get(code) or errno.errorcode.get(code, str(code)))
`;

export class VolumeToolError extends Error {}

/** Run one command on the volume in FILE; resolves with what it printed, rejects with VolumeToolError. */
export async function runVolumeCommand(file: string, args: string[], out: { stdout(data: Uint8Array | string): void }, dataSize?: number): Promise<void> {
  const [op, ...rest] = args;
  const arity: Record<string, [number, number]> = { ls: [0, 1], cat: [1, 1], get: [1, 2], put: [1, 2], rm: [1, 1], mkdir: [1, 1] };
  if (op === undefined || !(op in arity)) throw new VolumeToolError(`unknown data command ${op ?? '(none)'}; one of:\n${VOLUME_COMMANDS}`);
  const [min, max] = arity[op];
  if (rest.length < min || rest.length > max) throw new VolumeToolError(`data ${op}: wrong number of arguments\n${VOLUME_COMMANDS}`);
  const inVolume = (p: string): string => `/data/${p.replace(/^\/+/, '')}`.replace(/\/+$/, '') || '/data';
  const files: Record<string, string | Uint8Array> = {};
  let path: string;
  if (op === 'put') {
    try {
      files.payload = readFileSync(rest[0]);
    } catch (err) {
      throw new VolumeToolError(`cannot read ${rest[0]}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    path = inVolume(rest[1] ?? basename(rest[0]));
  } else {
    path = inVolume(rest[0] ?? '/');
  }
  files['main.py'] = `OP = ${JSON.stringify(op === 'get' ? 'cat' : op)}\nPATH = ${JSON.stringify(path)}\n${PROGRAM}`;
  // Only put creates a volume.
  if (op !== 'put' && !existsSync(file)) throw new VolumeToolError(`no data volume ${file}: ENOENT`);
  let printed = '';
  let errors = '';
  let resolved;
  try {
    // The payload travels in the bundle: room for it whatever its size (the volume is the limit).
    const appMax = DEFAULT_APP_MAX + (files.payload?.length ?? 0);
    resolved = resolveOptions({ files, appMax, data: file, dataSize, accessLog: false, healthPath: false });
  } catch (err) {
    throw new VolumeToolError(err instanceof AppError ? err.message : String(err));
  }
  const { config, volumeLock } = resolved;
  try {
    const code = await new Promise<{ code: number; error?: string }>((resolve) => {
      new Guest(config.guest, {
        frame: () => {},
        batchEnd: () => {},
        output: (fd, text, done) => {
          if (fd === 1) printed += text;
          else errors += text;
          done();
        },
        dropped: () => {},
        access: () => {},
        exit: (c, error) => resolve({ code: c, error }),
      }, config.wasmPath);
    });
    if (code.code !== 0 || code.error !== undefined) throw new VolumeToolError(`${code.error ?? `the volume's guest exited with code ${code.code}`}${errors ? `\n${errors.trimEnd()}` : ''}`);
  } finally {
    volumeLock?.release();
  }
  const lines = printed.split('\n').filter((l) => l.length > 0);
  const error = lines.find((l) => l.startsWith('E '));
  if (error !== undefined) throw new VolumeToolError(`data ${op} ${path.slice('/data'.length) || '/'}: ${error.slice(2)}`);
  if (op === 'ls') {
    for (const l of lines) {
      const [, name, size] = /^L (.*) (\d+)$/.exec(l) ?? [];
      if (name !== undefined) out.stdout(`${name.endsWith('/') ? ''.padStart(10) : size.padStart(10)}  ${name}\n`);
    }
    return;
  }
  if (op === 'cat' || op === 'get') {
    const data = Buffer.concat(lines.filter((l) => l.startsWith('D ')).map((l) => Buffer.from(l.slice(2), 'base64')));
    if (op === 'cat') out.stdout(data);
    else {
      const local = rest[1] ?? basename(path);
      try {
        writeFileSync(local, data);
      } catch (err) {
        throw new VolumeToolError(`cannot write ${local}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      }
    }
  }
}
