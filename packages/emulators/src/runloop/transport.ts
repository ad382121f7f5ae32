/**
 * One port of 127.0.0.1, two protocols: HTTP/1.1 and cleartext HTTP/2 with prior knowledge (h2c, what
 * `@runloop/api-client` speaks by default on Node). The first bytes of each connection decide: the HTTP/2 preface
 * (`PRI * HTTP/2.0`) goes to a `node:http2` server through a small duplex wrapper (`node:http2` reads the raw socket
 * handle, so putting bytes back with `unshift` is not enough), anything else to a `node:http` server. Both work the
 * same under Node, Bun and Deno.
 *
 * Like the framework's `HttpServer` (which is HTTP/1.1 only), every request is resolved to a named route, logged,
 * delayed and possibly refused or cut by the fault knobs, then handed to the route's handler. On HTTP/2 a "reset"
 * resets that one stream (RST_STREAM), leaving the connection's other streams alone; on HTTP/1.1 it destroys the
 * socket. The server closes, dropping open connections and streams, when the scope closes.
 */
import { Effect, type Scope } from "effect"
import { createServer as createHttp1Server, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http"
import {
  constants as h2,
  createServer as createHttp2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type Http2Session
} from "node:http2"
import { createServer as createNetServer, type Socket } from "node:net"
import { Duplex, type Readable } from "node:stream"
import type { FailureSpec, Faults } from "../Faults.ts"
import { readBody as readWholeBody } from "../HttpServer.ts"
import type { RequestLog } from "../RequestLog.ts"

/** The response, whichever protocol carries it (the members both `node:http` and `node:http2` responses have). */
export interface Res {
  writeHead(status: number, headers?: Readonly<Record<string, string>>): unknown
  write(chunk: string | Uint8Array): boolean
  end(chunk?: string | Uint8Array): unknown
  readonly headersSent: boolean
  statusCode: number
  once(event: "close" | "finish", listener: () => void): unknown
}

/** One request: method, parsed URL, headers, the body on demand, and a signal that fires when the client goes away. */
export interface Req {
  readonly method: string
  readonly url: URL
  readonly headers: IncomingHttpHeaders
  readonly protocol: "http/1.1" | "h2c"
  /** The whole body (read once; later calls get the same bytes). */
  readonly body: () => Promise<Uint8Array>
  /** The body as JSON (`{}` when empty); throws `BadJson` on malformed input. */
  readonly json: () => Promise<unknown>
  /** Aborted when the client disconnects or resets the stream before the answer is complete. */
  readonly gone: AbortSignal
  /** The underlying readable, for streaming uploads or proxying. */
  readonly stream: Readable
}

export class BadJson extends Error {}

/** What a provider emulator answers for one request. */
export interface Dispatch {
  /** The route name used by the log and the fault knobs. */
  readonly route: string
  readonly sandboxId?: string | undefined
  readonly handle: (req: Req, res: Res) => Promise<void>
}

export interface TransportOptions {
  readonly faults: Faults
  readonly log: RequestLog
  /** Resolve a request to a route, or `undefined` for 404. */
  readonly dispatch: (req: Req) => Dispatch | undefined
  /** The JSON body of a refused call. */
  readonly errorBody: (status: number, message: string, route: string) => unknown
  /** Fixed port (default: a random free one). */
  readonly port?: number | undefined
}

export interface RunningTransport {
  /** `http://127.0.0.1:<port>` */
  readonly url: string
  readonly port: number
  /** Connections accepted so far, by protocol. */
  readonly connections: () => { readonly http1: number; readonly h2c: number }
  /** Requests received so far, by protocol (what the client spoke). */
  readonly requests: () => { readonly http1: number; readonly h2c: number }
}

const encoder = new TextEncoder()
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Send a JSON body with an exact `Content-Length`. */
export const sendJson = (res: Res, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void => {
  const data = encoder.encode(JSON.stringify(body))
  res.writeHead(status, { "content-type": "application/json", "content-length": String(data.byteLength), ...headers })
  res.end(data)
}

/** Send bytes or text with a content type. */
export const sendRaw = (res: Res, status: number, contentType: string, data: string | Uint8Array): void => {
  const bytes = typeof data === "string" ? encoder.encode(data) : data
  res.writeHead(status, { "content-type": contentType, "content-length": String(bytes.byteLength) })
  res.end(bytes)
}

const isHttp2 = (res: unknown): res is Http2ServerResponse => typeof res === "object" && res !== null && "stream" in res

/** Lose the answer: RST_STREAM on HTTP/2, a destroyed socket on HTTP/1.1. */
const cut = (raw: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse): void => {
  if (isHttp2(res)) {
    if (!res.stream.destroyed) res.stream.close(h2.NGHTTP2_INTERNAL_ERROR)
  } else {
    ;(raw as IncomingMessage).socket.destroy()
  }
}

const makeReq = (raw: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse): Req => {
  const url = new URL(raw.url ?? "/", "http://127.0.0.1")
  const controller = new AbortController()
  let finished = false
  res.once("finish", () => {
    finished = true
  })
  res.once("close", () => {
    if (!finished) controller.abort()
  })
  let body: Promise<Uint8Array> | undefined
  const readBody = () => (body ??= readWholeBody(raw))
  return {
    method: raw.method ?? "GET",
    url,
    headers: raw.headers,
    protocol: isHttp2(res) ? "h2c" : "http/1.1",
    body: readBody,
    json: async () => {
      const bytes = await readBody()
      if (bytes.byteLength === 0) return {}
      try {
        return JSON.parse(new TextDecoder().decode(bytes)) as unknown
      } catch {
        throw new BadJson("the request body is not valid JSON")
      }
    },
    gone: controller.signal,
    stream: raw
  }
}

const failureHeaders = (failure: FailureSpec): Record<string, string> => ({
  ...(failure.retryAfter === undefined ? {} : { "retry-after": String(failure.retryAfter) }),
  ...Object.fromEntries(Object.entries(failure.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]))
})

/** Cut the answer once it has started: `afterMs` after the first write, or halfway through `end`. */
const resetAfterStart = (raw: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse, afterMs: number): void => {
  const target = res as unknown as { write: (...args: Array<unknown>) => boolean; end: (...args: Array<unknown>) => unknown; flushHeaders?: () => void }
  const write = target.write.bind(res)
  let armed = false
  const arm = () => {
    if (armed) return
    armed = true
    setTimeout(() => cut(raw, res), afterMs)
  }
  target.write = (...args: Array<unknown>) => {
    const ok = write(...args)
    arm()
    return ok
  }
  target.end = (...args: Array<unknown>) => {
    const chunk = args[0]
    if (chunk instanceof Uint8Array && chunk.byteLength > 1) write(chunk.subarray(0, Math.floor(chunk.byteLength / 2)))
    else if (typeof chunk === "string" && chunk.length > 1) write(chunk.slice(0, Math.floor(chunk.length / 2)))
    else target.flushHeaders?.()
    arm()
    return res
  }
}

const handle = async (
  options: TransportOptions & { readonly requests: { http1: number; h2c: number } },
  raw: IncomingMessage | Http2ServerRequest,
  rawRes: ServerResponse | Http2ServerResponse
): Promise<void> => {
  const req = makeReq(raw, rawRes)
  const res = rawRes as unknown as Res
  if (req.protocol === "h2c") options.requests.h2c++
  else options.requests.http1++
  const dispatch = options.dispatch(req)
  const entry = options.log.record({
    route: dispatch?.route ?? "unknown",
    method: req.method,
    path: raw.url ?? "/",
    sandboxId: dispatch?.sandboxId
  })
  res.once("finish", () => {
    entry.status = res.statusCode
  })
  if (dispatch === undefined) {
    await req.body().catch(() => undefined)
    sendJson(res, 404, options.errorBody(404, `no route for ${req.method} ${req.url.pathname}`, "unknown"))
    return
  }
  const delay = options.faults.delayFor(dispatch.route)
  if (delay > 0) await sleep(delay)
  const decision = options.faults.decide(dispatch.route)
  switch (decision._tag) {
    case "Fail": {
      entry.fault = "fail"
      // Drain the body so the connection (HTTP/1.1 keep-alive) stays usable.
      await req.body().catch(() => undefined)
      const message = decision.failure.message ?? `injected failure (${decision.failure.status})`
      sendJson(res, decision.failure.status, options.errorBody(decision.failure.status, message, dispatch.route), failureHeaders(decision.failure))
      return
    }
    case "Reset":
      entry.fault = "reset"
      cut(raw, rawRes)
      return
    case "ResetAfterStart":
      entry.fault = "reset-mid-stream"
      resetAfterStart(raw, rawRes, decision.afterMs)
      break
    case "Pass":
      break
  }
  await dispatch.handle(req, res)
}

/** Replays the sniffed first bytes, then relays the socket both ways (what `node:http2` gets instead of the socket). */
class Relay extends Duplex {
  private readonly socket: Socket
  constructor(socket: Socket, first: Uint8Array) {
    super()
    this.socket = socket
    this.push(first)
    socket.on("data", (chunk: Uint8Array) => {
      if (!this.push(chunk)) socket.pause()
    })
    socket.once("end", () => this.push(null))
    socket.once("close", () => this.destroy())
    socket.once("error", (error) => this.destroy(error))
  }
  override _read(): void {
    this.socket.resume()
  }
  override _write(chunk: Uint8Array, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.socket.write(chunk, encoding, callback)
  }
  override _final(callback: (error?: Error | null) => void): void {
    this.socket.end()
    callback()
  }
  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.socket.destroy()
    callback(error)
  }
}

/** `PRI` starts the HTTP/2 preface; no HTTP/1.1 method does. */
const PREFACE_START = [0x50, 0x52, 0x49]

/** Start the server in the current scope; it stops (dropping open connections) when the scope closes. */
export const make = (options: TransportOptions): Effect.Effect<RunningTransport, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() =>
      new Promise<{ close: () => Promise<void>; port: number; counts: { http1: number; h2c: number }; requests: { http1: number; h2c: number } }>((resolve, reject) => {
        const requests = { http1: 0, h2c: 0 }
        const onRequest = (raw: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) => {
          handle({ ...options, requests }, raw, res).catch((error: unknown) => {
            try {
              if (res.headersSent) cut(raw, res)
              else sendJson(res as unknown as Res, 500, options.errorBody(500, `emulator error: ${String(error)}`, "unknown"))
            } catch {
              // The client is gone already: nothing to answer.
            }
          })
        }
        const http1 = createHttp1Server(onRequest)
        http1.keepAliveTimeout = 5_000
        const http2 = createHttp2Server({ settings: { maxConcurrentStreams: 1000 } }, onRequest)
        const sockets = new Set<Socket>()
        const sessions = new Set<Http2Session>()
        const counts = { http1: 0, h2c: 0 }
        http2.on("session", (session: Http2Session) => {
          sessions.add(session)
          session.once("close", () => sessions.delete(session))
        })
        const server = createNetServer((socket) => {
          sockets.add(socket)
          socket.setNoDelay(true)
          socket.once("close", () => sockets.delete(socket))
          socket.on("error", () => undefined)
          let head = new Uint8Array(0)
          const sniff = (chunk: Uint8Array) => {
            const joined = new Uint8Array(head.byteLength + chunk.byteLength)
            joined.set(head)
            joined.set(chunk, head.byteLength)
            head = joined
            if (head.byteLength < PREFACE_START.length && PREFACE_START.slice(0, head.byteLength).every((b, i) => head[i] === b)) return
            socket.off("data", sniff)
            socket.pause()
            if (PREFACE_START.every((b, i) => head[i] === b)) {
              counts.h2c++
              http2.emit("connection", new Relay(socket, head))
            } else {
              counts.http1++
              socket.unshift(head)
              http1.emit("connection", socket)
              socket.resume()
            }
          }
          socket.on("data", sniff)
        })
        server.once("error", reject)
        server.listen(options.port ?? 0, "127.0.0.1", () => {
          const address = server.address()
          resolve({
            port: typeof address === "object" && address !== null ? address.port : 0,
            counts,
            requests,
            close: () =>
              new Promise<void>((done) => {
                server.close(() => done())
                for (const session of sessions) session.destroy()
                for (const socket of sockets) socket.destroy()
                http1.close()
                http2.close()
                // Some runtimes keep closed servers' handles a little longer; never wait on them forever.
                setTimeout(done, 1_000).unref?.()
              })
          })
        })
      })
    ),
    ({ close }) => Effect.promise(close)
  ).pipe(
    Effect.map(({ counts, port, requests }) => ({
      url: `http://127.0.0.1:${port}`,
      port,
      connections: () => ({ ...counts }),
      requests: () => ({ ...requests })
    }))
  )
