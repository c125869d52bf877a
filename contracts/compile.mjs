#!/usr/bin/env node
// Compiles contracts/*.sol with solcjs (npm `solc`, standard-JSON API) into
// shared/chain/artifacts/<Name>.json. The artifacts are committed so that Python
// (tests, `make run`) never needs Node at import time.
//
//   node contracts/compile.mjs           # write the artifacts
//   node contracts/compile.mjs --check   # exit 1 when committed artifacts are stale
//
// evmVersion is pinned: solc 0.8.37 defaults to "osaka", which BNB Smart Chain does not
// run; "cancun" (BSC Tycho hardfork) is supported by BSC and by anvil's default Prague.
import { createHash } from 'node:crypto'
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import solc from 'solc'

const EVM_VERSION = 'cancun'
const OPTIMIZER = { enabled: true, runs: 200 }
const CONTRACTS = ['TetherToken', 'PaymentRouter', 'Sweeper', 'PriceFeed', 'StableToken']

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..')
const outDir = join(repoRoot, 'shared', 'chain', 'artifacts')
const check = process.argv.includes('--check')

const sources = {}
for (const name of CONTRACTS) {
  const path = `contracts/${name}.sol`
  sources[path] = { content: readFileSync(join(repoRoot, path), 'utf8') }
}

const input = {
  language: 'Solidity',
  sources,
  settings: {
    evmVersion: EVM_VERSION,
    optimizer: OPTIMIZER,
    outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
  },
}

const output = JSON.parse(solc.compile(JSON.stringify(input)))
let failed = false
for (const diag of output.errors ?? []) {
  console.error(diag.formattedMessage ?? diag.message)
  if (diag.severity === 'error') failed = true
}
if (failed) process.exit(1)

let stale = 0
for (const name of CONTRACTS) {
  const path = `contracts/${name}.sol`
  const compiled = output.contracts[path][name]
  const artifact = {
    contractName: name,
    abi: compiled.abi,
    bytecode: `0x${compiled.evm.bytecode.object}`,
    deployedBytecode: `0x${compiled.evm.deployedBytecode.object}`,
    compiler: { version: solc.version(), evmVersion: EVM_VERSION, optimizer: OPTIMIZER },
    // Lets a Python test notice a .sol edit without a recompile, with no Node needed.
    source: { path, sha256: createHash('sha256').update(sources[path].content).digest('hex') },
  }
  const text = `${JSON.stringify(artifact, null, 2)}\n`
  const target = join(outDir, `${name}.json`)
  if (check) {
    let current = ''
    try { current = readFileSync(target, 'utf8') } catch { /* missing counts as stale */ }
    if (current !== text) {
      console.error(`stale: ${target} (run: node contracts/compile.mjs)`)
      stale += 1
    }
  } else {
    mkdirSync(outDir, { recursive: true })
    writeFileSync(target, text)
    console.log(`wrote ${target} (${(artifact.deployedBytecode.length - 2) / 2} bytes runtime)`)
  }
}
process.exit(stale ? 1 : 0)
