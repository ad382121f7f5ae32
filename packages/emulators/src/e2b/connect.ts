/**
 * The server side of the Connect protocol with the JSON codec, as envd speaks it: unary calls are plain JSON,
 * server streams are enveloped frames `[flags:1][length:4 big-endian][json]` ending with an end-of-stream frame.
 */
import type { IncomingMessage, ServerResponse } from "node:http"
import { readBody, sendJson } from "../HttpServer.ts"

export type ConnectCode =
  | "canceled"
  | "unknown"
  | "invalid_argument"
  | "deadline_exceeded"
  | "not_found"
  | "already_exists"
  | "permission_denied"
  | "resource_exhausted"
  | "failed_precondition"
  | "aborted"
  | "out_of_range"
  | "unimplemented"
  | "internal"
  | "unavailable"
  | "data_loss"
  | "unauthenticated"

/** An RPC failure, answered in the Connect error shape. */
export class RpcError extends Error {
  readonly code: ConnectCode
  constructor(code: ConnectCode, message: string) {
    super(message)
    this.code = code
  }
}

const statusOf: Record<ConnectCode, number> = {
  canceled: 499,
  unknown: 500,
  invalid_argument: 400,
  deadline_exceeded: 504,
  not_found: 404,
  already_exists: 409,
  permission_denied: 403,
  resource_exhausted: 429,
  failed_precondition: 400,
  aborted: 409,
  out_of_range: 400,
  unimplemented: 501,
  internal: 500,
  unavailable: 503,
  data_loss: 500,
  unauthenticated: 401
}

/** The Connect code an HTTP status stands for (for refusals injected by the fault knobs). */
export const codeOfStatus = (status: number): ConnectCode => {
  switch (status) {
    case 400:
      return "invalid_argument"
    case 401:
      return "unauthenticated"
    case 403:
      return "permission_denied"
    case 404:
      return "not_found"
    case 409:
      return "already_exists"
    case 429:
      return "resource_exhausted"
    case 502:
    case 503:
    case 504:
      return "unavailable"
    default:
      return status >= 500 ? "internal" : "unknown"
  }
}

export const sendUnary = (res: ServerResponse, message: unknown): void => sendJson(res, 200, message)

export const sendUnaryError = (res: ServerResponse, error: RpcError): void =>
  sendJson(res, statusOf[error.code], { code: error.code, message: error.message })

const FLAG_END = 0x02

const frame = (flags: number, message: unknown): Uint8Array => {
  const json = new TextEncoder().encode(JSON.stringify(message))
  const out = new Uint8Array(5 + json.byteLength)
  out[0] = flags
  new DataView(out.buffer).setUint32(1, json.byteLength, false)
  out.set(json, 5)
  return out
}

/** The single message of a server-streaming request (itself one enveloped frame). */
export const readStreamRequest = async (req: IncomingMessage): Promise<Record<string, unknown>> => {
  const body = await readBody(req)
  if (body.byteLength < 5) throw new RpcError("invalid_argument", "missing request envelope")
  const length = new DataView(body.buffer, body.byteOffset, body.byteLength).getUint32(1, false)
  const json = body.subarray(5, 5 + length)
  return json.byteLength === 0 ? {} : JSON.parse(new TextDecoder().decode(json)) as Record<string, unknown>
}

/** The JSON message of a unary request. */
export const readUnaryRequest = async (req: IncomingMessage): Promise<Record<string, unknown>> => {
  const body = await readBody(req)
  return body.byteLength === 0 ? {} : JSON.parse(new TextDecoder().decode(body)) as Record<string, unknown>
}

/** One server stream: message frames, then exactly one end-of-stream frame. */
export class ServerStream {
  private ended = false
  private gone = false
  private readonly closeHandlers: Array<() => void> = []

  private readonly res: ServerResponse

  constructor(res: ServerResponse) {
    this.res = res
    res.writeHead(200, { "Content-Type": "application/connect+json" })
    res.flushHeaders()
    // The client went away (or the connection was cut): stop writing.
    res.once("close", () => {
      if (!this.ended) {
        this.ended = true
        this.gone = true
        for (const handler of this.closeHandlers) handler()
      }
    })
  }

  get closed(): boolean {
    return this.ended
  }

  /** Runs when the client disconnects before the stream ended. */
  onClientGone(handler: () => void): void {
    if (this.gone) handler()
    else this.closeHandlers.push(handler)
  }

  send(message: unknown): void {
    if (!this.ended) this.res.write(frame(0, message))
  }

  end(error?: RpcError): void {
    if (this.ended) return
    this.ended = true
    this.res.end(frame(FLAG_END, error === undefined ? {} : { error: { code: error.code, message: error.message } }))
  }

  /** Drop the connection without an end frame (the sandbox died under the stream). */
  abort(): void {
    if (this.ended) return
    this.ended = true
    this.res.socket?.destroy()
  }
}

export const base64 = (bytes: Uint8Array): string => {
  let binary = ""
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  return btoa(binary)
}

export const fromBase64 = (text: string): Uint8Array => Uint8Array.from(atob(text), (c) => c.charCodeAt(0))
