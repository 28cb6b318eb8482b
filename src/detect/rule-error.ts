// The error a broken rule file raises.

/** A rule file is wrong; the message names the file, the rule and the field path. */
export class RuleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RuleError';
  }
}
