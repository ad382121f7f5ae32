/**
 * A plaintext gRPC server (HTTP/2 without TLS, "h2c") on a random port of 127.0.0.1, written on `node:http2`, which
 * Node, Bun and Deno all implement. It frames messages (5-byte prefix), answers with trailers, and puts every call
 * through the shared fault knobs and request log first, by method name:
 *
 * - latency (`faults.latency(method, …)`), then the next queued decision for the method:
 * - `Fail` answers a gRPC status at once: the `FailureSpec.status` (HTTP) mapped to a gRPC code, or the code given
 *   in `headers["grpc-status"]`; a `retryAfter` (seconds) adds Modal's `RPCRetryPolicy` to `grpc-status-details-bin`,
 *   which is how Modal throttles clients;
 * - `Reset` cuts the call before it is handled (`RST_STREAM`, seen by the client as `INTERNAL`);
 * - `ResetAfterStart` handles the call, then cuts it instead of answering (unary: the work was done, the answer
 *   lost), or `afterMs` into a server stream.
 *
 * A path the emulator does not implement is logged and answered `UNIMPLEMENTED` at once.
 */
import { Effect, type Scope } from "effect"
import {
  constants,
  createServer,
  type Http2Server,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream
} from "node:http2"
import type { FailureSpec, Faults } from "../Faults.ts"
import type { LogEntry, RequestLog } from "../RequestLog.ts"
import { Code, decode, encode, type MethodSchema, retryPolicyDetails } from "./schema.ts"

/** A call failed with a gRPC status. `retryAfterSecs` asks the client to retry after that long (throttling). */
export class GrpcError extends Error {
  readonly code: number
  readonly retryAfterSecs: number | undefined
  constructor(code: number, message: string, retryAfterSecs?: number) {
    super(message)
    this.code = code
    this.retryAfterSecs = retryAfterSecs
  }
}

/** A log entry of a gRPC call: `status` is the HTTP-equivalent, `grpcCode` the gRPC status answered. */
export interface GrpcLogEntry extends LogEntry {
  grpcCode?: number | undefined
}

export interface CallContext {
  readonly method: string
  /** Request metadata, lower-case keys. */
  readonly metadata: IncomingHttpHeaders
  /** Aborted when the client cancels the call or the server closes. */
  readonly signal: AbortSignal
}

export type Message = Record<string, unknown>

export type Handler =
  | { readonly kind: "unary"; readonly handle: (request: Message, call: CallContext) => Promise<object> }
  | {
    readonly kind: "serverStream"
    readonly handle: (request: Message, call: CallContext, send: (message: object) => Promise<void>) => Promise<void>
  }
  | { readonly kind: "clientStream"; readonly handle: (requests: AsyncIterable<Message>, call: CallContext) => Promise<object> }

export interface GrpcServerOptions {
  readonly faults: Faults
  readonly log: RequestLog
  /** The methods served, by path, with their handlers. */
  readonly methods: ReadonlyMap<string, { readonly schema: MethodSchema; readonly handler: Handler }>
  /** The sandbox a request is about, for the log (looked up from the first request message). */
  readonly sandboxIdOf?: (method: string, request: Message) => string | undefined
  /** Called for every unimplemented path (after it is logged). */
  readonly onUnimplemented?: (path: string) => void
  readonly port?: number
}

export interface RunningGrpcServer {
  readonly port: number
}

const HTTP_TO_GRPC: Readonly<Record<number, number>> = {
  400: Code.INVALID_ARGUMENT,
  401: Code.UNAUTHENTICATED,
  403: Code.PERMISSION_DENIED,
  404: Code.NOT_FOUND,
  409: Code.ALREADY_EXISTS,
  412: Code.FAILED_PRECONDITION,
  429: Code.RESOURCE_EXHAUSTED,
  499: Code.CANCELLED,
  500: Code.INTERNAL,
  501: Code.UNIMPLEMENTED,
  502: Code.UNAVAILABLE,
  503: Code.UNAVAILABLE,
  504: Code.DEADLINE_EXCEEDED
}

const GRPC_TO_HTTP: Readonly<Record<number, number>> = {
  [Code.OK]: 200,
  [Code.CANCELLED]: 499,
  [Code.INVALID_ARGUMENT]: 400,
  [Code.DEADLINE_EXCEEDED]: 504,
  [Code.NOT_FOUND]: 404,
  [Code.ALREADY_EXISTS]: 409,
  [Code.PERMISSION_DENIED]: 403,
  [Code.RESOURCE_EXHAUSTED]: 429,
  [Code.FAILED_PRECONDITION]: 412,
  [Code.UNIMPLEMENTED]: 501,
  [Code.UNAVAILABLE]: 503,
  [Code.UNAUTHENTICATED]: 401
}

/** The gRPC status a refused call gets. */
export const grpcCodeOf = (failure: FailureSpec): number => {
  const explicit = Number(failure.headers?.["grpc-status"])
  if (Number.isInteger(explicit) && explicit > 0) return explicit
  return HTTP_TO_GRPC[failure.status] ?? (failure.status >= 500 ? Code.UNAVAILABLE : Code.UNKNOWN)
}

const base64 = (bytes: Uint8Array): string => {
  let binary = ""
  for (const byte of bytes) binary += String.fromCharCode(byte)
  return btoa(binary)
}

/** `grpc-message` encoding: UTF-8, bytes outside printable ASCII (and `%`) as `%XX`. */
const percentEncode = (message: string): string =>
  Array.from(new TextEncoder().encode(message), (b) =>
    b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, "0")}`).join("")

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const frame = (message: Uint8Array): Uint8Array => {
  const out = new Uint8Array(5 + message.byteLength)
  new DataView(out.buffer).setUint32(1, message.byteLength)
  out.set(message, 5)
  return out
}

/** Splits the request body into length-prefixed messages as bytes arrive. */
class FrameReader {
  private buffer = new Uint8Array(0)
  push(chunk: Uint8Array): Array<Uint8Array> {
    const joined = new Uint8Array(this.buffer.byteLength + chunk.byteLength)
    joined.set(this.buffer)
    joined.set(chunk, this.buffer.byteLength)
    const out: Array<Uint8Array> = []
    let offset = 0
    while (joined.byteLength - offset >= 5) {
      if (joined[offset] !== 0) throw new GrpcError(Code.UNIMPLEMENTED, "compressed messages are not supported")
      const length = new DataView(joined.buffer, joined.byteOffset + offset + 1, 4).getUint32(0)
      if (joined.byteLength - offset - 5 < length) break
      out.push(joined.slice(offset + 5, offset + 5 + length))
      offset += 5 + length
    }
    this.buffer = joined.slice(offset)
    return out
  }
}

/** The request messages of a call, as an async queue fed by the stream. */
const requestMessages = (stream: ServerHttp2Stream): AsyncIterableIterator<Uint8Array> => {
  const reader = new FrameReader()
  const ready: Array<Uint8Array> = []
  let done = false
  let failure: unknown
  let wake: (() => void) | undefined
  const notify = () => {
    wake?.()
    wake = undefined
  }
  stream.on("data", (chunk: Uint8Array) => {
    try {
      ready.push(...reader.push(chunk))
    } catch (error) {
      failure = error
    }
    notify()
  })
  stream.once("end", () => {
    done = true
    notify()
  })
  stream.once("close", () => {
    done = true
    notify()
  })
  const iterator: AsyncIterableIterator<Uint8Array> = {
    [Symbol.asyncIterator]: () => iterator,
    next: async () => {
      for (;;) {
        if (failure !== undefined) throw failure
        const next = ready.shift()
        if (next !== undefined) return { value: next, done: false }
        if (done) return { value: undefined, done: true }
        await new Promise<void>((resolve) => (wake = resolve))
      }
    }
  }
  return iterator
}

/** Writes one call's answer: headers once, messages, then trailers (or a trailers-only answer). */
class Responder {
  private headersSent = false
  private finished = false
  private readonly stream: ServerHttp2Stream
  private readonly entry: GrpcLogEntry
  constructor(stream: ServerHttp2Stream, entry: GrpcLogEntry) {
    this.stream = stream
    this.entry = entry
  }

  private sendHeaders(): void {
    if (this.headersSent) return
    this.headersSent = true
    this.stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true })
  }

  async send(type: MethodSchema["response"], message: object): Promise<void> {
    if (this.finished || this.stream.destroyed || this.stream.closed) throw new GrpcError(Code.CANCELLED, "the call is gone")
    this.sendHeaders()
    if (!this.stream.write(frame(encode(type, message)))) {
      await new Promise<void>((resolve) => {
        const done = () => {
          this.stream.off("drain", done)
          this.stream.off("close", done)
          resolve()
        }
        this.stream.once("drain", done)
        this.stream.once("close", done)
      })
    }
  }

  finish(code: number, message = "", details?: Uint8Array): void {
    if (this.finished) return
    this.finished = true
    this.entry.grpcCode = code
    this.entry.status = GRPC_TO_HTTP[code] ?? 500
    if (this.stream.destroyed || this.stream.closed) return
    const trailers: Record<string, string> = { "grpc-status": String(code) }
    if (message !== "") trailers["grpc-message"] = percentEncode(message)
    if (details !== undefined) trailers["grpc-status-details-bin"] = base64(details)
    if (!this.headersSent) {
      this.headersSent = true
      this.stream.respond({ ":status": 200, "content-type": "application/grpc", ...trailers }, { endStream: true })
      return
    }
    this.stream.once("wantTrailers", () => this.stream.sendTrailers(trailers))
    this.stream.end()
  }

  fail(error: unknown): void {
    if (error instanceof GrpcError) {
      const details = error.retryAfterSecs === undefined ? undefined : retryPolicyDetails(error.code, error.message, error.retryAfterSecs)
      this.finish(error.code, error.message, details)
    } else {
      this.finish(Code.INTERNAL, `emulator error: ${error instanceof Error ? error.message : String(error)}`)
    }
  }

  /** Cut the call without an answer. */
  reset(): void {
    this.finished = true
    if (!this.stream.destroyed) this.stream.close(constants.NGHTTP2_INTERNAL_ERROR)
  }
}

const handleStream = async (options: GrpcServerOptions, stream: ServerHttp2Stream, headers: IncomingHttpHeaders): Promise<void> => {
  const path = String(headers[":path"] ?? "")
  const methodName = path.slice(path.lastIndexOf("/") + 1)
  const entry0 = { route: methodName, method: "POST", path }
  const found = options.methods.get(path)
  if (found === undefined) {
    const entry: GrpcLogEntry = options.log.record(entry0)
    stream.resume()
    options.onUnimplemented?.(path)
    new Responder(stream, entry).finish(Code.UNIMPLEMENTED, `the Modal emulator does not implement ${path}`)
    return
  }
  const { handler, schema } = found
  const abort = new AbortController()
  stream.once("close", () => abort.abort())
  const call: CallContext = { method: methodName, metadata: headers, signal: abort.signal }
  const messages = requestMessages(stream)
  // The first request message names the sandbox (unary and server-streaming calls have exactly one).
  const first = await messages.next().catch((error: unknown) => ({ error }))
  const firstMessage = "value" in first && first.value !== undefined ? decode(schema.request, first.value) : undefined
  const entry: GrpcLogEntry = options.log.record({
    ...entry0,
    sandboxId: firstMessage === undefined ? undefined : options.sandboxIdOf?.(methodName, firstMessage)
  })
  const responder = new Responder(stream, entry)
  if ("error" in first) return responder.fail(first.error)
  const delay = options.faults.delayFor(methodName)
  if (delay > 0) await sleep(delay)
  const decision = options.faults.decide(methodName)
  if (decision._tag === "Fail") {
    entry.fault = "fail"
    const code = grpcCodeOf(decision.failure)
    const message = decision.failure.message ?? `injected failure (${code})`
    const retryAfter = typeof decision.failure.retryAfter === "number" ? decision.failure.retryAfter : Number(decision.failure.retryAfter)
    return responder.finish(code, message, Number.isFinite(retryAfter) ? retryPolicyDetails(code, message, retryAfter) : undefined)
  }
  if (decision._tag === "Reset") {
    entry.fault = "reset"
    return responder.reset()
  }
  const cutAfter = decision._tag === "ResetAfterStart" ? decision.afterMs : undefined
  if (cutAfter !== undefined) entry.fault = "reset-mid-stream"
  try {
    switch (handler.kind) {
      case "unary": {
        if (firstMessage === undefined) throw new GrpcError(Code.INVALID_ARGUMENT, "missing request message")
        const response = await handler.handle(firstMessage, call)
        if (cutAfter !== undefined) return responder.reset()
        await responder.send(schema.response, response)
        return responder.finish(Code.OK)
      }
      case "serverStream": {
        if (firstMessage === undefined) throw new GrpcError(Code.INVALID_ARGUMENT, "missing request message")
        if (cutAfter !== undefined) setTimeout(() => responder.reset(), cutAfter)
        await handler.handle(firstMessage, call, (message) => responder.send(schema.response, message))
        return responder.finish(Code.OK)
      }
      case "clientStream": {
        async function* all(): AsyncIterable<Message> {
          if (firstMessage !== undefined) yield firstMessage
          for await (const bytes of messages) yield decode(schema.request, bytes)
        }
        const response = await handler.handle(all(), call)
        if (cutAfter !== undefined) return responder.reset()
        await responder.send(schema.response, response)
        return responder.finish(Code.OK)
      }
    }
  } catch (error) {
    responder.fail(error)
  }
}

/** Start the server in the current scope; closing the scope drops every connection. */
export const make = (options: GrpcServerOptions): Effect.Effect<RunningGrpcServer, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() =>
      new Promise<{ server: Http2Server; port: number; sessions: Set<ServerHttp2Session> }>((resolve, reject) => {
        const server = createServer({ settings: { initialWindowSize: 16 * 1024 * 1024 } })
        const sessions = new Set<ServerHttp2Session>()
        server.on("session", (session) => {
          sessions.add(session)
          session.once("close", () => sessions.delete(session))
          session.on("error", () => undefined)
        })
        server.on("stream", (stream, headers) => {
          stream.on("error", () => undefined)
          handleStream(options, stream, headers).catch(() => {
            if (!stream.destroyed) stream.close(constants.NGHTTP2_INTERNAL_ERROR)
          })
        })
        server.once("error", reject)
        server.listen(options.port ?? 0, "127.0.0.1", () => {
          const address = server.address()
          resolve({ server, sessions, port: typeof address === "object" && address !== null ? address.port : 0 })
        })
      })
    ),
    ({ server, sessions }) =>
      Effect.promise(() =>
        new Promise<void>((resolve) => {
          server.close(() => resolve())
          // Clients keep their HTTP/2 sessions open: drop them, or close() would wait for them.
          for (const session of sessions) session.destroy()
          setTimeout(resolve, 1_000).unref?.()
        })
      )
  ).pipe(Effect.map(({ port }) => ({ port })))
