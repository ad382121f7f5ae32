/**
 * Preview links: `<emulator>/preview/<sandboxId>/<port>/<path>` forwards to the port inside the sandbox (through the
 * URL the local engine exposes for it) and streams the answer back. A private sandbox's link needs its token, sent
 * as Daytona does (`x-daytona-preview-token`), as `Authorization: Bearer`, or as `?DAYTONA_SANDBOX_AUTH_KEY=`.
 */
import type { IncomingMessage, ServerResponse } from "node:http"
import { sendJson } from "../HttpServer.ts"
import { forwardToPort } from "../PortProxy.ts"
import type { DaytonaSandbox } from "./state.ts"
import { apiError } from "./state.ts"

/** Whether the request carries the sandbox's preview token (public sandboxes need none). */
export const previewAuthorized = (sandbox: DaytonaSandbox, req: IncomingMessage, url: URL): boolean => {
  if (sandbox.ext.public) return true
  const token = sandbox.ext.previewToken
  const bearer = /^Bearer\s+(.+)$/i.exec(String(req.headers.authorization ?? ""))?.[1]
  return req.headers["x-daytona-preview-token"] === token || bearer === token ||
    url.searchParams.get("DAYTONA_SANDBOX_AUTH_KEY") === token
}

export const proxy = (sandbox: DaytonaSandbox, port: number, path: string, req: IncomingMessage, res: ServerResponse): Promise<void> => {
  // The token may ride in the query; the service inside the sandbox never sees it.
  const target = new URL(path, "http://sandbox")
  target.searchParams.delete("DAYTONA_SANDBOX_AUTH_KEY")
  return forwardToPort({
    sandbox: sandbox.engine,
    port,
    path: `${target.pathname}${target.search}`,
    method: req.method ?? "GET",
    headers: req.headers,
    body: req,
    dropHeaders: ["authorization", "x-daytona-preview-token"],
    unreachable: (reason) =>
      sendJson(res, 502, apiError(502, reason === "not-exposed"
        ? `port ${port} of sandbox ${sandbox.id} cannot be reached`
        : `no service is listening on port ${port} of sandbox ${sandbox.id}`))
  }, res)
}
