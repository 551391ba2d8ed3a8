// A pcap writer (libpcap format, LINKTYPE_ETHERNET) for every frame on the
// virtual link: open it with `tshark -r FILE` or Wireshark.
import { closeSync, openSync, writeSync } from 'node:fs';

export class PcapWriter {
  private fd: number;
  private readonly record = Buffer.alloc(16);

  constructor(path: string) {
    this.fd = openSync(path, 'w');
    const header = Buffer.alloc(24);
    header.writeUInt32LE(0xa1b2c3d4, 0); // magic, microsecond timestamps
    header.writeUInt16LE(2, 4);
    header.writeUInt16LE(4, 6);
    header.writeUInt32LE(65535, 16); // snaplen
    header.writeUInt32LE(1, 20); // Ethernet
    writeSync(this.fd, header);
  }

  write(frame: Uint8Array, timeMs = Date.now()): void {
    if (this.fd < 0) return;
    const seconds = Math.floor(timeMs / 1000);
    this.record.writeUInt32LE(seconds, 0);
    this.record.writeUInt32LE(Math.floor((timeMs - seconds * 1000) * 1000), 4);
    this.record.writeUInt32LE(frame.length, 8);
    this.record.writeUInt32LE(frame.length, 12);
    writeSync(this.fd, this.record);
    writeSync(this.fd, frame);
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}
