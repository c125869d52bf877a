#!/usr/bin/env node
// Compiles bench/contracts/*.sol with solcjs (npm `solc`) into bench/contracts/<Name>.json,
// like contracts/compile.mjs does for the product contracts. The artifact is committed so
// `make bench` needs no Node.
//
//   node bench/contracts/compile.mjs           # write the artifact
//   node bench/contracts/compile.mjs --check   # exit 1 when the committed artifact is stale
import { createHash } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import solc from 'solc'

const EVM_VERSION = 'cancun' // pinned: solc 0.8.37 defaults to osaka
const OPTIMIZER = { enabled: true, runs: 200 }
const CONTRACTS = ['TransferBurst']

const here = dirname(fileURLToPath(import.meta.url))
const check = process.argv.includes('--check')

const sources = {}
for (const name of CONTRACTS) {
  sources[`${name}.sol`] = { content: readFileSync(join(here, `${name}.sol`), 'utf8') }
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
  const file = `${name}.sol`
  const compiled = output.contracts[file][name]
  const artifact = {
    contractName: name,
    abi: compiled.abi,
    bytecode: `0x${compiled.evm.bytecode.object}`,
    deployedBytecode: `0x${compiled.evm.deployedBytecode.object}`,
    compiler: { version: solc.version(), evmVersion: EVM_VERSION, optimizer: OPTIMIZER },
    source: { path: `bench/contracts/${file}`, sha256: createHash('sha256').update(sources[file].content).digest('hex') },
  }
  const text = `${JSON.stringify(artifact, null, 2)}\n`
  const target = join(here, `${name}.json`)
  if (check) {
    let current = ''
    try { current = readFileSync(target, 'utf8') } catch { /* missing counts as stale */ }
    if (current !== text) {
      console.error(`stale: ${target} (run: node bench/contracts/compile.mjs)`)
      stale += 1
    }
  } else {
    writeFileSync(target, text)
    console.log(`wrote ${target} (${(artifact.deployedBytecode.length - 2) / 2} bytes runtime)`)
  }
}
process.exit(stale ? 1 : 0)
