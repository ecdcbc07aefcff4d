// SPDX-License-Identifier: Apache-2.0
/**
 * Domain errors carry a stable code and parameters, never UI text: nodes translate the code
 * through the `gateway.errors.*` catalog, and Catch nodes see it as `msg.error.code`.
 */
export type GatewayErrorCode =
  // HL7 parsing and validation
  | 'HL7_MISSING_MSH' | 'HL7_BAD_SEPARATORS' | 'HL7_MISSING_FIELD' | 'HL7_MISSING_SEGMENT' | 'HL7_INVALID_FIELD' | 'HL7_BAD_VERSION'
  | 'HL7_BAD_SEGMENT' | 'HL7_BAD_BATCH' | 'HL7_BAD_CHARSET' | 'HL7_UNKNOWN_CHARSET' | 'HL7_BAD_TIMESTAMP' | 'HL7_BAD_PATH'
  // MLLP transport
  | 'MLLP_FRAME_TOO_LARGE' | 'MLLP_BAD_FRAME' | 'MLLP_MISSING_CR' | 'MLLP_TIMEOUT' | 'MLLP_NOT_CONNECTED'
  | 'MLLP_ACK_MISMATCH' | 'MLLP_NAK' | 'MLLP_BAD_ACK' | 'MLLP_NO_SESSION' | 'MLLP_SESSION_CLOSED'
  | 'MLLP_TOO_MANY_CONNECTIONS' | 'MLLP_ALREADY_REPLIED' | 'MLLP_TLS_REJECTED'
  // results and ranges
  | 'OBX_VALUE_NOT_NUMERIC' | 'OBX_NO_RANGE' | 'OBX_BAD_RANGE' | 'OBX_NULL_VALUE' | 'OBX_NO_VALUE'
  // EMR side
  | 'EMR_NOT_FOUND' | 'EMR_UNREACHABLE' | 'EMR_QUERY_FAILED' | 'EMR_TIMEOUT' | 'EMR_BAD_CONFIG'
  | 'EMR_NO_BARCODE'
  // spool and message store
  | 'SPOOL_WRITE_FAILED' | 'SPOOL_FULL' | 'SPOOL_TIMEOUT' | 'STORE_WRITE_FAILED' | 'STORE_NOT_FOUND' | 'STORE_UNAVAILABLE'
  // configuration
  | 'CONFIG_MISSING_PEER' | 'CONFIG_MISSING_EMR' | 'CONFIG_INVALID' | 'CONFIG_BAD_RULES'
  // images
  | 'IMAGE_TOO_LARGE' | 'IMAGE_BAD_NAME' | 'IMAGE_NOT_FOUND' | 'PACS_FAILED'
  | 'IMAGE_INCOMPLETE' | 'IMAGE_CHECKSUM_MISMATCH' | 'IMAGE_STORE_FAILED' | 'IMAGE_BAD_STATE' | 'IMAGE_NO_PATIENT'
  | 'IMAGE_PATIENT_MISMATCH' | 'IMAGE_NONE_IN_MESSAGE' | 'IMAGE_UNSUPPORTED' | 'PACS_BAD_TARGET';

export class GatewayError extends Error {
  constructor(readonly code: GatewayErrorCode,   // parameter property = own property -> msg.error.code
              readonly params: Record<string, string | number> = {}) {
    super(params.detail !== undefined ? `${code}: ${params.detail}` : code);
    this.name = 'GatewayError';
  }
}

/** True when `err` is a GatewayError with the given code. */
export function isGatewayError(err: unknown, code?: GatewayErrorCode): err is GatewayError {
  return err instanceof GatewayError && (code === undefined || err.code === code);
}
