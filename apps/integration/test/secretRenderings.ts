/**
 * In-process errors forced while keys are in play, and every way a program might render them: `String`,
 * `message`, `JSON.stringify` (of the error, its cause and the exit), `Cause.pretty`, `util.inspect`, and the
 * Effect logger in its simple, logfmt and JSON formats.
 */
import { makeReadiness, makeTransient, RetryPolicy, type SandboxError } from "@sandkit/core"
import { Cause, Effect, Exit, Layer, Logger } from "effect"
import { inspect } from "node:util"
import { makeTarget, type TargetKeys, type TargetName } from "./targets.ts"

/** What the audit scans: a name and the rendered text. */
export interface Rendering {
  readonly source: string
  readonly text: string
}

/** A capturing logger: each log event in three formats. */
export const captureLogs = () => {
  const lines: Array<Rendering> = []
  const logger = Logger.make((options) => {
    for (const [format, formatter] of [["simple", Logger.formatSimple], ["logfmt", Logger.formatLogFmt], ["json", Logger.formatJson]] as const) {
      lines.push({ source: `logger (${format})`, text: String(formatter.log(options)) })
    }
  })
  return { lines, layer: Logger.layer([logger]) }
}

/** Every rendering of a failed exit (and of its typed error). */
export const renderExit = (what: string, exit: Exit.Exit<unknown, SandboxError>): ReadonlyArray<Rendering> => {
  if (Exit.isSuccess(exit)) return []
  const out: Array<Rendering> = [
    { source: `${what}: Cause.pretty`, text: Cause.pretty(exit.cause) },
    { source: `${what}: util.inspect(exit)`, text: inspect(exit, { depth: 20 }) },
    { source: `${what}: JSON.stringify(exit)`, text: JSON.stringify(exit) ?? "" },
    { source: `${what}: String(cause)`, text: String(exit.cause) }
  ]
  const found = Cause.findErrorOption(exit.cause)
  if (found._tag === "Some") {
    const error = found.value
    out.push(
      { source: `${what}: String(error)`, text: String(error) },
      { source: `${what}: error.message`, text: error.message },
      { source: `${what}: JSON.stringify(error)`, text: JSON.stringify(error) ?? "" },
      { source: `${what}: JSON.stringify(error.cause)`, text: JSON.stringify(error.cause) ?? "" },
      { source: `${what}: util.inspect(error)`, text: inspect(error, { depth: 20, showHidden: true }) },
      { source: `${what}: error.stack`, text: error.stack ?? "" }
    )
  }
  return out
}

/** No retries, quick readiness: each forced error surfaces at once. */
const noRetries = Layer.succeed(RetryPolicy, {
  transient: makeTransient({ base: "1 millis", factor: 1, maxRetries: 0, jitter: false }),
  readiness: makeReadiness({ spacing: "10 millis", tries: 50 })
})

export interface ForcedErrors {
  readonly renderings: ReadonlyArray<Rendering>
  /** The error tags seen, in order, so the test can check each error really happened. */
  readonly tags: ReadonlyArray<string>
  /** Ids left in the emulator afterwards (must be none). */
  readonly left: ReadonlyArray<string>
}

const tagOf = (exit: Exit.Exit<unknown, SandboxError>) => {
  if (Exit.isSuccess(exit)) return "Success"
  const found = Cause.findErrorOption(exit.cause)
  return found._tag === "Some" ? found.value._tag : "Defect"
}

/**
 * Against `name`'s emulator accepting `accepted` keys: a 401 from a wrong key (`wrong`), then, with the right key,
 * a 500 and a 429 whose server messages quote the key, and a destroy that fails at scope close with the key in its
 * message (logged as a warning by core). All of it is rendered and logged through the capturing logger.
 */
export const forceErrors = (name: Exclude<TargetName, "local">, accepted: TargetKeys, wrong: TargetKeys, secrets: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const logs = captureLogs()
    const renderings: Array<Rendering> = []
    const tags: Array<string> = []
    const record = (what: string, exit: Exit.Exit<unknown, SandboxError>) =>
      Effect.gen(function*() {
        tags.push(tagOf(exit))
        renderings.push(...renderExit(`${name} ${what}`, exit))
        if (Exit.isFailure(exit)) {
          yield* Effect.logError(`${what} failed`, exit.cause)
          yield* Effect.logError(Cause.squash(exit.cause))
        }
      })
    const quoted = `key ${secrets.join(" / ")} refused (Authorization: Bearer ${secrets[0]})`

    const run = Effect.gen(function*() {
      // A wrong key: 401 on create and on list.
      const refused = yield* makeTarget(name, { accept: accepted, use: wrong })
      yield* record("create with a wrong key", yield* Effect.exit(refused.provider.createDetached()))
      yield* record("list with a wrong key", yield* Effect.exit(refused.provider.list()))

      // The right key; the server's own messages quote it.
      const target = yield* makeTarget(name, { accept: accepted })
      const faults = target.faults!
      const routes = target.routes!
      faults.failNext(routes.create, { status: 500, message: `internal error: ${quoted}`, times: 20 })
      yield* record("create answered 500", yield* Effect.exit(target.provider.createDetached()))
      faults.clear()
      faults.rateLimitNext(routes.create, { times: 20, retryAfter: 1, message: `slow down: ${quoted}` })
      yield* record("create answered 429", yield* Effect.exit(target.provider.createDetached()))
      faults.clear()
      // A destroy that fails when the scope closes is logged (core's release), not raised.
      let id = ""
      yield* Effect.scoped(Effect.gen(function*() {
        const sandbox = yield* target.provider.create({ labels: { audit: "secrets" } })
        id = sandbox.id
        faults.failNext(routes.destroy, { status: 400, message: `cannot delete: ${quoted}`, times: 1 })
      }))
      faults.clear()
      yield* record("destroy after the failed release", yield* Effect.exit(target.provider.destroy(id)))
      return yield* target.backendIds
    })
    const left = yield* Effect.scoped(run).pipe(Effect.provide(Layer.mergeAll(logs.layer, noRetries)))
    return { renderings: [...renderings, ...logs.lines], tags, left } satisfies ForcedErrors
  })
