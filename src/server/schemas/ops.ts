/** /healthz and /readyz. */
import { Type } from 'typebox'

export const HealthResponse = Type.Object({ status: Type.Literal('ok') })

export const ReadyResponse = Type.Object({
  status: Type.Literal('ready'),
  model: Type.String(),
  dim: Type.Integer(),
  provider: Type.String(),
  indexes: Type.Integer(),
})
