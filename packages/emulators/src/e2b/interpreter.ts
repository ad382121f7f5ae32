/**
 * The code interpreter (`@e2b/code-interpreter`, port 49999): `POST /execute` streams NDJSON messages of a cell run
 * in a long-lived interpreter per context; `/contexts` creates, lists, restarts and deletes contexts. Python only:
 * other languages are refused with 400 rather than faked.
 */
import type { IncomingMessage, ServerResponse } from "node:http"
import { readJson, sendEmpty, sendJson } from "../HttpServer.ts"
import { PythonSession } from "./python.ts"
import { type CodeContext, type E2bSandbox, randomToken, resolvePath } from "./state.ts"

export const SUPPORTED_LANGUAGES: ReadonlyArray<string> = ["python"]

const asRecord = (u: unknown): Record<string, unknown> => (typeof u === "object" && u !== null ? u as Record<string, unknown> : {})
const asString = (u: unknown): string | undefined => (typeof u === "string" ? u : undefined)

const normalizeLanguage = (language: string | undefined): string => {
  const l = (language ?? "python").toLowerCase()
  return l === "python3" ? "python" : l
}

const refuseLanguage = (res: ServerResponse, language: string) => {
  const body = new TextEncoder().encode(JSON.stringify({ message: `language '${language}' is not supported by the emulator` }))
  res.writeHead(400, `Unsupported language ${language}`, { "Content-Type": "application/json", "Content-Length": String(body.byteLength) })
  res.end(body)
}

const describe = (context: CodeContext) => ({ id: context.id, language: context.language, cwd: context.cwd })

const defaultContextId = (language: string) => `default-${language}`

const contextFor = (sandbox: E2bSandbox, id: string | undefined, language: string): CodeContext | undefined => {
  if (id !== undefined) return sandbox.ext.contexts.get(id)
  const key = defaultContextId(language)
  let context = sandbox.ext.contexts.get(key)
  if (context === undefined) {
    context = { id: key, language, cwd: sandbox.home, queue: Promise.resolve() }
    sandbox.ext.contexts.set(key, context)
  }
  return context
}

/** Run `f` after the context's earlier executions. */
const enqueue = (context: CodeContext, f: () => Promise<void>): Promise<void> => {
  const next = context.queue.then(f, f)
  context.queue = next.catch(() => undefined)
  return next
}

export const execute = async (sandbox: E2bSandbox, req: IncomingMessage, res: ServerResponse): Promise<void> => {
  const body = asRecord(await readJson(req))
  const code = asString(body["code"])
  if (code === undefined) return sendJson(res, 400, { message: "code is required" })
  const contextId = asString(body["context_id"])
  const language = normalizeLanguage(asString(body["language"]))
  if (contextId === undefined && !SUPPORTED_LANGUAGES.includes(language)) return refuseLanguage(res, language)
  const context = contextFor(sandbox, contextId, language)
  if (context === undefined) return sendJson(res, 404, { message: `context ${contextId} not found` })
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(asRecord(body["env_vars"]))) env[k] = String(v)

  res.writeHead(200, { "Content-Type": "application/x-ndjson" })
  res.flushHeaders()
  let clientGone = false
  res.once("close", () => {
    clientGone = true
  })
  await enqueue(context, async () => {
    if (clientGone) return
    if (context.session === undefined || !context.session.alive) context.session = await PythonSession.start(sandbox, context.cwd)
    const session = context.session
    // A client that hangs up mid-cell (its timeout) takes the interpreter down with it, as a kernel interrupt would.
    const onGone = () => void session.close()
    res.once("close", onGone)
    try {
      await session.execute(code, env, (message) => {
        if (!clientGone) res.write(JSON.stringify(message) + "\n")
      })
    } finally {
      res.off("close", onGone)
    }
  }).catch((error: unknown) => {
    if (!clientGone) res.write(JSON.stringify({ type: "error", name: "EmulatorError", value: String(error), traceback: "" }) + "\n")
  })
  if (!clientGone) res.end()
}

export const createContext = async (sandbox: E2bSandbox, req: IncomingMessage, res: ServerResponse): Promise<void> => {
  const body = asRecord(await readJson(req))
  const language = normalizeLanguage(asString(body["language"]))
  if (!SUPPORTED_LANGUAGES.includes(language)) return refuseLanguage(res, language)
  const context: CodeContext = {
    id: randomToken(8),
    language,
    cwd: resolvePath(sandbox, asString(body["cwd"])),
    queue: Promise.resolve()
  }
  sandbox.ext.contexts.set(context.id, context)
  sendJson(res, 200, describe(context))
}

export const listContexts = async (sandbox: E2bSandbox, _req: IncomingMessage, res: ServerResponse): Promise<void> =>
  sendJson(res, 200, [...sandbox.ext.contexts.values()].map(describe))

export const deleteContext = async (sandbox: E2bSandbox, id: string, res: ServerResponse): Promise<void> => {
  const context = sandbox.ext.contexts.get(id)
  if (context === undefined) return sendJson(res, 404, { message: `context ${id} not found` })
  sandbox.ext.contexts.delete(id)
  await context.session?.close().catch(() => undefined)
  sendEmpty(res, 204)
}

export const restartContext = async (sandbox: E2bSandbox, id: string, res: ServerResponse): Promise<void> => {
  const context = sandbox.ext.contexts.get(id)
  if (context === undefined) return sendJson(res, 404, { message: `context ${id} not found` })
  await context.session?.close().catch(() => undefined)
  context.session = undefined
  sendEmpty(res, 204)
}
