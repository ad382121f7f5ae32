/**
 * Reaching a port inside an emulated sandbox: the request is forwarded to the URL the local engine exposes for that
 * port (`http://127.0.0.1:<port>` when the sandbox has a network), and the answer streamed back.
 */
import { Effect, Exit } from "effect"
import { request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http"
import { sendJson } from "../HttpServer.ts"
import type { E2bSandbox } from "./state.ts"

/** Headers that describe the hop, not the message. */
const HOP = new Set([
  "host",
  "connection",
  "keep-alive",
  "transfer-encoding",
  "upgrade",
  "proxy-connection",
  "e2b-sandbox-id",
  "e2b-sandbox-port",
  "e2b-traffic-access-token",
  "x-access-token"
])

export const proxy = async (
  sandbox: E2bSandbox,
  port: number,
  path: string,
  req: IncomingMessage,
  res: ServerResponse
): Promise<void> => {
  const exposed = await Effect.runPromiseExit(sandbox.engine.exposePort!(port))
  if (Exit.isFailure(exposed)) {
    return sendJson(res, 502, { code: 502, message: `port ${port} of sandbox ${sandbox.id} cannot be reached` })
  }
  const target = new URL(path, exposed.value.url)
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
      // E2B answers 502 when nothing listens on the port.
      if (!res.headersSent) sendJson(res, 502, { code: 502, message: `the sandbox is running but port ${port} is not open` })
      else res.destroy()
      resolve()
    })
    req.pipe(upstream)
  })
}
