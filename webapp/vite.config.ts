/// <reference types="vitest/config" />
import react from '@vitejs/plugin-react'
import { defineConfig } from 'vite'

// The dev server proxies the API and the WebSocket to a local
// `vacunometro up` (VAC_API overrides the address).
const api = process.env.VAC_API ?? 'http://127.0.0.1:8080'

export default defineConfig({
  plugins: [react()],
  server: {
    // src/contract.test.ts reads the API contract from ../internal/publicapi.
    fs: { allow: ['.', '../internal/publicapi'] },
    proxy: {
      '/api': api,
      '/ws': { target: api.replace(/^http/, 'ws'), ws: true },
    },
  },
  test: {
    environment: 'happy-dom',
    include: ['src/**/*.test.{ts,tsx}'],
  },
})
