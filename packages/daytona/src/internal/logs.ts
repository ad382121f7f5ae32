/**
 * Following a session command's output (`…/command/{id}/logs?follow=true`, a WebSocket whose frames carry chunks
 * behind `\x01\x01\x01` (stdout) / `\x02\x02\x02` (stderr) markers; it closes when the command ends).
 *
 * Not through `Process.getSessionCommandLogs`: in SDK 0.218 its demultiplexer holds back any buffered tail shorter
 * than three bytes until more bytes arrive, so a streamed `a\n` only surfaces with the command's next output. This
 * uses the platform `WebSocket` (Node ≥ 22, Bun, Deno) with the SDK's token authentication for runtimes that cannot
 * send headers (`?DAYTONA_SANDBOX_AUTH_KEY=<preview token>` and the `X-Daytona-SDK-Version~…` subprotocol), and
 * passes bytes on as they come, holding back only what may be the start of a marker.
 */

/** The SDK version this adapter is built against (offered as the WebSocket subprotocol, as the SDK does). */
export const SDK_VERSION = "0.218.0"

export type Stream = 1 | 2

/** Splits marked-up bytes into stdout / stderr chunks. A chunk before any marker counts as stdout. */
export class Demux {
  private current: Stream = 1
  private pending: Uint8Array = new Uint8Array(0)
  private readonly emit: (stream: Stream, data: Uint8Array) => void

  constructor(emit: (stream: Stream, data: Uint8Array) => void) {
    this.emit = emit
  }

  push(bytes: Uint8Array): void {
    const data = this.pending.byteLength === 0 ? bytes : concat(this.pending, bytes)
    this.pending = new Uint8Array(0)
    let start = 0
    let i = 0
    while (i < data.length) {
      const b = data[i]!
      if (b === 1 || b === 2) {
        const available = Math.min(3, data.length - i)
        let same = 1
        while (same < available && data[i + same] === b) same++
        if (same === 3) {
          this.out(data.subarray(start, i))
          this.current = b
          i += 3
          start = i
          continue
        }
        if (same === available) {
          // The bytes so far may be the start of a marker split across frames: wait for the next frame.
          this.out(data.subarray(start, i))
          this.pending = data.slice(i)
          return
        }
      }
      i++
    }
    this.out(data.subarray(start))
  }

  /** The stream ended: whatever was held back was data after all. */
  flush(): void {
    this.out(this.pending)
    this.pending = new Uint8Array(0)
  }

  private out(data: Uint8Array): void {
    if (data.byteLength > 0) this.emit(this.current, data.slice())
  }
}

const concat = (a: Uint8Array, b: Uint8Array): Uint8Array => {
  const out = new Uint8Array(a.byteLength + b.byteLength)
  out.set(a, 0)
  out.set(b, a.byteLength)
  return out
}

export interface Following {
  /** Resolves when the server closes the stream (the command ended); rejects on a connection error. */
  readonly done: Promise<void>
  /** Stop following (closes the socket). */
  readonly close: () => void
}

const encoder = new TextEncoder()

/** Open the follow stream at `url` (http(s) → ws(s)) with the preview token. */
export const follow = (url: string, token: string, onChunk: (stream: Stream, data: Uint8Array) => void): Following => {
  const target = new URL(url.replace(/^http/, "ws"))
  target.searchParams.set("follow", "true")
  target.searchParams.set("DAYTONA_SANDBOX_AUTH_KEY", token)
  const socket = new WebSocket(target, [`X-Daytona-SDK-Version~${SDK_VERSION}`])
  socket.binaryType = "arraybuffer"
  const demux = new Demux(onChunk)
  const done = new Promise<void>((resolve, reject) => {
    let failed = false
    socket.addEventListener("message", (event: MessageEvent) => {
      const data = event.data
      demux.push(typeof data === "string" ? encoder.encode(data) : new Uint8Array(data as ArrayBuffer))
    })
    socket.addEventListener("error", () => {
      failed = true
      // No URL in the message: it carries the token.
      reject(new Error("WebSocket error: the command's log stream could not be opened or broke"))
    })
    socket.addEventListener("close", () => {
      demux.flush()
      if (!failed) resolve()
    })
  })
  return {
    done,
    close: () => {
      try {
        socket.close()
      } catch {
        // already closed
      }
    }
  }
}
