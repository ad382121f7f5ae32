/**
 * Reaching a port inside an emulated sandbox, shared by every cloud emulator's preview / tunnel / connect route: the
 * request is forwarded to the URL the local engine exposes for that port and the answer is streamed back. Only the
 * route (how a URL names the sandbox and port), the credential check and the shape of an error body are the
 * provider's; they stay in the caller.
 */
import type { DriverSandbox } from "@sandkit/core"
import { Effect, Exit } from "effect"
import type { IncomingHttpHeaders } from "node:http"
import { request as httpRequest } from "node:http"
import type { Readable } from "node:stream"

/** Headers that describe the hop, not the message: never forwarded either way. */
const HOP = new Set(["host", "connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection", "http2-settings"])

/** What the forwarder needs of a response: Node's `ServerResponse`, or an HTTP/2-capable stand-in. */
export interface ForwardResponse {
  readonly headersSent: boolean
  writeHead(status: number, headers: Record<string, string>): unknown
  write(chunk: Uint8Array): unknown
  end(): unknown
  /** Cut the connection: how a broken upstream answer is passed on (without it, the answer just ends). */
  destroy?(): unknown
}

/** Why the port could not be reached: the engine cannot expose it, or nothing listens on it. */
export type Unreachable = "not-exposed" | "not-listening"

export interface ForwardRequest {
  readonly sandbox: DriverSandbox
  readonly port: number
  /** Path and query to request inside the sandbox. */
  readonly path: string
  readonly method: string
  readonly headers: IncomingHttpHeaders
  readonly body: Readable
  /** Request headers meant for the emulator itself (credentials, routing), not for the sandbox. */
  readonly dropHeaders?: ReadonlyArray<string>
  /** Answer a request that cannot reach the port, before any header was sent, in the provider's error shape. */
  readonly unreachable: (reason: Unreachable) => void
}

const forwardable = (headers: IncomingHttpHeaders, drop: ReadonlySet<string>): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) {
    // HTTP/2 pseudo-headers (`:path`, …) are not headers of the forwarded HTTP/1.1 request.
    if (value === undefined || HOP.has(name) || drop.has(name) || name.startsWith(":")) continue
    out[name] = Array.isArray(value) ? value.join(", ") : value
  }
  return out
}

const abort = (res: ForwardResponse) => (res.destroy === undefined ? res.end() : res.destroy())

/** Forward one request to a port of `sandbox` and stream the answer into `res`; resolves when the answer is done. */
export const forwardToPort = async (request: ForwardRequest, res: ForwardResponse): Promise<void> => {
  const exposed = await Effect.runPromiseExit(request.sandbox.exposePort!(request.port))
  if (Exit.isFailure(exposed)) return request.unreachable("not-exposed")
  const drop = new Set((request.dropHeaders ?? []).map((h) => h.toLowerCase()))
  const target = new URL(request.path, exposed.value.url)
  await new Promise<void>((resolve) => {
    const upstream = httpRequest(target, { method: request.method, headers: forwardable(request.headers, drop) }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, forwardable(answer.headers, drop))
      answer.on("data", (chunk: Uint8Array) => res.write(chunk))
      answer.once("end", () => {
        res.end()
        resolve()
      })
      answer.once("error", () => {
        abort(res)
        resolve()
      })
    })
    upstream.once("error", () => {
      if (!res.headersSent) request.unreachable("not-listening")
      else abort(res)
      resolve()
    })
    request.body.pipe(upstream)
  })
}
