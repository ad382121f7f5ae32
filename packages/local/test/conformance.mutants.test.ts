/**
 * The conformance checks can fail: each mutant below wraps the real local provider with one contract violation, and
 * the checks aimed at it must report a failure. (A check that passes against a broken provider guards nothing.)
 */
import { assert, describe, it } from "@effect/vitest"
import { conformanceChecks, runConformanceEffect, type ConformanceCheck } from "@sandkit/conformance"
import {
  CommandTimeout,
  type ExecEvent,
  ProviderError,
  type Sandbox,
  SandboxNotFound,
  SandboxProvider,
  type SandboxProviderShape,
  Unsupported
} from "@sandkit/core"
import { Effect, Exit, Layer, Scope, Stream } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll } from "vitest"
import { LocalProvider } from "../src/index.ts"

const root = mkdtempSync(join(tmpdir(), "sandkit-conformance-mutants-"))
afterAll(() => rmSync(root, { recursive: true, force: true }))

const base = LocalProvider.layer({ root })

interface Mutant {
  /** Names of the checks that must catch it. */
  readonly caughtBy: ReadonlyArray<string>
  readonly sandbox?: (sandbox: Sandbox) => Partial<Sandbox>
  readonly provider?: (provider: SandboxProviderShape) => Partial<SandboxProviderShape>
  readonly capabilities?: Partial<SandboxProviderShape["capabilities"]>
}

const mutate = (mutant: Mutant) =>
  Layer.effect(
    SandboxProvider,
    Effect.gen(function*() {
      const real = yield* SandboxProvider
      const capabilities = { ...real.capabilities, ...mutant.capabilities }
      const wrap = (sandbox: Sandbox): Sandbox => ({ ...sandbox, capabilities, ...mutant.sandbox?.(sandbox) })
      const wrapped: SandboxProviderShape = {
        ...real,
        capabilities,
        create: (spec) => Effect.map(real.create(spec), wrap),
        createDetached: (spec) => Effect.map(real.createDetached(spec), wrap),
        connect: (id) => Effect.map(real.connect(id), wrap),
        findOrCreate: (options) => Effect.map(real.findOrCreate(options), wrap)
      }
      return { ...wrapped, ...mutant.provider?.(wrapped) }
    })
  ).pipe(Layer.provide(base))

const check = (name: string): ConformanceCheck => {
  const found = conformanceChecks.find((c) => c.name.startsWith(name))
  if (found === undefined) throw new Error(`no conformance check named ${name}`)
  return found
}

const textOf = (s: string) => new TextEncoder().encode(s)

const mutants: Record<string, Mutant> = {
  "every exit code is 0": {
    caughtBy: ["exec: non-zero exit code"],
    sandbox: (s) => ({ exec: (c, o) => Effect.map(s.exec(c, o), (r) => ({ ...r, exitCode: 0 })) })
  },
  "stderr merged into stdout while declaring separate": {
    caughtBy: ["exec: stdout and stderr"],
    sandbox: (s) => ({ exec: (c, o) => Effect.map(s.exec(c, o), (r) => ({ ...r, stdout: r.stdout + r.stderr, stderr: "" })) })
  },
  "exec env ignored": {
    caughtBy: ["exec: env"],
    sandbox: (s) => ({ exec: (c, o) => s.exec(c, { ...o, env: {} }) })
  },
  "exec cwd ignored": {
    caughtBy: ["exec: cwd"],
    sandbox: (s) => ({ exec: (c, { cwd: _, ...o } = {}) => s.exec(c, o) })
  },
  "exec stdin ignored": {
    caughtBy: ["exec: stdin"],
    sandbox: (s) => ({ exec: (c, { stdin: _, ...o } = {}) => s.exec(c, o) })
  },
  "maxOutputBytes ignored": {
    caughtBy: ["exec: maxOutputBytes"],
    sandbox: (s) => ({ exec: (c, { maxOutputBytes: _, ...o } = {}) => s.exec(c, o) })
  },
  "timeout ignored": {
    caughtBy: ["exec: timeout"],
    sandbox: (s) => ({ exec: (c, { timeout: _, ...o } = {}) => s.exec(c, o) })
  },
  "timeout reported but the command left running": {
    caughtBy: ["exec: timeout"],
    sandbox: (s) => ({
      exec: (c, { timeout, ...o } = {}) =>
        timeout === undefined
          ? s.exec(c, o)
          : Effect.forkDetach(s.exec(c, o)).pipe(
            Effect.andThen(Effect.sleep(200)),
            Effect.andThen(Effect.fail(new CommandTimeout({ provider: "local", message: "timed out", timeoutMs: 200 })))
          )
    })
  },
  "workdir misreported": {
    caughtBy: ["sandbox: info", "exec: cwd"],
    sandbox: (s) => ({ info: { ...s.info, workdir: "/elsewhere" } })
  },
  "execStream buffers until the command ends": {
    caughtBy: ["execStream: chunks in order", "execStream: interruption"],
    sandbox: (s) => ({
      execStream: (c, o) =>
        Stream.unwrap(Effect.map(Stream.runCollect(s.execStream(c, o)), (events) => Stream.fromIterable<ExecEvent>(events)))
    })
  },
  "execStream ends without Exit": {
    caughtBy: ["execStream: chunks in order"],
    sandbox: (s) => ({ execStream: (c, o) => Stream.filter(s.execStream(c, o), (e) => e._tag !== "Exit") })
  },
  "spawn kill is a no-op": {
    caughtBy: ["spawn: kill"],
    sandbox: (s) => ({ spawn: (c, o) => Effect.map(s.spawn(c, o), (p) => ({ ...p, kill: () => Effect.void })) })
  },
  "spawned processes outlive their scope": {
    caughtBy: ["spawn: closing its scope"],
    sandbox: (s) => ({
      spawn: (c, o) => Effect.flatMap(Scope.make(), (scope) => Scope.provide(s.spawn(c, o), scope))
    })
  },
  "spawn stdin dropped": {
    caughtBy: ["spawn: stdin"],
    sandbox: (s) => ({ spawn: (c, o) => Effect.map(s.spawn(c, o), (p) => ({ ...p, write: () => Effect.void })) })
  },
  "files.write drops the last byte": {
    caughtBy: ["files: binary"],
    sandbox: (s) => ({
      files: {
        ...s.files,
        write: (p, d) => s.files.write(p, (typeof d === "string" ? textOf(d) : d).subarray(0, Math.max(0, (typeof d === "string" ? textOf(d) : d).length - 1)))
      }
    })
  },
  "files.list reports directories as files": {
    caughtBy: ["files: list"],
    sandbox: (s) => ({
      files: { ...s.files, list: (p) => Effect.map(s.files.list(p), (entries) => entries.map((e) => ({ ...e, type: "file" as const }))) }
    })
  },
  "FileNotFound reported as ProviderError": {
    caughtBy: ["files: missing paths"],
    sandbox: (s) => ({
      files: {
        ...s.files,
        read: (p) => Effect.mapError(s.files.read(p), (e) => e._tag === "FileNotFound" ? new ProviderError({ provider: "local", message: e.message }) : e)
      }
    })
  },
  "upload drops nested files": {
    caughtBy: ["files: directory upload"],
    sandbox: (s) => ({
      files: {
        ...s.files,
        upload: (d, files) =>
          s.files.upload(d, Stream.filter(Stream.isStream(files) ? files : Stream.fromIterable(files), (f) => !f.path.includes("/")))
      }
    })
  },
  "connect always says SandboxNotFound": {
    caughtBy: ["connect: reaches"],
    provider: () => ({ connect: (id) => Effect.fail(new SandboxNotFound({ provider: "local", sandboxId: id, message: "gone" })) })
  },
  "connect to a destroyed sandbox is ProviderError": {
    caughtBy: ["connect: after destroy"],
    provider: (p) => ({
      connect: (id) =>
        Effect.mapError(p.connect(id), (e) => e._tag === "SandboxNotFound" ? new ProviderError({ provider: "local", message: e.message }) : e)
    })
  },
  "list ignores labels": {
    caughtBy: ["list: finds"],
    provider: (p) => ({ list: (filter = {}) => p.list(filter.state === undefined ? {} : { state: filter.state }) })
  },
  "list ignores state": {
    caughtBy: ["list: finds"],
    provider: (p) => ({ list: (filter = {}) => p.list(filter.labels === undefined ? {} : { labels: filter.labels }) })
  },
  "destroy is a no-op": {
    caughtBy: ["destroy: twice"],
    provider: () => ({ destroy: () => Effect.void }),
    sandbox: () => ({ destroy: Effect.void })
  },
  "create without a finalizer": {
    caughtBy: ["scope: closing after success", "scope: closing after failure", "scope: interruption"],
    provider: (p) => ({ create: (spec) => p.createDetached(spec) })
  },
  "create destroys only on success": {
    caughtBy: ["scope: closing after failure", "scope: interruption"],
    provider: (p) => ({
      create: (spec) => Effect.acquireRelease(p.createDetached(spec), (s, exit) => Exit.isSuccess(exit) ? s.destroy.pipe(Effect.ignore) : Effect.void)
    })
  },
  "create does not destroy on interruption": {
    caughtBy: ["scope: interruption"],
    provider: (p) => ({
      create: (spec) =>
        Effect.acquireRelease(p.createDetached(spec), (s, exit) => Exit.hasInterrupts(exit) ? Effect.void : s.destroy.pipe(Effect.ignore))
    })
  },
  "reap reports nothing and destroys nothing": {
    caughtBy: ["createDetached"],
    provider: () => ({ reap: (o = {}) => Effect.succeed({ destroyed: [], failed: [], dryRun: o.dryRun === true }) })
  },
  "createDetached is scoped after all": {
    caughtBy: ["createDetached"],
    provider: (p) => ({ createDetached: (spec) => Effect.scoped(p.create(spec)) })
  },
  "findOrCreate always creates": {
    caughtBy: ["findOrCreate"],
    provider: (p) => ({ findOrCreate: ({ labels, name, spec }) => p.create({ ...spec, ...(name === undefined ? {} : { name }), labels: { ...spec?.labels, ...labels } }) })
  },
  "findOrCreate destroys what it attached to": {
    caughtBy: ["findOrCreate"],
    provider: (p) => ({ findOrCreate: (o) => Effect.tap(p.findOrCreate(o), (s) => Effect.addFinalizer(() => Effect.ignore(s.destroy))) })
  },
  "declares pause but lacks it": {
    caughtBy: ["pause:"],
    capabilities: { pause: true }
  },
  "Unsupported names the wrong capability": {
    caughtBy: ["pause:"],
    sandbox: () => ({ pause: Effect.fail(new Unsupported({ provider: "local", capability: "suspend", message: "no" })) })
  },
  "setTimeout is a no-op": {
    caughtBy: ["setTimeout:"],
    sandbox: () => ({ setTimeout: () => Effect.void })
  },
  "exposePort reports another port": {
    caughtBy: ["exposePort:"],
    sandbox: (s) => ({ exposePort: (port) => Effect.map(s.exposePort(port), (e) => ({ ...e, port: port + 1 })) })
  },
  "runCode prints nothing": {
    caughtBy: ["runCode:"],
    sandbox: () => ({ runCode: () => Effect.succeed({ stdout: "", stderr: "", results: [] }) })
  },
  "create swallows invalid specs": {
    caughtBy: ["validation: bad specs"],
    provider: (p) => ({ create: (spec) => Effect.catchTag(p.create(spec), "InvalidRequest", () => p.create({ labels: spec?.labels ?? {} })) })
  },
  "exec runs what it should reject": {
    caughtBy: ["validation: bad commands"],
    sandbox: (s) => ({
      exec: (c, o) => Effect.catchTag(s.exec(c, o), "InvalidRequest", () => s.exec("touch invalid-ran"))
    })
  }
}

describe("conformance checks catch broken providers", () => {
  it.live("control: the wrapper alone passes every targeted check", () =>
    Effect.gen(function*() {
      const names = [...new Set(Object.values(mutants).flatMap((m) => m.caughtBy))]
      const lines: Array<string> = []
      const summary = yield* runConformanceEffect(mutate({ caughtBy: [] }), {
        checks: names.map(check),
        log: (line) => lines.push(line)
      })
      assert.strictEqual(summary.failed, 0, lines.join("\n"))
      assert.strictEqual(summary.passed, names.length)
    }), 120_000)

  for (const [name, mutant] of Object.entries(mutants)) {
    it.live(`caught: ${name}`, () =>
      Effect.gen(function*() {
        const lines: Array<string> = []
        const summary = yield* runConformanceEffect(mutate(mutant), {
          checks: mutant.caughtBy.map(check),
          log: (line) => lines.push(line),
          timeout: "30 seconds"
        })
        assert.strictEqual(summary.failed, mutant.caughtBy.length, `expected every targeted check to fail:\n${lines.join("\n")}`)
      }), 120_000)
  }
})
