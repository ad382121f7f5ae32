/**
 * `makeProvider` over a small in-memory driver that counts every call: labels, validation before any driver call,
 * scoped lifetimes, capability checks, reaping, findOrCreate, retries and the file helpers.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Duration, Effect, Exit, Fiber, Layer, Option, Stream } from "effect"
import { TestClock } from "effect/testing"
import {
  AuthenticationFailed,
  type Capabilities,
  type DriverFiles,
  type DriverSandbox,
  type ExecEvent,
  type FileData,
  type FileEntry,
  InvalidRequest,
  makeProvider,
  OWNER_LABEL,
  PermissionDenied,
  ProviderUnavailable,
  RateLimited,
  type ResolvedSpec,
  RUN_LABEL,
  type Sandbox,
  type SandboxDriver,
  type SandboxError,
  type SandboxInfo,
  SandboxNotFound,
  SandboxProvider,
  SandkitRun,
  layerFromDriver,
  FileNotFound,
  Unsupported
} from "../src/index.ts"

// ---------------------------------------------------------------------------------------------------------------
// An in-memory driver
// ---------------------------------------------------------------------------------------------------------------

const allCapabilities: Capabilities = {
  execStream: true,
  spawn: true,
  stdin: true,
  output: "separate",
  files: true,
  bulkTransfer: true,
  exposePort: true,
  runCode: ["python", "javascript"],
  setTimeout: true,
  pause: true,
  template: true,
  isolation: "microvm"
}

const noCapabilities: Capabilities = {
  execStream: false,
  spawn: false,
  stdin: false,
  output: "merged",
  files: false,
  bulkTransfer: false,
  exposePort: false,
  runCode: [],
  setTimeout: false,
  pause: false,
  isolation: "microvm"
}

type SandboxMember = Exclude<keyof DriverSandbox, "info" | "refresh" | "exec">

interface FakeOptions {
  readonly name?: string
  readonly capabilities?: Partial<Capabilities>
  /** Driver sandbox members to leave out (an implemented-but-undeclared capability is the other case). */
  readonly omit?: ReadonlyArray<SandboxMember>
  /** Give the driver its own bulk `upload` / `download`. Default: none, so core's fallbacks are used. */
  readonly fastBulk?: boolean
  /** `create` takes this long (TestClock) before the sandbox exists. */
  readonly createDelay?: Duration.Input
}

interface Stored {
  info: SandboxInfo
  readonly files: Map<string, Uint8Array>
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const text = (s: string) => encoder.encode(s)

const makeFake = (options: FakeOptions = {}) => {
  const name = options.name ?? "fake"
  const capabilities: Capabilities = { ...allCapabilities, ...options.capabilities }
  const calls = {
    create: 0,
    connect: 0,
    list: 0,
    destroy: 0,
    exec: 0,
    execStream: 0,
    spawn: 0,
    read: 0,
    write: 0,
    listFiles: 0,
    stat: 0,
    upload: 0,
    download: 0,
    exposePort: 0,
    runCode: 0,
    setTimeout: 0,
    pause: 0,
    resume: 0
  }
  const sandboxes = new Map<string, Stored>()
  /** Each operation fails with the queued errors first (one per call), then works. */
  const failNext: Record<
    "create" | "connect" | "list" | "destroy" | "exec" | "read" | "write" | "listFiles",
    Array<SandboxError>
  > = {
    create: [],
    connect: [],
    list: [],
    destroy: [],
    exec: [],
    read: [],
    write: [],
    listFiles: []
  }
  /** `destroy(id)` always fails with this error. */
  const destroyErrors = new Map<string, SandboxError>()
  const specs: Array<ResolvedSpec> = []
  const runCodeLanguages: Array<string | undefined> = []
  let counter = 0

  const failQueued = (op: keyof typeof failNext) => {
    const error = failNext[op].shift()
    return error === undefined ? Effect.void : Effect.fail(error)
  }

  const notFound = (id: string) => new SandboxNotFound({ provider: name, sandboxId: id, message: `no sandbox ${id}` })

  const fileNotFound = (id: string, path: string) =>
    new FileNotFound({ provider: name, sandboxId: id, path, message: `no such file: ${path}` })

  const stored = (id: string) =>
    Effect.suspend(() => {
      const s = sandboxes.get(id)
      return s === undefined ? Effect.fail(notFound(id)) : Effect.succeed(s)
    })

  const entry = (path: string, type: FileEntry["type"], size = 0): FileEntry => ({
    name: path.split("/").pop()!,
    path,
    type,
    size
  })

  const makeFiles = (id: string): DriverFiles => {
    const base: DriverFiles = {
      read: (path) =>
        Effect.flatMap(stored(id), (s) => {
          calls.read++
          const error = failNext.read.shift()
          if (error !== undefined) return Effect.fail(error)
          const data = s.files.get(path)
          return data === undefined ? Effect.fail(fileNotFound(id, path)) : Effect.succeed(data)
        }),
      write: (path, data) =>
        Effect.flatMap(stored(id), (s) => {
          calls.write++
          const error = failNext.write.shift()
          if (error !== undefined) return Effect.fail(error)
          s.files.set(path, data)
          return Effect.void
        }),
      list: (path) =>
        Effect.flatMap(stored(id), (s) => {
          calls.listFiles++
          const error = failNext.listFiles.shift()
          if (error !== undefined) return Effect.fail(error)
          const prefix = path.replace(/\/+$/, "") + "/"
          const children = new Map<string, FileEntry>()
          for (const [p, data] of s.files) {
            if (!p.startsWith(prefix)) continue
            const rest = p.slice(prefix.length)
            const first = rest.split("/")[0]!
            children.set(first, rest.includes("/") ? entry(prefix + first, "directory") : entry(p, "file", data.length))
          }
          if (path === "/special") children.set("link", entry("/special/link", "symlink"))
          return children.size === 0 ? Effect.fail(fileNotFound(id, path)) : Effect.succeed([...children.values()])
        }),
      mkdir: () => Effect.void,
      remove: (path) =>
        Effect.map(stored(id), (s) => {
          for (const p of [...s.files.keys()]) if (p === path || p.startsWith(path + "/")) s.files.delete(p)
        }),
      stat: (path) =>
        Effect.flatMap(stored(id), (s): Effect.Effect<FileEntry, SandboxError> => {
          calls.stat++
          if (path === "/forbidden") {
            return Effect.fail(new PermissionDenied({ provider: name, sandboxId: id, message: "no" }))
          }
          const data = s.files.get(path)
          if (data !== undefined) return Effect.succeed(entry(path, "file", data.length))
          if ([...s.files.keys()].some((p) => p.startsWith(path + "/"))) return Effect.succeed(entry(path, "directory"))
          return Effect.fail(fileNotFound(id, path))
        })
    }
    if (options.fastBulk !== true) return base
    return {
      ...base,
      upload: (directory, files) =>
        Effect.gen(function*() {
          calls.upload++
          const s = yield* stored(id)
          return yield* files.pipe(
            Stream.runFold(() => 0, (n, file: FileData) => {
              s.files.set(`${directory}/${file.path}`, file.data)
              return n + 1
            })
          )
        }),
      download: (directory) =>
        Stream.unwrap(Effect.map(stored(id), (s) => {
          calls.download++
          const prefix = directory + "/"
          return Stream.fromIterable(
            [...s.files].filter(([p]) => p.startsWith(prefix)).map(([p, data]) => ({ path: p.slice(prefix.length), data }))
          )
        }))
    }
  }

  const driverSandbox = (id: string): DriverSandbox => {
    const full: DriverSandbox = {
      info: sandboxes.get(id)!.info,
      refresh: Effect.map(stored(id), (s) => s.info),
      exec: (command) =>
        Effect.gen(function*() {
          calls.exec++
          yield* failQueued("exec")
          return { exitCode: 0, stdout: JSON.stringify(command), stderr: "", durationMs: 1, truncated: false }
        }),
      execStream: () => {
        calls.execStream++
        return Stream.fromIterable<ExecEvent>([{ _tag: "Stdout", data: text("hi") }, { _tag: "Exit", exitCode: 0 }])
      },
      spawn: () =>
        Effect.sync(() => {
          calls.spawn++
          return {
            pid: "42",
            write: () => Effect.void,
            closeStdin: Effect.void,
            output: Stream.empty,
            wait: Effect.succeed(0),
            kill: () => Effect.void
          }
        }),
      files: makeFiles(id),
      exposePort: (port) =>
        Effect.sync(() => {
          calls.exposePort++
          return { port, url: `https://${id}-${port}.example.test` }
        }),
      runCode: (code, opts) =>
        Effect.sync(() => {
          calls.runCode++
          runCodeLanguages.push(opts.language)
          return { stdout: code, stderr: "", results: [] }
        }),
      setTimeout: () => Effect.sync(() => void calls.setTimeout++),
      pause: Effect.flatMap(stored(id), (s) =>
        Effect.sync(() => {
          calls.pause++
          s.info = { ...s.info, state: "paused" }
        })),
      resume: Effect.flatMap(stored(id), (s) =>
        Effect.sync(() => {
          calls.resume++
          s.info = { ...s.info, state: "running" }
        }))
    }
    const omit = new Set<string>(options.omit ?? [])
    return Object.fromEntries(Object.entries(full).filter(([key]) => !omit.has(key))) as unknown as DriverSandbox
  }

  /** Put a sandbox in the store directly, as another program (or another tool) would have. */
  const seed = (info: Partial<SandboxInfo> & { readonly id: string }, files: Record<string, string> = {}) => {
    sandboxes.set(info.id, {
      info: { provider: name, state: "running", labels: {}, createdAt: new Date(0), workdir: "/", ...info },
      files: new Map(Object.entries(files).map(([p, s]) => [p, text(s)]))
    })
  }

  const driver: SandboxDriver = {
    name,
    capabilities,
    create: (spec) =>
      Effect.gen(function*() {
        calls.create++
        yield* failQueued("create")
        if (options.createDelay !== undefined) yield* Effect.sleep(options.createDelay)
        const id = `sb-${++counter}`
        specs.push(spec)
        sandboxes.set(id, {
          info: {
            id,
            provider: name,
            name: spec.name,
            state: "running",
            labels: spec.labels,
            createdAt: new Date(yield* Clock.currentTimeMillis),
            image: spec.image,
            workdir: spec.cwd ?? "/home/user"
          },
          files: new Map()
        })
        return driverSandbox(id)
      }),
    connect: (id) =>
      Effect.gen(function*() {
        calls.connect++
        yield* failQueued("connect")
        yield* stored(id)
        return driverSandbox(id)
      }),
    list: (filter) =>
      Effect.gen(function*() {
        calls.list++
        yield* failQueued("list")
        return [...sandboxes.values()].map((s) => s.info).filter((info) =>
          Object.entries(filter.labels ?? {}).every(([k, v]) => info.labels[k] === v) &&
          (filter.state === undefined || info.state === filter.state)
        )
      }),
    destroy: (id) =>
      Effect.gen(function*() {
        calls.destroy++
        yield* failQueued("destroy")
        const error = destroyErrors.get(id)
        if (error !== undefined) return yield* Effect.fail(error)
        sandboxes.delete(id)
      })
  }

  return { driver, provider: makeProvider(driver), calls, sandboxes, failNext, destroyErrors, specs, runCodeLanguages, seed }
}

// ---------------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------------

const errorOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  const error = Exit.findErrorOption(exit)
  if (Option.isNone(error)) throw new Error(`expected a typed failure, got ${String(exit)}`)
  return error.value
}

const expectTag = (exit: Exit.Exit<unknown, SandboxError>, tag: SandboxError["_tag"]): SandboxError => {
  const error = errorOf(exit)
  assert.strictEqual(error._tag, tag, error.message)
  return error
}

const expectUnsupported = (exit: Exit.Exit<unknown, SandboxError>, capability: string) => {
  const error = expectTag(exit, "Unsupported")
  assert.instanceOf(error, Unsupported)
  assert.strictEqual((error as Unsupported).capability, capability)
}

/** Run `effect` in a fiber and advance the clock far enough for any retry schedule to finish. */
const runWithClock = <A, E>(effect: Effect.Effect<A, E>, enough: Duration.Input = "10 minutes") =>
  Effect.gen(function*() {
    const fiber = yield* Effect.forkChild(effect)
    yield* TestClock.adjust(enough)
    const exit = fiber.pollUnsafe()
    if (exit === undefined) throw new Error("the effect did not finish")
    return exit
  })

const detached = (fake: ReturnType<typeof makeFake>, spec: Parameters<typeof fake.provider.createDetached>[0] = {}) =>
  fake.provider.createDetached(spec)

// ---------------------------------------------------------------------------------------------------------------
// create / labels / validation
// ---------------------------------------------------------------------------------------------------------------

describe("create: labels and validation", () => {
  it.effect("adds sandkit.owner and sandkit.run to the user's labels", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const sandbox = yield* fake.provider.create({ labels: { team: "infra" } })
      const labels = fake.specs[0]!.labels
      assert.strictEqual(labels.team, "infra")
      assert.strictEqual(labels[OWNER_LABEL], "sandkit")
      assert.match(labels[RUN_LABEL]!, /^r[0-9a-f]{12}$/)
      assert.deepStrictEqual(Object.keys(labels).sort(), [OWNER_LABEL, RUN_LABEL, "team"].sort())
      assert.deepStrictEqual(sandbox.info.labels, labels)
      assert.strictEqual(sandbox.provider, "fake")
      assert.strictEqual(sandbox.id, "sb-1")
    }))

  it.effect("the run id is the same for every sandbox of one program run", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      yield* fake.provider.create()
      yield* fake.provider.createDetached()
      assert.strictEqual(fake.specs[0]!.labels[RUN_LABEL], fake.specs[1]!.labels[RUN_LABEL])
    }))

  it.effect("a SandkitRun override changes the labels", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      yield* fake.provider.create({ labels: { a: "b" } }).pipe(
        Effect.provideService(SandkitRun, { owner: "ci-bot", runId: "r000000000042" })
      )
      assert.deepStrictEqual(fake.specs[0]!.labels, { a: "b", [OWNER_LABEL]: "ci-bot", [RUN_LABEL]: "r000000000042" })
    }))

  it.effect("passes the validated spec through to the driver", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      yield* fake.provider.create({ image: "python:3.12", env: { A: "1" }, cwd: "/w", size: "small", name: "box" })
      const spec = fake.specs[0]!
      assert.strictEqual(spec.image, "python:3.12")
      assert.deepStrictEqual(spec.env, { A: "1" })
      assert.strictEqual(spec.cwd, "/w")
      assert.strictEqual(spec.size, "small")
      assert.strictEqual(spec.name, "box")
    }))

  const badSpecs: ReadonlyArray<readonly [string, unknown]> = [
    ["cpu 0", { resources: { cpu: 0 } }],
    ["a reserved label", { labels: { [OWNER_LABEL]: "me" } }],
    ["a bad env name", { env: { "A=B": "x" } }],
    ["image and template", { image: "a", template: "b" }],
    ["a zero lifetime", { lifetime: { maxLifetime: 0 } }]
  ]
  for (const [name, spec] of badSpecs) {
    it.effect(`bad input (${name}) fails with InvalidRequest and never reaches the driver`, () =>
      Effect.gen(function*() {
        const fake = makeFake()
        // Cast: these are deliberately outside the input type, as JavaScript callers can pass.
        const input = spec as Parameters<typeof fake.provider.create>[0]
        for (const exit of [
          yield* Effect.exit(fake.provider.create(input)),
          yield* Effect.exit(fake.provider.createDetached(input)),
          yield* Effect.exit(fake.provider.findOrCreate({ name: "box", ...(input === undefined ? {} : { spec: input }) }))
        ]) {
          const error = expectTag(exit, "InvalidRequest")
          assert.strictEqual(error.provider, "fake")
          assert.strictEqual((error as InvalidRequest).field, "spec")
        }
        assert.strictEqual(fake.calls.create, 0)
        assert.strictEqual(fake.calls.list, 0, "findOrCreate validates before looking anything up")
        assert.strictEqual(fake.sandboxes.size, 0)
      }))
  }

  it.effect("a null spec is bad input, not the defaults", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const input = null as unknown as Parameters<typeof fake.provider.create>[0]
      expectTag(yield* Effect.exit(fake.provider.createDetached(input)), "InvalidRequest")
      expectTag(yield* Effect.exit(fake.provider.findOrCreate({ name: "box", spec: input! })), "InvalidRequest")
      assert.strictEqual(fake.calls.create + fake.calls.list, 0)
    }))

  it.effect("findOrCreate rejects reserved labels and a merged spec over the label limit before looking anything up", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const error = expectTag(yield* Effect.exit(fake.provider.findOrCreate({ labels: { [OWNER_LABEL]: "someone" } })), "InvalidRequest")
      assert.strictEqual((error as InvalidRequest).field, "findOrCreate options")
      const many = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`s${i}`, "v"]))
      const more = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`f${i}`, "v"]))
      expectTag(yield* Effect.exit(fake.provider.findOrCreate({ labels: more, spec: { labels: many } })), "InvalidRequest")
      assert.strictEqual(fake.calls.list + fake.calls.create, 0)
    }))

  it.effect("deleteSnapshot with null or a ref without a string id is InvalidRequest, not a defect", () =>
    Effect.gen(function*() {
      const fake = makeFake({ capabilities: { snapshot: true } })
      let deletes = 0
      const provider = makeProvider({ ...fake.driver, deleteSnapshot: () => Effect.sync(() => void deletes++) })
      for (const ref of [null, undefined, { id: 42 }, {}]) {
        const exit = yield* Effect.exit(provider.deleteSnapshot(ref as unknown as string))
        assert.strictEqual((expectTag(exit, "InvalidRequest") as InvalidRequest).field, "snapshot id")
      }
      yield* provider.deleteSnapshot("snap-1")
      assert.strictEqual(deletes, 1)
    }))

  it.effect("isolation: \"strict\" on a process-isolated driver is Unsupported, before any create", () =>
    Effect.gen(function*() {
      const fake = makeFake({ capabilities: { isolation: "process" } })
      const exit = yield* Effect.exit(fake.provider.create({ isolation: "strict" }))
      expectUnsupported(exit, "isolation:strict")
      assert.strictEqual(fake.calls.create, 0)
      // "any" is fine there, and "strict" is fine on a real boundary.
      yield* fake.provider.create({ isolation: "any" })
      const sandboxed = makeFake({ capabilities: { isolation: "namespaces" } })
      yield* sandboxed.provider.create({ isolation: "strict" })
      assert.strictEqual(fake.calls.create + sandboxed.calls.create, 2)
    }))

  it.effect("layerFromDriver provides the SandboxProvider service", () =>
    Effect.gen(function*() {
      const fake = makeFake({ name: "layered" })
      const provider = yield* Effect.gen(function*() {
        return yield* SandboxProvider
      }).pipe(Effect.provide(layerFromDriver(Effect.succeed(fake.driver))))
      assert.strictEqual(provider.name, "layered")
      assert.deepStrictEqual(provider.capabilities, fake.driver.capabilities)
      yield* provider.createDetached()
      assert.strictEqual(fake.calls.create, 1)
    }))
})

// ---------------------------------------------------------------------------------------------------------------
// lifetimes
// ---------------------------------------------------------------------------------------------------------------

describe("create: scoped lifetime", () => {
  it.effect("destroys the sandbox when the scope closes after success", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const id = yield* Effect.scoped(
        Effect.gen(function*() {
          const sandbox = yield* fake.provider.create()
          assert.isTrue(fake.sandboxes.has(sandbox.id), "alive inside the scope")
          return sandbox.id
        })
      )
      assert.isFalse(fake.sandboxes.has(id))
      assert.strictEqual(fake.calls.destroy, 1)
    }))

  it.effect("destroys the sandbox when the scope closes after a failure", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const exit = yield* Effect.exit(Effect.scoped(
        Effect.gen(function*() {
          yield* fake.provider.create()
          return yield* Effect.fail("boom" as const)
        })
      ))
      assert.deepStrictEqual(exit, Exit.fail("boom"))
      assert.strictEqual(fake.sandboxes.size, 0)
      assert.strictEqual(fake.calls.destroy, 1)
    }))

  it.effect("destroys the sandbox when the fiber is interrupted", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const fiber = yield* Effect.forkChild(Effect.scoped(Effect.andThen(fake.provider.create(), Effect.never)))
      yield* TestClock.adjust(0)
      assert.strictEqual(fake.sandboxes.size, 1)
      yield* Fiber.interrupt(fiber)
      assert.strictEqual(fake.sandboxes.size, 0)
      assert.strictEqual(fake.calls.destroy, 1)
    }))

  it.effect("an interrupt during create waits for the sandbox, then destroys it (no leak)", () =>
    Effect.gen(function*() {
      const fake = makeFake({ createDelay: "1 second" })
      const fiber = yield* Effect.forkChild(Effect.scoped(Effect.andThen(fake.provider.create(), Effect.never)))
      yield* TestClock.adjust(0)
      assert.strictEqual(fake.calls.create, 1)
      assert.strictEqual(fake.sandboxes.size, 0, "still creating")
      const interrupter = yield* Effect.forkChild(Fiber.interrupt(fiber))
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(interrupter)
      assert.isTrue(Exit.hasInterrupts(yield* Fiber.await(fiber)))
      assert.strictEqual(fake.calls.destroy, 1)
      assert.strictEqual(fake.sandboxes.size, 0)
    }))

  it.effect("a failing destroy at scope close does not fail the scope", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const exit = yield* Effect.exit(Effect.scoped(
        Effect.gen(function*() {
          const sandbox = yield* fake.provider.create()
          fake.destroyErrors.set(sandbox.id, new PermissionDenied({ provider: "fake", message: "nope" }))
          return sandbox.id
        })
      ))
      assert.deepStrictEqual(exit, Exit.succeed("sb-1"))
      assert.strictEqual(fake.calls.destroy, 1)
    }))

  it.effect("createDetached is not destroyed when the scope closes", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const id = yield* Effect.scoped(Effect.map(fake.provider.createDetached(), (s) => s.id))
      assert.isTrue(fake.sandboxes.has(id))
      assert.strictEqual(fake.calls.destroy, 0)
      // …until destroyed explicitly; destroying again is fine.
      yield* fake.provider.destroy(id)
      yield* fake.provider.destroy(id)
      assert.isFalse(fake.sandboxes.has(id))
    }))

  it.effect("sandbox.destroy destroys now", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const sandbox = yield* detached(fake)
      yield* sandbox.destroy
      assert.strictEqual(fake.sandboxes.size, 0)
    }))

  it.effect("destroy validates the id", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      expectTag(yield* Effect.exit(fake.provider.destroy("../x")), "InvalidRequest")
      assert.strictEqual(fake.calls.destroy, 0)
    }))
})

// ---------------------------------------------------------------------------------------------------------------
// capabilities
// ---------------------------------------------------------------------------------------------------------------

/** Call every optional capability of `sandbox`, each as an Exit, by the capability name it needs. */
type AnyExit = Exit.Exit<unknown, SandboxError>

const everyCapability = (sandbox: Sandbox) =>
  Effect.gen(function*(): Effect.fn.Return<{
    readonly execStream: AnyExit
    readonly spawn: AnyExit
    readonly files: ReadonlyArray<AnyExit>
    readonly bulkTransfer: ReadonlyArray<AnyExit>
    readonly exposePort: AnyExit
    readonly runCode: AnyExit
    readonly setTimeout: AnyExit
    readonly pause: ReadonlyArray<AnyExit>
  }> {
    return {
      execStream: yield* Effect.exit(Stream.runCollect(sandbox.execStream("echo hi"))),
      spawn: yield* Effect.exit(Effect.scoped(sandbox.spawn("sleep 1"))),
      files: [
        yield* Effect.exit(sandbox.files.read("/a")),
        yield* Effect.exit(sandbox.files.readText("/a")),
        yield* Effect.exit(sandbox.files.write("/a", "x")),
        yield* Effect.exit(sandbox.files.list("/")),
        yield* Effect.exit(sandbox.files.mkdir("/d")),
        yield* Effect.exit(sandbox.files.remove("/a")),
        yield* Effect.exit(sandbox.files.stat("/a")),
        yield* Effect.exit(sandbox.files.exists("/a"))
      ],
      bulkTransfer: [
        yield* Effect.exit(sandbox.files.upload("/d", [{ path: "a", data: text("x") }])),
        yield* Effect.exit(Stream.runCollect(sandbox.files.download("/d")))
      ],
      exposePort: yield* Effect.exit(sandbox.exposePort(8080)),
      runCode: yield* Effect.exit(sandbox.runCode("print(1)")),
      setTimeout: yield* Effect.exit(sandbox.setTimeout("10 minutes")),
      pause: [yield* Effect.exit(sandbox.pause), yield* Effect.exit(sandbox.resume)]
    }
  })

const checkAllUnsupported = (result: Effect.Success<ReturnType<typeof everyCapability>>) => {
  expectUnsupported(result.execStream, "execStream")
  expectUnsupported(result.spawn, "spawn")
  for (const exit of result.files) expectUnsupported(exit, "files")
  for (const exit of result.bulkTransfer) expectUnsupported(exit, "bulkTransfer")
  expectUnsupported(result.exposePort, "exposePort")
  expectUnsupported(result.runCode, "runCode")
  expectUnsupported(result.setTimeout, "setTimeout")
  for (const exit of result.pause) expectUnsupported(exit, "pause")
}

describe("capabilities", () => {
  it.effect("undeclared capabilities fail with Unsupported naming the capability, without calling the driver", () =>
    Effect.gen(function*() {
      // The driver implements everything but declares nothing: the declaration is what counts.
      const fake = makeFake({ capabilities: noCapabilities })
      const sandbox = yield* detached(fake)
      checkAllUnsupported(yield* everyCapability(sandbox))
      const c = fake.calls
      assert.deepStrictEqual(
        [c.execStream, c.spawn, c.read, c.write, c.stat, c.listFiles, c.exposePort, c.runCode, c.setTimeout, c.pause, c.resume],
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
      )
    }))

  it.effect("declared but not implemented by the driver is Unsupported too", () =>
    Effect.gen(function*() {
      const fake = makeFake({
        omit: ["execStream", "spawn", "files", "exposePort", "runCode", "setTimeout", "pause", "resume"]
      })
      checkAllUnsupported(yield* everyCapability(yield* detached(fake)))
    }))

  it.effect("declared and implemented capabilities work", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const result = yield* everyCapability(yield* detached(fake))
      assert.isTrue(Exit.isSuccess(result.execStream))
      assert.isTrue(Exit.isSuccess(result.spawn))
      assert.isTrue(Exit.isSuccess(result.exposePort))
      assert.isTrue(Exit.isSuccess(result.runCode))
      assert.isTrue(Exit.isSuccess(result.setTimeout))
      for (const exit of result.pause) assert.isTrue(Exit.isSuccess(exit))
      for (const exit of result.bulkTransfer) assert.isTrue(Exit.isSuccess(exit))
      assert.strictEqual(fake.calls.exposePort, 1)
      assert.strictEqual(fake.calls.setTimeout, 1)
    }))

  it.effect("runCode with a language the provider does not list is Unsupported runCode:<lang>", () =>
    Effect.gen(function*() {
      const fake = makeFake({ capabilities: { runCode: ["python"] } })
      const sandbox = yield* detached(fake)
      expectUnsupported(yield* Effect.exit(sandbox.runCode("puts 1", { language: "ruby" })), "runCode:ruby")
      assert.strictEqual(fake.calls.runCode, 0)
      // Without a language, the first declared one is used.
      const result = yield* sandbox.runCode("print(1)")
      assert.strictEqual(result.stdout, "print(1)")
      assert.deepStrictEqual(fake.runCodeLanguages, ["python"])
    }))

  it.effect("runCode rejects NUL in the code and a bad language name with InvalidRequest", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const sandbox = yield* detached(fake)
      expectTag(yield* Effect.exit(sandbox.runCode("a\u0000b")), "InvalidRequest")
      expectTag(yield* Effect.exit(sandbox.runCode("x", { language: "Python 3" })), "InvalidRequest")
      assert.strictEqual(fake.calls.runCode, 0)
    }))

  it.effect("operations validate their input before the capability check and the driver", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const sandbox = yield* detached(fake)
      expectTag(yield* Effect.exit(sandbox.exec("")), "InvalidRequest")
      expectTag(yield* Effect.exit(sandbox.exec("ls", { timeout: 0 })), "InvalidRequest")
      expectTag(yield* Effect.exit(sandbox.exposePort(0)), "InvalidRequest")
      expectTag(yield* Effect.exit(sandbox.setTimeout(-1)), "InvalidRequest")
      expectTag(yield* Effect.exit(sandbox.files.read("")), "InvalidRequest")
      expectTag(yield* Effect.exit(Stream.runCollect(sandbox.execStream([]))), "InvalidRequest")
      assert.strictEqual(fake.calls.exec + fake.calls.exposePort + fake.calls.setTimeout + fake.calls.read, 0)
      assert.strictEqual(fake.calls.execStream, 0)
    }))

  it.effect("exec is not retried on ProviderUnavailable (it may have run) but is on RateLimited", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const sandbox = yield* detached(fake)
      fake.failNext.exec.push(new ProviderUnavailable({ provider: "fake", message: "reset" }))
      expectTag(yield* runWithClock(sandbox.exec("ls")), "ProviderUnavailable")
      assert.strictEqual(fake.calls.exec, 1)
      fake.failNext.exec.push(new RateLimited({ provider: "fake", message: "429" }))
      const exit = yield* runWithClock(sandbox.exec(["ls", "-l"]))
      assert.isTrue(Exit.isSuccess(exit))
      assert.strictEqual(fake.calls.exec, 3)
    }))
})

// ---------------------------------------------------------------------------------------------------------------
// reap
// ---------------------------------------------------------------------------------------------------------------

describe("reap", () => {
  it.effect("destroys only sandboxes with the sandkit.owner label", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      yield* detached(fake)
      yield* detached(fake)
      fake.seed({ id: "foreign", labels: { team: "infra" } })
      fake.seed({ id: "half-labelled", labels: { [RUN_LABEL]: "r1" } })
      const report = yield* fake.provider.reap()
      assert.deepStrictEqual([...report.destroyed].sort(), ["sb-1", "sb-2"])
      assert.deepStrictEqual(report.failed, [])
      assert.isFalse(report.dryRun)
      assert.deepStrictEqual([...fake.sandboxes.keys()].sort(), ["foreign", "half-labelled"])
      assert.strictEqual(fake.calls.destroy, 2)
    }))

  it.effect("honours olderThan (TestClock)", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const old = yield* detached(fake)
      yield* TestClock.adjust("10 minutes")
      const young = yield* detached(fake)
      yield* TestClock.adjust("1 minute")
      const report = yield* fake.provider.reap({ olderThan: "5 minutes" })
      assert.deepStrictEqual(report.destroyed, [old.id])
      assert.isTrue(fake.sandboxes.has(young.id))
      // A sandbox exactly as old as the cutoff counts as old enough.
      const exact = yield* fake.provider.reap({ olderThan: "1 minute" })
      assert.deepStrictEqual(exact.destroyed, [young.id])
    }))

  it.effect("olderThan keeps everything younger", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      yield* detached(fake)
      yield* TestClock.adjust("30 seconds")
      const report = yield* fake.provider.reap({ olderThan: "1 minute" })
      assert.deepStrictEqual(report.destroyed, [])
      assert.strictEqual(fake.sandboxes.size, 1)
      assert.strictEqual(fake.calls.destroy, 0)
    }))

  it.effect("dryRun reports and destroys nothing", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      yield* detached(fake)
      fake.seed({ id: "foreign" })
      const report = yield* fake.provider.reap({ dryRun: true })
      assert.deepStrictEqual(report, { destroyed: ["sb-1"], failed: [], dryRun: true })
      assert.strictEqual(fake.calls.destroy, 0)
      assert.strictEqual(fake.sandboxes.size, 2)
    }))

  it.effect("filters by labels, e.g. one run's leftovers", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      yield* detached(fake).pipe(Effect.provideService(SandkitRun, { owner: "sandkit", runId: "rrun1" }))
      yield* detached(fake).pipe(Effect.provideService(SandkitRun, { owner: "sandkit", runId: "rrun2" }))
      const report = yield* fake.provider.reap({ labels: { [RUN_LABEL]: "rrun1" } })
      assert.deepStrictEqual(report.destroyed, ["sb-1"])
      assert.deepStrictEqual([...fake.sandboxes.keys()], ["sb-2"])
    }))

  it.effect("a sandbox that cannot be destroyed is reported, the others are still destroyed", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      yield* detached(fake)
      yield* detached(fake)
      const denied = new PermissionDenied({ provider: "fake", sandboxId: "sb-1", message: "not yours" })
      fake.destroyErrors.set("sb-1", denied)
      const report = yield* fake.provider.reap()
      assert.deepStrictEqual(report.destroyed, ["sb-2"])
      assert.deepStrictEqual(report.failed, [{ id: "sb-1", error: denied }])
    }))

  it.effect("orphaned: true reaps only sandboxes whose creator is gone", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const owner = { [OWNER_LABEL]: "sandkit", [RUN_LABEL]: "rold" }
      fake.seed({ id: "orphan", labels: owner, orphaned: true })
      fake.seed({ id: "alive", labels: owner, orphaned: false })
      fake.seed({ id: "unknown", labels: owner })
      fake.seed({ id: "foreign-orphan", orphaned: true })
      const report = yield* fake.provider.reap({ orphaned: true })
      assert.deepStrictEqual(report.destroyed, ["orphan"])
      assert.deepStrictEqual([...fake.sandboxes.keys()].sort(), ["alive", "foreign-orphan", "unknown"])
    }))

  it.effect("bad options fail with InvalidRequest before listing", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      expectTag(yield* Effect.exit(fake.provider.reap({ olderThan: 0 })), "InvalidRequest")
      assert.strictEqual(fake.calls.list, 0)
    }))
})

// ---------------------------------------------------------------------------------------------------------------
// findOrCreate / connect / list
// ---------------------------------------------------------------------------------------------------------------

describe("findOrCreate", () => {
  it.effect("attaches to a running sandbox by name and leaves it running at scope close", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const existing = yield* detached(fake, { name: "box" })
      const id = yield* Effect.scoped(Effect.map(fake.provider.findOrCreate({ name: "box" }), (s) => s.id))
      assert.strictEqual(id, existing.id)
      assert.strictEqual(fake.calls.create, 1, "nothing new created")
      assert.strictEqual(fake.calls.connect, 1)
      assert.isTrue(fake.sandboxes.has(id), "attached sandbox survives the scope")
      assert.strictEqual(fake.calls.destroy, 0)
    }))

  it.effect("attaches by labels", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      fake.seed({ id: "other", labels: { team: "b" } })
      fake.seed({ id: "mine", labels: { team: "a", env: "dev" } })
      const sandbox = yield* fake.provider.findOrCreate({ labels: { team: "a" } })
      assert.strictEqual(sandbox.id, "mine")
      assert.strictEqual(fake.calls.create, 0)
    }))

  it.effect("creates when nothing matches, and destroys what it created at scope close", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      fake.seed({ id: "other", name: "not-box" })
      const id = yield* Effect.scoped(
        Effect.gen(function*() {
          const sandbox = yield* fake.provider.findOrCreate({ name: "box", labels: { team: "a" }, spec: { image: "x", labels: { b: "c" } } })
          assert.isTrue(fake.sandboxes.has(sandbox.id))
          return sandbox.id
        })
      )
      assert.strictEqual(fake.calls.create, 1)
      const spec = fake.specs[0]!
      assert.strictEqual(spec.name, "box")
      assert.strictEqual(spec.image, "x")
      assert.strictEqual(spec.labels.team, "a")
      assert.strictEqual(spec.labels.b, "c")
      assert.isDefined(spec.labels[OWNER_LABEL])
      assert.isFalse(fake.sandboxes.has(id), "created sandbox destroyed at scope close")
      assert.isTrue(fake.sandboxes.has("other"))
    }))

  it.effect("ignores stopped sandboxes and resumes paused ones", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      fake.seed({ id: "stopped", name: "box", state: "stopped" })
      const created = yield* fake.provider.findOrCreate({ name: "box" })
      assert.notStrictEqual(created.id, "stopped")
      assert.strictEqual(fake.calls.create, 1)

      const other = makeFake()
      other.seed({ id: "napping", name: "box", state: "paused" })
      const resumed = yield* other.provider.findOrCreate({ name: "box" })
      assert.strictEqual(resumed.id, "napping")
      assert.strictEqual(other.calls.resume, 1)
      assert.strictEqual(other.sandboxes.get("napping")!.info.state, "running")
    }))

  it.effect("needs a name or labels (InvalidRequest, nothing listed)", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      expectTag(yield* Effect.exit(fake.provider.findOrCreate({})), "InvalidRequest")
      expectTag(yield* Effect.exit(fake.provider.findOrCreate({ labels: {} })), "InvalidRequest")
      assert.strictEqual(fake.calls.list, 0)
    }))
})

describe("connect", () => {
  it.effect("a missing sandbox is SandboxNotFound after exactly 1 driver call (not retried)", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const exit = yield* runWithClock(fake.provider.connect("gone"))
      const error = expectTag(exit, "SandboxNotFound")
      assert.strictEqual(error.sandboxId, "gone")
      assert.strictEqual(fake.calls.connect, 1)
    }))

  it.effect("re-attaches to an existing sandbox", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      fake.seed({ id: "sb-x", name: "n" })
      const sandbox = yield* fake.provider.connect("sb-x")
      assert.strictEqual(sandbox.id, "sb-x")
      assert.strictEqual(sandbox.info.name, "n")
    }))

  it.effect("transient errors while connecting are retried", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      fake.seed({ id: "sb-x" })
      fake.failNext.connect.push(new ProviderUnavailable({ provider: "fake", message: "502" }))
      const exit = yield* runWithClock(fake.provider.connect("sb-x"))
      assert.isTrue(Exit.isSuccess(exit))
      assert.strictEqual(fake.calls.connect, 2)
    }))

  it.effect("a bad id is InvalidRequest with no driver call", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const error = expectTag(yield* Effect.exit(fake.provider.connect("../x")), "InvalidRequest")
      assert.strictEqual((error as InvalidRequest).field, "sandbox id")
      assert.strictEqual(fake.calls.connect, 0)
    }))
})

describe("retries through the provider", () => {
  it.effect("transient errors from list are retried", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      fake.seed({ id: "a" })
      fake.failNext.list.push(
        new ProviderUnavailable({ provider: "fake", status: 503, message: "503" }),
        new RateLimited({ provider: "fake", message: "429", retryAfter: Duration.seconds(2) })
      )
      const exit = yield* runWithClock(fake.provider.list())
      assert.isTrue(Exit.isSuccess(exit))
      assert.strictEqual(fake.calls.list, 3)
    }))

  it.effect("list gives up after the schedule's 6 attempts", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      for (let i = 0; i < 10; i++) fake.failNext.list.push(new ProviderUnavailable({ provider: "fake", message: `#${i}` }))
      expectTag(yield* runWithClock(fake.provider.list()), "ProviderUnavailable")
      assert.strictEqual(fake.calls.list, 6)
    }))

  it.effect("permanent errors from list are not retried", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      fake.failNext.list.push(new AuthenticationFailed({ provider: "fake", message: "401" }))
      expectTag(yield* runWithClock(fake.provider.list()), "AuthenticationFailed")
      assert.strictEqual(fake.calls.list, 1)
    }))

  it.effect("list validates its filter and filters by labels and state", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      fake.seed({ id: "a", labels: { k: "v" } })
      fake.seed({ id: "b", labels: { k: "v" }, state: "paused" })
      fake.seed({ id: "c" })
      const found = yield* fake.provider.list({ labels: { k: "v" }, state: "paused" })
      assert.deepStrictEqual(found.map((i) => i.id), ["b"])
      expectTag(yield* Effect.exit(fake.provider.list({ labels: { "bad key": "v" } })), "InvalidRequest")
      assert.strictEqual(fake.calls.list, 1)
    }))

  it.effect("create is retried on RateLimited", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      fake.failNext.create.push(new RateLimited({ provider: "fake", message: "429", retryAfter: Duration.seconds(1) }))
      const exit = yield* runWithClock(fake.provider.createDetached())
      assert.isTrue(Exit.isSuccess(exit))
      assert.strictEqual(fake.calls.create, 2)
      assert.strictEqual(fake.sandboxes.size, 1)
    }))

  it.effect("create is not retried on ProviderUnavailable (the sandbox may exist)", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      fake.failNext.create.push(new ProviderUnavailable({ provider: "fake", message: "reset" }))
      expectTag(yield* runWithClock(Effect.scoped(fake.provider.create())), "ProviderUnavailable")
      assert.strictEqual(fake.calls.create, 1)
      assert.strictEqual(fake.calls.destroy, 0, "nothing acquired, nothing to release")
    }))

  it.effect("destroy is retried on transient errors", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const sandbox = yield* detached(fake)
      fake.failNext.destroy.push(new ProviderUnavailable({ provider: "fake", message: "503" }))
      const exit = yield* runWithClock(fake.provider.destroy(sandbox.id))
      assert.isTrue(Exit.isSuccess(exit))
      assert.strictEqual(fake.calls.destroy, 2)
      assert.strictEqual(fake.sandboxes.size, 0)
    }))
})

// ---------------------------------------------------------------------------------------------------------------
// files
// ---------------------------------------------------------------------------------------------------------------

describe("files", () => {
  it.effect("write, read, readText, stat, list round-trip", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const sandbox = yield* detached(fake)
      yield* sandbox.files.write("/w/a.txt", "héllo")
      yield* sandbox.files.write("/w/b.bin", new Uint8Array([0, 1, 2]))
      assert.strictEqual(yield* sandbox.files.readText("/w/a.txt"), "héllo")
      assert.deepStrictEqual(yield* sandbox.files.read("/w/b.bin"), new Uint8Array([0, 1, 2]))
      assert.strictEqual((yield* sandbox.files.stat("/w/b.bin")).size, 3)
      assert.deepStrictEqual((yield* sandbox.files.list("/w")).map((e) => e.name).sort(), ["a.txt", "b.bin"])
    }))

  it.effect("exists maps FileNotFound to false and passes other errors through", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const sandbox = yield* detached(fake)
      yield* sandbox.files.write("/here", "x")
      assert.isTrue(yield* sandbox.files.exists("/here"))
      assert.isFalse(yield* sandbox.files.exists("/not-here"))
      expectTag(yield* Effect.exit(sandbox.files.exists("/forbidden")), "PermissionDenied")
      expectTag(yield* Effect.exit(sandbox.files.read("/not-here")), "FileNotFound")
    }))

  const badPaths = ["../x", "/etc/passwd", "a/../../b", "a//b", "", "a/", "./..", "x\u0000y"]
  for (const fastBulk of [false, true]) {
    it.effect(`upload rejects unsafe relative paths with InvalidRequest (${fastBulk ? "driver upload" : "fallback"})`, () =>
      Effect.gen(function*() {
        const fake = makeFake({ fastBulk })
        const sandbox = yield* detached(fake)
        for (const path of badPaths) {
          const exit = yield* Effect.exit(sandbox.files.upload("/dst", [{ path, data: text("evil") }]))
          const error = expectTag(exit, "InvalidRequest")
          assert.strictEqual((error as InvalidRequest).field, "path")
          assert.strictEqual(error.sandboxId, sandbox.id)
        }
        assert.strictEqual(fake.calls.write, 0)
        assert.strictEqual(fake.sandboxes.get(sandbox.id)!.files.size, 0, "nothing written")
        // The target directory itself is validated too.
        expectTag(yield* Effect.exit(sandbox.files.upload("", [])), "InvalidRequest")
      }))
  }

  for (const fastBulk of [false, true]) {
    it.effect(`upload checks an array whole, file data and the input's type before anything is written (${fastBulk ? "driver upload" : "fallback"})`, () =>
      Effect.gen(function*() {
        const fake = makeFake({ fastBulk })
        const sandbox = yield* detached(fake)
        const untyped = (u: unknown) => u as Parameters<typeof sandbox.files.upload>[1]
        const cases: ReadonlyArray<readonly [unknown, string]> = [
          [[{ path: "ok.txt", data: text("ok") }, { path: "../escape.txt", data: text("x") }], "path"],
          [[{ path: "a.txt", data: "not bytes" }], "files"],
          [[null], "files"],
          [42, "files"],
          [null, "files"]
        ]
        for (const [files, field] of cases) {
          const error = expectTag(yield* Effect.exit(sandbox.files.upload("/dst", untyped(files))), "InvalidRequest")
          assert.strictEqual((error as InvalidRequest).field, field, error.message)
        }
        assert.strictEqual(fake.calls.upload + fake.calls.write, 0, "nothing reached the driver")
        assert.strictEqual(fake.sandboxes.get(sandbox.id)!.files.size, 0, "nothing written")
      }))
  }

  it.effect("write rejects data that is neither a string nor bytes, before the driver", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const sandbox = yield* detached(fake)
      for (const data of [42, null, [1, 2], { length: 1 }]) {
        const exit = yield* Effect.exit(sandbox.files.write("/a", data as unknown as string))
        assert.strictEqual((expectTag(exit, "InvalidRequest") as InvalidRequest).field, "data")
      }
      assert.strictEqual(fake.calls.write, 0)
    }))

  it.effect("upload fallback (driver without upload) writes each file via write", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const sandbox = yield* detached(fake)
      const count = yield* sandbox.files.upload("/dst/", [
        { path: "a.txt", data: text("A") },
        { path: "sub/deep/b.txt", data: text("B") }
      ])
      assert.strictEqual(count, 2)
      assert.strictEqual(fake.calls.write, 2)
      assert.strictEqual(fake.calls.upload, 0)
      const files = fake.sandboxes.get(sandbox.id)!.files
      assert.deepStrictEqual([...files.keys()].sort(), ["/dst/a.txt", "/dst/sub/deep/b.txt"])
      assert.strictEqual(decoder.decode(files.get("/dst/sub/deep/b.txt")!), "B")
      // A Stream works as well as an Iterable.
      const streamed = yield* sandbox.files.upload("/s", Stream.make({ path: "c", data: text("C") }))
      assert.strictEqual(streamed, 1)
      assert.isTrue(files.has("/s/c"))
    }))

  it.effect("download fallback (driver without download) walks list + read, regular files only", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      fake.seed({ id: "sb-f" }, {
        "/special/a.txt": "A",
        "/special/sub/b.txt": "B",
        "/special/sub/deeper/c.txt": "C",
        "/elsewhere/d.txt": "D"
      })
      const sandbox = yield* fake.provider.connect("sb-f")
      const files = yield* Stream.runCollect(sandbox.files.download("/special"))
      assert.deepStrictEqual(
        files.map((f) => [f.path, decoder.decode(f.data)]).sort(),
        [["a.txt", "A"], ["sub/b.txt", "B"], ["sub/deeper/c.txt", "C"]]
      )
      assert.strictEqual(fake.calls.download, 0)
      assert.strictEqual(fake.calls.read, 3)
    }))

  it.effect("single-file operations retry transient errors", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const sandbox = yield* detached(fake)
      fake.failNext.write.push(new ProviderUnavailable({ provider: "fake", message: "503" }))
      assert.isTrue(Exit.isSuccess(yield* runWithClock(sandbox.files.write("/a", "A"))))
      fake.failNext.read.push(new ProviderUnavailable({ provider: "fake", message: "503" }))
      const exit = yield* runWithClock(sandbox.files.readText("/a"))
      assert.deepStrictEqual(exit, Exit.succeed("A"))
      assert.strictEqual(fake.calls.write, 2)
      assert.strictEqual(fake.calls.read, 2)
    }))

  it.effect("upload fallback retries a transient write error per file", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const sandbox = yield* detached(fake)
      fake.failNext.write.push(new ProviderUnavailable({ provider: "fake", message: "503" }))
      const exit = yield* runWithClock(sandbox.files.upload("/d", [{ path: "a", data: text("A") }, { path: "b", data: text("B") }]))
      assert.deepStrictEqual(exit, Exit.succeed(2))
      assert.strictEqual(fake.calls.write, 3)
    }))

  it.effect("download fallback retries transient list and read errors, like every other file operation", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      fake.seed({ id: "sb-f" }, { "/d/a.txt": "A", "/d/sub/b.txt": "B" })
      const sandbox = yield* fake.provider.connect("sb-f")
      fake.failNext.listFiles.push(new ProviderUnavailable({ provider: "fake", message: "503" }))
      fake.failNext.read.push(new RateLimited({ provider: "fake", message: "429" }))
      const exit = yield* runWithClock(Stream.runCollect(sandbox.files.download("/d")))
      assert.isTrue(Exit.isSuccess(exit), String(exit))
      if (Exit.isSuccess(exit)) assert.deepStrictEqual(exit.value.map((f) => f.path).sort(), ["a.txt", "sub/b.txt"])
    }))

  it.effect("download fallback does not retry permanent errors", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      fake.seed({ id: "sb-f" }, { "/d/a.txt": "A" })
      const sandbox = yield* fake.provider.connect("sb-f")
      fake.failNext.read.push(new PermissionDenied({ provider: "fake", message: "no" }))
      expectTag(yield* runWithClock(Stream.runCollect(sandbox.files.download("/d"))), "PermissionDenied")
      assert.strictEqual(fake.calls.read, 1)
    }))

  it.effect("download of a missing directory fails with FileNotFound", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const sandbox = yield* detached(fake)
      expectTag(yield* Effect.exit(Stream.runCollect(sandbox.files.download("/nope"))), "FileNotFound")
    }))

  it.effect("the driver's own upload / download are used when present", () =>
    Effect.gen(function*() {
      const fake = makeFake({ fastBulk: true })
      const sandbox = yield* detached(fake)
      const count = yield* sandbox.files.upload("/d", [{ path: "x/y.txt", data: text("Y") }])
      assert.strictEqual(count, 1)
      assert.strictEqual(fake.calls.upload, 1)
      assert.strictEqual(fake.calls.write, 0)
      const back = yield* Stream.runCollect(sandbox.files.download("/d"))
      assert.deepStrictEqual(back.map((f) => f.path), ["x/y.txt"])
      assert.strictEqual(fake.calls.download, 1)
      assert.strictEqual(fake.calls.read, 0)
    }))

  it.effect("upload → download round trip through the fallbacks", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const sandbox = yield* detached(fake)
      const input = [
        { path: "README.md", data: text("# hi") },
        { path: "src/index.ts", data: text("export {}") },
        { path: "src/lib/util.ts", data: new Uint8Array([255, 0, 7]) }
      ]
      yield* sandbox.files.upload("/project", input)
      const output = yield* Stream.runCollect(sandbox.files.download("/project"))
      const byPath = (a: FileData, b: FileData) => a.path.localeCompare(b.path)
      assert.deepStrictEqual([...output].sort(byPath), [...input].sort(byPath))
    }))
})
