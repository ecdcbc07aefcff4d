// SPDX-License-Identifier: Apache-2.0
/**
 * Split one received frame into its messages: an HL7 batch (FHS/BHS ... BTS/FTS, case 15) or several
 * MSH back to back. Each message is a slice of the original text, so it keeps its bytes exactly.
 */

export interface Hl7BatchHeader {
  /** 'FHS' or 'BHS'. */
  segment: string;
  /** The header segment text. */
  raw: string;
  /** Raw fields by HL7 number (fields[1] = field separator, fields[2] = encoding characters). */
  fields: string[];
  /** FHS-11 / BHS-11, the file or batch control id. */
  controlId: string;
}

export interface Hl7BatchInfo {
  file?: Hl7BatchHeader;
  /** First (usually only) batch header. */
  header?: Hl7BatchHeader;
  /** Every BHS of the file, in order; messages outside any BHS form an implicit batch whose header has raw ''. */
  headers: Hl7BatchHeader[];
  /** BTS-1 of each batch (undefined when absent or not a number), parallel to `headers`. */
  declaredCounts: Array<number | undefined>;
  /** Messages found in each batch, parallel to `headers`. */
  messageCounts: number[];
  /** FTS-1 (number of batches declared), when present. */
  declaredBatchCount?: number;
  /** True when a BTS-1 or FTS-1 count does not match what was found: log a warning, still process. */
  countMismatch: boolean;
  /** Operator texts describing structural problems (counts, missing trailers, stray segments). */
  warnings: string[];
}

export interface SplitResult {
  /** Each message's text (MSH first), exactly as in the input. */
  messages: string[];
  /** Present when the frame had FHS/BHS/BTS/FTS segments. */
  batch?: Hl7BatchInfo;
}

interface Line { name: string; start: number; end: number; text: string }

function lines(text: string): Line[] {
  const out: Line[] = [];
  let pos = 0;
  while (pos < text.length) {
    let eol = pos;
    while (eol < text.length) {
      const c = text.charCodeAt(eol);
      if (c === 13 || c === 10) break;
      eol++;
    }
    let next = eol;
    if (next < text.length) next += text.charCodeAt(next) === 13 && text.charCodeAt(next + 1) === 10 ? 2 : 1;
    const body = text.slice(pos, eol);
    if (body.trim() !== '') out.push({ name: body.slice(0, 3), start: pos, end: next, text: body });
    pos = next;
  }
  return out;
}

function header(l: Line): Hl7BatchHeader {
  const fs = l.text.charAt(3) || '|';
  const parts = l.text.split(fs);
  const fields = [parts[0], fs, ...parts.slice(1)];
  const enc = fields[2] ?? '';
  const comp = enc.charAt(0);
  let controlId = fields[11] ?? '';
  if (comp) controlId = controlId.split(comp)[0];
  return { segment: l.name, raw: l.text, fields, controlId };
}

function count(l: Line): number | undefined {
  const fs = l.text.charAt(3) || '|';
  const v = l.text.split(fs)[1] ?? '';
  return /^\d+$/.test(v.trim()) ? Number(v) : undefined;
}

/**
 * Split `text` into messages. Segments before the first MSH that are not batch headers stay with the
 * first message (so it fails to parse and gets a NAK rather than being dropped); text without any MSH
 * is returned as one "message" for the same reason.
 */
export function splitMessages(text: string): SplitResult {
  const ls = lines(text);
  const messages: string[] = [];
  const batchNames = new Set(['FHS', 'BHS', 'BTS', 'FTS']);
  if (!ls.some((l) => batchNames.has(l.name))) {
    // No envelope: cut before every MSH but the first.
    let from = -1;
    let hasMsh = false;
    for (const l of ls) {
      if (from < 0) from = l.start;
      if (l.name === 'MSH') {
        if (hasMsh) {
          messages.push(text.slice(from, l.start));
          from = l.start;
        }
        hasMsh = true;
      }
    }
    if (from >= 0) messages.push(text.slice(from, ls[ls.length - 1].end));
    return { messages };
  }

  const info: Hl7BatchInfo = { headers: [], declaredCounts: [], messageCounts: [], countMismatch: false, warnings: [] };
  let current: { from: number; to: number } | null = null;
  let pendingPrefix = -1;                    // stray segments waiting for the next MSH
  let batchIndex = -1;
  const closed: boolean[] = [];
  const flush = (): void => {
    if (current) {
      messages.push(text.slice(current.from, current.to));
      if (batchIndex < 0) {
        // messages outside any BHS (FHS with bare MSH) count against an implicit batch
        info.headers.push({ segment: 'BHS', raw: '', fields: [], controlId: '' });
        info.declaredCounts.push(undefined);
        info.messageCounts.push(0);
        closed.push(true);
        batchIndex = info.headers.length - 1;
      }
      info.messageCounts[batchIndex]++;
      current = null;
    }
  };
  for (const l of ls) {
    switch (l.name) {
      case 'FHS':
        flush();
        if (info.file) info.warnings.push('second FHS in one frame');
        else info.file = header(l);
        break;
      case 'BHS':
        flush();
        info.headers.push(header(l));
        info.declaredCounts.push(undefined);
        info.messageCounts.push(0);
        closed.push(false);
        batchIndex = info.headers.length - 1;
        break;
      case 'BTS':
        flush();
        if (batchIndex >= 0 && !closed[batchIndex]) {
          info.declaredCounts[batchIndex] = count(l);
          closed[batchIndex] = true;
          batchIndex = -1;
        } else {
          info.warnings.push('BTS without BHS');
        }
        break;
      case 'FTS': {
        flush();
        info.declaredBatchCount = count(l);
        break;
      }
      case 'MSH':
        flush();
        current = { from: pendingPrefix >= 0 ? pendingPrefix : l.start, to: l.end };
        pendingPrefix = -1;
        break;
      default:
        if (current) current.to = l.end;
        else {
          if (pendingPrefix < 0) pendingPrefix = l.start;
          info.warnings.push(`${l.name} segment outside a message`);
        }
    }
  }
  flush();
  if (pendingPrefix >= 0) messages.push(text.slice(pendingPrefix, ls[ls.length - 1].end));
  info.header = info.headers.find((h) => h.raw !== '');
  info.headers.forEach((h, i) => {
    const declared = info.declaredCounts[i];
    if (!closed[i]) info.warnings.push(`batch ${h.controlId || i + 1} has no BTS`);
    if (declared !== undefined && declared !== info.messageCounts[i]) {
      info.countMismatch = true;
      info.warnings.push(`BTS-1 declares ${declared} messages, found ${info.messageCounts[i]}`);
    }
  });
  const realBatches = info.headers.filter((h) => h.raw !== '').length;
  if (info.declaredBatchCount !== undefined && info.declaredBatchCount !== realBatches) {
    info.countMismatch = true;
    info.warnings.push(`FTS-1 declares ${info.declaredBatchCount} batches, found ${realBatches}`);
  }
  return { messages, batch: info };
}
