/**
 * A scoped HTTP/1.1 server on a random port of 127.0.0.1 (`node:http`, which Bun and Deno implement too), with
 * optional WebSocket upgrades (`ws`). Every request, upgrades included, is resolved to a named route by the provider
 * emulator, logged, delayed and possibly refused or reset by the fault knobs, then handed to the route's handler (a
 * refused upgrade is answered as a plain HTTP error). The server closes, dropping open connections and WebSockets,
 * when the scope closes.
 */
import { Effect, type Scope } from "effect"
import { createServer, type IncomingMessage, type Server, type ServerResponse, STATUS_CODES } from "node:http"
import type { Duplex, Readable } from "node:stream"
import { type WebSocket, WebSocketServer } from "ws"
import type { FailureSpec, Faults } from "./Faults.ts"
import type { LogEntry, RequestLog } from "./RequestLog.ts"

/** What a provider emulator answers for one request. */
export interface Dispatch {
  /** The route name used by the log and the fault knobs. */
  readonly route: string
  readonly sandboxId?: string | undefined
  readonly handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>
}

export interface HttpServerOptions {
  readonly faults: Faults
  readonly log: RequestLog
  /** Resolve a request to a route, or `undefined` for 404. */
  readonly dispatch: (req: IncomingMessage, url: URL) => Dispatch | undefined
  /** The JSON body of a refused call, in the provider's error shape for that route. */
  readonly errorBody?: (status: number, message: string, route: string) => unknown
  /** Fixed port (default: a random free one). */
  readonly port?: number
  /** Resolve a WebSocket upgrade to a route (`undefined` for 404); without it, upgrades are not accepted. */
  readonly upgrade?: (req: IncomingMessage, url: URL) => UpgradeDispatch | undefined
  /** The request path as written to the log: hide credentials some clients send in the query. Default: as is. */
  readonly loggedPath?: (path: string) => string
}

/** What an emulator answers for one WebSocket upgrade. */
export interface UpgradeDispatch {
  readonly route: string
  readonly sandboxId?: string | undefined
  /** Refuse the upgrade with an HTTP error instead (`undefined`: accept). Checked after the fault knobs. */
  readonly refuse?: () => { readonly status: number; readonly body: unknown } | undefined
  readonly onConnection: (socket: WebSocket, req: IncomingMessage) => void
}

export interface RunningServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string
  readonly port: number
}

const defaultErrorBody = (status: number, message: string, _route: string) => ({ code: status, message })

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Send a JSON body with an exact `Content-Length`. */
export const sendJson = (res: ServerResponse, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void => {
  const data = new TextEncoder().encode(JSON.stringify(body))
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": String(data.byteLength), ...headers })
  res.end(data)
}

/** A reply without a body (`Content-Length: 0`, so clients never try to parse one). */
export const sendEmpty = (res: ServerResponse, status: number, headers: Readonly<Record<string, string>> = {}): void => {
  res.writeHead(status, { "Content-Length": "0", ...headers })
  res.end()
}

/** The whole request body (of an HTTP/1.1 request or an HTTP/2 stream: any readable). */
export const readBody = (req: Readable): Promise<Uint8Array> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Uint8Array> = []
    let size = 0
    req.on("data", (chunk: Uint8Array) => {
      chunks.push(chunk)
      size += chunk.byteLength
    })
    req.once("end", () => {
      const out = new Uint8Array(size)
      let offset = 0
      for (const chunk of chunks) {
        out.set(chunk, offset)
        offset += chunk.byteLength
      }
      resolve(out)
    })
    req.once("error", reject)
  })

/** The request body parsed as JSON (`{}` when empty). */
export const readJson = async (req: IncomingMessage): Promise<unknown> => {
  const body = await readBody(req)
  return body.byteLength === 0 ? {} : JSON.parse(new TextDecoder().decode(body))
}

const failureHeaders = (failure: FailureSpec): Record<string, string> => ({
  ...(failure.retryAfter === undefined ? {} : { "Retry-After": String(failure.retryAfter) }),
  ...failure.headers
})

/** Cut the connection once the response has started: after `afterMs` from the first write, or halfway through `end`. */
const resetAfterStart = (res: ServerResponse, afterMs: number): void => {
  let armed = false
  const cut = () => res.socket?.destroy()
  const write = res.write.bind(res) as (...args: Array<unknown>) => boolean
  ;(res as { write: unknown }).write = (...args: Array<unknown>) => {
    const ok = write(...args)
    if (!armed) {
      armed = true
      setTimeout(cut, afterMs)
    }
    return ok
  }
  ;(res as { end: unknown }).end = (...args: Array<unknown>) => {
    const chunk = args[0]
    if (chunk instanceof Uint8Array && chunk.byteLength > 1) write(chunk.subarray(0, Math.floor(chunk.byteLength / 2)))
    else if (typeof chunk === "string" && chunk.length > 1) write(chunk.slice(0, Math.floor(chunk.length / 2)))
    else if (!res.headersSent) res.flushHeaders()
    setTimeout(cut, afterMs)
    return res
  }
}

/** The steps every request and upgrade goes through: log it, add latency, consult the fault knobs. */
const admit = async (options: HttpServerOptions, req: IncomingMessage, route: string | undefined, sandboxId: string | undefined) => {
  const path = req.url ?? "/"
  const entry: LogEntry = options.log.record({
    route: route ?? "unknown",
    method: req.method ?? "GET",
    path: options.loggedPath === undefined ? path : options.loggedPath(path),
    sandboxId
  })
  if (route === undefined) return { entry, decision: { _tag: "Pass" } as const }
  const delay = options.faults.delayFor(route)
  if (delay > 0) await sleep(delay)
  return { entry, decision: options.faults.decide(route) }
}

const injectedMessage = (failure: FailureSpec) => failure.message ?? `injected failure (${failure.status})`

const handleRequest = async (options: HttpServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> => {
  const url = new URL(req.url ?? "/", "http://127.0.0.1")
  const dispatch = options.dispatch(req, url)
  const { decision, entry } = await admit(options, req, dispatch?.route, dispatch?.sandboxId)
  res.once("finish", () => {
    entry.status = res.statusCode
  })
  const errorBody = options.errorBody ?? defaultErrorBody
  if (dispatch === undefined) {
    sendJson(res, 404, errorBody(404, `no route for ${req.method} ${url.pathname}`, "unknown"))
    return
  }
  switch (decision._tag) {
    case "Fail": {
      entry.fault = "fail"
      // Drain the body so keep-alive connections stay usable.
      await readBody(req).catch(() => undefined)
      const { failure } = decision
      sendJson(res, failure.status, errorBody(failure.status, injectedMessage(failure), dispatch.route), failureHeaders(failure))
      return
    }
    case "Reset":
      entry.fault = "reset"
      req.socket.destroy()
      return
    case "ResetAfterStart":
      entry.fault = "reset-mid-stream"
      resetAfterStart(res, decision.afterMs)
      break
    case "Pass":
      break
  }
  await dispatch.handle(req, res)
}

/** A plain HTTP answer written straight onto an upgrade request's socket. */
const refuseUpgrade = (socket: Duplex, status: number, body: unknown, headers: Record<string, string> = {}) => {
  const data = JSON.stringify(body)
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Error"}`,
    "Content-Type: application/json",
    `Content-Length: ${new TextEncoder().encode(data).byteLength}`,
    "Connection: close",
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)
  ]
  socket.end(`${lines.join("\r\n")}\r\n\r\n${data}`)
}

const handleUpgrade = async (
  options: HttpServerOptions,
  wss: WebSocketServer,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer
): Promise<void> => {
  const url = new URL(req.url ?? "/", "http://127.0.0.1")
  const dispatch = options.upgrade?.(req, url)
  const errorBody = options.errorBody ?? defaultErrorBody
  const { decision, entry } = await admit(options, req, dispatch?.route, dispatch?.sandboxId)
  if (dispatch === undefined) {
    entry.status = 404
    return refuseUpgrade(socket, 404, errorBody(404, `no WebSocket route for ${url.pathname}`, "unknown"))
  }
  if (decision._tag === "Fail") {
    const { failure } = decision
    entry.fault = "fail"
    entry.status = failure.status
    return refuseUpgrade(socket, failure.status, errorBody(failure.status, injectedMessage(failure), dispatch.route), failureHeaders(failure))
  }
  if (decision._tag === "Reset") {
    entry.fault = "reset"
    socket.destroy()
    return
  }
  const refused = dispatch.refuse?.()
  if (refused !== undefined) {
    entry.status = refused.status
    return refuseUpgrade(socket, refused.status, refused.body)
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    entry.status = 101
    if (decision._tag === "ResetAfterStart") {
      entry.fault = "reset-mid-stream"
      setTimeout(() => ws.terminate(), decision.afterMs)
    }
    dispatch.onConnection(ws, req)
  })
}

/** Start the server in the current scope; it stops (dropping open connections and WebSockets) when the scope closes. */
export const make = (options: HttpServerOptions): Effect.Effect<RunningServer, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() =>
      new Promise<{ server: Server; wss: WebSocketServer | undefined; port: number }>((resolve, reject) => {
        const server = createServer((req, res) => {
          handleRequest(options, req, res).catch((error: unknown) => {
            if (res.headersSent) res.destroy()
            else sendJson(res, 500, (options.errorBody ?? defaultErrorBody)(500, `emulator error: ${String(error)}`, "unknown"))
          })
        })
        // The first offered subprotocol is echoed (SDKs offer one on Deno and in browsers).
        const wss = options.upgrade === undefined ? undefined : new WebSocketServer({
          noServer: true,
          handleProtocols: (protocols) => protocols.values().next().value ?? false
        })
        if (wss !== undefined) {
          server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
            socket.on("error", () => undefined)
            handleUpgrade(options, wss, req, socket, head).catch(() => socket.destroy())
          })
        }
        server.keepAliveTimeout = 5_000
        server.once("error", reject)
        server.listen(options.port ?? 0, "127.0.0.1", () => {
          const address = server.address()
          resolve({ server, wss, port: typeof address === "object" && address !== null ? address.port : 0 })
        })
      })
    ),
    ({ server, wss }) =>
      Effect.promise(() =>
        new Promise<void>((resolve) => {
          for (const client of wss?.clients ?? []) client.terminate()
          wss?.close()
          server.close(() => resolve())
          ;(server as { closeAllConnections?: () => void }).closeAllConnections?.()
          // Some runtimes keep idle keep-alive sockets past close(); do not wait on them forever.
          setTimeout(resolve, 1_000).unref?.()
        })
      )
  ).pipe(Effect.map(({ port }) => ({ url: `http://127.0.0.1:${port}`, port })))
