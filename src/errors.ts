/**
 * Every error the service can report, with its stable code and HTTP status, in one place.
 * Engines throw `AppError` with one of these codes; the server maps them to responses.
 * Add new codes here (and nowhere else) so the OpenAPI document and the README stay complete.
 */
export const ERROR_CODES = {
  // generic request problems
  VALIDATION_ERROR: { status: 400, description: 'The request body, query or params do not match the schema.' },
  INVALID_JSON: { status: 400, description: 'The request body is not valid JSON.' },
  PAYLOAD_TOO_LARGE: { status: 413, description: 'The request body exceeds the configured limit.' },
  UNAUTHORIZED: { status: 401, description: 'Missing or wrong bearer token.' },
  NOT_FOUND: { status: 404, description: 'No such route.' },
  METHOD_NOT_ALLOWED: { status: 405, description: 'The route exists but not for this method.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, description: 'Content-Type is not application/json.' },
  // text and tokenisation
  TEXT_TOO_LONG: { status: 400, description: 'A text exceeds the configured length limit.' },
  TOO_MANY_TEXTS: { status: 400, description: 'A batch exceeds the configured number of items.' },
  INVALID_TEXT: { status: 400, description: 'A text cannot be processed (e.g. lone surrogates).' },
  // vectors and indexes
  INVALID_VECTOR: { status: 400, description: 'A vector has a wrong dimension or non-finite values.' },
  DIMENSION_MISMATCH: { status: 400, description: 'Vector dimension does not match the index or model.' },
  INVALID_INDEX_NAME: { status: 400, description: 'Index names must match [a-z0-9][a-z0-9_-]{0,63}.' },
  INDEX_NOT_FOUND: { status: 404, description: 'No index with that name.' },
  INDEX_EXISTS: { status: 409, description: 'An index with that name already exists.' },
  DOCUMENT_NOT_FOUND: { status: 404, description: 'No document with that id in the index.' },
  INVALID_FILTER: { status: 400, description: 'The metadata filter is malformed or uses an unknown operator.' },
  INVALID_METADATA: { status: 400, description: 'Metadata must be a flat JSON object of strings, numbers, booleans or null.' },
  INVALID_SEARCH_PARAMS: { status: 400, description: 'k or a PLAID parameter is out of range.' },
  LEXICAL_UNAVAILABLE: {
    status: 409,
    description: 'Lexical or hybrid search is not possible on this index: its documents were indexed without text (or the service has no analyser).',
  },
  JOB_NOT_FOUND: { status: 404, description: 'No job with that id.' },
  // capacity
  OVERLOADED: { status: 503, description: 'The encoder queue is full; retry after the Retry-After delay.' },
  NOT_READY: { status: 503, description: 'The model or the indexes are still loading.' },
  CHANGE_LOG_UNAVAILABLE: { status: 503, description: 'The change log (write-ahead log or database) cannot take writes now; searches are still served.' },
  REPLICA_LAGGING: { status: 503, description: 'This replica has not yet applied the min_seq a search asked for (or, for a write, the changes before it) within REPLICA_WAIT_MS; retry, on any replica.' },
  // model, checkpoint and snapshot problems (raised at start-up or by the CLI)
  CHECKPOINT_INVALID: { status: 500, description: 'The model checkpoint is malformed or unsupported.' },
  MODEL_UNAVAILABLE: { status: 500, description: 'The model could not be found or downloaded.' },
  DOWNLOAD_FAILED: { status: 500, description: 'A download failed or its content did not verify.' },
  DICTIONARY_INVALID: { status: 500, description: 'The MeCab dictionary folder is missing files or malformed.' },
  SNAPSHOT_INVALID: { status: 500, description: 'A snapshot is corrupt or of an unsupported version.' },
  SHARED_MODE_DATA_DIR: {
    status: 409,
    description: 'Bulk indexing into a folder refused: DATABASE_URL is set or the DATA_DIR belongs to a shared-mode replica, where PostgreSQL is the store of record; index through a replica (jacolbert index --url).',
  },
  CHANGE_LOG_CORRUPT: { status: 500, description: 'The write-ahead log is damaged before its tail; start-up refuses (the message names the file and byte offset).' },
  ENCODER_FAILED: { status: 500, description: 'The encoder failed unexpectedly.' },
  INTERNAL_ERROR: { status: 500, description: 'An unexpected error.' },
} as const satisfies Record<string, { status: number; description: string }>

export type ErrorCode = keyof typeof ERROR_CODES

/** An error with a stable code; `details` is safe to return to the caller. */
export class AppError extends Error {
  readonly code: ErrorCode
  readonly statusCode: number
  readonly details: Record<string, unknown> | undefined

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'AppError'
    this.code = code
    this.statusCode = ERROR_CODES[code].status
    this.details = details
  }
}

export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError
}
