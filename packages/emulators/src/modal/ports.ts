/**
 * Connect tokens (`SandboxCreateConnectTokenV2`): an HTTP/1.1 proxy on its own port of 127.0.0.1. A token's URL is
 * `<proxy>/connect/<id>`; a request under it must carry the token (`Authorization: Bearer <token>`, or the
 * `_modal_connect_token` query parameter) and is forwarded to the port inside the sandbox, through the URL the local
 * engine exposes for it. Encrypted tunnels (`encryptedPorts`) need no proxy: their `TunnelData` names the port on
 * 127.0.0.1 itself.
 */
import type { IncomingMessage, ServerResponse } from "node:http"
import type { Dispatch } from "../HttpServer.ts"
import { sendJson } from "../HttpServer.ts"
import { forwardToPort } from "../PortProxy.ts"
import type { ModalRegistry, ModalSandbox } from "./state.ts"

const forward = (sandbox: ModalSandbox, port: number, path: string, req: IncomingMessage, res: ServerResponse): Promise<void> =>
  forwardToPort({
    sandbox: sandbox.engine,
    port,
    path,
    method: req.method ?? "GET",
    headers: req.headers,
    body: req,
    dropHeaders: ["authorization"],
    unreachable: (reason) =>
      sendJson(res, 502, {
        error: reason === "not-exposed"
          ? `port ${port} of sandbox ${sandbox.id} cannot be reached`
          : `nothing is listening on port ${port} in the sandbox`
      })
  }, res)

/** Route `/connect/<id>/…` to the sandbox and port the token was made for. */
export const portDispatcher = (registry: ModalRegistry) => (_req: IncomingMessage, url: URL): Dispatch | undefined => {
  const match = /^\/connect\/([a-z0-9]+)(\/.*)?$/.exec(url.pathname)
  if (match === null) return undefined
  const id = match[1]!
  const sandbox = registry.list().find((s) => s.ext.connectTokens.has(id))
  return {
    route: "port",
    sandboxId: sandbox?.id,
    handle: async (request, res) => {
      const grant = sandbox?.ext.connectTokens.get(id)
      if (sandbox === undefined || grant === undefined) return sendJson(res, 404, { error: "unknown or expired connect token" })
      const bearer = /^Bearer (.+)$/.exec(String(request.headers["authorization"] ?? ""))?.[1]
      const query = url.searchParams.get("_modal_connect_token") ?? undefined
      if (bearer !== grant.token && query !== grant.token) return sendJson(res, 401, { error: "missing or invalid connect token" })
      url.searchParams.delete("_modal_connect_token")
      const rest = (match[2] ?? "/") + (url.searchParams.size > 0 ? `?${url.searchParams}` : "")
      await forward(sandbox, grant.port, rest, request, res)
    }
  }
}
