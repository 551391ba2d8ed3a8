// Host-side source ports for connections to the guest. The guest matches
// connections by port pair only, so a port is reused only after the guest has
// surely freed the old connection (it frees within 1 s of the FIN exchange).

export class PortPool {
  private readonly free: number[] = [];
  private readonly freedAt: number[] = [];
  private head = 0;

  constructor(first: number, last: number, private readonly cooldownMs: number) {
    for (let p = first; p <= last; p++) {
      this.free.push(p);
      this.freedAt.push(0);
    }
  }

  get available(): number {
    return this.free.length - this.head;
  }

  /** The least recently freed port, or null if none has cooled down. */
  take(now = Date.now()): number | null {
    if (this.head === this.free.length || now - this.freedAt[this.head] < this.cooldownMs) return null;
    const port = this.free[this.head++];
    if (this.head > 4096 && this.head * 2 > this.free.length) {
      this.free.splice(0, this.head);
      this.freedAt.splice(0, this.head);
      this.head = 0;
    }
    return port;
  }

  give(port: number, now = Date.now()): void {
    this.free.push(port);
    this.freedAt.push(now);
  }
}
