/**
 * Drive the CLI as a subprocess, from source (`node --conditions=@sandkit/source src/main.ts`), with a local root and
 * a temporary directory of its own per test so nothing touches other tests. Nothing here waits for a duration: an
 * interactive session waits for a condition on the output, then acts.
 */
import { SandboxProvider, type SandboxInfo, type SandboxProviderShape } from "@sandkit/core"
import { LocalProvider } from "@sandkit/local"
import { Context, Effect, Layer, type Scope } from "effect"
import { spawn, spawnSync } from "node:child_process"
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

export const appDir = join(dirname(fileURLToPath(import.meta.url)), "..")
export const mainPath = join(appDir, "src", "main.ts")
export const cliArgv = ["--conditions=@sandkit/source", mainPath]

/** Variables that would change what the CLI does; a test sets them explicitly when it wants them. */
const scrubbed = /^(E2B_|DAYTONA_|MODAL_|RUNLOOP_|SANDKIT_)/

export interface Sandbox {
  /** SANDKIT_LOCAL_ROOT for this test. */
  readonly root: string
  /** TMPDIR for the CLI (the emulators' engines put their temporary roots there). */
  readonly tmp: string
  readonly env: Record<string, string>
  readonly cleanup: () => void
}

export const makeTestDirs = (): Sandbox => {
  const base = mkdtempSync(join(tmpdir(), "sandkit-cli-test-"))
  // mkdtemp makes it 0700; when the tests run as root, the local engine runs each sandbox under a uid of its own,
  // which must be able to reach the workspaces below (as it can under the usual /tmp).
  chmodSync(base, 0o755)
  const root = join(base, "root")
  const tmp = join(base, "tmp")
  mkdirSync(root)
  mkdirSync(tmp)
  const env: Record<string, string> = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !scrubbed.test(key)) env[key] = value
  }
  Object.assign(env, { SANDKIT_LOCAL_ROOT: root, TMPDIR: tmp, NO_COLOR: "1" })
  return { root, tmp, env, cleanup: () => rmSync(base, { recursive: true, force: true }) }
}

export interface Result {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

export interface RunOptions {
  readonly env: Record<string, string>
  /** Written to stdin, which is then closed. Without it stdin is closed at once (`/dev/null`-like). */
  readonly input?: string
  /**
   * Called on every output chunk with everything so far; may write to stdin or signal the process. Stdin stays open
   * until the process exits when this is given.
   */
  readonly interact?: (output: { readonly stdout: string; readonly stderr: string }, child: ReturnType<typeof spawn>) => void
}

const collect = (child: ReturnType<typeof spawn>, options: RunOptions): Promise<Result> =>
  new Promise((resolve, reject) => {
    let stdout = ""
    let stderr = ""
    const poke = () => options.interact?.({ stdout, stderr }, child)
    child.stdout!.on("data", (d: Buffer) => {
      stdout += d.toString()
      poke()
    })
    child.stderr!.on("data", (d: Buffer) => {
      stderr += d.toString()
      poke()
    })
    child.on("error", reject)
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }))
    if (options.input !== undefined) child.stdin!.end(options.input)
    else if (options.interact === undefined) child.stdin!.end()
    child.stdin!.on("error", () => undefined)
  })

/** `sandkit <args>` with piped stdio. */
export const run = (args: ReadonlyArray<string>, options: RunOptions): Promise<Result> =>
  collect(spawn(process.execPath, [...cliArgv, ...args], { env: options.env, stdio: ["pipe", "pipe", "pipe"] }), options)

/** `script` from util-linux, to run the CLI on a pseudo-terminal. */
export const hasScript = (): boolean =>
  process.platform === "linux" && spawnSync("script", ["--version"], { stdio: "ignore" }).status === 0

const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`

/** `sandkit <args>` on a pseudo-terminal (`script -qec … /dev/null`): stdin is a TTY, stdout and stderr are merged. */
export const runOnTty = (args: ReadonlyArray<string>, options: RunOptions): Promise<Result> =>
  collect(
    spawn("script", ["-qec", [process.execPath, ...cliArgv, ...args].map(quote).join(" "), "/dev/null"], {
      env: { ...options.env, SHELL: "/bin/sh" },
      stdio: ["pipe", "pipe", "pipe"]
    }),
    options
  )

/** Run `use` with a local provider on `root`, in the test process. */
export const withLocal = <A, E>(root: string, use: (provider: SandboxProviderShape) => Effect.Effect<A, E, Scope.Scope>) =>
  Effect.runPromise(
    Effect.scoped(
      Effect.flatMap(
        Effect.map(Layer.build(LocalProvider.layer({ root })), (context) => Context.get(context, SandboxProvider)),
        use
      )
    )
  )

export const listLocal = (root: string): Promise<ReadonlyArray<SandboxInfo>> => withLocal(root, (p) => p.list())

/** The emulators' engines make `sandkit-emulator-*` roots under TMPDIR and remove them when they stop. */
export const emulatorLeftovers = (tmp: string): ReadonlyArray<string> =>
  readdirSync(tmp).filter((name) => name.startsWith("sandkit-emulator-"))

/** Text from a pseudo-terminal, without carriage returns. */
export const plain = (text: string) => text.replaceAll("\r", "")
