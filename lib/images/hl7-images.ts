// SPDX-License-Identifier: Apache-2.0
/**
 * What an image-type message (SPEC 2.4) says about its images: the file names the MG will upload
 * (OBX-5 of ST/TX/FT OBX), reference pointers (OBX-2 RP, OBX-5.1) and encapsulated data
 * (OBX-2 ED: ^AP^PDF^Base64^<data>, decoded here), plus the patient hints of PID-3.
 * Also fills a mapped patient into the message for the reply to the MG and for the EMR.
 */
import { createHash } from 'node:crypto';
import { GatewayError } from '../errors';
import { Hl7Message, type Segment } from '../hl7/message';
import { contentTypeOf, extensionFor, validateImageName } from './names';

export interface ImageRef {
  /** 1-based occurrence of the OBX among the message's OBX segments. */
  obxIndex: number;
  setId: string;
  /** OBX-4.1 (e.g. ECG) and OBX-3.1 of that OBX. */
  test: string;
  code: string;
  /** File name: from OBX-5 (or the RP pointer), or made up for ED data as ed-<sha256 prefix>.<ext>. */
  name: string;
  source: 'name' | 'rp' | 'ed';
  /** Decoded bytes of ED data (source 'ed' only). */
  data?: Buffer;
  contentType?: string;
  sha256?: string;
}

export interface ImageMessageInfo {
  type: string;
  controlId: string;
  /** PID-3.1: the scanned barcode ('' when nobody scanned one), PID-3.2 the device code, PID-3.3 the EMR patient number. */
  barcode: string;
  device: string;
  patientId: string;
  /** OBR-7 observation time as sent (YYYYMMDD[HHMM[SS]]). */
  observedAt: string;
  images: ImageRef[];
}

/** A patient as staff mapped it from the EMR. */
export interface MappedPatient {
  id: string;            // EMR patient number
  name?: string;
  sex?: string;          // M | F | O | U
  birthDate?: string;    // YYYYMMDD
  age?: string;
  barcode?: string;
  location?: string;
}

const ED_SUBTYPES: Record<string, string> = {
  PDF: 'application/pdf', JPEG: 'image/jpeg', JPG: 'image/jpeg', PNG: 'image/png', TIFF: 'image/tiff',
  GIF: 'image/gif', BMP: 'image/bmp', DICOM: 'application/dicom',
};

function decodeEd(seg: Segment): { data: Buffer; contentType: string } {
  const subtype = (seg.get('5.3') ?? '').toUpperCase();
  const encoding = (seg.get('5.4') ?? '').toUpperCase();
  const raw = seg.getRaw('5.5');
  let data: Buffer;
  if (encoding === 'BASE64') data = Buffer.from(raw.replace(/\\\.br\\|\s/g, ''), 'base64');
  else if (encoding === 'HEX') data = Buffer.from(raw.replace(/\s/g, ''), 'hex');
  else data = Buffer.from(seg.get('5.5') ?? '', 'latin1');
  const sniffed = contentTypeOf(data.subarray(0, 512));
  const contentType = sniffed !== 'application/octet-stream' ? sniffed : (ED_SUBTYPES[subtype] ?? sniffed);
  return { data, contentType };
}

/** Reads the images an image-type message names or carries. Throws IMAGE_NONE_IN_MESSAGE when there are none. */
export function readImageMessage(text: string | Hl7Message): ImageMessageInfo {
  const m = typeof text === 'string' ? Hl7Message.parse(text) : text;
  const images: ImageRef[] = [];
  m.segments('OBX').forEach((seg, i) => {
    const valueType = (seg.get('2') ?? '').toUpperCase();
    const base = { obxIndex: i + 1, setId: seg.get('1') ?? '', test: seg.get('4.1') ?? '', code: seg.get('3.1') ?? '' };
    if (valueType === 'ED') {
      const { data, contentType } = decodeEd(seg);
      if (data.length === 0) return;
      const sha256 = createHash('sha256').update(data).digest('hex');
      images.push({ ...base, name: `ed-${sha256.slice(0, 16)}.${extensionFor(contentType)}`, source: 'ed', data, contentType, sha256 });
      return;
    }
    const value = valueType === 'RP' ? (seg.get('5.1') ?? '') : (seg.get('5') ?? '');
    const candidate = value.trim().split(/[\\/]/).pop() ?? '';
    if (!/\.[A-Za-z][A-Za-z0-9]{0,4}$/.test(candidate)) return;   // a file name has an extension (not '12.7')
    try {
      images.push({ ...base, name: validateImageName(candidate), source: valueType === 'RP' ? 'rp' : 'name' });
    } catch { /* an OBX value that is not a file name: not an image reference */ }
  });
  if (images.length === 0) throw new GatewayError('IMAGE_NONE_IN_MESSAGE');
  return {
    type: m.type,
    controlId: m.controlId,
    barcode: m.get('PID-3.1') ?? '',
    device: m.get('PID-3.2') ?? '',
    patientId: m.get('PID-3.3') ?? '',
    observedAt: m.get('OBR-7') ?? '',
    images,
  };
}

/**
 * Writes the mapped patient into the message's PID. Layout 'mg' is the MG's own (SPEC 2.2: PID-3.3
 * patient number, PID-4 name, PID-6 age, PID-7 sex); 'standard' is HL7's (PID-3.3 patient number,
 * PID-5 name, PID-7 birth date, PID-8 sex).
 */
export function fillPatient(m: Hl7Message, p: MappedPatient, layout: 'mg' | 'standard' = 'mg'): Hl7Message {
  if (!m.segment('PID')) m.addSegment('PID', [], 1);
  if (p.barcode && !m.get('PID-3.1')) m.set('PID-3.1', p.barcode);
  m.set('PID-3.3', p.id);
  if (layout === 'mg') {
    if (p.name !== undefined) m.set('PID-4', p.name);
    if (p.age !== undefined) m.set('PID-6', p.age);
    if (p.sex !== undefined) m.set('PID-7', p.sex);
  } else {
    if (p.name !== undefined) m.set('PID-5', p.name);
    if (p.birthDate !== undefined) m.set('PID-7', p.birthDate);
    if (p.sex !== undefined) m.set('PID-8', p.sex);
  }
  return m;
}

/**
 * The reply to the MG about one image (documented in the image-mapping help): the image message echoed
 * with its MSH unchanged (the MG relies on MSH-10 = IMAGE, as for the barcode response), the PID filled
 * with the mapped patient (approved only), and only the OBX of this image, whose OBX-11 says the outcome:
 * `F` = approved and stored, `X` = rejected (HL7 table 0085 "results cannot be obtained"). ED data is
 * not echoed back (OBX-5.5 emptied): the MG already has it.
 */
export function buildImageReply(original: string, obxIndex: number, decision: 'approved' | 'rejected',
  patient: MappedPatient | null, layout: 'mg' | 'standard' = 'mg'): string {
  const m = Hl7Message.parse(original);
  if (decision === 'approved' && patient) fillPatient(m, patient, layout);
  m.segments('OBX').forEach((seg, i) => {
    if (i + 1 !== obxIndex) { m.removeSegment(seg); return; }
    if ((seg.get('2') ?? '').toUpperCase() === 'ED') seg.setRaw('5.5', '');
    seg.set('11', decision === 'approved' ? 'F' : 'X');
  });
  return m.encode();
}

/** The message with the mapped patient filled in, for the EMR storage request (emr write). */
export function buildApprovedMessage(original: string, patient: MappedPatient, layout: 'mg' | 'standard' = 'mg'): string {
  return fillPatient(Hl7Message.parse(original), patient, layout).encode();
}
