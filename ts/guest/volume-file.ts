// The data volume's file as the guest's block device sees it (c/vm/volume.c):
// 4096-byte blocks, littlefs v2 on them.
import { readSync } from 'node:fs';

export const VOLUME_BLOCK = 4096;

/**
 * What the file holds: littlefs (v2 keeps its superblock in the metadata pair
 * of blocks 0 and 1, the magic "littlefs" 8 bytes in), nothing yet (both
 * blocks zero: a file just created, sparse), or something else.
 */
export function volumeContents(fd: number): 'littlefs' | 'blank' | 'other' {
  const head = new Uint8Array(2 * VOLUME_BLOCK);
  const n = readSync(fd, head, 0, head.length, 0);
  const decoder = new TextDecoder();
  for (const block of [0, 1]) {
    if (decoder.decode(head.subarray(block * VOLUME_BLOCK + 8, block * VOLUME_BLOCK + 16)) === 'littlefs') return 'littlefs';
  }
  return head.subarray(0, n).every((b) => b === 0) ? 'blank' : 'other';
}
