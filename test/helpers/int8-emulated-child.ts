/**
 * Run under an emulated CPU (qemu-x86_64 -cpu Haswell) by int8-cpu.test.ts: what the u8·s8 probe says there, which
 * int8 graph the encoder would pick, and how close each int8 graph comes to the golden vectors. Prints one JSON line.
 */
import { signedInt8GemmIsExact } from '../../src/encoder/int8-gemm-probe.js'
import { variantFor } from '../../src/encoder/graph-selection.js'
import { goldenAgreement } from './int8-golden.js'

const signedExact = await signedInt8GemmIsExact()
const chosen = variantFor('cpu', undefined, 'int8', signedExact)
const signed = await goldenAgreement('int8-fused')
const unsigned = await goldenAgreement('int8-u8u8-fused')
process.stdout.write(`${JSON.stringify({ signedExact, chosen, signed, unsigned })}\n`)
