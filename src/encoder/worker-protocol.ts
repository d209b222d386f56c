/** Messages between the encoder (main thread) and its ONNX worker threads. Vectors travel as transferred buffers. */
export interface WorkerInit {
  /** graph per provider name, e.g. { cuda: '/m/onnx/fp16-fused-….onnx', cpu: '/m/onnx/fp32-fused-….onnx' } */
  graphs: Record<string, string>
  providers: string[]
  threads: number | undefined
  /** onnxruntime's session.intra_op / inter_op.allow_spinning */
  spinning: boolean
  /**
   * Test hook: a worker that receives a batch holding this token id exits at once (process.exit), as a crash of the
   * native runtime would end it, so tests can kill a worker for real in the middle of a batch. Unset in production.
   */
  exitOnTokenId?: number
}
/** ids/mask are packed row-major [batch, seq] (padding already in place); the worker widens them to int64. */
export type WorkerRequest = { type: 'run'; id: number; ids: Int32Array; mask: Uint8Array; batch: number; seq: number } | { type: 'close' }
export type WorkerReply =
  | { type: 'ready'; provider: string; failures: Array<{ provider: string; error: string }> }
  | { type: 'init-failed'; failures: Array<{ provider: string; error: string }> }
  | { type: 'result'; id: number; vectors: Float32Array; dim: number; computeMs: number }
  | { type: 'error'; id: number; message: string }
