export * as ModalProvider from "./ModalProvider.ts"
