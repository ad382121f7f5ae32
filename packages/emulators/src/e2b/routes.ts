/**
 * Request → route. One port serves everything: requests carrying `E2b-Sandbox-Id` (what the SDK sends when
 * `sandboxUrl` is set) or a `<port>-<sandboxId>.` host go to that sandbox's port (49983 envd, 49999 code
 * interpreter, anything else: forwarded to the port); `/.sandkit/ports/<id>/<port>/…` reaches a port with a plain
 * URL; everything else is the control plane.
 */
import type { IncomingMessage, ServerResponse } from "node:http"
import type { Dispatch } from "../HttpServer.ts"
import { sendEmpty, sendJson } from "../HttpServer.ts"
import { codeOfStatus } from "./connect.ts"
import * as Control from "./controlPlane.ts"
import * as Fs from "./filesystem.ts"
import * as Interp from "./interpreter.ts"
import { proxy } from "./ports.ts"
import * as Proc from "./process.ts"
import type { E2bRegistry, E2bSandbox } from "./state.ts"

export const ENVD_PORT = 49983
export const INTERPRETER_PORT = 49999
/** Path prefix of the plain-URL port forward: `/.sandkit/ports/<sandboxId>/<port>/<path>`. */
export const PORT_PREFIX = "/.sandkit/ports/"

export interface RouteOptions extends Control.ControlPlaneOptions {
  /** When set, the control plane accepts only this `X-API-KEY`; otherwise any non-empty key. */
  readonly apiKey?: string | undefined
}

type SandboxHandler = (sandbox: E2bSandbox, req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void>

const rpc: Record<string, SandboxHandler> = {
  "process.Process/Start": Proc.start,
  "process.Process/Connect": Proc.connect,
  "process.Process/SendInput": Proc.sendInput,
  "process.Process/CloseStdin": Proc.closeStdin,
  "process.Process/SendSignal": Proc.sendSignal,
  "process.Process/List": Proc.list,
  "filesystem.Filesystem/Stat": Fs.statRpc,
  "filesystem.Filesystem/ListDir": Fs.listDir,
  "filesystem.Filesystem/MakeDir": Fs.makeDir,
  "filesystem.Filesystem/Remove": Fs.remove,
  "filesystem.Filesystem/Move": Fs.move
}

/** `process.Process/Start` → `process.Start`. */
const rpcRoute = (path: string) => {
  const [service = "", method = ""] = path.slice(1).split("/")
  return `${service.split(".")[0]}.${method}`
}

const gone = (res: ServerResponse, id: string, why: string) =>
  sendJson(res, 502, { code: 502, message: `The sandbox ${id} ${why}`, sandboxId: id })

/** The answer for a data-plane call: 502 when the sandbox is gone, paused or not ready yet, 401 on a bad token. */
const onSandbox = (
  registry: E2bRegistry,
  id: string,
  options: { readonly token: boolean },
  handler: (sandbox: E2bSandbox, req: IncomingMessage, res: ServerResponse) => Promise<void>
) =>
async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
  const sandbox = registry.get(id)
  if (sandbox === undefined) return gone(res, id, "was not found")
  if (sandbox.state !== "running") return gone(res, id, "is paused")
  if (!registry.isReady(sandbox)) return gone(res, id, "is not ready yet")
  if (options.token && req.headers["x-access-token"] !== sandbox.ext.envdAccessToken) {
    return sendJson(res, 401, { code: 401, message: "invalid access token" })
  }
  await handler(sandbox, req, res)
}

const dataPlane = (registry: E2bRegistry, id: string, port: number, req: IncomingMessage, url: URL): Dispatch => {
  const method = req.method ?? "GET"
  const path = url.pathname
  const on = (route: string, token: boolean, handler: SandboxHandler): Dispatch => ({
    route,
    sandboxId: id,
    handle: onSandbox(registry, id, { token }, (s, rq, rs) => handler(s, rq, rs, url))
  })
  if (port === ENVD_PORT) {
    if (path === "/health") {
      return {
        route: "health",
        sandboxId: id,
        handle: async (_rq, rs) => {
          const s = registry.get(id)
          if (s === undefined || s.state !== "running" || !registry.isReady(s)) return gone(rs, id, "is not running")
          sendEmpty(rs, 204)
        }
      }
    }
    if (path === "/files" && method === "GET") return on("files.read", true, Fs.download)
    if (path === "/files" && method === "POST") return on("files.write", true, Fs.upload)
    const handler = rpc[path.slice(1)]
    if (method === "POST" && path.split("/").length === 3) return on(rpcRoute(path), true, handler ?? Proc.unimplemented)
  }
  if (port === INTERPRETER_PORT) {
    if (path === "/execute" && method === "POST") return on("execute", true, Interp.execute)
    if (path === "/contexts" && method === "POST") return on("contexts.create", false, Interp.createContext)
    if (path === "/contexts" && method === "GET") return on("contexts.list", false, Interp.listContexts)
    const context = /^\/contexts\/([^/]+)(\/restart)?$/.exec(path)
    if (context !== null) {
      const contextId = decodeURIComponent(context[1]!)
      if (context[2] !== undefined && method === "POST") {
        return on("contexts.restart", false, (s, _rq, rs) => Interp.restartContext(s, contextId, rs))
      }
      if (context[2] === undefined && method === "DELETE") {
        return on("contexts.delete", false, (s, _rq, rs) => Interp.deleteContext(s, contextId, rs))
      }
    }
  }
  return on("port", false, (s, rq, rs) => proxy(s, port, `${url.pathname}${url.search}`, rq, rs))
}

const controlPlane = (registry: E2bRegistry, options: RouteOptions, req: IncomingMessage, url: URL): Dispatch | undefined => {
  const method = req.method ?? "GET"
  const path = url.pathname
  const authed = (route: string, sandboxId: string | undefined, handle: Dispatch["handle"]): Dispatch => ({
    route,
    sandboxId,
    handle: async (rq, rs) => {
      const key = rq.headers["x-api-key"]
      if (typeof key !== "string" || key === "" || (options.apiKey !== undefined && key !== options.apiKey)) {
        return sendJson(rs, 401, { code: 401, message: "Invalid API key" })
      }
      await handle(rq, rs)
    }
  })
  if (path === "/v2/sandboxes" && method === "POST") return authed("create", undefined, (rq, rs) => Control.create(registry, options, rq, rs))
  if (path === "/v2/sandboxes" && method === "GET") return authed("list", undefined, (_rq, rs) => Control.list(registry, options, url, rs))
  const connect = /^\/v2\/sandboxes\/([^/]+)\/connect$/.exec(path)
  if (connect !== null && method === "POST") {
    const id = decodeURIComponent(connect[1]!)
    return authed("connect", id, (rq, rs) => Control.connect(registry, options, id, rq, rs))
  }
  const one = /^\/sandboxes\/([^/]+)(?:\/(timeout|pause))?$/.exec(path)
  if (one !== null) {
    const id = decodeURIComponent(one[1]!)
    if (one[2] === undefined && method === "GET") return authed("getInfo", id, (_rq, rs) => Control.getInfo(registry, options, id, rs))
    if (one[2] === undefined && method === "DELETE") return authed("kill", id, (_rq, rs) => Control.kill(registry, id, rs))
    if (one[2] === "timeout" && method === "POST") return authed("setTimeout", id, (rq, rs) => Control.setTimeout(registry, id, rq, rs))
    if (one[2] === "pause" && method === "POST") return authed("pause", id, (rq, rs) => Control.pause(registry, id, rq, rs))
  }
  return undefined
}

const HOST_PATTERN = /^(\d{1,5})-([a-z0-9]+)\./i

export const dispatcher = (registry: E2bRegistry, options: RouteOptions) => (req: IncomingMessage, url: URL): Dispatch | undefined => {
  const headerId = req.headers["e2b-sandbox-id"]
  if (typeof headerId === "string" && headerId !== "") {
    return dataPlane(registry, headerId, Number(req.headers["e2b-sandbox-port"] ?? ENVD_PORT), req, url)
  }
  const host = HOST_PATTERN.exec(String(req.headers.host ?? ""))
  if (host !== null) return dataPlane(registry, host[2]!, Number(host[1]), req, url)
  if (url.pathname.startsWith(PORT_PREFIX)) {
    const [id = "", port = "", ...rest] = url.pathname.slice(PORT_PREFIX.length).split("/")
    const forwarded = new URL(`/${rest.join("/")}${url.search}`, url)
    return dataPlane(registry, id, Number(port), req, forwarded)
  }
  return controlPlane(registry, options, req, url)
}

/** Connect-shaped error bodies on envd RPC routes, `{ code, message }` elsewhere. */
export const errorBody = (status: number, message: string, route: string): unknown =>
  /^(process|filesystem)\./.test(route) ? { code: codeOfStatus(status), message } : { code: status, message }
