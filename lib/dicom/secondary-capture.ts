// SPDX-License-Identifier: Apache-2.0
/**
 * Wraps an approved image as a DICOM object for PACS, with the mapped patient's demographics:
 * JPEG -> Secondary Capture, encapsulated as JPEG Baseline/Extended/Lossless (the bytes unchanged);
 * PNG -> Secondary Capture, Explicit VR Little Endian (decoded pixels); PDF -> Encapsulated PDF.
 */
import { randomUUID } from 'node:crypto';
import { GatewayError } from '../errors';
import { decodePng, jpegInfo } from './images';

// dcmjs ships no type declarations.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const dcmjs: any = require('dcmjs');

export const SOP_SECONDARY_CAPTURE = '1.2.840.10008.5.1.4.1.1.7';
export const SOP_ENCAPSULATED_PDF = '1.2.840.10008.5.1.4.1.1.104.1';
export const TS_EXPLICIT_LE = '1.2.840.10008.1.2.1';
export const TS_JPEG_BASELINE = '1.2.840.10008.1.2.4.50';
export const TS_JPEG_EXTENDED = '1.2.840.10008.1.2.4.51';
export const TS_JPEG_LOSSLESS_SV1 = '1.2.840.10008.1.2.4.70';
export const TS_JPEG_LOSSLESS = '1.2.840.10008.1.2.4.57';

export interface DicomPatient {
  id: string;
  name?: string;
  sex?: string;          // M | F | O
  birthDate?: string;    // YYYYMMDD
}

export interface DicomSource {
  data: Buffer;
  contentType: string;
  patient: DicomPatient;
  /** Observation time (HL7 DTM, e.g. OBR-7 20261203101500); defaults to now. */
  observedAt?: string;
  /** Shown as study/series description (e.g. OBX-4 'ECG'). */
  description?: string;
  accessionNumber?: string;
  modality?: string;     // default 'OT'
  institutionName?: string;
  /** Stable UIDs (e.g. kept in the image queue) so a resend replaces rather than duplicates. */
  studyInstanceUid?: string;
  seriesInstanceUid?: string;
  sopInstanceUid?: string;
}

export interface DicomObject {
  /** dcmjs naturalized dataset (no file meta). */
  dataset: Record<string, unknown>;
  transferSyntaxUid: string;
  sopClassUid: string;
  sopInstanceUid: string;
}

/** A new UID under the UUID-derived root 2.25 (PS3.5 B.2). */
export function newUid(): string {
  return `2.25.${BigInt('0x' + randomUUID().replace(/-/g, '')).toString(10)}`;
}

function dicomDateTime(hl7?: string): { date: string; time: string } {
  const m = /^(\d{8})(\d{2})?(\d{2})?(\d{2})?/.exec(hl7 ?? '');
  if (m) return { date: m[1], time: `${m[2] ?? '00'}${m[3] ?? '00'}${m[4] ?? '00'}` };
  const d = new Date();
  const p = (n: number): string => String(n).padStart(2, '0');
  return { date: `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}`, time: `${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}` };
}

/** HL7 sex codes to DICOM (M, F, O; anything else empty). */
function dicomSex(sex?: string): string {
  const s = (sex ?? '').toUpperCase();
  return s === 'M' || s === 'F' || s === 'O' ? s : '';
}

/** HL7 XPN (family^given^middle) to DICOM PN; a single-component (e.g. Korean) name stays as it is. */
function dicomName(name?: string): string {
  return (name ?? '').split('^').slice(0, 5).join('^').replace(/\^+$/, '');
}

function toArrayBuffer(b: Buffer): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

/** Builds the DICOM object for an image (JPEG or PNG -> Secondary Capture; PDF -> Encapsulated PDF). */
export function buildDicom(src: DicomSource): DicomObject {
  const { date, time } = dicomDateTime(src.observedAt);
  const sopInstanceUid = src.sopInstanceUid ?? newUid();
  const ct = src.contentType.toLowerCase();
  const common: Record<string, unknown> = {
    SpecificCharacterSet: 'ISO_IR 192',
    SOPInstanceUID: sopInstanceUid,
    PatientName: dicomName(src.patient.name),
    PatientID: src.patient.id,
    PatientBirthDate: src.patient.birthDate && /^\d{8}$/.test(src.patient.birthDate) ? src.patient.birthDate : '',
    PatientSex: dicomSex(src.patient.sex),
    StudyInstanceUID: src.studyInstanceUid ?? newUid(),
    SeriesInstanceUID: src.seriesInstanceUid ?? newUid(),
    StudyDate: date, StudyTime: time, ContentDate: date, ContentTime: time,
    ReferringPhysicianName: '', StudyID: '', AccessionNumber: src.accessionNumber ?? '',
    StudyDescription: src.description ?? '', SeriesDescription: src.description ?? '',
    Modality: src.modality || 'OT', SeriesNumber: '1', InstanceNumber: '1',
    Manufacturer: 'MGS', InstitutionName: src.institutionName ?? '',
  };
  if (ct === 'application/pdf') {
    const doc = src.data.length % 2 ? Buffer.concat([src.data, Buffer.from([0])]) : src.data;   // OB values have even length
    return {
      sopClassUid: SOP_ENCAPSULATED_PDF, sopInstanceUid, transferSyntaxUid: TS_EXPLICIT_LE,
      dataset: {
        ...common, SOPClassUID: SOP_ENCAPSULATED_PDF, Modality: src.modality || 'DOC', ConversionType: 'WSD',
        BurnedInAnnotation: 'YES', DocumentTitle: src.description ?? '', MIMETypeOfEncapsulatedDocument: 'application/pdf',
        ConceptNameCodeSequence: [], AcquisitionDateTime: `${date}${time}`,
        EncapsulatedDocument: [toArrayBuffer(doc)], _vrMap: { EncapsulatedDocument: 'OB' },
      },
    };
  }
  const sc = { ...common, SOPClassUID: SOP_SECONDARY_CAPTURE, ConversionType: 'WSD', PatientOrientation: '' };
  if (ct === 'image/jpeg') {
    const info = jpegInfo(src.data);
    const ts = info.sof === 0xc0 ? TS_JPEG_BASELINE : info.sof === 0xc1 ? TS_JPEG_EXTENDED
      : info.sof === 0xc3 ? TS_JPEG_LOSSLESS_SV1 : undefined;
    if (!ts || (info.components !== 1 && info.components !== 3)) {
      throw new GatewayError('IMAGE_UNSUPPORTED', { detail: `JPEG SOF${(info.sof & 0x0f).toString(16)} with ${info.components} components` });
    }
    const lossy = ts !== TS_JPEG_LOSSLESS_SV1;
    const color = info.components === 3;
    // The frame is sent as one fragment, the JPEG bytes exactly as received (padded to even length).
    const frame = src.data.length % 2 ? Buffer.concat([src.data, Buffer.from([0])]) : src.data;
    return {
      sopClassUid: SOP_SECONDARY_CAPTURE, sopInstanceUid, transferSyntaxUid: ts,
      dataset: {
        ...sc,
        SamplesPerPixel: info.components,
        PhotometricInterpretation: color ? (lossy ? 'YBR_FULL_422' : 'RGB') : 'MONOCHROME2',
        ...(color ? { PlanarConfiguration: 0 } : {}),
        Rows: info.rows, Columns: info.columns,
        BitsAllocated: info.bitsPerSample > 8 ? 16 : 8, BitsStored: info.bitsPerSample, HighBit: info.bitsPerSample - 1,
        PixelRepresentation: 0,
        LossyImageCompression: lossy ? '01' : '00',
        ...(lossy ? { LossyImageCompressionMethod: 'ISO_10918_1' } : {}),
        PixelData: [toArrayBuffer(frame)], _vrMap: { PixelData: 'OB' },
      },
    };
  }
  if (ct === 'image/png') {
    const img = decodePng(src.data);
    return {
      sopClassUid: SOP_SECONDARY_CAPTURE, sopInstanceUid, transferSyntaxUid: TS_EXPLICIT_LE,
      dataset: {
        ...sc,
        SamplesPerPixel: img.samples,
        PhotometricInterpretation: img.samples === 3 ? 'RGB' : 'MONOCHROME2',
        ...(img.samples === 3 ? { PlanarConfiguration: 0 } : {}),
        Rows: img.height, Columns: img.width,
        BitsAllocated: img.bits, BitsStored: img.bits, HighBit: img.bits - 1, PixelRepresentation: 0,
        PixelData: [toArrayBuffer(img.pixels)], _vrMap: { PixelData: img.bits === 16 ? 'OW' : 'OB' },
      },
    };
  }
  throw new GatewayError('IMAGE_UNSUPPORTED', { detail: ct });
}

/** The object as a DICOM Part 10 file (preamble, file meta, dataset). */
export function toPart10(obj: DicomObject): Buffer {
  const data = dcmjs.data;
  const meta = {
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: obj.sopClassUid,
    MediaStorageSOPInstanceUID: obj.sopInstanceUid,
    TransferSyntaxUID: obj.transferSyntaxUid,
    ImplementationClassUID: '2.25.329800735698586629295641978511506172918',
    ImplementationVersionName: 'MGS_0_1',
  };
  const dict = new data.DicomDict(data.DicomMetaDictionary.denaturalizeDataset(meta));
  dict.dict = data.DicomMetaDictionary.denaturalizeDataset(obj.dataset);
  return Buffer.from(dict.write({ fragmentMultiframe: false }));
}
