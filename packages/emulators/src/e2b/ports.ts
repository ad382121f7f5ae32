/**
 * Reaching a port inside an emulated sandbox (E2B's `<port>-<id>` host names, routed in `routes.ts`): forwarded by
 * the framework's port proxy; E2B answers 502 when the port cannot be reached.
 */
import type { IncomingMessage, ServerResponse } from "node:http"
import { sendJson } from "../HttpServer.ts"
import { forwardToPort } from "../PortProxy.ts"
import type { E2bSandbox } from "./state.ts"

/** E2B's own routing and credential headers, not for the sandbox. */
const E2B_HEADERS = ["e2b-sandbox-id", "e2b-sandbox-port", "e2b-traffic-access-token", "x-access-token"]

export const proxy = (sandbox: E2bSandbox, port: number, path: string, req: IncomingMessage, res: ServerResponse): Promise<void> =>
  forwardToPort({
    sandbox: sandbox.engine,
    port,
    path,
    method: req.method ?? "GET",
    headers: req.headers,
    body: req,
    dropHeaders: E2B_HEADERS,
    unreachable: (reason) =>
      sendJson(res, 502, {
        code: 502,
        message: reason === "not-exposed"
          ? `port ${port} of sandbox ${sandbox.id} cannot be reached`
          : `the sandbox is running but port ${port} is not open`
      })
  }, res)
