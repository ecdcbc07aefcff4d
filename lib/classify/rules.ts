// SPDX-License-Identifier: Apache-2.0
/**
 * Message classification by editable rules (SPEC 2): request, result, image or other.
 *
 * The MG puts the message kind in MSH-10 (`BARCODE`/`IMAGE`) instead of a control id, while a
 * standard sender puts a real control id there. Rules are plain data (JSON) so the node's editor
 * can show and change them; the defaults below cover both senders and are meant to be edited.
 * Rules are checked in order; the first whose conditions all hold decides; none = 'other'.
 */
import { GatewayError } from '../errors';
import type { Hl7Message, Segment } from '../hl7/message';

export type MessageKind = 'request' | 'result' | 'image' | 'other';
export const MESSAGE_KINDS: readonly MessageKind[] = ['request', 'result', 'image', 'other'];

export type ConditionOp = 'eq' | 'neq' | 'regex' | 'empty' | 'notEmpty' | 'exists' | 'notExists';
const OPS: readonly ConditionOp[] = ['eq', 'neq', 'regex', 'empty', 'notEmpty', 'exists', 'notExists'];

/** Which segments a condition looks at when the message has several of that name. */
export type ConditionScope = 'first' | 'any' | 'all';
const SCOPES: readonly ConditionScope[] = ['first', 'any', 'all'];

/**
 * One test on a field. `field` is an HL7 path ('MSH-10', 'OBX-5', 'MSH-9.2', 'PID-3[2].1') or a
 * segment name ('OBX', with exists/notExists). Text is compared decoded; HL7 null `""` counts as
 * empty. Scope: 'first' segment (default), 'any' segment, or 'all' segments (true when there is none).
 */
export interface RuleCondition {
  field: string;
  op: ConditionOp;
  /** For eq / neq (exact text) and regex (a JavaScript regular expression). */
  value?: string;
  /** Regex flags, e.g. 'i'. */
  flags?: string;
  scope?: ConditionScope;
}

/** A rule: when all conditions hold, the message is of `kind`. */
export interface ClassifyRule {
  kind: MessageKind;
  name?: string;
  /** false = kept in the list but skipped. */
  enabled?: boolean;
  conditions: RuleCondition[];
}

/** The default rules (SPEC 2), in the order they are tried. */
export const DEFAULT_RULES: ClassifyRule[] = [
  { kind: 'image', name: 'MG image message (MSH-10 = IMAGE)',
    conditions: [{ field: 'MSH-10', op: 'eq', value: 'IMAGE' }] },
  { kind: 'image', name: 'Encapsulated data or reference pointer (OBX-2 = ED/RP)',
    conditions: [{ field: 'OBX-2', op: 'regex', value: '^(ED|RP)$', scope: 'any' }] },
  { kind: 'image', name: 'Image file name in OBX-5',
    conditions: [{ field: 'OBX-5', op: 'regex', value: '^\\S+\\.(jpe?g|png|pdf|bmp|tiff?|dcm)$', flags: 'i', scope: 'any' }] },
  { kind: 'request', name: 'MG barcode request (MSH-10 = BARCODE, no OBX value)',
    conditions: [{ field: 'MSH-10', op: 'eq', value: 'BARCODE' }, { field: 'OBX-5', op: 'empty', scope: 'all' }] },
  { kind: 'result', name: 'MG barcode result (MSH-10 = BARCODE, OBX values)',
    conditions: [{ field: 'MSH-10', op: 'eq', value: 'BARCODE' }, { field: 'OBX-5', op: 'notEmpty', scope: 'any' }] },
  { kind: 'result', name: 'Standard ORU^R01 with results (real control id in MSH-10)',
    conditions: [
      { field: 'MSH-9.1', op: 'eq', value: 'ORU' }, { field: 'MSH-9.2', op: 'eq', value: 'R01' },
      { field: 'MSH-10', op: 'notEmpty' }, { field: 'MSH-10', op: 'neq', value: 'BARCODE' },
      { field: 'MSH-10', op: 'neq', value: 'IMAGE' }, { field: 'OBX-5', op: 'notEmpty', scope: 'any' },
    ] },
];

/** Default rules as the JSON text shown in the editor. */
export function defaultRulesJson(): string {
  return JSON.stringify(DEFAULT_RULES, null, 2);
}

interface CompiledCondition {
  segment: string;
  /** Segment-relative path ('10', '9.2'); undefined = the segment itself. */
  path?: string;
  op: ConditionOp;
  value: string;
  regex?: RegExp;
  scope: ConditionScope;
}

interface CompiledRule {
  kind: MessageKind;
  name: string;
  index: number;
  conditions: CompiledCondition[];
}

/** Validated rules, ready for classify(). */
export interface RuleSet {
  readonly rules: readonly ClassifyRule[];
  readonly compiled: readonly CompiledRule[];
}

const FIELD = /^([A-Z][A-Z0-9]{2})(?:-(\d+(?:\[\d+\])?(?:\.\d+){0,2}))?$/;
const RULE_KEYS = new Set(['kind', 'name', 'enabled', 'conditions', 'note']);
const CONDITION_KEYS = new Set(['field', 'op', 'value', 'flags', 'scope']);

function bad(detail: string): never {
  throw new GatewayError('CONFIG_BAD_RULES', { detail });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function compileCondition(c: unknown, where: string): CompiledCondition {
  if (!isObject(c)) bad(`${where}: not an object`);
  for (const k of Object.keys(c)) if (!CONDITION_KEYS.has(k)) bad(`${where}: unknown property "${k}"`);
  if (typeof c.field !== 'string') bad(`${where}: "field" missing`);
  const m = FIELD.exec(c.field.trim());
  if (!m) bad(`${where}: field "${c.field}" is not an HL7 path like MSH-10 or OBX-5.1`);
  if (m[2] !== undefined && /^0(\D|$)/.test(m[2])) bad(`${where}: field "${c.field}": positions start at 1`);
  if (typeof c.op !== 'string' || !OPS.includes(c.op as ConditionOp)) {
    bad(`${where}: operator "${String(c.op)}" is not one of ${OPS.join(', ')}`);
  }
  const op = c.op as ConditionOp;
  if (m[2] === undefined && op !== 'exists' && op !== 'notExists') bad(`${where}: "${op}" needs a field, not a segment`);
  const scope = c.scope === undefined ? 'first' : c.scope;
  if (typeof scope !== 'string' || !SCOPES.includes(scope as ConditionScope)) {
    bad(`${where}: scope "${String(scope)}" is not one of ${SCOPES.join(', ')}`);
  }
  const needsValue = op === 'eq' || op === 'neq' || op === 'regex';
  if (needsValue && typeof c.value !== 'string') bad(`${where}: "${op}" needs a text "value"`);
  if (!needsValue && c.value !== undefined) bad(`${where}: "${op}" takes no "value"`);
  if (c.flags !== undefined && (op !== 'regex' || typeof c.flags !== 'string' || !/^[imsu]*$/.test(c.flags))) {
    bad(`${where}: "flags" only for regex, letters i, m, s, u`);
  }
  let regex: RegExp | undefined;
  if (op === 'regex') {
    try { regex = new RegExp(c.value as string, c.flags as string | undefined); } catch (e) {
      bad(`${where}: invalid regex (${(e as Error).message})`);
    }
  }
  return { segment: m[1], path: m[2], op, value: needsValue ? (c.value as string) : '', regex, scope: scope as ConditionScope };
}

/**
 * Validate rules (JSON text or an array; '' or undefined = the defaults). Throws GatewayError
 * CONFIG_BAD_RULES whose `detail` names the rule and condition at fault.
 */
export function parseRules(input: unknown): RuleSet {
  let data = input;
  if (input === undefined || input === null || (typeof input === 'string' && input.trim() === '')) data = DEFAULT_RULES;
  else if (typeof input === 'string') {
    try { data = JSON.parse(input); } catch (e) { bad(`not JSON (${(e as Error).message})`); }
  }
  if (!Array.isArray(data)) bad('rules must be a JSON array');
  const compiled: CompiledRule[] = [];
  data.forEach((r: unknown, i: number) => {
    const where = `rule ${i + 1}`;
    if (!isObject(r)) bad(`${where}: not an object`);
    for (const k of Object.keys(r)) if (!RULE_KEYS.has(k)) bad(`${where}: unknown property "${k}"`);
    if (typeof r.kind !== 'string' || !MESSAGE_KINDS.includes(r.kind as MessageKind)) {
      bad(`${where}: kind "${String(r.kind)}" is not one of ${MESSAGE_KINDS.join(', ')}`);
    }
    if (r.name !== undefined && typeof r.name !== 'string') bad(`${where}: "name" must be text`);
    if (r.enabled !== undefined && typeof r.enabled !== 'boolean') bad(`${where}: "enabled" must be true or false`);
    if (!Array.isArray(r.conditions)) bad(`${where}: "conditions" must be an array`);
    const conditions = r.conditions.map((c: unknown, j: number) => compileCondition(c, `${where} condition ${j + 1}`));
    if (r.enabled !== false) {
      compiled.push({ kind: r.kind as MessageKind, name: (r.name as string | undefined) ?? where, index: i, conditions });
    }
  });
  return { rules: data as ClassifyRule[], compiled };
}

function textOf(seg: Segment, path: string): string {
  return seg.get(path) ?? '';          // HL7 null counts as empty
}

function holdsOn(seg: Segment, c: CompiledCondition): boolean {
  const path = c.path as string;
  switch (c.op) {
    case 'exists': return seg.getRaw(path) !== '';
    case 'notExists': return seg.getRaw(path) === '';
    case 'empty': return textOf(seg, path).trim() === '';
    case 'notEmpty': return textOf(seg, path).trim() !== '';
    case 'eq': return textOf(seg, path) === c.value;
    case 'neq': return textOf(seg, path) !== c.value;
    default: return (c.regex as RegExp).test(textOf(seg, path));
  }
}

function holds(m: Hl7Message, c: CompiledCondition): boolean {
  if (c.path === undefined) return (m.segment(c.segment) !== undefined) === (c.op === 'exists');
  const segs = c.scope === 'first' ? m.segments(c.segment).slice(0, 1) : m.segments(c.segment);
  if (segs.length === 0) {
    // No such segment: the field is absent. 'all' holds vacuously ("no OBX carrying a value").
    if (c.scope === 'all') return true;
    if (c.scope === 'any') return false;
    return c.op === 'notExists' || c.op === 'empty' || c.op === 'neq' || (c.op === 'eq' && c.value === '')
      || (c.op === 'regex' && (c.regex as RegExp).test(''));
  }
  return c.scope === 'all' ? segs.every((s) => holdsOn(s, c)) : segs.some((s) => holdsOn(s, c));
}

/** Outcome of classify(): the kind, and which rule decided (index -1 = no rule matched). */
export interface Classification {
  kind: MessageKind;
  rule: string;
  index: number;
}

/** Classify a message by the first rule whose conditions all hold; 'other' when none does. */
export function classify(m: Hl7Message, rules: RuleSet): Classification {
  for (const r of rules.compiled) {
    if (r.conditions.every((c) => holds(m, c))) return { kind: r.kind, rule: r.name, index: r.index };
  }
  return { kind: 'other', rule: '', index: -1 };
}
