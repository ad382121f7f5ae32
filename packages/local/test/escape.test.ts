/**
 * The escape battery: what code inside a local sandbox must not be able to do. Run once per isolation tier that works
 * on this host; a case the active tier cannot promise is skipped with the reason printed.
 */
import { assert, describe, it } from "@effect/vitest"
import { SandboxProvider, type Sandbox } from "@sandkit/core"
import { Effect, Layer } from "effect"
import { execFile, spawn } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { homedir, hostname, tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll } from "vitest"
import { LocalProvider } from "../src/index.ts"

const root = mkdtempSync(join(tmpdir(), "sandkit-escape-"))
const marker = Math.random().toString(36).slice(2, 10)
/** What the planted secrets contain (not in their names, which error messages may echo). */
const secret = "s" + Math.random().toString(36).slice(2, 12)
const homeSecret = join(homedir(), `.sandkit-escape-${marker}`)
const tmpSecret = join(tmpdir(), `sandkit-escape-secret-${marker}`)
writeFileSync(homeSecret, `home-${secret}`, { mode: 0o600 })
writeFileSync(tmpSecret, `tmp-${secret}`, { mode: 0o600 })
afterAll(() => {
  for (const path of [homeSecret, tmpSecret, root]) rmSync(path, { recursive: true, force: true })
})

const pgrep = (pattern: string) =>
  Effect.promise(() => new Promise<string>((resolve) => execFile("pgrep", ["-f", pattern], (_e, out) => resolve(out.trim()))))

const isRoot = process.getuid?.() === 0
const providerService = Effect.gen(function*() {
  return yield* SandboxProvider
})

interface Case {
  readonly name: string
  /**
   * What the case needs: "filesystem" a private view of the host's files (bubblewrap), "namespaces" private
   * pid/net/uts namespaces (bubblewrap, unshare), "own-uid" a uid per sandbox (Sandkit as root) or an unprivileged user.
   */
  readonly needs?: "filesystem" | "namespaces" | "own-uid"
  readonly run: (ctx: { sandbox: Sandbox; other: Sandbox; provider: SandboxProvider["Service"] }) => Effect.Effect<void, unknown>
}

const fails = (sandbox: Sandbox, command: string, secret?: string) =>
  Effect.gen(function*() {
    const result = yield* sandbox.exec(command)
    assert.notStrictEqual(result.exitCode, 0, `expected failure of: ${command}\n${result.stdout}${result.stderr}`)
    if (secret !== undefined) assert.notInclude(result.stdout + result.stderr, secret)
  })

const denied = (effect: Effect.Effect<unknown, { readonly _tag: string }>) =>
  Effect.gen(function*() {
    const error = yield* Effect.flip(effect)
    assert.strictEqual(error._tag, "PermissionDenied")
  })

const cases: ReadonlyArray<Case> = [
  { name: "cannot read a file in the host's home", needs: "filesystem", run: ({ sandbox }) => fails(sandbox, `cat ${homeSecret}`, secret) },
  { name: "cannot list /root", needs: "filesystem", run: ({ sandbox }) => fails(sandbox, "ls /root") },
  {
    name: "cannot read another sandbox's workspace",
    needs: "own-uid",
    run: ({ sandbox, other }) =>
      Effect.gen(function*() {
        yield* other.files.write("secret.txt", `other-${secret}`)
        yield* fails(sandbox, `cat ${other.info.workdir}/secret.txt`, secret)
      })
  },
  { name: "cannot read the host /tmp", needs: "filesystem", run: ({ sandbox }) => fails(sandbox, `cat ${tmpSecret}`, secret) },
  {
    name: "cannot write into system directories",
    needs: "filesystem",
    run: ({ sandbox }) =>
      Effect.gen(function*() {
        yield* fails(sandbox, `echo x > /usr/sandkit-escape-${marker}`)
        yield* fails(sandbox, `echo x > /etc/sandkit-escape-${marker}`)
        assert.isFalse(existsSync(`/usr/sandkit-escape-${marker}`) || existsSync(`/etc/sandkit-escape-${marker}`))
      })
  },
  {
    name: "cannot write into another sandbox's workspace",
    needs: "own-uid",
    run: ({ sandbox, other }) =>
      Effect.gen(function*() {
        yield* fails(sandbox, `echo x > ${other.info.workdir}/planted`)
        assert.isFalse(yield* other.files.exists("planted"))
      })
  },
  {
    name: "writes to /tmp stay in the sandbox's own /tmp",
    needs: "filesystem",
    run: ({ sandbox }) =>
      Effect.gen(function*() {
        const path = `/tmp/sandkit-escape-write-${marker}`
        const result = yield* sandbox.exec(`echo inside > ${path} && cat ${path}`)
        assert.strictEqual(result.stdout, "inside\n")
        assert.isFalse(existsSync(path), "the write reached the host /tmp")
      })
  },
  {
    name: "cannot see host processes",
    needs: "namespaces",
    run: ({ sandbox }) =>
      Effect.gen(function*() {
        const result = yield* sandbox.exec("cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '")
        assert.notInclude(result.stdout, "vitest")
        assert.notInclude(result.stdout, "node")
      })
  },
  {
    name: "cannot signal a host process",
    needs: "namespaces",
    run: ({ sandbox }) =>
      Effect.gen(function*() {
        const victim = spawn("sleep", ["30"], { stdio: "ignore" })
        try {
          yield* sandbox.exec(`kill -9 ${victim.pid}`)
          yield* Effect.sleep("100 millis")
          assert.strictEqual(victim.exitCode, null, "a host process was killed from inside the sandbox")
          assert.strictEqual(victim.signalCode, null)
        } finally {
          victim.kill("SIGKILL")
        }
      })
  },
  {
    name: "cannot reach a TCP server on the host's 127.0.0.1 (network off by default)",
    needs: "namespaces",
    run: ({ sandbox }) =>
      Effect.gen(function*() {
        const server = createServer((socket) => socket.end(`hello-${secret}`))
        const port = yield* Effect.promise(() => new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port))))
        try {
          yield* fails(sandbox, `bash -c 'exec 3<>/dev/tcp/127.0.0.1/${port} && cat <&3'`, secret)
        } finally {
          server.close()
        }
      })
  },
  {
    name: "a background job does not survive the sandbox's destruction",
    run: ({ provider }) =>
      Effect.gen(function*() {
        const sandbox = yield* provider.createDetached({ labels: { escape: marker } })
        yield* sandbox.exec(`(setsid sleep 987${marker.length}21 > /dev/null 2>&1 &) ; nohup sleep 987${marker.length}21 > /dev/null 2>&1 &`)
        yield* sandbox.destroy
        yield* Effect.sleep("200 millis")
        assert.strictEqual(yield* pgrep(`sleep 987${marker.length}21`), "")
      })
  },
  {
    name: "a fork bomb is stopped by the process limit",
    needs: "own-uid",
    run: ({ provider }) =>
      Effect.scoped(Effect.gen(function*() {
        const sandbox = yield* provider.create({ labels: { escape: marker } })
        const result = yield* sandbox.exec("i=0; while [ $i -lt 400 ]; do sleep 5 & i=$((i+1)); done; echo spawned", {
          timeout: "20 seconds"
        })
        assert.match(result.stderr, /fork|Resource temporarily unavailable|Cannot/i)
      }))
  },
  {
    name: "a memory hog is stopped by the memory limit",
    run: ({ provider }) =>
      Effect.scoped(Effect.gen(function*() {
        const sandbox = yield* provider.create({ labels: { escape: marker }, resources: { memoryMiB: 256 } })
        const result = yield* sandbox.exec("python3 -c 'x = bytearray(1 << 30); print(len(x))'")
        assert.notStrictEqual(result.exitCode, 0)
        assert.include(result.stderr, "MemoryError")
      }))
  },
  {
    name: "a file larger than the file-size limit is cut off (SIGXFSZ)",
    run: ({ sandbox }) =>
      Effect.gen(function*() {
        const result = yield* sandbox.exec("head -c 3000000 /dev/zero > big")
        assert.strictEqual(result.exitCode, 128 + 25)
        assert.isAtMost((yield* sandbox.files.stat("big")).size, 1024 * 1024)
      })
  },
  {
    name: "a busy loop is stopped by the CPU-time limit (SIGXCPU)",
    run: ({ sandbox }) =>
      Effect.gen(function*() {
        const result = yield* sandbox.exec("while :; do :; done", { timeout: "20 seconds" })
        assert.oneOf(result.exitCode, [128 + 24, 128 + 9])
      })
  },
  { name: "/etc/shadow is not there", needs: "filesystem", run: ({ sandbox }) => fails(sandbox, "cat /etc/shadow") },
  {
    name: "no host block devices",
    needs: "filesystem",
    run: ({ sandbox }) =>
      Effect.gen(function*() {
        const result = yield* sandbox.exec("ls /dev")
        assert.notMatch(result.stdout, /\b(sd[a-z]|vd[a-z]|nvme\d|xvd[a-z])\b/)
      })
  },
  {
    name: "its own hostname",
    needs: "namespaces",
    run: ({ sandbox }) =>
      Effect.gen(function*() {
        const result = yield* sandbox.exec("cat /proc/sys/kernel/hostname")
        assert.notStrictEqual(result.stdout.trim(), hostname())
      })
  },
  { name: "file API: .. is refused", run: ({ sandbox }) => denied(sandbox.files.read("../state.json")) },
  { name: "file API: absolute host paths are refused", run: ({ sandbox }) => denied(sandbox.files.read("/etc/passwd")) },
  {
    name: "file API: a symlink planted by sandboxed code is not followed out",
    run: ({ sandbox }) =>
      Effect.gen(function*() {
        yield* sandbox.exec(`ln -s ${homeSecret} leak`)
        yield* denied(sandbox.files.read("leak"))
      })
  },
  {
    name: "file API: a planted directory symlink is not followed out",
    run: ({ sandbox }) =>
      Effect.gen(function*() {
        yield* sandbox.exec(`ln -s ${homedir()} home`)
        yield* denied(sandbox.files.list("home"))
      })
  },
  {
    name: "file API: writes through a planted symlink are refused",
    run: ({ sandbox }) =>
      Effect.gen(function*() {
        yield* sandbox.exec(`ln -s ${tmpSecret} target`)
        yield* denied(sandbox.files.write("target", "overwritten"))
        assert.strictEqual(readFileSync(tmpSecret, "utf8"), `tmp-${secret}`)
      })
  },
  { name: "exec: a cwd outside the workspace is refused", run: ({ sandbox }) => denied(sandbox.exec("pwd", { cwd: "/" })) },
  {
    name: "the host environment is not passed in",
    run: ({ sandbox }) =>
      Effect.gen(function*() {
        const result = yield* sandbox.exec("env")
        for (const name of ["PATH_TO_SECRET", "npm_config_user_agent", "VITEST", "NODE_OPTIONS"]) {
          assert.notInclude(result.stdout, `${name}=`)
        }
      })
  },
  {
    name: "a timeout kills the whole process group",
    run: ({ sandbox }) =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(sandbox.exec(`sleep 98765${marker.length} & sleep 98765${marker.length}`, { timeout: 300 }))
        assert.strictEqual(error._tag, "CommandTimeout")
        yield* Effect.sleep("200 millis")
        assert.strictEqual(yield* pgrep(`sleep 98765${marker.length}`), "")
      })
  },
  {
    name: "output past maxOutputBytes is dropped and flagged",
    run: ({ sandbox }) =>
      Effect.gen(function*() {
        const result = yield* sandbox.exec("head -c 5000000 /dev/zero | tr '\\0' a", { maxOutputBytes: 1000 })
        assert.isTrue(result.truncated)
        assert.strictEqual(result.stdout.length, 1000)
      })
  },
  {
    name: "the workspace is private to its owner (mode 0700)",
    run: ({ sandbox }) =>
      Effect.sync(() => {
        assert.strictEqual(statSync(sandbox.info.workdir).mode & 0o777, 0o700)
      })
  }
]

const tiers = ["bubblewrap", "namespaces", "process"] as const
const limits = { fileSizeMiB: 1, cpuSeconds: 1, processes: 64 }

/** Which tiers work here, probed before the tests are registered so skips carry their reason up front. */
const tierFailures = new Map<string, string | undefined>()
for (const tier of tiers) {
  const built = await Effect.runPromise(Effect.result(LocalProvider.make({ root, isolation: tier, limits })))
  tierFailures.set(tier, built._tag === "Failure" ? built.failure.message : undefined)
}
const ownUid = isRoot || process.getuid?.() !== 0

/** Why `testCase` cannot run on `tier` here, or undefined when it can. */
const skipReason = (tier: (typeof tiers)[number], testCase: Case): string | undefined => {
  const unavailable = tierFailures.get(tier)
  if (unavailable !== undefined) return `the ${tier} tier is unavailable here (${unavailable})`
  if (testCase.needs === "namespaces" && tier === "process") return "the process tier is no security boundary and cannot promise this"
  if (testCase.needs === "filesystem" && tier !== "bubblewrap") return "only bubblewrap gives the sandbox a private view of the host's files"
  if (testCase.needs === "own-uid" && !ownUid) return "needs a uid per sandbox (run as root) or an unprivileged user"
  return undefined
}

for (const tier of tiers) {
  const layer = LocalProvider.layer({ root, isolation: tier, limits }) as Layer.Layer<SandboxProvider>
  describe(`escape battery (${tier})`, () => {
    for (const testCase of cases) {
      const reason = skipReason(tier, testCase)
      if (reason !== undefined) console.log(`skipped [${tier}] ${testCase.name}: ${reason}`)
      it.live.skipIf(reason !== undefined)(testCase.name, () =>
        Effect.gen(function*() {
          yield* Effect.scoped(Effect.gen(function*() {
            const provider = yield* SandboxProvider
            const sandbox = yield* provider.create({ labels: { escape: marker } })
            const other = yield* provider.create({ labels: { escape: marker } })
            yield* testCase.run({ sandbox, other, provider })
          }))
          const leftovers = yield* Effect.flatMap(providerService, (p) => p.list({ labels: { escape: marker } }))
          assert.deepStrictEqual(leftovers, [], "sandboxes left behind")
        }).pipe(Effect.provide(layer)))
    }
  })
}

describe("escape battery size", () => {
  it("has at least 20 cases", () => {
    console.log(`escape battery: ${cases.length} cases per tier, tiers: ${tiers.join(", ")}`)
    assert.isAtLeast(cases.length, 20)
  })
})
