/**
 * Request → route. Every `/v1/devboxes…` call needs `Authorization: Bearer <key>`; tunnel traffic (by `Host` or the
 * `/.sandkit/tunnels/` prefix) does not. POSTs that create or change something are idempotent on `x-request-id`:
 * the SDK sends the same value on every retry of one call, so a retry (after a lost answer) gets the first answer
 * again instead of a second devbox or a second command.
 */
import { BadJson, type Dispatch, type Req, type Res, sendJson } from "./transport.ts"
import * as Commands from "./commands.ts"
import { type Ctx, fail, type Reply } from "./context.ts"
import * as Devboxes from "./devboxes.ts"
import * as Files from "./files.ts"
import * as Snapshots from "./snapshots.ts"
import * as Tunnels from "./tunnels.ts"
import { proxy, tunnelTarget } from "./tunnels.ts"

/** Route names, as used by `faults` and `log`. */
export const routes = {
  devboxes: [
    "create",
    "createAndAwaitRunning",
    "list",
    "retrieve",
    "update",
    "waitForStatus",
    "shutdown",
    "suspend",
    "resume",
    "keepAlive",
    "enableTunnel",
    "removeTunnel",
    "usage"
  ],
  executions: [
    "executeSync",
    "executeAsync",
    "execute",
    "executions.retrieve",
    "executions.waitForStatus",
    "executions.kill",
    "executions.sendStdIn",
    "executions.streamStdout",
    "executions.streamStderr"
  ],
  files: ["files.writeContents", "files.readContents", "files.upload", "files.download"],
  snapshots: ["snapshots.create", "snapshots.createAsync", "snapshots.list", "snapshots.status", "snapshots.delete"],
  other: ["tunnel", "unknown"]
} as const

/** Replies of idempotent calls by `route:x-request-id`, so a retry is answered, not executed again. */
export class Idempotency {
  private readonly entries = new Map<string, Promise<Reply>>()
  /** How many requests were answered from the cache. */
  replays = 0

  run(key: string | undefined, f: () => Promise<Reply>): Promise<Reply> {
    if (key === undefined) return f()
    const cached = this.entries.get(key)
    if (cached !== undefined) {
      this.replays++
      return cached
    }
    const pending = f().then(
      (reply) => {
        if (reply.status >= 300) this.entries.delete(key)
        return reply
      },
      (error: unknown) => {
        this.entries.delete(key)
        throw error
      }
    )
    this.entries.set(key, pending)
    if (this.entries.size > 10_000) this.entries.delete(this.entries.keys().next().value!)
    return pending
  }

  clear(): void {
    this.entries.clear()
    this.replays = 0
  }
}

const authorized = (ctx: Ctx, req: Req): Reply | undefined => {
  const header = req.headers.authorization
  const token = typeof header === "string" && header.startsWith("Bearer ") ? header.slice(7) : ""
  if (token === "") return fail(401, "a bearer token is required (Authorization: Bearer <RUNLOOP_API_KEY>)")
  if (ctx.options.apiKey !== undefined && token !== ctx.options.apiKey) return fail(401, "invalid API key")
  return undefined
}

/** Run a handler: auth first, malformed JSON is a 400, the reply written unless the handler answered itself. */
const guarded = (ctx: Ctx, handler: (req: Req, res: Res) => Promise<Reply | undefined>) => async (req: Req, res: Res): Promise<void> => {
  const refused = authorized(ctx, req)
  if (refused !== undefined) {
    await req.body().catch(() => undefined)
    return sendJson(res, refused.status, refused.body)
  }
  try {
    const reply = await handler(req, res)
    // A client that went away (an aborted long poll) gets no answer.
    if (!req.gone.aborted) Files.answer(res, reply)
  } catch (error) {
    if (!(error instanceof BadJson)) throw error
    sendJson(res, 400, { code: 400, message: error.message })
  }
}

const idempotent = (idem: Idempotency, route: string, id: string | undefined, f: (req: Req) => Promise<Reply>) =>
(req: Req): Promise<Reply> => {
  const key = req.headers["x-request-id"]
  return idem.run(typeof key === "string" && key !== "" ? `${route}:${id ?? ""}:${key}` : undefined, () => f(req))
}

const DEVBOX_ACTION = /^\/v1\/devboxes\/([^/]+)(?:\/([a-z_]+))?$/
const EXECUTION = /^\/v1\/devboxes\/([^/]+)\/executions\/([^/]+)(?:\/([a-z_]+))?$/
const SNAPSHOT = /^\/v1\/devboxes\/disk_snapshots\/([^/]+)\/(delete|status)$/

export const dispatcher = (ctx: Ctx, idem: Idempotency) => (req: Req): Dispatch | undefined => {
  const tunnel = tunnelTarget(req)
  if (tunnel !== undefined) return { route: "tunnel", handle: (rq, rs) => proxy(ctx, tunnel, rq, rs) }
  const path = req.url.pathname.replace(/\/+$/, "")
  const method = req.method
  const on = (route: string, sandboxId: string | undefined, handler: (req: Req, res: Res) => Promise<Reply | undefined>): Dispatch => ({
    route,
    sandboxId,
    handle: guarded(ctx, handler)
  })
  const once = (route: string, id: string | undefined, f: (req: Req) => Promise<Reply>) => on(route, id, idempotent(idem, route, id, f))
  const sync = (reply: () => Reply) => async () => reply()

  if (path === "/v1/devboxes") {
    if (method === "POST") return once("create", undefined, (rq) => Devboxes.create(ctx, rq))
    if (method === "GET") return on("list", undefined, sync(() => Devboxes.list(ctx, req.url)))
  }
  if (path === "/v1/devboxes/create_and_await_running" && method === "POST") {
    return once("createAndAwaitRunning", undefined, (rq) => Devboxes.createAndAwaitRunning(ctx, rq))
  }
  if (path === "/v1/devboxes/disk_snapshots" && method === "GET") return on("snapshots.list", undefined, sync(() => Snapshots.list(ctx, req.url)))
  const snapshot = SNAPSHOT.exec(path)
  if (snapshot !== null) {
    const sid = decodeURIComponent(snapshot[1]!)
    if (snapshot[2] === "delete" && method === "POST") return once("snapshots.delete", sid, async (rq) => Snapshots.remove(ctx, sid, rq))
    if (snapshot[2] === "status" && method === "GET") return on("snapshots.status", sid, sync(() => Snapshots.status(ctx, sid)))
  }
  const execution = EXECUTION.exec(path)
  if (execution !== null) {
    const id = decodeURIComponent(execution[1]!)
    const eid = decodeURIComponent(execution[2]!)
    switch (`${method} ${execution[3] ?? ""}`) {
      case "GET ":
        return on("executions.retrieve", id, sync(() => Commands.retrieve(ctx, id, eid, req.url)))
      case "POST wait_for_status":
        return on("executions.waitForStatus", id, (rq) => Commands.waitForStatus(ctx, id, eid, rq))
      case "POST kill":
        return once("executions.kill", id, (rq) => Commands.kill(ctx, id, eid, rq))
      case "POST send_std_in":
        return once("executions.sendStdIn", id, (rq) => Commands.sendStdIn(ctx, id, eid, rq))
      case "GET stream_stdout_updates":
        return on("executions.streamStdout", id, async (rq, rs) => void (await Commands.stream(ctx, id, eid, "stdout", rq, rs)))
      case "GET stream_stderr_updates":
        return on("executions.streamStderr", id, async (rq, rs) => void (await Commands.stream(ctx, id, eid, "stderr", rq, rs)))
    }
    return undefined
  }
  const action = DEVBOX_ACTION.exec(path)
  if (action === null) return undefined
  const id = decodeURIComponent(action[1]!)
  switch (`${method} ${action[2] ?? ""}`) {
    case "GET ":
      return on("retrieve", id, sync(() => Devboxes.retrieve(ctx, id)))
    case "POST ":
      return once("update", id, (rq) => Devboxes.update(ctx, id, rq))
    case "GET usage":
      return on("usage", id, sync(() => Devboxes.usage(ctx, id)))
    case "POST wait_for_status":
      return on("waitForStatus", id, (rq) => Devboxes.waitForStatus(ctx, id, rq))
    case "POST shutdown":
      return once("shutdown", id, () => Devboxes.shutdown(ctx, id))
    case "POST suspend":
      return once("suspend", id, () => Devboxes.suspend(ctx, id))
    case "POST resume":
      return once("resume", id, async () => Devboxes.resume(ctx, id))
    case "POST keep_alive":
      return once("keepAlive", id, async () => Devboxes.keepAlive(ctx, id))
    case "POST enable_tunnel":
      return once("enableTunnel", id, (rq) => Tunnels.enableTunnel(ctx, id, rq))
    case "POST remove_tunnel":
      return once("removeTunnel", id, async () => Tunnels.removeTunnel(ctx, id))
    case "POST execute_sync":
      return once("executeSync", id, (rq) => Commands.executeSync(ctx, id, rq))
    case "POST execute_async":
      return once("executeAsync", id, (rq) => Commands.executeAsync(ctx, id, rq))
    case "POST execute":
      return once("execute", id, (rq) => Commands.execute(ctx, id, rq))
    case "POST write_file_contents":
      return once("files.writeContents", id, (rq) => Files.writeContents(ctx, id, rq))
    case "POST read_file_contents":
      return on("files.readContents", id, (rq, rs) => Files.readContents(ctx, id, rq, rs))
    case "POST upload_file":
      return once("files.upload", id, (rq) => Files.upload(ctx, id, rq))
    case "POST download_file":
      return on("files.download", id, (rq, rs) => Files.download(ctx, id, rq, rs))
    case "POST snapshot_disk":
      return once("snapshots.create", id, (rq) => Snapshots.create(ctx, id, rq, false))
    case "POST snapshot_disk_async":
      return once("snapshots.createAsync", id, (rq) => Snapshots.create(ctx, id, rq, true))
  }
  return undefined
}

/** `{ code, message }`, the shape the SDK's errors read. */
export const errorBody = (status: number, message: string): unknown => ({ code: status, message })
