/**
 * Tunnels: `enable_tunnel` / `remove_tunnel`, and their traffic. Runloop serves a devbox's tunnel at
 * `https://{port}-{tunnel_key}.tunnel.runloop.ai`; here the same request reaches the emulator either with that host
 * name in `Host` or at the plain URL `/.sandkit/tunnels/{tunnel_key}/{port}/…` (what `RunloopEmulator.tunnelUrl`
 * builds), and is forwarded to the port the local engine exposes for the devbox. Authenticated tunnels want
 * `X-Runloop-Tunnel-Authorization: Bearer …`.
 */
import { forwardToPort } from "../PortProxy.ts"
import { sendJson, type Req, type Res } from "./transport.ts"
import { type Ctx, fail, ok, type Reply, touch, usable } from "./context.ts"
import { asRecord, type Devbox, randomToken, type TunnelView } from "./state.ts"

export const TUNNEL_PREFIX = "/.sandkit/tunnels/"
const HOST_PATTERN = /^(\d{1,5})-([A-Za-z0-9]+)\.tunnel\./

export interface TunnelTarget {
  readonly key: string
  readonly port: number
  /** Path and query to forward. */
  readonly path: string
}

/** The tunnel a request is for, by `Host` or by the plain-URL prefix. */
export const tunnelTarget = (req: Req): TunnelTarget | undefined => {
  const host = HOST_PATTERN.exec(String(req.headers.host ?? req.headers[":authority"] ?? ""))
  if (host !== null) return { key: host[2]!, port: Number(host[1]), path: `${req.url.pathname}${req.url.search}` }
  if (!req.url.pathname.startsWith(TUNNEL_PREFIX)) return undefined
  const [key = "", port = "", ...rest] = req.url.pathname.slice(TUNNEL_PREFIX.length).split("/")
  return { key, port: Number(port), path: `/${rest.join("/")}${req.url.search}` }
}

const byKey = (ctx: Ctx, key: string): Devbox | undefined => ctx.registry.list().find((d) => d.ext.tunnel?.tunnel_key === key)

export const proxy = async (ctx: Ctx, target: TunnelTarget, req: Req, res: Res): Promise<void> => {
  const devbox = byKey(ctx, target.key)
  const tunnel = devbox?.ext.tunnel
  if (devbox === undefined || tunnel === undefined || tunnel === null) return sendJson(res, 404, { code: 404, message: "no such tunnel" })
  if (!Number.isInteger(target.port) || target.port < 1 || target.port > 65535) {
    return sendJson(res, 400, { code: 400, message: `invalid port ${target.port}` })
  }
  if (tunnel.auth_mode === "authenticated" &&
    req.headers["x-runloop-tunnel-authorization"] !== `Bearer ${tunnel.auth_token ?? ""}`) {
    return sendJson(res, 401, { code: 401, message: "tunnel authorization required" })
  }
  if (devbox.ext.status !== "running") return sendJson(res, 502, { code: 502, message: `devbox ${devbox.id} is ${devbox.ext.status}` })
  if (tunnel.http_keep_alive) touch(ctx, devbox)
  await forwardToPort({
    sandbox: devbox.engine,
    port: target.port,
    path: target.path,
    method: req.method,
    headers: req.headers,
    body: req.stream,
    dropHeaders: ["x-runloop-tunnel-authorization"],
    unreachable: (reason) =>
      sendJson(res, 502, {
        code: 502,
        message: reason === "not-exposed" ? `port ${target.port} cannot be reached` : `nothing is listening on port ${target.port}`
      })
  }, res)
}

/** A V2 tunnel: one per devbox, every port; `authenticated` ones carry a token. */
export const makeTunnel = (body: Record<string, unknown>): TunnelView => {
  const authenticated = body["auth_mode"] === "authenticated"
  return {
    tunnel_key: randomToken(12),
    auth_mode: authenticated ? "authenticated" : "open",
    auth_token: authenticated ? randomToken(24) : null,
    create_time_ms: Date.now(),
    http_keep_alive: body["http_keep_alive"] !== false,
    wake_on_http: body["wake_on_http"] === true
  }
}

export const enableTunnel = async (ctx: Ctx, id: string, req: Req): Promise<Reply> => {
  const body = asRecord(await req.json())
  const found = usable(ctx, id, ["running", "suspended", "initializing", "provisioning"])
  if ("reply" in found) return found.reply
  if (found.devbox.ext.tunnel !== null) return fail(400, `Devbox ${id} already has a tunnel`)
  found.devbox.ext.tunnel = makeTunnel(body)
  return ok({ ...found.devbox.ext.tunnel })
}

export const removeTunnel = (ctx: Ctx, id: string): Reply => {
  const found = usable(ctx, id, ["running", "suspended", "initializing", "provisioning"])
  if ("reply" in found) return found.reply
  if (found.devbox.ext.tunnel === null) return fail(400, `Devbox ${id} has no tunnel`)
  found.devbox.ext.tunnel = null
  return ok({})
}
