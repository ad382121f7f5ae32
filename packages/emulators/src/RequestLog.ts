/**
 * Every request an emulator received, in arrival order, so tests can assert exactly how many calls were made to a
 * route (refused and reset calls included: they reached the server).
 */

export interface LogEntry {
  /** 1, 2, 3, … in arrival order. */
  readonly seq: number
  /** The route name (`"create"`, `"process.Start"`, …) or `"unknown"`. */
  readonly route: string
  readonly method: string
  /** Path and query as received. */
  readonly path: string
  /** The sandbox the call was about, when the route names one. */
  readonly sandboxId?: string | undefined
  /** Milliseconds since the epoch when the request arrived. */
  readonly at: number
  /** The status answered (0 while in flight or when the connection was reset). */
  status: number
  /** The fault knob that decided the answer, if any. */
  fault?: "fail" | "reset" | "reset-mid-stream" | undefined
}

export class RequestLog {
  private readonly all: Array<LogEntry> = []
  private seq = 0

  /** Record an arriving request; the transport fills `status`/`fault` as it answers. */
  record(entry: Omit<LogEntry, "seq" | "at" | "status">): LogEntry {
    const full: LogEntry = { ...entry, seq: ++this.seq, at: Date.now(), status: 0 }
    this.all.push(full)
    return full
  }

  /** A snapshot of the entries, optionally only those of `route`. */
  entries(route?: string): ReadonlyArray<LogEntry> {
    return route === undefined ? [...this.all] : this.all.filter((e) => e.route === route)
  }

  /** How many calls `route` received (optionally only those matching `where`). */
  count(route: string, where?: (entry: LogEntry) => boolean): number {
    return this.all.filter((e) => e.route === route && (where === undefined || where(e))).length
  }

  /** Calls per route, e.g. `{ create: 3, kill: 1 }`. */
  counts(): Readonly<Record<string, number>> {
    const out: Record<string, number> = {}
    for (const e of this.all) out[e.route] = (out[e.route] ?? 0) + 1
    return out
  }

  clear(): void {
    this.all.length = 0
  }
}
