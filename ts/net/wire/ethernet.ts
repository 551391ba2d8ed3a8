// Ethernet II frames: a view over a byte buffer, and the writer.

export const ETH_HEADER_LEN = 14;
export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;

export type Mac = Uint8Array; // 6 bytes

export function parseMac(text: string): Mac {
  const parts = text.split(':').map((h) => parseInt(h, 16));
  if (parts.length !== 6 || parts.some((p) => !(p >= 0 && p <= 255))) throw new Error(`bad MAC ${text}`);
  return Uint8Array.from(parts);
}

export function formatMac(mac: Mac): string {
  return Array.from(mac, (b) => b.toString(16).padStart(2, '0')).join(':');
}

export const BROADCAST_MAC: Mac = new Uint8Array([255, 255, 255, 255, 255, 255]);

/** Reads the Ethernet header of a frame; `check()` once makes the getters safe. */
export class EthernetView {
  constructor(public buf: Uint8Array) {}

  check(): boolean {
    return this.buf.length >= ETH_HEADER_LEN;
  }

  dst(): Mac {
    return this.buf.subarray(0, 6);
  }

  src(): Mac {
    return this.buf.subarray(6, 12);
  }

  ethertype(): number {
    return (this.buf[12] << 8) | this.buf[13];
  }
}

export function writeEthernet(out: Uint8Array, dst: Mac, src: Mac, ethertype: number): void {
  out.set(dst, 0);
  out.set(src, 6);
  out[12] = ethertype >> 8;
  out[13] = ethertype & 0xff;
}
