// A runnable tour of the E2B emulator with the official SDK (no account, no network beyond 127.0.0.1):
//   node --conditions=@sandkit/source packages/emulators/examples/e2b.ts     (from the repository root)
//   bun packages/emulators/examples/e2b.ts / deno run -A packages/emulators/examples/e2b.ts   (after a build)
import { Sandbox } from "@e2b/code-interpreter"
import { E2bEmulator } from "@sandkit/emulators/e2b"

const emulator = await E2bEmulator.start()
try {
  // The real SDK, pointed at the emulator.
  const sandbox = await Sandbox.create({ ...emulator.sdkOptions, metadata: { demo: "yes" } })
  const result = await sandbox.commands.run("echo hello from $(uname -s)")
  console.log("command:", result.stdout.trim())
  await sandbox.files.write("notes/hello.txt", "written through /files")
  console.log("file:", await sandbox.files.read("notes/hello.txt"))
  const cell = await sandbox.runCode("x = 6 * 7\nx")
  console.log("python:", cell.text)

  // Fault knobs: the next two creates are rate limited; the SDK's own retry waits Retry-After and tries again.
  emulator.faults.rateLimitNext("create", { times: 2, retryAfter: 1 })
  const second = await Sandbox.create(emulator.sdkOptions)
  console.log("create calls:", emulator.log.count("create"), emulator.log.entries("create").map((e) => e.status))

  // Silent deletion: the sandbox disappears behind the client's back.
  await emulator.registry.deleteNow(second.sandboxId)
  console.log("still running after deletion?", await second.isRunning())

  await sandbox.kill()
  console.log("sandboxes left:", emulator.registry.size)
} finally {
  await emulator.close()
}
