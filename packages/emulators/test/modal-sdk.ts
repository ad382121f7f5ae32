/**
 * The raw `modal` SDK against a Modal emulator, without the Sandkit adapter: what an SDK user sees offline.
 *
 * The SDK reads `~/.modal.toml` once when imported, and the `MODAL_*` variables when a client is built. So the
 * module is imported here only after `MODAL_CONFIG_PATH` names a file that does not exist, and every client is built
 * with the variables pinned (no profile, the emulator's URL), then the environment is restored.
 */
import type { ModalEmulator } from "../src/modal/index.ts"

type Modal = typeof import("modal")

let modal: Modal | undefined

/** The SDK module, imported with no profile file in reach. */
export const loadModal = async (): Promise<Modal> => {
  if (modal !== undefined) return modal
  const env = process.env
  const saved = env["MODAL_CONFIG_PATH"]
  env["MODAL_CONFIG_PATH"] = "/nonexistent/sandkit-tests/.modal.toml"
  try {
    modal = await import("modal")
  } finally {
    if (saved === undefined) delete env["MODAL_CONFIG_PATH"]
    else env["MODAL_CONFIG_PATH"] = saved
  }
  return modal
}

const PINNED = [
  "MODAL_PROFILE",
  "MODAL_SERVER_URL",
  "MODAL_TOKEN_ID",
  "MODAL_TOKEN_SECRET",
  "MODAL_ENVIRONMENT",
  "MODAL_SANDBOX_V2",
  "MODAL_MAX_THROTTLE_WAIT",
  "MODAL_IMAGE_BUILDER_VERSION"
]

/** A client of `emulator` (credentials from the emulator unless given). */
export const clientFor = async (
  emulator: ModalEmulator.ModalEmulator,
  params: import("modal").ModalClientParams = {}
): Promise<import("modal").ModalClient> => {
  const { ModalClient } = await loadModal()
  const env = process.env
  const saved = PINNED.map((name) => [name, env[name]] as const)
  try {
    for (const name of PINNED) delete env[name]
    env["MODAL_PROFILE"] = "sandkit-tests-no-profile"
    env["MODAL_SERVER_URL"] = emulator.serverUrl
    return new ModalClient({ ...emulator.credentials, logLevel: "error", ...params })
  } finally {
    for (const [name, value] of saved) {
      if (value === undefined) delete env[name]
      else env[name] = value
    }
  }
}

/** Poll until `predicate` holds (10 ms apart, up to ~10 s). */
export const until = async (what: string, predicate: () => boolean | Promise<boolean>): Promise<void> => {
  for (let i = 0; i < 1000; i++) {
    if (await predicate()) return
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  throw new Error(`timed out waiting until ${what}`)
}
