/**
 * Declared capabilities work; undeclared ones fail with `Unsupported` naming the capability.
 */
import { Cause, Effect, Exit, Schedule } from "effect"
import { hasCapability, optionalCapabilities } from "@sandkit/core"
import { assertEqual, assertIncludes, assertTrue, expectUnsupported, fail, show } from "../Assert.ts"
import { capabilityCheck, makeCheck, type ConformanceCheck } from "../Check.ts"
import { now, ok, shq, within } from "../internal/helpers.ts"
import { probe, randomPort } from "../internal/probes.ts"
import { sampleFor } from "../internal/samples.ts"

const undeclared = makeCheck("capabilities: each undeclared one fails with Unsupported", (ctx) =>
  Effect.gen(function*() {
    const sandbox = yield* ctx.sandbox()
    yield* assertTrue(
      ["microvm", "container", "bubblewrap", "namespaces", "process"].includes(ctx.capabilities.isolation),
      `capabilities.isolation ${show(ctx.capabilities.isolation)} is a known level`
    )
    yield* assertTrue(
      ctx.capabilities.output === "separate" || ctx.capabilities.output === "merged",
      `capabilities.output ${show(ctx.capabilities.output)}`
    )
    for (const capability of optionalCapabilities) {
      if (!hasCapability(ctx.capabilities, capability)) {
        const error = yield* expectUnsupported(
          within(60_000, `${capability} probe`)(Effect.scoped(probe(capability, sandbox, ctx.provider))),
          capability,
          `${capability} (not declared)`
        )
        yield* assertEqual((error as { readonly provider?: unknown }).provider, ctx.provider.name, `Unsupported.provider for ${capability}`)
      } else {
        // Declared: whatever else happens, the call must not be refused as unsupported.
        const exit = yield* Effect.exit(within(60_000, `${capability} probe`)(Effect.scoped(probe(capability, sandbox, ctx.provider))))
        if (Exit.isFailure(exit)) {
          const error = Cause.findErrorOption(exit.cause)
          if (error._tag === "Some" && (error.value as { readonly _tag?: unknown })._tag === "Unsupported") {
            return yield* fail(`${capability} is declared but the call failed with ${show(error.value)}`)
          }
        }
      }
    }
    const runCodeLanguage = "conformance-none"
    if (hasCapability(ctx.capabilities, "runCode")) {
      yield* expectUnsupported(
        sandbox.runCode("1", { language: runCodeLanguage }),
        `runCode:${runCodeLanguage}`,
        "runCode in an undeclared language"
      )
    }
  }))

const isHttpUrl = (url: string) => {
  try {
    const parsed = new URL(url)
    return parsed.protocol === "http:" || parsed.protocol === "https:"
  } catch {
    return false
  }
}

/** The provider's own headers when it gives them; else a bearer token, the common convention. */
const fetchText = (url: string, exposed: { readonly token?: string | undefined; readonly headers?: Readonly<Record<string, string>> | undefined }) =>
  Effect.tryPromise({
    try: async (signal) => {
      const headers = exposed.headers ?? (exposed.token === undefined ? undefined : { Authorization: `Bearer ${exposed.token}` })
      const response = await globalThis.fetch(url, { signal, ...(headers === undefined ? {} : { headers }) })
      const body = await response.text()
      if (!response.ok) throw new Error(`HTTP ${response.status}: ${body.slice(0, 200)}`)
      return body
    },
    catch: (cause) => cause
  })

const exposePort = capabilityCheck("exposePort: a URL that reaches a server in the sandbox", "exposePort", (ctx) =>
  Effect.gen(function*() {
    // A port can only be reached in a sandbox with a network; ask for one (the default on the clouds anyway).
    const sandbox = yield* ctx.sandbox({ network: { outbound: true } })
    const port = randomPort()
    const exposed = yield* sandbox.exposePort(port)
    yield* assertEqual(exposed.port, port, "ExposedPort.port")
    yield* assertTrue(isHttpUrl(exposed.url), `ExposedPort.url ${show(exposed.url)} is an http(s) URL`)
    // Serving needs a background process and python3 in the sandbox. Where either is missing (a provider without
    // spawn, an image without python), only the URL's shape is checked above.
    if (!hasCapability(ctx.capabilities, "spawn")) return
    const python = yield* sandbox.exec("command -v python3")
    if (python.exitCode !== 0) return
    const token = ctx.unique("served")
    yield* ok(sandbox, `mkdir -p www && printf %s ${shq(token)} > www/conformance.txt`)
    yield* sandbox.spawn(`exec python3 -m http.server ${port} --bind 0.0.0.0`, { cwd: "www" })
    const url = `${exposed.url.replace(/\/+$/, "")}/conformance.txt`
    const start = yield* now
    const body = yield* fetchText(url, exposed).pipe(
      Effect.retry(Schedule.spaced("250 millis").pipe(Schedule.upTo({ duration: "30 seconds" }))),
      Effect.catch((cause) => fail(`GET ${url} never answered within 30 s: ${show(cause)}`))
    )
    yield* assertEqual(body, token, `GET ${url} (after ${(yield* now) - start} ms)`)
  }))

const runCode = capabilityCheck("runCode: runs a snippet in the first declared language", "runCode", (ctx) =>
  Effect.gen(function*() {
    const sandbox = yield* ctx.sandbox()
    const language = ctx.capabilities.runCode[0]!
    const sample = sampleFor(language)
    if (sample === undefined) {
      return yield* fail(`no sample program for runCode language ${show(language)}; add one to the conformance samples`)
    }
    const answer = (r: { readonly stdout: string; readonly results: ReadonlyArray<Readonly<Record<string, string>>> }) =>
      r.stdout + r.results.map((x) => x["text/plain"] ?? "").join("\n")
    const byDefault = yield* within(120_000, "runCode")(sandbox.runCode(sample.code))
    yield* assertEqual(byDefault.error, undefined, "runCode error")
    yield* assertIncludes(answer(byDefault), sample.expected, `runCode(${show(sample.code)}) in the default language ${language}`)
    const explicit = yield* within(120_000, "runCode")(sandbox.runCode(sample.code, { language }))
    yield* assertIncludes(answer(explicit), sample.expected, `runCode(${show(sample.code)}, { language: ${show(language)} })`)
  }))

const setTimeoutCheck = capabilityCheck("setTimeout: changes the sandbox's remaining lifetime", "setTimeout", (ctx) =>
  Effect.gen(function*() {
    const sandbox = yield* ctx.sandbox()
    // A provider that can set the remaining lifetime knows it: refresh() must report expiresAt accordingly.
    for (const minutes of [30, 45]) {
      const before = yield* now
      yield* sandbox.setTimeout(`${minutes} minutes`)
      const info = yield* sandbox.refresh
      if (info.expiresAt === undefined) return yield* fail(`refresh().expiresAt is undefined after setTimeout(${minutes} minutes)`)
      const remaining = info.expiresAt.getTime() - before
      yield* assertTrue(
        Math.abs(remaining - minutes * 60_000) < 3 * 60_000,
        `expiresAt ${info.expiresAt.toISOString()} is about ${minutes} minutes from now (${Math.round(remaining / 1000)} s)`
      )
      yield* assertEqual(info.state, "running", `state after setTimeout(${minutes} minutes)`)
    }
    yield* ok(sandbox, "true")
  }))

const pause = capabilityCheck("pause: pause and resume keep the sandbox", "pause", (ctx) =>
  Effect.gen(function*() {
    const sandbox = yield* ctx.sandbox()
    yield* ok(sandbox, "echo before > paused.txt")
    yield* within(120_000, "pause")(sandbox.pause)
    yield* assertEqual((yield* sandbox.refresh).state, "paused", "state after pause")
    yield* within(120_000, "resume")(sandbox.resume)
    yield* assertEqual((yield* sandbox.refresh).state, "running", "state after resume")
    yield* assertEqual((yield* ok(sandbox, "cat paused.txt")).stdout, "before\n", "files survive pause/resume")
  }), (ctx) =>
  Effect.gen(function*() {
    const sandbox = yield* ctx.sandbox()
    yield* expectUnsupported(sandbox.pause, "pause", "pause (not declared)")
    yield* expectUnsupported(sandbox.resume, "pause", "resume (not declared)")
  }))

export const capabilityChecks: ReadonlyArray<ConformanceCheck> = [undeclared, exposePort, runCode, setTimeoutCheck, pause]
