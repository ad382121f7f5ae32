/**
 * `runCode` through `@e2b/code-interpreter`. A core `context` is a name the caller picks; the first use of a name
 * creates an E2B code context (in the requested language) and later uses run in it, so variables and imports persist.
 * Without a context, code runs in the interpreter's default context for the language (which also keeps state).
 */
import type { RunCodeOptions, RunCodeResult, SandboxError } from "@sandkit/core"
import { toMillis } from "@sandkit/core"
import type { Sandbox as SdkSandbox } from "@e2b/code-interpreter"
import { Effect } from "effect"
import { fromSdkError, type Secrets } from "./errors.ts"

type Execution = Awaited<ReturnType<SdkSandbox["runCode"]>>

export interface CodeContext {
  readonly sandboxId: string
  readonly sdk: SdkSandbox
  readonly secrets: Secrets
  readonly workdir: string
  /** Context name → E2B context id, shared by every handle of this sandbox in this driver. */
  readonly contexts: Map<string, string>
}

/** Rich results by MIME type, as core reports them. */
const MIME: ReadonlyArray<readonly [keyof Execution["results"][number], string]> = [
  ["text", "text/plain"],
  ["html", "text/html"],
  ["markdown", "text/markdown"],
  ["svg", "image/svg+xml"],
  ["png", "image/png"],
  ["jpeg", "image/jpeg"],
  ["pdf", "application/pdf"],
  ["latex", "text/latex"],
  ["json", "application/json"],
  ["javascript", "application/javascript"]
]

const toResult = (execution: Execution): RunCodeResult => ({
  stdout: execution.logs.stdout.join(""),
  stderr: execution.logs.stderr.join(""),
  results: execution.results.map((result) => {
    const out: Record<string, string> = {}
    for (const [key, mime] of MIME) {
      const value: unknown = result[key]
      if (value === undefined || value === null) continue
      out[mime] = typeof value === "string" ? value : JSON.stringify(value)
    }
    return out
  }),
  error: execution.error === undefined
    ? undefined
    : { name: execution.error.name, value: execution.error.value, traceback: execution.error.traceback }
})

export const runCode = (ctx: CodeContext, code: string, options: RunCodeOptions): Effect.Effect<RunCodeResult, SandboxError> =>
  Effect.gen(function*() {
    const timeoutMs = options.timeout === undefined ? undefined : toMillis(options.timeout)
    const errorContext = (operation: string) => ({ operation, sandboxId: ctx.sandboxId, secrets: ctx.secrets, timeoutMs })
    let contextId: string | undefined
    if (options.context !== undefined) {
      contextId = ctx.contexts.get(options.context)
      if (contextId === undefined) {
        const created = yield* Effect.tryPromise({
          try: () => ctx.sdk.createCodeContext({ cwd: ctx.workdir, ...(options.language === undefined ? {} : { language: options.language }) }),
          catch: (error) => fromSdkError(error, errorContext("runCode.context"))
        })
        contextId = created.id
        ctx.contexts.set(options.context, created.id)
      }
    }
    const id = contextId
    const execution = yield* Effect.tryPromise({
      try: () =>
        ctx.sdk.runCode(code, {
          // The SDK takes a context or a language, not both; a context already has its language.
          ...(id === undefined
            ? options.language === undefined ? {} : { language: options.language }
            : { context: { id, language: options.language ?? "python", cwd: ctx.workdir } }),
          // No timeout asked for: none (the SDK's default would cut a cell after 60 s).
          timeoutMs: timeoutMs ?? 0
        }),
      catch: (error) => fromSdkError(error, errorContext("runCode"))
    })
    return toResult(execution)
  })
