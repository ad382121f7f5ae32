/**
 * The framework's scoped HTTP server (`../HttpServer.ts`) plus WebSocket upgrades, which Daytona needs for the
 * follow-logs stream and the socket.io event channel. Requests go through the same steps as there (route, log,
 * latency, fault decision, handler); upgrade requests too, with a refused upgrade answered as a plain HTTP error.
 *
 * Meant to move into the framework: `HttpServer.make` could take an optional `upgrade` dispatcher instead.
 */
import { Effect, type Scope } from "effect"
import { createServer, type IncomingMessage, type Server, type ServerResponse, STATUS_CODES } from "node:http"
import type { Duplex } from "node:stream"
import type { WebSocket } from "ws"
import { WebSocketServer } from "ws"
import type { FailureSpec } from "../Faults.ts"
import type { Dispatch, HttpServerOptions, RunningServer } from "../HttpServer.ts"
import { readBody, sendJson } from "../HttpServer.ts"
import type { LogEntry } from "../RequestLog.ts"

/** What an emulator answers for one WebSocket upgrade. */
export interface UpgradeDispatch {
  readonly route: string
  readonly sandboxId?: string | undefined
  /** Refuse the upgrade with an HTTP error instead (`undefined`: accept). Checked after the fault knobs. */
  readonly refuse?: () => { readonly status: number; readonly body: unknown } | undefined
  readonly onConnection: (socket: WebSocket, req: IncomingMessage) => void
}

export interface ServerOptions extends HttpServerOptions {
  readonly upgrade?: (req: IncomingMessage, url: URL) => UpgradeDispatch | undefined
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Query parameters that carry credentials are never written to the request log. */
const SECRET_PARAMS = /([?&](?:DAYTONA_SANDBOX_AUTH_KEY|token)=)[^&]*/gi
const loggedPath = (raw: string) => raw.replace(SECRET_PARAMS, "$1<redacted>")

const failureHeaders = (failure: FailureSpec): Record<string, string> => ({
  ...(failure.retryAfter === undefined ? {} : { "Retry-After": String(failure.retryAfter) }),
  ...failure.headers
})

/** Cut the connection once the response has started (see the framework's `resetAfterStart`). */
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

/** The shared part of both paths: log the request, add latency, consult the fault knobs. */
const admit = async (options: ServerOptions, req: IncomingMessage, route: string | undefined, sandboxId: string | undefined) => {
  const entry: LogEntry = options.log.record({
    route: route ?? "unknown",
    method: req.method ?? "GET",
    path: loggedPath(req.url ?? "/"),
    sandboxId
  })
  if (route === undefined) return { entry, decision: { _tag: "Pass" } as const }
  const delay = options.faults.delayFor(route)
  if (delay > 0) await sleep(delay)
  return { entry, decision: options.faults.decide(route) }
}

const handleRequest = async (options: ServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> => {
  const url = new URL(req.url ?? "/", "http://127.0.0.1")
  const dispatch: Dispatch | undefined = options.dispatch(req, url)
  const errorBody = options.errorBody ?? ((status: number, message: string) => ({ code: status, message }))
  const { decision, entry } = await admit(options, req, dispatch?.route, dispatch?.sandboxId)
  res.once("finish", () => {
    entry.status = res.statusCode
  })
  if (dispatch === undefined) {
    sendJson(res, 404, errorBody(404, `no route for ${req.method} ${url.pathname}`, "unknown"))
    return
  }
  switch (decision._tag) {
    case "Fail": {
      entry.fault = "fail"
      await readBody(req).catch(() => undefined)
      const message = decision.failure.message ?? `injected failure (${decision.failure.status})`
      sendJson(res, decision.failure.status, errorBody(decision.failure.status, message, dispatch.route), failureHeaders(decision.failure))
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
    `Content-Length: ${Buffer.byteLength(data)}`,
    "Connection: close",
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)
  ]
  socket.end(`${lines.join("\r\n")}\r\n\r\n${data}`)
}

const handleUpgrade = async (
  options: ServerOptions,
  wss: WebSocketServer,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer
): Promise<void> => {
  const url = new URL(req.url ?? "/", "http://127.0.0.1")
  const dispatch = options.upgrade?.(req, url)
  const errorBody = options.errorBody ?? ((status: number, message: string) => ({ code: status, message }))
  const { decision, entry } = await admit(options, req, dispatch?.route, dispatch?.sandboxId)
  if (dispatch === undefined) {
    entry.status = 404
    return refuseUpgrade(socket, 404, errorBody(404, `no WebSocket route for ${url.pathname}`, "unknown"))
  }
  if (decision._tag === "Fail") {
    entry.fault = "fail"
    entry.status = decision.failure.status
    const message = decision.failure.message ?? `injected failure (${decision.failure.status})`
    return refuseUpgrade(socket, decision.failure.status, errorBody(decision.failure.status, message, dispatch.route), failureHeaders(decision.failure))
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

/** Start the server in the current scope; closing the scope drops every connection, upgraded ones included. */
export const make = (options: ServerOptions): Effect.Effect<RunningServer, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() =>
      new Promise<{ server: Server; wss: WebSocketServer; port: number }>((resolve, reject) => {
        // The first offered subprotocol is echoed (the SDK offers one on Deno and in browsers).
        const wss = new WebSocketServer({
          noServer: true,
          handleProtocols: (protocols) => protocols.values().next().value ?? false
        })
        const server = createServer((req, res) => {
          handleRequest(options, req, res).catch((error: unknown) => {
            if (res.headersSent) res.destroy()
            else sendJson(res, 500, (options.errorBody ?? ((s: number, m: string) => ({ code: s, message: m })))(500, `emulator error: ${String(error)}`, "unknown"))
          })
        })
        server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
          socket.on("error", () => undefined)
          handleUpgrade(options, wss, req, socket, head).catch(() => socket.destroy())
        })
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
          for (const client of wss.clients) client.terminate()
          wss.close()
          server.close(() => resolve())
          ;(server as { closeAllConnections?: () => void }).closeAllConnections?.()
          setTimeout(resolve, 1_000).unref?.()
        })
      )
  ).pipe(Effect.map(({ port }) => ({ url: `http://127.0.0.1:${port}`, port })))
