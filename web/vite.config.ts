// Two pages, one build: the hosted checkout (public, tiny) and the admin console.
// docs/adr/0024-web-ui.md explains the choices; output layout is contract 2 on the issue 13 board.
import { resolve } from "node:path";
import { defineConfig } from "vite";

const root = import.meta.dirname;

export default defineConfig({
  root,
  base: "/",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  resolve: {
    alias: { react: "preact/compat", "react-dom": "preact/compat" },
  },
  build: {
    outDir: resolve(root, "dist"),
    emptyOutDir: true,
    target: "es2022",
    // Never inline assets as data: URIs; the CSP allows 'self' only.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    rollupOptions: {
      input: {
        checkout: resolve(root, "checkout/index.html"),
        console: resolve(root, "console/index.html"),
      },
    },
  },
  server: {
    proxy: { "/pay": "http://127.0.0.1:8000", "/admin": "http://127.0.0.1:8000" },
  },
});
