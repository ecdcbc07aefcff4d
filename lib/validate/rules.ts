// SPDX-License-Identifier: Apache-2.0
/**
 * Required-field rules: what a message must carry before the gateway ACKs it (case 09 frame D: an MG
 * barcode result with an empty PID-3 cannot be matched to a patient, so it gets AE with an ERR at PID-3
 * instead of an AA). Rules are plain data (JSON) so the node's dialog can show and change them.
 *
 * A rule names one field ('PID-3.1'), one segment ('OBR': present at least once) or alternatives
 * ('PID-3.1 or PID-3.3': at least one non-empty). A present value may also have to match a regular
 * expression or be one of a list. A broken rule says how to answer: MSA-1 (AE, or AR for a message that
 * must not be sent again unchanged) and the HL7 table 0357 code of the ERR segment.
 */
import { GatewayError } from '../errors';
import { parsePath, type Hl7Message, type Hl7Path, type Segment } from '../hl7/message';

/** MSA-1 for a broken rule: AE (application error) or AR (application reject). */
export type RuleAckCode = 'AE' | 'AR';

/** Which segments a field rule looks at when the message has several of that name. */
export type RuleScope = 'first' | 'all';

/** One rule as written in the node's configuration. */
export interface RequiredRule {
  /** Shown in logs and the dialog. */
  name?: string;
  /** false = kept in the list but not checked. */
  enabled?: boolean;
  /** 'PID-3.1', 'OBR', 'PID-3.1 or PID-3.3', or a list of alternatives. */
  field: string | string[];
  /** 'first' (default) segment of that name, or 'all' (every one; none at all passes). */
  scope?: RuleScope;
  /** false: an empty field passes; only a present value is checked against pattern / values. Default true. */
  required?: boolean;
  /** The value must match this JavaScript regular expression. */
  pattern?: string;
  /** Regex flags, e.g. 'i'. */
  flags?: string;
  /** The value must be one of these (exact text). */
  values?: string[];
  /** MSA-1 when the rule is broken: 'AE' (default) or 'AR'. */
  ackCode?: RuleAckCode;
  /** HL7 table 0357 code for the ERR segment. Default: 100 missing segment, 101 missing field, 102 pattern, 103 values. */
  hl7Code?: string;
  /** ERR location ('PID-3'); default: the field, or the common field of the alternatives ('PID-3.1 or PID-3.3' -> 'PID-3'). */
  location?: string;
  /** Free text for the reader of the rule list. */
  note?: string;
}

/** The default rules for MG barcode results (SPEC 2.3, case 09). */
export const DEFAULT_VALIDATION_RULES: RequiredRule[] = [
  { name: 'Barcode (PID-3.1) or patient number (PID-3.3)', field: 'PID-3.1 or PID-3.3', ackCode: 'AE', hl7Code: '101' },
  { name: 'Observation request (OBR)', field: 'OBR', ackCode: 'AE', hl7Code: '100' },
  { name: 'At least one result (OBX)', field: 'OBX', ackCode: 'AE', hl7Code: '100' },
];

/** Default rules as the JSON text shown in the editor. */
export function defaultValidationRulesJson(): string {
  return JSON.stringify(DEFAULT_VALIDATION_RULES, null, 2);
}

/** Why a rule failed. */
export type FailureReason = 'missing-segment' | 'missing-field' | 'pattern' | 'values';

/** One broken rule. No field values: the texts built from it must never carry patient data. */
export interface ValidationFailure {
  /** 0-based position of the rule in the list. */
  index: number;
  /** The rule's name, or 'rule <n>'. */
  rule: string;
  reason: FailureReason;
  /** ERR location in HL7 notation ('PID-3', 'OBX[2]-3', 'OBR'). */
  location: string;
  hl7Code: string;
  ackCode: RuleAckCode;
}

interface Alternative {
  /** The alternative as written, normalised ('PID-3.1', 'OBR'). */
  text: string;
  segment: string;
  /** undefined: the alternative is the segment itself. */
  path?: Hl7Path;
}

interface CompiledRule {
  index: number;
  name: string;
  alternatives: Alternative[];
  scope: RuleScope;
  required: boolean;
  regex?: RegExp;
  values?: ReadonlySet<string>;
  ackCode: RuleAckCode;
  hl7Code?: string;
  location?: string;
}

/** Validated rules, ready for validateMessage(). */
export interface ValidationRuleSet {
  readonly rules: readonly RequiredRule[];
  readonly compiled: readonly CompiledRule[];
}

const RULE_KEYS = new Set(['name', 'enabled', 'field', 'scope', 'required', 'pattern', 'flags', 'values', 'ackCode',
  'hl7Code', 'location', 'note']);
const SEGMENT = /^[A-Z][A-Z0-9]{2}$/;

function bad(detail: string): never {
  throw new GatewayError('CONFIG_BAD_RULES', { detail });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function compileAlternative(text: string, where: string): Alternative {
  const t = text.trim().toUpperCase();
  if (SEGMENT.test(t)) return { text: t, segment: t };
  let p: Hl7Path;
  try { p = parsePath(t); } catch { bad(`${where}: "${text.trim()}" is not an HL7 position like PID-3.1 or a segment like OBR`); }
  if (!(p.field >= 1)) bad(`${where}: "${text.trim()}": field numbers start at 1`);
  return { text: t, segment: p.segment as string, path: p };
}

/** 'PID-3.1 or PID-3.3' / ['PID-3.1', 'PID-3.3'] -> the alternatives. */
function alternativesOf(field: unknown, where: string): Alternative[] {
  let parts: unknown[];
  if (typeof field === 'string') parts = field.split(/\s+or\s+|\s*[|,]\s*/i);
  else if (Array.isArray(field)) parts = field;
  else bad(`${where}: "field" missing`);
  const texts = parts.map((p) => (typeof p === 'string' ? p.trim() : p)).filter((p) => p !== '');
  if (texts.length === 0) bad(`${where}: "field" is empty`);
  return texts.map((p) => {
    if (typeof p !== 'string') bad(`${where}: "field" alternatives must be text`);
    return compileAlternative(p, where);
  });
}

function compileRule(r: unknown, index: number): CompiledRule | undefined {
  const where = `rule ${index + 1}`;
  if (!isObject(r)) bad(`${where}: not an object`);
  for (const k of Object.keys(r)) if (!RULE_KEYS.has(k)) bad(`${where}: unknown property "${k}"`);
  if (r.name !== undefined && typeof r.name !== 'string') bad(`${where}: "name" must be text`);
  if (r.enabled !== undefined && typeof r.enabled !== 'boolean') bad(`${where}: "enabled" must be true or false`);
  const alternatives = alternativesOf(r.field, where);
  const scope = r.scope === undefined ? 'first' : r.scope;
  if (scope !== 'first' && scope !== 'all') bad(`${where}: scope "${String(scope)}" is not first or all`);
  if (scope === 'all' && new Set(alternatives.map((a) => a.segment)).size > 1) {
    bad(`${where}: scope "all" needs every alternative in the same segment`);
  }
  if (scope === 'all' && alternatives.some((a) => a.path?.segmentIndex !== undefined)) {
    bad(`${where}: scope "all" cannot name one segment (${alternatives.map((a) => a.text).join(', ')})`);
  }
  if (r.required !== undefined && typeof r.required !== 'boolean') bad(`${where}: "required" must be true or false`);
  const hasValueCheck = r.pattern !== undefined || r.values !== undefined;
  if (hasValueCheck && alternatives.some((a) => !a.path)) bad(`${where}: "pattern"/"values" need a field, not a segment`);
  let regex: RegExp | undefined;
  if (r.pattern !== undefined) {
    if (typeof r.pattern !== 'string' || r.pattern === '') bad(`${where}: "pattern" must be a non-empty regular expression`);
    if (r.flags !== undefined && (typeof r.flags !== 'string' || !/^[imsu]*$/.test(r.flags))) bad(`${where}: "flags" letters i, m, s, u only`);
    try { regex = new RegExp(r.pattern, r.flags as string | undefined); } catch (e) {
      bad(`${where}: invalid pattern (${(e as Error).message})`);
    }
  } else if (r.flags !== undefined) {
    bad(`${where}: "flags" only with "pattern"`);
  }
  let values: Set<string> | undefined;
  if (r.values !== undefined) {
    if (!Array.isArray(r.values) || r.values.length === 0 || !r.values.every((v) => typeof v === 'string')) {
      bad(`${where}: "values" must be a non-empty list of texts`);
    }
    values = new Set(r.values as string[]);
  }
  const ackCode = r.ackCode === undefined || r.ackCode === '' ? 'AE' : r.ackCode;
  if (ackCode !== 'AE' && ackCode !== 'AR') bad(`${where}: ackCode "${String(ackCode)}" is not AE or AR`);
  let hl7Code: string | undefined;
  if (r.hl7Code !== undefined && r.hl7Code !== '') {
    hl7Code = typeof r.hl7Code === 'number' ? String(r.hl7Code) : r.hl7Code as string;
    if (typeof hl7Code !== 'string' || !/^\d{3}$/.test(hl7Code)) bad(`${where}: hl7Code "${String(r.hl7Code)}" is not a 3-digit HL7 table 0357 code`);
  }
  let location: string | undefined;
  if (r.location !== undefined && r.location !== '') {
    if (typeof r.location !== 'string') bad(`${where}: "location" must be text`);
    location = compileAlternative(r.location, `${where} location`).text;
  }
  if (r.enabled === false) return undefined;
  return {
    index, name: typeof r.name === 'string' && r.name.trim() !== '' ? r.name.trim() : where,
    alternatives, scope, required: r.required !== false, regex, values, ackCode, hl7Code, location,
  };
}

/**
 * Validate rules (JSON text or an array; '' or undefined = the defaults). Throws GatewayError
 * CONFIG_BAD_RULES whose `detail` names the rule at fault.
 */
export function parseValidationRules(input: unknown): ValidationRuleSet {
  let data = input;
  if (input === undefined || input === null || (typeof input === 'string' && input.trim() === '')) data = DEFAULT_VALIDATION_RULES;
  else if (typeof input === 'string') {
    try { data = JSON.parse(input); } catch (e) { bad(`not JSON (${(e as Error).message})`); }
  }
  if (!Array.isArray(data)) bad('rules must be a JSON array');
  const compiled: CompiledRule[] = [];
  data.forEach((r: unknown, i: number) => {
    const c = compileRule(r, i);
    if (c) compiled.push(c);
  });
  return { rules: data as RequiredRule[], compiled };
}

/** 'PID-3' for alternatives sharing one field, else the first alternative. */
function defaultLocation(rule: CompiledRule, segmentIndex?: number): string {
  const first = rule.alternatives[0];
  const idx = (n: number | undefined): string => (n !== undefined && n > 1 ? `[${n}]` : '');
  if (!first.path) return first.segment;
  const p = first.path;
  const si = segmentIndex ?? p.segmentIndex;
  if (rule.alternatives.length === 1) {
    let s = `${p.segment}${idx(si)}-${p.field}`;
    if (p.repetition !== undefined) s += `[${p.repetition}]`;
    if (p.component !== undefined) s += `.${p.component}`;
    if (p.subcomponent !== undefined) s += `.${p.subcomponent}`;
    return s;
  }
  const same = rule.alternatives.every((a) => a.path && a.segment === first.segment && a.path.field === p.field
    && a.path.segmentIndex === p.segmentIndex);
  return same ? `${p.segment}${idx(si)}-${p.field}` : first.text;
}

function nth(segs: Segment[], n: number | undefined): Segment | undefined {
  return segs[(n ?? 1) - 1];
}

/** The first non-empty value among the alternatives (HL7 null "" counts as empty); undefined when none. */
function firstValue(m: Hl7Message, rule: CompiledRule, seg: Segment | undefined): { value: string } | { segmentMissing: boolean } {
  let segmentMissing = true;
  for (const a of rule.alternatives) {
    const s = seg ?? nth(m.segments(a.segment), a.path?.segmentIndex);
    if (!s) continue;
    segmentMissing = false;
    if (!a.path) return { value: s.name };
    const v = s.getAt(a.path);
    if (v !== null && v !== '') return { value: v };
  }
  return { segmentMissing };
}

function check(m: Hl7Message, rule: CompiledRule, seg: Segment | undefined, segmentIndex: number | undefined,
               out: ValidationFailure[]): void {
  const found = firstValue(m, rule, seg);
  const fail = (reason: FailureReason, dflt: string): void => {
    out.push({
      index: rule.index, rule: rule.name, reason, location: rule.location ?? defaultLocation(rule, segmentIndex),
      hl7Code: rule.hl7Code ?? dflt, ackCode: rule.ackCode,
    });
  };
  if (!('value' in found)) {
    if (!rule.required) return;
    const segmentOnly = rule.alternatives.every((a) => !a.path);
    if (segmentOnly) fail('missing-segment', '100');
    else fail('missing-field', '101');
    return;
  }
  if (rule.regex) {
    rule.regex.lastIndex = 0;
    if (!rule.regex.test(found.value)) { fail('pattern', '102'); return; }
  }
  if (rule.values && !rule.values.has(found.value)) fail('values', '103');
}

/** Every broken rule of a message, in rule order (empty = the message passes). */
export function validateMessage(m: Hl7Message, rules: ValidationRuleSet): ValidationFailure[] {
  const out: ValidationFailure[] = [];
  for (const rule of rules.compiled) {
    if (rule.scope === 'all') {
      m.segments(rule.alternatives[0].segment).forEach((s, i) => check(m, rule, s, i + 1, out));
    } else {
      check(m, rule, undefined, undefined, out);
    }
  }
  return out;
}

/** The failure that decides the reply: the first AR, else the first failure. */
export function decisiveFailure(failures: readonly ValidationFailure[]): ValidationFailure | undefined {
  return failures.find((f) => f.ackCode === 'AR') ?? failures[0];
}

/**
 * The GatewayError for a failed validation, carrying what `mllp response` builds the NAK from
 * (ackCode, location, hl7Code): HL7_MISSING_SEGMENT, HL7_MISSING_FIELD or HL7_INVALID_FIELD.
 */
export function validationError(failures: readonly ValidationFailure[]): GatewayError {
  const f = decisiveFailure(failures);
  if (!f) throw new TypeError('validationError needs at least one failure');
  const code = f.reason === 'missing-segment' ? 'HL7_MISSING_SEGMENT' : f.reason === 'missing-field' ? 'HL7_MISSING_FIELD' : 'HL7_INVALID_FIELD';
  return new GatewayError(code, {
    location: f.location, hl7Code: f.hl7Code, ackCode: f.ackCode, rule: f.rule, failures: failures.length,
    ...(f.reason === 'missing-segment' ? { segment: f.location } : {}),
    detail: failures.map((x) => `${x.location} ${x.hl7Code}`).join(', '),
  });
}
