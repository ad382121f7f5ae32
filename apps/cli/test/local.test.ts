/**
 * The CLI against the local provider, driven as a subprocess: ls, reap, exec, shell (piped and on a pseudo-terminal),
 * doctor, usage errors and exit codes. Each test gets its own SANDKIT_LOCAL_ROOT, and must leave it empty.
 */
import { afterEach, beforeEach, describe, expect, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import {
  appDir,
  hasScript,
  listLocal,
  makeTestDirs,
  plain,
  run,
  runOnTty,
  type Sandbox,
  withLocal
} from "./harness.ts"

let dirs: Sandbox

beforeEach(() => {
  dirs = makeTestDirs()
})

afterEach(async () => {
  try {
    // Nothing a test started may outlive it.
    expect(await listLocal(dirs.root)).toEqual([])
  } finally {
    dirs.cleanup()
  }
})

const createLocal = (labels: Record<string, string>) =>
  withLocal(dirs.root, (p) => p.createDetached({ labels })).then((sandbox) => sandbox.id)

/** A sandbox whose creating process has exited (so `orphaned` is true). */
const createOrphan = (labels: Record<string, string>): string => {
  const script = `
    import { SandboxProvider } from "@sandkit/core"
    import { LocalProvider } from "@sandkit/local"
    import { Effect } from "effect"
    const program = Effect.gen(function*() {
      const provider = yield* SandboxProvider
      return yield* provider.createDetached({ labels: ${JSON.stringify(labels)} })
    })
    const sandbox = await Effect.runPromise(program.pipe(Effect.provide(LocalProvider.layer({ root: process.env.SANDKIT_LOCAL_ROOT }))))
    console.log(sandbox.id)
  `
  const result = spawnSync(process.execPath, ["--conditions=@sandkit/source", "--input-type=module", "-e", script], {
    cwd: appDir,
    env: dirs.env,
    encoding: "utf8"
  })
  expect(result.status, result.stderr).toBe(0)
  return result.stdout.trim()
}

/** No stack trace unless --verbose. */
const noStack = (text: string) => expect(text).not.toMatch(/^\s+at /m)

describe("help and usage errors", () => {
  it("--help for the root and every command, exit 0", async () => {
    for (const command of [[], ["ls"], ["reap"], ["exec"], ["shell"], ["doctor"]]) {
      const result = await run([...command, "--help"], { env: dirs.env })
      expect(result.code, command.join(" ")).toBe(0)
      expect(result.stdout).toContain("USAGE")
      expect(result.stdout).toContain(`sandkit ${command.join(" ")}`.trim())
    }
    const version = await run(["--version"], { env: dirs.env })
    expect(version.stdout).toMatch(/^sandkit \d+\.\d+\.\d+/)
  })

  it("bad flags and arguments are exit 2 with one line and a hint, no help page, no stack", async () => {
    const cases: ReadonlyArray<readonly [ReadonlyArray<string>, RegExp]> = [
      [["exec", "local"], /Missing required argument: command/],
      [["ls", "--bogus"], /Unrecognized flag: --bogus/],
      [["reap", "--older-than", "soon"], /"soon" is not a duration/],
      [["exec", "local", "--env", "NOEQUALS", "--", "true"], /key=value/],
      [["frobnicate"], /Unknown subcommand "frobnicate"/]
    ]
    for (const [args, message] of cases) {
      const result = await run(args, { env: dirs.env })
      expect(result.code, args.join(" ")).toBe(2)
      expect(result.stderr).toMatch(/^UsageError: /)
      expect(result.stderr).toMatch(message)
      expect(result.stderr).toMatch(/hint: see 'sandkit[a-z ]* --help'/)
      expect(result.stdout).not.toContain("USAGE")
      noStack(result.stderr)
    }
  })

  it("an unknown provider is a usage error naming the known ones", async () => {
    const result = await run(["exec", "nope", "--", "true"], { env: dirs.env })
    expect(result.code).toBe(2)
    expect(result.stderr).toContain(`UsageError: unknown provider "nope" (known: local, e2b, daytona, modal, runloop)`)
    const ls = await run(["ls", "--provider", "local,nope"], { env: dirs.env })
    expect(ls.code).toBe(2)
    expect(ls.stderr).toContain(`unknown provider "nope"`)
  })

  it("a cloud without credentials: one line with the tag, the provider and a hint; exit 1", async () => {
    const result = await run(["exec", "e2b", "--", "true"], { env: dirs.env })
    expect(result.code).toBe(1)
    expect(result.stderr).toBe(
      "AuthenticationFailed (e2b): E2B_API_KEY is not set\nhint: check E2B_API_KEY, or add --emulate to try the offline emulator\n"
    )
    const modal = await run(["ls", "--provider", "modal"], { env: dirs.env })
    expect(modal.code).toBe(1)
    expect(modal.stderr).toContain("AuthenticationFailed (modal): MODAL_TOKEN_ID and MODAL_TOKEN_SECRET are not set")
  })

  it("invalid input caught by the core (a reserved label) is exit 2; the provider's refusal is exit 1", async () => {
    const reserved = await run(["exec", "local", "--label", "sandkit.owner=me", "--", "true"], { env: dirs.env })
    expect(reserved.code).toBe(2)
    expect(reserved.stderr).toMatch(/^InvalidRequest \(local\): .*reserved/)
    const template = await run(["exec", "local", "--template", "base", "--", "true"], { env: dirs.env })
    expect(template.code).toBe(1)
    expect(template.stderr).toMatch(/^Unsupported \(local\): local does not support template\nhint: /)
    noStack(template.stderr)
    const verbose = await run(["exec", "local", "--verbose", "--template", "base", "--", "true"], { env: dirs.env })
    expect(verbose.stderr).toMatch(/^\s+at /m)
  })
})

describe("ls", () => {
  it("a table of the local sandboxes, and the clouds that were not listed and why", async () => {
    const a = await createLocal({ task: "alpha" })
    const b = await createLocal({ task: "beta" })
    const result = await run(["ls"], { env: dirs.env })
    expect(result.code).toBe(0)
    const lines = result.stdout.trimEnd().split("\n")
    expect(lines[0]).toMatch(/^PROVIDER\s+ID\s+AGE\s+STATE\s+ORPHANED\s+LABELS$/)
    expect(lines).toHaveLength(3)
    expect(result.stdout).toMatch(new RegExp(`^local\\s+${a}\\s+\\d+[smhd]\\S*\\s+running\\s+no\\s+.*task=alpha`, "m"))
    expect(result.stdout).toMatch(new RegExp(`^local\\s+${b}\\s+.*sandkit\\.owner=sandkit.*task=beta`, "m"))
    expect(result.stderr).toContain("not listed: e2b: E2B_API_KEY not set;")
    expect(result.stderr).toContain("modal: MODAL_TOKEN_ID and MODAL_TOKEN_SECRET not set")
    await run(["reap", "--provider", "local", "--yes"], { env: dirs.env })
  })

  it("--json, filtered by --provider and --label", async () => {
    const a = await createLocal({ task: "alpha", team: "x" })
    await createLocal({ task: "beta", team: "x" })
    const result = await run(["ls", "--json", "--provider", "local", "--label", "task=alpha", "--label", "team=x"], {
      env: dirs.env
    })
    expect(result.code).toBe(0)
    expect(result.stderr).toBe("")
    const rows = JSON.parse(result.stdout) as ReadonlyArray<Record<string, unknown>>
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({
      provider: "local",
      emulated: false,
      id: a,
      state: "running",
      orphaned: false,
      sandkit: true,
      labels: { task: "alpha", team: "x", "sandkit.owner": "sandkit" }
    })
    expect(typeof rows[0]!.ageSeconds).toBe("number")
    expect(Number.isNaN(Date.parse(rows[0]!.createdAt as string))).toBe(false)
    await run(["reap", "--provider", "local", "--yes"], { env: dirs.env })
  })

  it("nothing there: 'No sandboxes.' and an empty JSON array", async () => {
    expect((await run(["ls", "-p", "local"], { env: dirs.env })).stdout).toBe("No sandboxes.\n")
    expect(JSON.parse((await run(["ls", "-p", "local", "--json"], { env: dirs.env })).stdout)).toEqual([])
  })
})

describe("reap", () => {
  it("--dry-run shows what would go and destroys nothing", async () => {
    const a = await createLocal({ task: "alpha" })
    const b = await createLocal({ task: "beta" })
    const result = await run(["reap", "--provider", "local", "--label", "task=alpha", "--dry-run"], { env: dirs.env })
    expect(result.code).toBe(0)
    expect(result.stdout).toContain(a)
    expect(result.stdout).not.toContain(b)
    expect(result.stdout).toContain("Dry run: would destroy 1 sandbox (local: 1).")
    expect((await listLocal(dirs.root)).map((s) => s.id).sort()).toEqual([a, b].sort())
    await run(["reap", "--provider", "local", "--yes"], { env: dirs.env })
  })

  it("destroys exactly what matches (labels, --older-than, --orphaned) and prints a summary", async () => {
    const a = await createLocal({ task: "alpha" })
    const b = await createLocal({ task: "beta" })
    const orphan = createOrphan({ task: "gamma" })

    const young = await run(["reap", "--provider", "local", "--older-than", "1h"], { env: dirs.env })
    expect(young.code).toBe(0)
    expect(young.stdout).toBe("Nothing to reap.\n")

    // Not on a terminal: no question asked.
    const orphaned = await run(["reap", "--provider", "local", "--orphaned"], { env: dirs.env })
    expect(orphaned.code).toBe(0)
    expect(orphaned.stdout).toContain(orphan)
    expect(orphaned.stdout).toContain("Destroyed 1 sandbox (local: 1).")

    const labelled = await run(["reap", "--provider", "local", "--label", "task=alpha"], { env: dirs.env })
    expect(labelled.stdout).toContain("Destroyed 1 sandbox (local: 1).")
    expect((await listLocal(dirs.root)).map((s) => s.id)).toEqual([b])
    expect(a).not.toBe(b)

    const rest = await run(["reap", "--yes"], { env: dirs.env })
    expect(rest.code).toBe(0)
    expect(rest.stdout).toContain("Destroyed 1 sandbox (local: 1).")
    expect(rest.stderr).toContain("not searched: e2b: E2B_API_KEY not set")
  })

  it.skipIf(!hasScript())("on a terminal it asks first; anything but yes destroys nothing", async () => {
    const id = await createLocal({ task: "alpha" })
    const ask = (answer: string) =>
      runOnTty(["reap", "--provider", "local"], {
        env: dirs.env,
        interact: ({ stdout }, child) => {
          if (stdout.includes("[y/N]") && !child.stdin!.writableEnded) child.stdin!.end(`${answer}\n`)
        }
      })
    const no = await ask("n")
    expect(no.code).toBe(1)
    expect(plain(no.stdout)).toContain("Destroy 1 sandbox? [y/N]")
    expect(plain(no.stdout)).toContain("Aborted: nothing was destroyed")
    expect((await listLocal(dirs.root)).map((s) => s.id)).toEqual([id])
    const yes = await ask("y")
    expect(yes.code).toBe(0)
    expect(plain(yes.stdout)).toContain("Destroyed 1 sandbox (local: 1).")
  })
})

describe("exec", () => {
  it("exits with the command's exit code (shell line and argv)", async () => {
    expect((await run(["exec", "local", "--", "exit 3"], { env: dirs.env })).code).toBe(3)
    expect((await run(["exec", "local", "--", "sh", "-c", "exit 7"], { env: dirs.env })).code).toBe(7)
    const ok = await run(["exec", "local", "--", "true"], { env: dirs.env })
    expect(ok).toMatchObject({ code: 0, stdout: "", stderr: "" })
  })

  it("stdout and stderr go to their own streams; --env and --stdin reach the command", async () => {
    const result = await run(["exec", "local", "--env", "GREETING=hello", "-e", "NAME=sandkit", "--", "echo $GREETING $NAME; echo oops >&2"], {
      env: dirs.env
    })
    expect(result).toMatchObject({ code: 0, stdout: "hello sandkit\n", stderr: "oops\n" })
    const piped = await run(["exec", "local", "--stdin", "--", "tr", "a-z", "A-Z"], { env: dirs.env, input: "shout\n" })
    expect(piped).toMatchObject({ code: 0, stdout: "SHOUT\n" })
  })

  it("streams output while the command runs; Ctrl-C destroys the sandbox and exits 130", async () => {
    let interrupted = false
    const result = await run(["exec", "local", "--", "echo first; sleep 60; echo second"], {
      env: dirs.env,
      interact: ({ stdout }, child) => {
        // `first` arrived while the command was still running: it was streamed, not buffered until the end.
        if (stdout.includes("first") && !interrupted) {
          interrupted = true
          child.kill("SIGINT")
        }
      }
    })
    expect(result.code).toBe(130)
    expect(result.stdout).toBe("first\n")
    expect(result.stderr).toMatch(/interrupted; destroying local sandbox local-/)
    // afterEach: the sandbox is gone.
  })

  it("--timeout kills the command: exit 124 and a CommandTimeout line", async () => {
    const result = await run(["exec", "local", "--timeout", "1s", "--", "sleep 60"], { env: dirs.env })
    expect(result.code).toBe(124)
    expect(result.stderr).toMatch(/^CommandTimeout \(local\): .*\nhint: .*--timeout/)
  })

  it("labels its sandbox sandkit.owner=sandkit-cli plus the user's labels; ls sees it while it runs", async () => {
    let listing: Promise<Awaited<ReturnType<typeof run>>> | undefined
    const result = await run(["exec", "local", "--label", "task=labelled", "--", "echo ready; sleep 60"], {
      env: dirs.env,
      interact: ({ stdout }, child) => {
        if (listing === undefined && stdout.includes("ready")) {
          listing = run(["ls", "--json", "-p", "local"], { env: dirs.env }).finally(() => child.kill("SIGINT"))
        }
      }
    })
    expect(result.code).toBe(130)
    const rows = JSON.parse((await listing!).stdout) as ReadonlyArray<{ labels: Record<string, string>; orphaned: boolean }>
    expect(rows).toHaveLength(1)
    expect(rows[0]!.labels).toMatchObject({ task: "labelled", "sandkit.owner": "sandkit-cli" })
    expect(rows[0]!.labels["sandkit.run"]).toMatch(/^r[0-9a-f]{12}$/)
    expect(rows[0]!.orphaned).toBe(false)
  })
})

describe("shell", () => {
  it("piped stdin: the shell reads it as a script; output and exit code come back", async () => {
    const result = await run(["shell", "local"], { env: dirs.env, input: "echo hi; echo to-stderr >&2; exit 4\n" })
    expect(result).toMatchObject({ code: 4, stdout: "hi\n", stderr: "to-stderr\n" })
  })

  it("end of input ends the session with the last command's status", async () => {
    const result = await run(["shell", "local"], { env: dirs.env, input: "echo one\necho two\nfalse\n" })
    expect(result).toMatchObject({ code: 1, stdout: "one\ntwo\n" })
  })

  it.skipIf(!hasScript())("on a pseudo-terminal: a prompt, the output, the exit code", async () => {
    let sent = false
    const result = await runOnTty(["shell", "local"], {
      env: dirs.env,
      interact: ({ stdout }, child) => {
        if (!sent && stdout.includes("[local] $ ")) {
          sent = true
          child.stdin!.write("echo hi-from-tty; exit 4\n")
        }
      }
    })
    const text = plain(result.stdout)
    expect(result.code).toBe(4)
    expect(text).toMatch(/Connected to local sandbox local-\w+ \(isolation: (bubblewrap|namespaces|process)\)/)
    expect(text).toMatch(/^hi-from-tty$/m)
    expect(text).not.toContain("job control")
  })

  it.skipIf(!hasScript())("on a pseudo-terminal, Ctrl-C ends the session: exit 130, sandbox destroyed", async () => {
    let step = 0
    const result = await runOnTty(["shell", "local"], {
      env: dirs.env,
      interact: ({ stdout }, child) => {
        if (step === 0 && stdout.includes("[local] $ ")) {
          step = 1
          child.stdin!.write("echo sleeping; sleep 60\n")
        } else if (step === 1 && /^sleeping\r?$/m.test(stdout)) {
          step = 2
          child.stdin!.write("\x03")
        }
      }
    })
    expect(result.code).toBe(130)
    expect(plain(result.stdout)).toMatch(/interrupted; destroying local sandbox local-/)
  })
})

describe("doctor", () => {
  it("shows the isolation tier, the clouds and versions, and never a credential's value", async () => {
    const secret = "sk-fake-e2b-key-never-print-me"
    const env = { ...dirs.env, E2B_API_KEY: secret, MODAL_TOKEN_ID: "mt-fake-id-0001", MODAL_TOKEN_SECRET: "mt-fake-secret-0002" }
    const result = await run(["doctor"], { env })
    expect(result.code).toBe(0)
    expect(result.stdout).toMatch(/^\s+isolation\s+(bubblewrap|namespaces|process) \(best tier that works here\)$/m)
    expect(result.stdout).toContain(`root       ${dirs.root} (0 sandboxes)`)
    expect(result.stdout).toMatch(/^\s+e2b\s+@sandkit\/e2b \S+\s+E2B_API_KEY set \(value hidden\)\s+configured/m)
    expect(result.stdout).toMatch(/^\s+daytona\s.*DAYTONA_API_KEY not set/m)
    expect(result.stdout).toMatch(/^\s+@sandkit\/core\s+\d+\.\d+\.\d+$/m)
    expect(result.stdout).toMatch(/^\s+effect\s+4\.\d+\.\d+$/m)
    expect(result.stdout).toMatch(/^sandkit \S+ on (Node\.js|Bun|Deno) \S+/)
    for (const value of [secret, "mt-fake-id-0001", "mt-fake-secret-0002"]) {
      expect(result.stdout + result.stderr).not.toContain(value)
    }
  })

  it("--json; a forced tier says so, and why the others were not used", async () => {
    const result = await run(["doctor", "--json"], { env: { ...dirs.env, SANDKIT_LOCAL_ISOLATION: "process" } })
    expect(result.code).toBe(0)
    const report = JSON.parse(result.stdout) as {
      local: { ok: boolean; isolation: string; requested: string; tiers: ReadonlyArray<{ tier: string; works: boolean }> }
      clouds: ReadonlyArray<{ provider: string; credentials: ReadonlyArray<{ name: string; set: boolean }> }>
      packages: Record<string, string>
    }
    expect(report.local).toMatchObject({ ok: true, isolation: "process", requested: "process" })
    expect(report.local.tiers.map((t) => t.tier)).toEqual(["bubblewrap", "namespaces"])
    expect(report.clouds.map((c) => c.provider)).toEqual(["e2b", "daytona", "modal", "runloop"])
    expect(report.clouds[0]!.credentials).toEqual([{ name: "E2B_API_KEY", set: false }])
    expect(report.packages["@sandkit/core"]).toMatch(/^\d+\.\d+\.\d+/)
    const text = await run(["doctor"], { env: { ...dirs.env, SANDKIT_LOCAL_ISOLATION: "process" } })
    expect(text.stdout).toContain("isolation  process (forced by SANDKIT_LOCAL_ISOLATION=process)")
    expect(text.stdout).toContain("not a security boundary")
  })

  it("an unusable local configuration is exit 1 with the reason", async () => {
    const result = await run(["doctor"], { env: { ...dirs.env, SANDKIT_LOCAL_ISOLATION: "chroot" } })
    expect(result.code).toBe(1)
    expect(result.stdout).toContain('NOT USABLE: SANDKIT_LOCAL_ISOLATION must be auto, bubblewrap, namespaces or process, not "chroot"')
    const exec = await run(["exec", "local", "--", "true"], { env: { ...dirs.env, SANDKIT_LOCAL_ISOLATION: "chroot" } })
    expect(exec.code).toBe(1)
    expect(exec.stderr).toMatch(/^InvalidConfiguration \(local\): SANDKIT_LOCAL_ISOLATION must be/)
  })
})
