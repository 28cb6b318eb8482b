// Plain JSON values as rules read them: an object, and the test that a value is one (not null, not a list).

export type Json = Record<string, any>;

export function isObject(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
