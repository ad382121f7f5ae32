// A runnable tour of the Daytona emulator with the official SDK (no account, no network beyond 127.0.0.1):
//   node --conditions=@sandkit/source packages/emulators/examples/daytona.ts     (from the repository root)
//   bun packages/emulators/examples/daytona.ts / deno run -A packages/emulators/examples/daytona.ts   (after a build)
import { Daytona } from "@daytonaio/sdk"
import { DaytonaEmulator } from "@sandkit/emulators/daytona"

const emulator = await DaytonaEmulator.start({ startDelayMs: 200 })
const daytona = new Daytona({ ...emulator.sdkOptions })
try {
  // The real SDK, pointed at the emulator: create waits through creating → started (a socket.io event ends the wait).
  const sandbox = await daytona.create({ labels: { demo: "yes" }, envVars: { GREETING: "hello" } })
  console.log("state:", sandbox.state, "after", emulator.events.sent.get("sandbox.state.updated"), "state events")
  const merged = await sandbox.process.executeCommand(`sh -c 'echo $GREETING; echo oops >&2'`)
  console.log("executeCommand (merged):", JSON.stringify(merged.result))
  await sandbox.process.createSession("demo")
  const apart = await sandbox.process.executeSessionCommand("demo", { command: "echo out; echo err >&2" })
  console.log("session command (apart):", JSON.stringify({ stdout: apart.stdout, stderr: apart.stderr }))
  await sandbox.fs.uploadFile(Buffer.from("written through bulk-upload"), "notes/hello.txt")
  console.log("file:", (await sandbox.fs.downloadFile("notes/hello.txt")).toString())
  console.log("python:", (await sandbox.process.codeRun("print(6 * 7)")).result.trim())

  // Fault knobs: Daytona's quota error, then a sandbox auto-stopped behind the client's back and started again.
  emulator.setQuota(1)
  await daytona.create().catch((error: Error) => console.log("quota:", error.name, "-", error.message))
  emulator.setQuota(undefined)
  await emulator.autoStopNow(sandbox.id)
  await sandbox.refreshData()
  console.log("after auto-stop:", sandbox.state)
  await sandbox.start()
  console.log("file kept:", (await sandbox.fs.downloadFile("notes/hello.txt")).toString())

  await sandbox.delete()
  console.log("sandboxes left:", emulator.registry.size, "| calls:", JSON.stringify(emulator.log.counts()))
} finally {
  await daytona[Symbol.asyncDispose]()
  await emulator.close()
}
