/**
 * The toolbox routes that are neither sessions nor files: `POST /process/execute` (no shell: the command line is
 * split on spaces honouring quotes; stdout and stderr come back merged in `result`), `POST /process/code-run`
 * (python / javascript snippets), and the info endpoints (`/user-home-dir`, `/work-dir`, `/version`).
 */
import { Effect, Exit, Scope, Stream } from "effect"
import type { IncomingMessage, ServerResponse } from "node:http"
import { readJson, sendJson } from "../HttpServer.ts"
import { DaemonFailure, engine, fail, resolvePath } from "./files.ts"
import type { DaytonaSandbox } from "./state.ts"
import { DAEMON_VERSION, daemonError } from "./state.ts"

const asRecord = (u: unknown): Record<string, unknown> => (typeof u === "object" && u !== null ? u as Record<string, unknown> : {})

const stringRecord = (u: unknown): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(asRecord(u))) if (typeof v === "string") out[k] = v
  return out
}

/** Split a command line like the daemon: on whitespace, honouring single and double quotes and backslashes. */
export const splitCommandLine = (line: string): Array<string> => {
  const out: Array<string> = []
  let current = ""
  let started = false
  let quote: "'" | "\"" | undefined
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!
    if (quote === "'") {
      if (c === "'") quote = undefined
      else current += c
    } else if (quote === "\"") {
      if (c === "\"") quote = undefined
      else if (c === "\\" && i + 1 < line.length) current += line[++i]
      else current += c
    } else if (c === "'" || c === "\"") {
      quote = c
      started = true
    } else if (c === "\\" && i + 1 < line.length) {
      current += line[++i]
      started = true
    } else if (/\s/.test(c)) {
      if (started) out.push(current)
      current = ""
      started = false
    } else {
      current += c
      started = true
    }
  }
  if (started) out.push(current)
  return out
}

/**
 * Run argv through the engine with stdout and stderr merged in arrival order; `timeoutMs` kills it (→ `undefined`).
 */
const runMerged = async (
  sandbox: DaytonaSandbox,
  argv: ReadonlyArray<string>,
  options: { readonly cwd: string; readonly env: Record<string, string>; readonly timeoutMs: number | undefined }
): Promise<{ readonly exitCode: number; readonly output: string } | undefined> => {
  const scope = Effect.runSync(Scope.make())
  try {
    const process = await engine(sandbox.engine.spawn!(argv, { cwd: options.cwd, env: options.env }).pipe(Scope.provide(scope)))
    await Effect.runPromise(process.closeStdin).catch(() => undefined)
    const chunks: Array<Uint8Array> = []
    const run = Effect.andThen(
      Stream.runForEach(process.output, (chunk) => Effect.sync(() => void chunks.push(chunk.data))),
      process.wait
    )
    const exit = await Effect.runPromiseExit(
      options.timeoutMs === undefined ? Effect.asSome(run) : Effect.timeoutOption(run, options.timeoutMs)
    )
    if (Exit.isFailure(exit)) throw new DaemonFailure(500, "INTERNAL_SERVER_ERROR", "the process could not be run")
    if (exit.value._tag === "None") return undefined
    const size = chunks.reduce((n, c) => n + c.byteLength, 0)
    const all = new Uint8Array(size)
    let offset = 0
    for (const c of chunks) {
      all.set(c, offset)
      offset += c.byteLength
    }
    return { exitCode: exit.value.value, output: new TextDecoder().decode(all) }
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void)).catch(() => undefined)
  }
}

const timeoutOf = (body: Record<string, unknown>): number | undefined => {
  const t = body["timeout"]
  return typeof t === "number" && Number.isFinite(t) && t > 0 ? t * 1000 : undefined
}

export const execute = async (sandbox: DaytonaSandbox, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
  try {
    const body = asRecord(await readJson(req))
    const command = typeof body["command"] === "string" ? body["command"] : ""
    const argv = splitCommandLine(command)
    if (argv.length === 0) throw new DaemonFailure(400, "BAD_REQUEST", "command is required")
    const cwd = resolvePath(sandbox, typeof body["cwd"] === "string" ? body["cwd"] : undefined)
    const result = await runMerged(sandbox, argv, { cwd, env: stringRecord(body["envs"]), timeoutMs: timeoutOf(body) })
    if (result === undefined) {
      return sendJson(res, 408, daemonError(408, "command execution timeout", url.pathname, "PROCESS_EXECUTION_TIMEOUT"))
    }
    sendJson(res, 200, { exitCode: result.exitCode, result: result.output })
  } catch (error) {
    fail(res, url, error)
  }
}

const interpreters: Readonly<Record<string, (code: string) => Array<string>>> = {
  python: (code) => ["python3", "-c", code],
  javascript: (code) => ["node", "-e", code]
}

export const codeRun = async (sandbox: DaytonaSandbox, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
  try {
    const body = asRecord(await readJson(req))
    const language = typeof body["language"] === "string" ? body["language"] : "python"
    const toArgv = interpreters[language]
    if (toArgv === undefined) throw new DaemonFailure(400, "BAD_REQUEST", `the emulator cannot run ${language} code`)
    const code = typeof body["code"] === "string" ? body["code"] : ""
    const argv = [...toArgv(code), ...(Array.isArray(body["argv"]) ? body["argv"].map(String) : [])]
    const result = await runMerged(sandbox, argv, { cwd: sandbox.home, env: stringRecord(body["envs"]), timeoutMs: timeoutOf(body) })
    if (result === undefined) {
      return sendJson(res, 408, daemonError(408, "code execution timeout", url.pathname, "PROCESS_EXECUTION_TIMEOUT"))
    }
    sendJson(res, 200, { exitCode: result.exitCode, result: result.output, artifacts: { stdout: result.output, charts: [] } })
  } catch (error) {
    fail(res, url, error)
  }
}

export const homeDir = async (sandbox: DaytonaSandbox, _req: IncomingMessage, res: ServerResponse) =>
  sendJson(res, 200, { dir: sandbox.home })

export const version = async (_sandbox: DaytonaSandbox, _req: IncomingMessage, res: ServerResponse) =>
  sendJson(res, 200, { version: DAEMON_VERSION })

/** Unknown toolbox paths: the daemon's 404. */
export const notImplemented = async (_sandbox: DaytonaSandbox, _req: IncomingMessage, res: ServerResponse, url: URL) =>
  sendJson(res, 404, daemonError(404, `${url.pathname} is not implemented by the emulator`, url.pathname, "NOT_FOUND"))


