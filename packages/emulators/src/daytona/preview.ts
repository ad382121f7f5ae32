/**
 * Preview links: `<emulator>/preview/<sandboxId>/<port>/<path>` forwards to the port inside the sandbox (through the
 * URL the local engine exposes for it) and streams the answer back. A private sandbox's link needs its token, sent
 * as Daytona does (`x-daytona-preview-token`), as `Authorization: Bearer`, or as `?DAYTONA_SANDBOX_AUTH_KEY=`.
 *
 * Meant to move into the framework: apart from the token check this forwarder is provider-independent.
 */
import { Effect, Exit } from "effect"
import { request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http"
import { sendJson } from "../HttpServer.ts"
import type { DaytonaSandbox } from "./state.ts"
import { apiError } from "./state.ts"

/** Headers that describe the hop, not the message (and the credentials meant for the emulator). */
const HOP = new Set([
  "host",
  "connection",
  "keep-alive",
  "transfer-encoding",
  "upgrade",
  "proxy-connection",
  "authorization",
  "x-daytona-preview-token"
])

/** Whether the request carries the sandbox's preview token (public sandboxes need none). */
export const previewAuthorized = (sandbox: DaytonaSandbox, req: IncomingMessage, url: URL): boolean => {
  if (sandbox.ext.public) return true
  const token = sandbox.ext.previewToken
  const bearer = /^Bearer\s+(.+)$/i.exec(String(req.headers.authorization ?? ""))?.[1]
  return req.headers["x-daytona-preview-token"] === token || bearer === token ||
    url.searchParams.get("DAYTONA_SANDBOX_AUTH_KEY") === token
}

export const proxy = async (
  sandbox: DaytonaSandbox,
  port: number,
  path: string,
  req: IncomingMessage,
  res: ServerResponse
): Promise<void> => {
  const exposed = await Effect.runPromiseExit(sandbox.engine.exposePort!(port))
  if (Exit.isFailure(exposed)) return sendJson(res, 502, apiError(502, `port ${port} of sandbox ${sandbox.id} cannot be reached`))
  const target = new URL(path, exposed.value.url)
  target.searchParams.delete("DAYTONA_SANDBOX_AUTH_KEY")
  const headers: Record<string, string | Array<string>> = {}
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP.has(k)) headers[k] = v
  await new Promise<void>((resolve) => {
    const upstream = httpRequest(target, { method: req.method ?? "GET", headers }, (answer) => {
      const out: Record<string, string | Array<string>> = {}
      for (const [k, v] of Object.entries(answer.headers)) if (v !== undefined && !HOP.has(k)) out[k] = v
      res.writeHead(answer.statusCode ?? 502, out)
      answer.pipe(res)
      answer.once("end", () => resolve())
      answer.once("error", () => {
        res.destroy()
        resolve()
      })
    })
    upstream.once("error", () => {
      if (!res.headersSent) sendJson(res, 502, apiError(502, `no service is listening on port ${port} of sandbox ${sandbox.id}`))
      else res.destroy()
      resolve()
    })
    req.pipe(upstream)
  })
}
