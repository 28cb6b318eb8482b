// What of a line that is not an audit event goes into the source's dead-letter file: never its credentials.
import { isUtf8 } from 'node:buffer';
import { applyEdits, compilePatterns, quotedAt, REDACTED_PREFIX, type CredentialPatterns } from './patterns.ts';
import { SECRET_MARKER, TOKEN_MARKER, type RedactionSettings } from './redact.ts';

/** The fields of a dead-letter entry that hold the line. */
export type RejectedLine = { line: string; line_base64?: string };

// Where an audit line's bodies start, and its tail (timestamps, annotations).
const BODY_KEY = /,\\*"(?:requestObject|responseObject)\\*":/;
const TAIL_KEY = ',"requestReceivedTimestamp":';
// A Secret's value maps and JSON patch values, at any escape depth (kubectl's last-applied copy is JSON in JSON).
const SECRET_VALUES = /(\\*)"(?:data|stringData|value)\1":\s*/g;
const TOKEN_VALUES = /(\\*)"token\1":\s*/g;
const MAY_BE_SECRET = /Secret|"secrets"/;
const MAY_BE_TOKEN = /Token(?:Request|Review)|"token"|tokenreviews/;

/**
 * Builds the function that turns a rejected line's bytes into the entry's `line`. `raw`: the line as read (and, when
 * it is not valid UTF-8, its exact bytes in `line_base64`, since the text has U+FFFD in their place). Otherwise a
 * tolerant reading, since the line did not parse: the request and response bodies are dropped, and what stays is
 * scanned as text for Secret values, tokens, and what the redaction patterns recognise.
 */
export function compileRejectedLine(cfg: RedactionSettings, raw: boolean): (bytes: Buffer) => RejectedLine {
  if (raw) {
    return (bytes) => isUtf8(bytes) ? { line: bytes.toString('utf8') } : { line: bytes.toString('utf8'), line_base64: bytes.toString('base64') };
  }
  const patterns = compilePatterns(cfg.patterns);
  return (bytes) => ({ line: redactRejected(bytes.toString('utf8'), cfg, patterns) });
}

function redactRejected(text: string, cfg: RedactionSettings, patterns: CredentialPatterns | undefined): string {
  let kept = text;
  const body = BODY_KEY.exec(text);
  if (body !== null) {
    const tail = text.indexOf(TAIL_KEY, body.index + 1);
    const end = tail === -1 ? text.length : tail;
    kept = `${text.slice(0, body.index)},"bodies":"${REDACTED_PREFIX}${end - body.index} characters of request and response bodies; dead_letter_raw keeps them]"${text.slice(end)}`;
  }
  // The bodies' keys may be damaged, or the line not an audit event at all: what stays is scanned all the same.
  if (cfg.secrets && MAY_BE_SECRET.test(kept)) kept = blankValuesAfter(kept, SECRET_VALUES, SECRET_MARKER);
  if (cfg.token_requests && MAY_BE_TOKEN.test(kept)) kept = blankValuesAfter(kept, TOKEN_VALUES, TOKEN_MARKER);
  return patterns === undefined ? kept : patterns.redactText(kept);
}

/** Blanks the string after each match of `re`, or every value of the map `{…}` that follows it (its keys stay). */
function blankValuesAfter(text: string, re: RegExp, marker: string): string {
  const edits: Array<[number, number, string]> = [];
  re.lastIndex = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const at = re.lastIndex;
    const str = quotedAt(text, at);
    if (str !== undefined) {
      edits.push([str[0], str[1], marker]);
      re.lastIndex = str[2];
    } else if (text[at] === '{') {
      re.lastIndex = blankMapValues(text, at + 1, marker, edits);
    }
  }
  return applyEdits(text, edits.filter(([start]) => !text.startsWith(REDACTED_PREFIX, start)));
}

/** From just inside a `{`: every string after a `:` up to the closing `}` (or the end of a cut line); returns where it ended. */
function blankMapValues(text: string, from: number, marker: string, edits: Array<[number, number, string]>): number {
  let value = false;
  for (let i = from; i < text.length;) {
    const c = text[i];
    if (c === '}') return i + 1;
    const str = quotedAt(text, i);
    if (str === undefined) {
      if (c === ':') value = true;
      else if (c === ',') value = false;
      i++;
      continue;
    }
    if (value) edits.push([str[0], str[1], marker]);
    value = false;
    i = str[2];
  }
  return text.length;
}
