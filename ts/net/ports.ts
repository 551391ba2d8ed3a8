// Host-side source ports for connections to the guest. The guest matches
// connections by port pair only, so a port is reused only after the guest has
// surely freed the old connection (it frees within 1 s of the FIN exchange).

/**
 * Ports never used yet come first, in order; then freed ports, FIFO, each once
 * it has cooled down. The freed ones sit in a ring of typed arrays that grows
 * by doubling as needed: an instance (one per guest start) starts with a few
 * hundred bytes rather than 300 KB for the whole range, whose churn across
 * crash restarts fragmented the host's malloc heap.
 */
export class PortPool {
  private nextFresh: number;
  private ports = new Uint16Array(64);
  private freedAt = new Float64Array(64);
  private head = 0;
  private freed = 0;
  private readonly size: number;

  constructor(first: number, private readonly last: number, private readonly cooldownMs: number) {
    this.nextFresh = first;
    this.size = last - first + 1;
  }

  get available(): number {
    return this.last + 1 - this.nextFresh + this.freed;
  }

  /** A never-used port, else the least recently freed one, or null if none has cooled down. */
  take(now = Date.now()): number | null {
    if (this.nextFresh <= this.last) return this.nextFresh++;
    if (this.freed === 0 || now - this.freedAt[this.head] < this.cooldownMs) return null;
    const port = this.ports[this.head];
    this.head = (this.head + 1) % this.ports.length;
    this.freed--;
    return port;
  }

  /** Give back a port from take(); the pool never holds more than its range. */
  give(port: number, now = Date.now()): void {
    if (this.available === this.size) return;
    if (this.freed === this.ports.length) this.grow();
    const tail = (this.head + this.freed) % this.ports.length;
    this.ports[tail] = port;
    this.freedAt[tail] = now;
    this.freed++;
  }

  private grow(): void {
    const n = this.ports.length;
    const ports = new Uint16Array(n * 2);
    const freedAt = new Float64Array(n * 2);
    for (let i = 0; i < this.freed; i++) {
      ports[i] = this.ports[(this.head + i) % n];
      freedAt[i] = this.freedAt[(this.head + i) % n];
    }
    this.ports = ports;
    this.freedAt = freedAt;
    this.head = 0;
  }
}
