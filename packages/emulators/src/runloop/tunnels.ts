/**
 * Tunnels: `enable_tunnel` / `remove_tunnel`, and their traffic. Runloop serves a devbox's tunnel at
 * `https://{port}-{tunnel_key}.tunnel.runloop.ai`; here the same request reaches the emulator either with that host
 * name in `Host` or at the plain URL `/.sandkit/tunnels/{tunnel_key}/{port}/…` (what `RunloopEmulator.tunnelUrl`
 * builds), and is forwarded to the port the local engine exposes for the devbox. Authenticated tunnels want
 * `X-Runloop-Tunnel-Authorization: Bearer …`.
 */
import { Effect, Exit } from "effect"
import { request as httpRequest } from "node:http"
import { sendJson, type Req, type Res } from "./transport.ts"
import { type Ctx, fail, ok, type Reply, touch, usable } from "./context.ts"
import { asRecord, type Devbox, randomToken, type TunnelView } from "./state.ts"

export const TUNNEL_PREFIX = "/.sandkit/tunnels/"
const HOST_PATTERN = /^(\d{1,5})-([A-Za-z0-9]+)\.tunnel\./

/** Headers that describe the hop (and HTTP/2 pseudo-headers), never forwarded either way. */
const HOP = new Set([
  "host",
  "connection",
  "keep-alive",
  "transfer-encoding",
  "upgrade",
  "proxy-connection",
  "http2-settings",
  "x-runloop-tunnel-authorization"
])

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
  const exposed = await Effect.runPromiseExit(devbox.engine.exposePort!(target.port))
  if (Exit.isFailure(exposed)) return sendJson(res, 502, { code: 502, message: `port ${target.port} cannot be reached` })
  const headers: Record<string, string | Array<string>> = {}
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP.has(k) && !k.startsWith(":")) headers[k] = v
  await new Promise<void>((resolve) => {
    const upstream = httpRequest(new URL(target.path, exposed.value.url), { method: req.method, headers }, (answer) => {
      const out: Record<string, string> = {}
      for (const [k, v] of Object.entries(answer.headers)) {
        if (v !== undefined && !HOP.has(k)) out[k] = Array.isArray(v) ? v.join(", ") : v
      }
      res.writeHead(answer.statusCode ?? 502, out)
      answer.on("data", (chunk: Uint8Array) => res.write(chunk))
      answer.once("end", () => {
        res.end()
        resolve()
      })
      answer.once("error", () => {
        res.end()
        resolve()
      })
    })
    upstream.once("error", () => {
      if (!res.headersSent) sendJson(res, 502, { code: 502, message: `nothing is listening on port ${target.port}` })
      else res.end()
      resolve()
    })
    req.stream.pipe(upstream)
  })
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
