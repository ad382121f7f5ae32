/**
 * Request → route, on one port: `/api/…` is the control plane (and `/api/socket.io/` the event channel),
 * `/toolbox/<sandboxId>/…` a sandbox's toolbox (what the records' `toolboxProxyUrl` points at), and
 * `/preview/<sandboxId>/<port>/…` a preview link. Route names are what `faults` and `log` use.
 */
import type { IncomingMessage, ServerResponse } from "node:http"
import type { Dispatch, UpgradeDispatch } from "../HttpServer.ts"
import { sendJson } from "../HttpServer.ts"
import * as Control from "./controlPlane.ts"
import * as Files from "./files.ts"
import { touch } from "./lifecycle.ts"
import { previewAuthorized, proxy } from "./preview.ts"
import * as Sessions from "./sessions.ts"
import * as Snapshots from "./snapshots.ts"
import type { DaytonaSandbox, World } from "./state.ts"
import { API_PREFIX, apiError, PREVIEW_PREFIX, TOOLBOX_PREFIX } from "./state.ts"
import * as Toolbox from "./toolbox.ts"

type Handler = (sandbox: DaytonaSandbox, req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void>

const bearer = (req: IncomingMessage): string | undefined => /^Bearer\s+(.+)$/i.exec(String(req.headers.authorization ?? ""))?.[1]

const keyAccepted = (world: World, key: string | undefined) =>
  key !== undefined && key !== "" && (world.apiKey === undefined || key === world.apiKey)

const unauthorized = (res: ServerResponse) => sendJson(res, 401, apiError(401, "Unauthorized"))

/** Why a toolbox call cannot reach the sandbox (as the proxy answers), or `undefined` when it can. */
const unreachable = (world: World, id: string, req: IncomingMessage, url: URL): { status: number; body: unknown } | undefined => {
  const sandbox = world.registry.get(id)
  if (sandbox === undefined) {
    return { status: 404, body: { statusCode: 404, message: `Sandbox ${id} not found`, code: "NOT_FOUND", source: "DAYTONA_PROXY" } }
  }
  const query = url.searchParams.get("DAYTONA_SANDBOX_AUTH_KEY")
  if (!keyAccepted(world, bearer(req)) && !(query !== null && query === sandbox.ext.previewToken)) {
    return { status: 401, body: { statusCode: 401, message: "Unauthorized", source: "DAYTONA_PROXY" } }
  }
  if (sandbox.ext.state !== "started") {
    return {
      status: 502,
      body: { statusCode: 502, message: `Sandbox ${id} is not running (state: ${sandbox.ext.state})`, source: "DAYTONA_PROXY" }
    }
  }
  return undefined
}

const toolboxRoute = (world: World, id: string, route: string, handler: Handler, url: URL): Dispatch => ({
  route,
  sandboxId: id,
  handle: async (req, res) => {
    const problem = unreachable(world, id, req, url)
    if (problem !== undefined) return sendJson(res, problem.status, problem.body)
    const sandbox = world.registry.get(id)!
    touch(world, sandbox)
    await handler(sandbox, req, res, url)
  }
})

const toolbox = (world: World, id: string, rest: string, req: IncomingMessage, url: URL): Dispatch => {
  const method = req.method ?? "GET"
  const on = (route: string, handler: Handler) => toolboxRoute(world, id, route, handler, url)
  const key = `${method} ${rest}`
  switch (key) {
    case "POST /process/execute":
      return on("process.execute", Toolbox.execute)
    case "POST /process/code-run":
      return on("process.codeRun", Toolbox.codeRun)
    case "POST /process/session":
      return on("session.create", Sessions.createSession)
    case "GET /process/session":
      return on("session.list", Sessions.listSessions)
    case "GET /files":
      return on("files.list", Files.list)
    case "DELETE /files":
      return on("files.delete", Files.remove)
    case "GET /files/info":
      return on("files.info", Files.info)
    case "POST /files/folder":
      return on("files.folder", Files.createFolder)
    case "POST /files/move":
      return on("files.move", Files.move)
    case "GET /files/download":
      return on("files.download", Files.download)
    case "POST /files/bulk-upload":
      return on("files.bulkUpload", Files.bulkUpload)
    case "POST /files/bulk-download":
      return on("files.bulkDownload", Files.bulkDownload)
    case "GET /user-home-dir":
      return on("info.homeDir", Toolbox.homeDir)
    case "GET /work-dir":
      return on("info.workDir", Toolbox.homeDir)
    case "GET /version":
      return on("info.version", Toolbox.version)
  }
  const session = /^\/process\/session\/([^/]+)(?:\/(exec|command\/([^/]+)(?:\/(logs|input))?))?$/.exec(rest)
  if (session !== null) {
    const sid = decodeURIComponent(session[1]!)
    const cid = session[3] === undefined ? undefined : decodeURIComponent(session[3])
    const tail = session[2] === undefined ? "" : session[2] === "exec" ? "exec" : session[4] ?? "command"
    if (tail === "" && method === "GET") return on("session.get", (s, _rq, rs, u) => Sessions.getSession(s, rs, u, sid))
    if (tail === "" && method === "DELETE") return on("session.delete", (s, _rq, rs, u) => Sessions.deleteSession(s, rs, u, sid))
    if (tail === "exec" && method === "POST") return on("session.exec", (s, rq, rs, u) => Sessions.execute(s, rq, rs, u, sid))
    if (cid !== undefined && tail === "command" && method === "GET") {
      return on("session.command", (s, _rq, rs, u) => Sessions.getCommand(s, rs, u, sid, cid))
    }
    if (cid !== undefined && tail === "logs" && method === "GET") return on("session.logs", (s, _rq, rs, u) => Sessions.getLogs(s, rs, u, sid, cid))
    if (cid !== undefined && tail === "input" && method === "POST") {
      return on("session.input", (s, rq, rs, u) => Sessions.sendInput(s, rq, rs, u, sid, cid))
    }
  }
  return on("toolbox.unknown", Toolbox.notImplemented)
}

const controlPlane = (world: World, req: IncomingMessage, url: URL): Dispatch | undefined => {
  const method = req.method ?? "GET"
  const path = url.pathname.slice(API_PREFIX.length)
  const authed = (route: string, sandboxId: string | undefined, handle: Dispatch["handle"]): Dispatch => ({
    route,
    sandboxId,
    handle: async (rq, rs) => keyAccepted(world, bearer(rq)) ? handle(rq, rs) : unauthorized(rs)
  })
  if (path === "/sandbox" && method === "POST") return authed("create", undefined, (rq, rs) => Control.create(world, rq, rs))
  if (path === "/sandbox" && method === "GET") return authed("list", undefined, (_rq, rs) => Control.list(world, url, rs))
  if (path === "/snapshots" && method === "GET") return authed("snapshots.list", undefined, (_rq, rs) => Snapshots.list(world, url, rs))
  const snapshot = /^\/snapshots\/(.+)$/.exec(path)
  if (snapshot !== null) {
    const ref = decodeURIComponent(snapshot[1]!)
    if (method === "GET") return authed("snapshots.get", undefined, (_rq, rs) => Snapshots.get(world, rs, ref))
    if (method === "DELETE") return authed("snapshots.delete", undefined, (_rq, rs) => Snapshots.remove(world, rs, ref))
  }
  const m = /^\/sandbox\/([^/]+)(?:\/(.+))?$/.exec(path)
  if (m === null) return undefined
  const id = decodeURIComponent(m[1]!)
  const sub = m[2] ?? ""
  if (sub === "" && method === "GET") return authed("get", id, (_rq, rs) => Control.get(world, rs, id))
  if (sub === "" && method === "DELETE") return authed("delete", id, (_rq, rs) => Control.remove(world, rs, id))
  if (sub === "start" && method === "POST") return authed("start", id, (_rq, rs) => Control.start(world, rs, id))
  if (sub === "stop" && method === "POST") return authed("stop", id, (_rq, rs) => Control.stop(world, rs, id))
  if (sub === "labels" && method === "PUT") return authed("labels", id, (rq, rs) => Control.replaceLabels(world, rq, rs, id))
  if (sub === "toolbox-proxy-url" && method === "GET") return authed("toolboxProxyUrl", id, (_rq, rs) => Control.proxyUrl(world, rs, id))
  if (sub === "snapshot" && method === "POST") {
    return authed("snapshot", id, async (rq, rs) => {
      const sandbox = Control.find(world, id)
      if (sandbox === undefined) return Control.notFound(rs, id)
      await Snapshots.snapshotSandbox(world, sandbox, rq, rs)
    })
  }
  if (sub === "last-activity" && method === "POST") return authed("lastActivity", id, (_rq, rs) => Control.lastActivity(world, rs, id))
  const interval = /^(autostop|autoarchive|autodelete|autopause|ttl)\/(-?\d+)$/.exec(sub)
  if (interval !== null && method === "POST") {
    return authed(interval[1]!, id, (_rq, rs) => Control.setInterval(world, rs, id, interval[1]!, interval[2]!))
  }
  const preview = /^ports\/([^/]+)\/preview-url$/.exec(sub)
  if (preview !== null && method === "GET") return authed("previewUrl", id, (_rq, rs) => Control.previewUrl(world, rs, id, preview[1]!))
  const isPublic = /^public\/(true|false)$/.exec(sub)
  if (isPublic !== null && method === "POST") return authed("public", id, (_rq, rs) => Control.setPublic(world, rs, id, isPublic[1]!))
  return undefined
}

const previewRoute = (world: World, url: URL): Dispatch | undefined => {
  const [id = "", rawPort = "", ...rest] = url.pathname.slice(PREVIEW_PREFIX.length).split("/")
  const port = Number(rawPort)
  if (id === "" || !Number.isInteger(port)) return undefined
  return {
    route: "preview",
    sandboxId: id,
    handle: async (req, res) => {
      const sandbox = world.registry.get(id)
      if (sandbox === undefined) return sendJson(res, 404, apiError(404, `Sandbox ${id} not found`))
      if (!previewAuthorized(sandbox, req, url)) return sendJson(res, 401, apiError(401, "Invalid or missing preview token"))
      if (sandbox.ext.state !== "started") return sendJson(res, 502, apiError(502, `Sandbox ${id} is not running`))
      await proxy(sandbox, port, `/${rest.join("/")}${url.search}`, req, res)
    }
  }
}

export const dispatcher = (world: World) => (req: IncomingMessage, url: URL): Dispatch | undefined => {
  const path = url.pathname
  if (path.startsWith(TOOLBOX_PREFIX)) {
    const rest = path.slice(TOOLBOX_PREFIX.length)
    const slash = rest.indexOf("/")
    if (slash <= 0) return undefined
    return toolbox(world, decodeURIComponent(rest.slice(0, slash)), rest.slice(slash), req, url)
  }
  if (path.startsWith(PREVIEW_PREFIX)) return previewRoute(world, url)
  if (path === API_PREFIX || path.startsWith(`${API_PREFIX}/`)) return controlPlane(world, req, url)
  return undefined
}

const FOLLOW = /^\/toolbox\/([^/]+)\/process\/session\/([^/]+)\/command\/([^/]+)\/logs$/

export const upgrader = (world: World, socketIo: boolean) => (req: IncomingMessage, url: URL): UpgradeDispatch | undefined => {
  if (url.pathname === `${API_PREFIX}/socket.io/` || url.pathname === `${API_PREFIX}/socket.io`) {
    if (!socketIo) return undefined
    return { route: "socket.io", onConnection: (socket) => world.hub.accept(socket) }
  }
  const follow = FOLLOW.exec(url.pathname)
  if (follow === null) return undefined
  const [id, sid, cid] = [follow[1]!, follow[2]!, follow[3]!].map(decodeURIComponent) as [string, string, string]
  return {
    route: "session.logs.follow",
    sandboxId: id,
    refuse: () => {
      const problem = unreachable(world, id, req, url)
      if (problem !== undefined) return problem
      const sandbox = world.registry.get(id)!
      return Sessions.hasCommand(sandbox, sid, cid) ? undefined : { status: 404, body: apiError(404, `command ${cid} not found`) }
    },
    onConnection: (socket) => {
      const sandbox = world.registry.get(id)
      if (sandbox === undefined) return socket.close(1011, "sandbox gone")
      touch(world, sandbox)
      Sessions.followLogs(sandbox, sid, cid, socket)
    }
  }
}

/** Control-plane faults in the API's error shape, toolbox faults in the daemon's. */
export const errorBody = (status: number, message: string, route: string): unknown =>
  /^(process|session|files|info|toolbox)\./.test(route)
    ? { statusCode: status, message, source: "DAYTONA_PROXY" }
    : apiError(status, message)
