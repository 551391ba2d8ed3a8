// Host-side source ports for connections to the guest. The guest matches
// connections by port pair only, so a port is reused only after the guest has
// surely freed the old connection (it frees within 1 s of the FIN exchange).

/**
 * A FIFO ring of free ports with the time each was freed. Typed arrays, sized
 * once: an instance (one per guest start) allocates two buffers rather than
 * growing two 32k-element JS arrays, whose garbage made V8 grow the host's
 * young generation across crash restarts.
 */
export class PortPool {
  private readonly ports: Uint16Array;
  private readonly freedAt: Float64Array;
  private head = 0;
  private count: number;

  constructor(first: number, last: number, private readonly cooldownMs: number) {
    const size = last - first + 1;
    this.ports = new Uint16Array(size);
    this.freedAt = new Float64Array(size);
    for (let i = 0; i < size; i++) this.ports[i] = first + i;
    this.count = size;
  }

  get available(): number {
    return this.count;
  }

  /** The least recently freed port, or null if none has cooled down. */
  take(now = Date.now()): number | null {
    if (this.count === 0 || now - this.freedAt[this.head] < this.cooldownMs) return null;
    const port = this.ports[this.head];
    this.head = (this.head + 1) % this.ports.length;
    this.count--;
    return port;
  }

  /** Give back a port from take(); the pool never holds more than its range. */
  give(port: number, now = Date.now()): void {
    if (this.count === this.ports.length) return;
    const tail = (this.head + this.count) % this.ports.length;
    this.ports[tail] = port;
    this.freedAt[tail] = now;
    this.count++;
  }
}
